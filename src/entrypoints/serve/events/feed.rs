//! Reading `allocation.events` for live clients: the **feed** thread (one per `serve`
//! process, from the topic's last stable offsets at start, publishing into the [`Hub`]) and
//! the **catch-up** reader (one short-lived consumer per resuming client, reading a bounded
//! range of offsets).
//!
//! Invariants: both read with `isolation.level=read_committed` — only committed events ever
//! leave the process; all blocking rdkafka calls run on their own threads, never on the async
//! executor; a value that cannot be decoded for a transient reason (registry unreachable) is
//! retried, never skipped; a poison value is skipped with a warning (the position still
//! moves past it).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::cursor::Cursor;
use super::hub::{Filter, Hub, LiveEvent};
use crate::adapters::codec::Codec;
use crate::runtime::scope::{ClientKind, ForClient};

/// What the feed and the catch-up reader need.
#[derive(Clone)]
pub struct Source {
    pub config: ClientConfig,
    pub topic: String,
    pub codec: Arc<Codec>,
    pub rt: tokio::runtime::Handle,
    pub stop: Arc<AtomicBool>,
}

/// What a catch-up reader sends to its client.
#[derive(Debug)]
pub enum CatchUp {
    Event(LiveEvent),
    /// Every event of the range was sent.
    Done,
    Failed(String),
}

impl Source {
    /// A read_committed consumer without a group; `eof`: report the end of each partition.
    fn consumer(&self, eof: bool) -> Result<BaseConsumer<QuietEof>, KafkaError> {
        let mut config = self.config.clone();
        config
            .set(
                "group.id",
                format!("allocation-worker-live-{}", Uuid::new_v4()),
            )
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", eof.to_string())
            .set("auto.offset.reset", "earliest");
        config
            .for_client(ClientKind::Consumer)
            .create_with_context(QuietEof)
    }

    /// Starts the feed thread.
    pub fn spawn_feed(self, hub: Arc<Hub>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("live-events".into())
            .spawn(move || self.feed(&hub))
    }

    fn feed(&self, hub: &Hub) {
        let consumer = match self.consumer(false) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "live-event consumer cannot be created; no live events");
                return;
            }
        };
        let Some(start) = self.start_positions(&consumer) else {
            return;
        };
        let mut tpl = TopicPartitionList::new();
        for (&p, &o) in &start.0 {
            if tpl
                .add_partition_offset(&self.topic, p, Offset::Offset(o))
                .is_err()
            {
                return;
            }
        }
        if let Err(e) = consumer.assign(&tpl) {
            tracing::error!(error = %e, "live-event assignment failed; no live events");
            return;
        }
        tracing::info!(topic = %self.topic, from = %start, "live events: feed started");
        hub.start(start);
        while !self.stop.load(Ordering::Relaxed) {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => match self.event(&m) {
                    Some(event) => hub.publish(event),
                    None => hub.skip(m.partition(), m.offset()),
                },
                Some(Err(KafkaError::PartitionEOF(_))) | None => {}
                Some(Err(e)) => tracing::warn!(error = %e, "live-event consumer error"),
            }
        }
    }

    /// The last stable offset of every partition (a read_committed client's watermark),
    /// retried until the topic exists or the service stops.
    fn start_positions(&self, consumer: &BaseConsumer<QuietEof>) -> Option<Cursor> {
        while !self.stop.load(Ordering::Relaxed) {
            match self.read_start(consumer) {
                Ok(Some(c)) => return Some(c),
                Ok(None) => {
                    tracing::warn!(topic = %self.topic, "events topic not found (run `allocation-worker topics`); retrying")
                }
                Err(e) => tracing::warn!(error = %e, "events topic metadata unavailable; retrying"),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        None
    }

    fn read_start(&self, consumer: &BaseConsumer<QuietEof>) -> Result<Option<Cursor>, KafkaError> {
        let md = consumer.fetch_metadata(Some(&self.topic), Duration::from_secs(5))?;
        let Some(topic) = md
            .topics()
            .iter()
            .find(|t| t.name() == self.topic && t.error().is_none())
            .filter(|t| !t.partitions().is_empty())
        else {
            return Ok(None);
        };
        let mut at = BTreeMap::new();
        for p in topic.partitions() {
            let (_, end) =
                consumer.fetch_watermarks(&self.topic, p.id(), Duration::from_secs(5))?;
            at.insert(p.id(), end);
        }
        Ok(Some(Cursor(at)))
    }

    /// Reads every committed event in `[from, to)` (per partition), sends those passing
    /// `filter` in per-partition order, then [`CatchUp::Done`]. Gives up after `deadline`.
    pub fn catch_up(
        &self,
        from: &Cursor,
        to: &Cursor,
        filter: &Filter,
        tx: &mpsc::Sender<CatchUp>,
        deadline: Duration,
    ) {
        let end = Instant::now() + deadline;
        let outcome = self.read_range(from, to, filter, tx, end);
        let last = match outcome {
            Ok(()) => CatchUp::Done,
            Err(e) => {
                tracing::warn!(error = %e, "live-event catch-up failed");
                CatchUp::Failed(e)
            }
        };
        let _ = send(tx, last, end + Duration::from_secs(1));
    }

    fn read_range(
        &self,
        from: &Cursor,
        to: &Cursor,
        filter: &Filter,
        tx: &mpsc::Sender<CatchUp>,
        end: Instant,
    ) -> Result<(), String> {
        let mut open: BTreeMap<i32, i64> = BTreeMap::new();
        let mut tpl = TopicPartitionList::new();
        for (&p, &stop_at) in &to.0 {
            let start = from.get(p).unwrap_or(stop_at);
            if start < stop_at {
                open.insert(p, stop_at);
                tpl.add_partition_offset(&self.topic, p, Offset::Offset(start))
                    .map_err(|e| e.to_string())?;
            }
        }
        if open.is_empty() {
            return Ok(());
        }
        let consumer = self.consumer(true).map_err(|e| e.to_string())?;
        consumer.assign(&tpl).map_err(|e| e.to_string())?;
        while !open.is_empty() {
            if Instant::now() > end || self.stop.load(Ordering::Relaxed) {
                return Err("catch-up did not finish in time".into());
            }
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let p = m.partition();
                    let Some(&stop_at) = open.get(&p) else {
                        continue;
                    };
                    if m.offset() >= stop_at {
                        open.remove(&p);
                        continue;
                    }
                    if let Some(event) = self.event(&m).filter(|e| filter.matches(e)) {
                        send(tx, CatchUp::Event(event), end)?;
                    }
                    if m.offset() + 1 >= stop_at {
                        open.remove(&p);
                    }
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    // At the last stable offset, which is at or past the hub's position.
                    open.remove(&p);
                }
                Some(Err(e)) => tracing::warn!(error = %e, "live-event catch-up consumer error"),
                None => {}
            }
        }
        Ok(())
    }

    /// Decodes one record into a live event; `None` for a poison record (skipped).
    fn event(&self, m: &BorrowedMessage<'_>) -> Option<LiveEvent> {
        let mut attempt = 0u32;
        let value = loop {
            match self.rt.block_on(self.codec.decode(m.payload())) {
                Ok(decoded) => break decoded.message.to_json(),
                Err(e) if e.class().is_retriable() && !self.stop.load(Ordering::Relaxed) => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "event not decodable yet; retrying");
                    std::thread::sleep(Duration::from_millis(200 * u64::from(attempt.min(25))));
                }
                Err(e) => {
                    let at = (m.partition(), m.offset());
                    tracing::warn!(?at, error = %e, "undecodable event: not sent to live clients");
                    return None;
                }
            }
        };
        let mut headers = Map::new();
        if let Some(h) = m.headers() {
            for header in h.iter() {
                let v = String::from_utf8_lossy(header.value.unwrap_or_default());
                headers.insert(header.key.to_owned(), Value::String(v.into_owned()));
            }
        }
        let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let (sku, orderid) = (field("sku"), field("orderid"));
        let data = json!({
            "topic": m.topic(),
            "partition": m.partition(),
            "offset": m.offset(),
            "key": m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            "headers": headers,
            "value": value,
        });
        Some(LiveEvent {
            partition: m.partition(),
            offset: m.offset(),
            sku,
            orderid,
            data: data.to_string(),
            after: Cursor::default(),
        })
    }
}

/// The consumers' context: end-of-partition events are expected (they end a catch-up), not
/// errors to log.
pub struct QuietEof;

impl ClientContext for QuietEof {
    fn error(&self, error: KafkaError, reason: &str) {
        let eof = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !eof {
            tracing::warn!(error = %error, reason, "live-event consumer error");
        }
    }
}

impl ConsumerContext for QuietEof {}

/// Sends without blocking forever: a client that does not read its catch-up in time ends.
fn send(tx: &mpsc::Sender<CatchUp>, item: CatchUp, end: Instant) -> Result<(), String> {
    let mut item = item;
    loop {
        match tx.try_send(item) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err("client gone".into()),
            Err(mpsc::error::TrySendError::Full(back)) => {
                if Instant::now() > end {
                    return Err("client does not read its catch-up".into());
                }
                item = back;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}
