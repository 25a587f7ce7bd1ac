//! The materialiser of `serve`: a dedicated thread that reads `allocation.view` with a
//! `read_committed` consumer assigned to every partition from the beginning (no consumer
//! group: each `serve` replica holds the whole view) and folds each record into the [`View`].
//!
//! Invariants: all blocking rdkafka calls happen on this thread; a row whose value cannot be
//! decoded for a transient reason (registry unreachable) is retried until it decodes or the
//! service stops — never skipped, or the view would silently lose it; a poison row is
//! skipped with a warning (`allocation_worker_view_records_skipped_total`); the view is
//! caught up once every partition reported its end (`enable.partition.eof`) after start;
//! positions and lag come from librdkafka's statistics (`statistics.interval.ms`), served by
//! `poll` on this thread: no extra request, nothing that blocks elsewhere.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use uuid::Uuid;

use super::view::{RowChange, View};
use crate::adapters::codec::Codec;
use crate::adapters::contracts::WireMessage;
use crate::adapters::envelope::names;
use crate::runtime::scope::{ClientKind, ForClient};

/// What the materialiser needs.
pub struct Materialiser {
    pub config: ClientConfig,
    pub topic: String,
    pub codec: Arc<Codec>,
    pub rt: tokio::runtime::Handle,
    pub view: Arc<View>,
    pub stop: Arc<AtomicBool>,
}

impl Materialiser {
    /// Starts the thread.
    pub fn spawn(self) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("view".into())
            .spawn(move || self.run())
    }

    fn run(mut self) {
        self.config
            .set(
                "group.id",
                format!("allocation-worker-view-{}", Uuid::new_v4()),
            )
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            .set("statistics.interval.ms", "1000");
        let context = ViewContext {
            view: Arc::clone(&self.view),
            topic: self.topic.clone(),
        };
        let consumer: BaseConsumer<ViewContext> = match self
            .config
            .for_client(ClientKind::Consumer)
            .create_with_context(context)
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "view consumer cannot be created; the view stays empty");
                return;
            }
        };
        let Some(partitions) = self.partitions(&consumer) else {
            return;
        };
        let mut tpl = TopicPartitionList::new();
        for &p in &partitions {
            if let Err(e) = tpl.add_partition_offset(&self.topic, p, Offset::Beginning) {
                tracing::error!(error = %e, "view assignment failed");
                return;
            }
        }
        if let Err(e) = consumer.assign(&tpl) {
            tracing::error!(error = %e, "view assignment failed");
            return;
        }
        tracing::info!(topic = %self.topic, partitions = partitions.len(), "materialising the view");
        let mut at_end = HashSet::new();
        while !self.stop.load(Ordering::Relaxed) {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => self.fold(&message),
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    self.sync_position(&consumer, p);
                    if at_end.insert(p)
                        && at_end.len() == partitions.len()
                        && !self.view.caught_up.swap(true, Ordering::Relaxed)
                    {
                        tracing::info!(
                            records = self.view.records.load(Ordering::Relaxed),
                            "view caught up"
                        );
                    }
                }
                Some(Err(e)) => tracing::warn!(error = %e, "view consumer error"),
                None => {}
            }
        }
    }

    /// The view topic's partitions, retried until it exists or the service stops.
    fn partitions(&self, consumer: &BaseConsumer<ViewContext>) -> Option<Vec<i32>> {
        while !self.stop.load(Ordering::Relaxed) {
            match consumer.fetch_metadata(Some(&self.topic), Duration::from_secs(5)) {
                Ok(md) => {
                    let found = md
                        .topics()
                        .iter()
                        .find(|t| t.name() == self.topic && t.error().is_none())
                        .map(|t| t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>())
                        .filter(|p| !p.is_empty());
                    if found.is_some() {
                        return found;
                    }
                    tracing::warn!(topic = %self.topic, "view topic not found (run `allocation-worker topics`); retrying");
                }
                Err(e) => tracing::warn!(error = %e, "view topic metadata unavailable; retrying"),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        None
    }

    fn sync_position(&self, consumer: &BaseConsumer<ViewContext>, partition: i32) {
        if let Ok(position) = consumer.position() {
            if let Some(Offset::Offset(next)) = position
                .find_partition(&self.topic, partition)
                .map(|e| e.offset())
            {
                self.view.set_position(partition, next);
            }
        }
    }

    fn fold(&self, message: &BorrowedMessage<'_>) {
        let ids: Vec<Uuid> = message
            .headers()
            .map(|h| {
                h.iter()
                    .filter(|h| h.key == names::CORRELATION_ID || h.key == names::CAUSATION_ID)
                    .filter_map(|h| std::str::from_utf8(h.value?).ok())
                    .filter_map(|v| Uuid::parse_str(v.trim()).ok())
                    .collect()
            })
            .unwrap_or_default();
        let change = self.change(message);
        self.view
            .apply(message.partition(), message.offset(), change, &ids);
    }

    fn change(&self, message: &BorrowedMessage<'_>) -> Option<RowChange> {
        let at = (message.partition(), message.offset());
        let key: Option<(String, String)> =
            message.key().and_then(|k| serde_json::from_slice(k).ok());
        let Some((orderid, sku)) = key else {
            tracing::warn!(
                ?at,
                "view row with a key that is not [orderid, sku]: skipped"
            );
            return None;
        };
        let Some(payload) = message.payload() else {
            return Some(RowChange {
                orderid,
                sku,
                batchref: None,
            });
        };
        let mut attempt = 0u32;
        loop {
            match self.rt.block_on(self.codec.decode(Some(payload))) {
                Ok(decoded) => match decoded.message {
                    WireMessage::AllocationRow(row) => {
                        return Some(RowChange {
                            orderid: row.orderid,
                            sku: row.sku,
                            batchref: Some(row.batchref),
                        })
                    }
                    other => {
                        tracing::warn!(?at, record = %other.record_type(), "unexpected record on the view topic: skipped");
                        return None;
                    }
                },
                Err(e) if e.class().is_retriable() && !self.stop.load(Ordering::Relaxed) => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "view row not decodable yet; retrying");
                    std::thread::sleep(Duration::from_millis(200 * u64::from(attempt.min(25))));
                }
                Err(e) => {
                    tracing::warn!(?at, error = %e, "undecodable view row: skipped");
                    return None;
                }
            }
        }
    }
}

/// The view consumer's context: positions and lag from statistics; end-of-partition events
/// are expected (they mark "caught up"), not errors to log.
struct ViewContext {
    view: Arc<View>,
    topic: String,
}

impl ClientContext for ViewContext {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let mut lag = BTreeMap::new();
        for (&p, s) in topic.partitions.iter().filter(|(&p, _)| p >= 0) {
            let at = s.app_offset.max(s.eof_offset);
            if at >= 0 {
                self.view.set_position(p, at);
            }
            // read_committed: the last stable offset is the end a reader can reach.
            let end = if s.ls_offset >= 0 {
                s.ls_offset
            } else {
                s.hi_offset
            };
            if end >= 0 {
                lag.insert(p, (end - at.max(s.lo_offset.max(0))).max(0));
            }
        }
        self.view.set_lag(lag);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(error, KafkaError::PartitionEOF(_)) {
            tracing::warn!(error = %error, reason, "view consumer error");
        }
    }
}

impl ConsumerContext for ViewContext {}
