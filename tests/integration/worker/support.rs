//! What the worker tests send and what they read back.
//!
//! - [`CommandProducer`]: commands (Avro, registry, envelope headers) keyed by sku with the
//!   Java-compatible murmur2 partitioner, plus raw records (poison pills); remembers every
//!   record it sent with its partition and offset ([`Sent`]).
//! - [`Observed`]: every output topic read with `read_committed` and decoded: events,
//!   changelog snapshots, view rows, worker-written commands and DLQ records, each with its
//!   position and envelope ids.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use allocation_worker::adapters::codec::{Codec, RegistryConfig};
use allocation_worker::adapters::contracts::domain::{from_command, to_command, to_event};
use allocation_worker::adapters::contracts::records;
use allocation_worker::adapters::contracts::{RecordType, WireMessage};
use allocation_worker::adapters::envelope::{names, HeaderList, MessageMeta};
use allocation_worker::adapters::mapping::default_partition;
use allocation_worker::adapters::topics::Topics;
use allocation_worker::domain::{Command, Event, MessageId, Product};
use allocation_worker::service_layer::InboundMetadata;
use chrono::{DateTime, TimeZone, Utc};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use uuid::Uuid;

use crate::harness::kafka::client_config;
use crate::harness::{infra, read_all, Isolation, Record};

/// The allocations view: orderid → {sku → batchref}.
pub type ViewFold = BTreeMap<String, BTreeMap<String, String>>;

/// The partition count of every worker topic in these tests.
pub const PARTITIONS: i32 = 4;

/// A codec on the test registry (auto-registering, as the worker).
pub async fn codec() -> Arc<Codec> {
    Arc::new(Codec::new(&RegistryConfig::new(infra().await.registry_url.clone())).expect("codec"))
}

/// Now, truncated to milliseconds (the precision of the `event-time` header).
pub fn now_ms() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(Utc::now().timestamp_millis())
        .single()
        .expect("valid instant")
}

/// What one sent record is expected to become.
#[derive(Debug, Clone, PartialEq)]
pub enum SentKind {
    /// A valid command: handled by the bus (the replay says what it yields).
    Command {
        command: Command,
        meta: InboundMetadata,
    },
    /// Valid Avro of a command whose field breaks a domain rule (e.g. qty 0): exactly one
    /// `CommandRejected` for `sku`, nothing else.
    Invalid { sku: String },
    /// Undecodable: exactly one DLQ record with `dlq-reason` = `reason`, nothing else.
    Poison { reason: String },
}

/// One record the test produced to the command topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// The `message-id` header (`None` for a record sent without one).
    pub id: Option<MessageId>,
    pub key: String,
    pub partition: i32,
    pub offset: i64,
    pub kind: SentKind,
}

impl Sent {
    /// The command, when this is a valid one.
    pub fn command(&self) -> Option<&Command> {
        match &self.kind {
            SentKind::Command { command, .. } => Some(command),
            _ => None,
        }
    }
}

struct Pending {
    delivery: DeliveryFuture,
    id: Option<MessageId>,
    key: String,
    kind: SentKind,
}

/// Produces commands and poison records to the command topic; see the module docs.
pub struct CommandProducer {
    producer: FutureProducer,
    codec: Arc<Codec>,
    topics: Topics,
    partitions: i32,
    pending: Vec<Pending>,
    sent: Vec<Sent>,
}

impl CommandProducer {
    pub async fn new(codec: Arc<Codec>, topics: &Topics, partitions: i32) -> Self {
        let producer: FutureProducer = client_config()
            .await
            .set("partitioner", "murmur2_random")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .create()
            .expect("command producer");
        Self {
            producer,
            codec,
            topics: topics.clone(),
            partitions,
            pending: Vec::new(),
            sent: Vec::new(),
        }
    }

    /// A fresh root envelope for a command of type `record`.
    pub fn meta(record: RecordType) -> MessageMeta {
        MessageMeta::root(record.full_name(), now_ms())
    }

    /// Sends `command` with a fresh envelope; returns its message id.
    pub async fn command(&mut self, command: Command) -> MessageId {
        let record = from_command(&command).record_type();
        self.command_with_meta(command, Self::meta(record)).await
    }

    /// Sends `command` with the envelope `meta` (resending the same `meta` is a redelivery).
    pub async fn command_with_meta(&mut self, command: Command, meta: MessageMeta) -> MessageId {
        let record = self
            .codec
            .encode_command(&self.topics, &command, &meta)
            .await
            .expect("encode command");
        let kind = SentKind::Command {
            command,
            meta: meta.to_inbound_metadata(),
        };
        let key = String::from_utf8(record.key.clone()).expect("utf-8 key");
        self.enqueue(
            key,
            record.payload,
            record.headers,
            Some(meta.message_id),
            kind,
        )
        .await;
        meta.message_id
    }

    /// Sends an `Allocate` as raw wire values (e.g. qty 0), which the worker must reject with
    /// one `CommandRejected`.
    pub async fn invalid_allocate(&mut self, orderid: &str, sku: &str, qty: i64) -> MessageId {
        let message = WireMessage::from(records::Allocate {
            orderid: orderid.into(),
            sku: sku.into(),
            qty,
        });
        let payload = self
            .codec
            .encode(&self.topics.commands, &message)
            .await
            .expect("encode raw Allocate");
        let meta = Self::meta(RecordType::Allocate);
        let kind = SentKind::Invalid { sku: sku.into() };
        self.enqueue(
            sku.into(),
            Some(payload),
            meta.to_headers(),
            Some(meta.message_id),
            kind,
        )
        .await;
        meta.message_id
    }

    /// Sends raw bytes with a fresh envelope, expected to be dead-lettered with `reason`.
    pub async fn poison(&mut self, key: &str, payload: Vec<u8>, reason: &str) -> MessageId {
        let meta = Self::meta(RecordType::Allocate);
        let kind = SentKind::Poison {
            reason: reason.into(),
        };
        self.enqueue(
            key.into(),
            Some(payload),
            meta.to_headers(),
            Some(meta.message_id),
            kind,
        )
        .await;
        meta.message_id
    }

    /// Sends a raw record (`None`: a null value) with a fresh envelope, expected to be
    /// dead-lettered with `reason`.
    #[allow(dead_code)] // used by the chaos runner's corpus (tests/chaos)
    pub async fn poison_raw(
        &mut self,
        key: &str,
        payload: Option<Vec<u8>>,
        reason: &str,
    ) -> MessageId {
        let meta = Self::meta(RecordType::Allocate);
        let kind = SentKind::Poison {
            reason: reason.into(),
        };
        self.enqueue(
            key.into(),
            payload,
            meta.to_headers(),
            Some(meta.message_id),
            kind,
        )
        .await;
        meta.message_id
    }

    async fn enqueue(
        &mut self,
        key: String,
        payload: Option<Vec<u8>>,
        headers: HeaderList,
        id: Option<MessageId>,
        kind: SentKind,
    ) {
        let topic = self.topics.commands.clone();
        let delivery = loop {
            let mut record = FutureRecord::to(&topic)
                .key(key.as_bytes())
                .headers(headers.to_rdkafka());
            if let Some(p) = &payload {
                record = record.payload(p.as_slice());
            }
            match self.producer.send_result(record) {
                Ok(delivery) => break delivery,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => panic!("producing to {topic}: {e}"),
            }
        };
        self.pending.push(Pending {
            delivery,
            id,
            key,
            kind,
        });
    }

    /// Waits for every enqueued record's delivery; checks it landed on the partition the
    /// Java client would pick for its key. Returns everything sent so far.
    pub async fn flush(&mut self) -> &[Sent] {
        for p in std::mem::take(&mut self.pending) {
            let delivery = p
                .delivery
                .await
                .expect("delivery future")
                .unwrap_or_else(|(e, _)| panic!("delivery of a command failed: {e}"));
            assert_eq!(
                delivery.partition,
                default_partition(p.key.as_bytes(), self.partitions),
                "key {} was not partitioned like the Java client (murmur2)",
                p.key
            );
            self.sent.push(Sent {
                id: p.id,
                key: p.key,
                partition: delivery.partition,
                offset: delivery.offset,
                kind: p.kind,
            });
        }
        &self.sent
    }

    /// Everything delivered so far (call [`CommandProducer::flush`] first).
    pub fn sent(&self) -> &[Sent] {
        &self.sent
    }
}

fn header_id(record: &Record, name: &str) -> Option<MessageId> {
    let raw = record.headers.get(name)?;
    Uuid::parse_str(std::str::from_utf8(raw).ok()?)
        .ok()
        .map(MessageId::from_uuid)
}

fn header_str(record: &Record, name: &str) -> Option<String> {
    record
        .headers
        .get(name)
        .and_then(|v| String::from_utf8(v.clone()).ok())
}

/// Where an output record is and what envelope it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub message_id: Option<MessageId>,
    pub causation_id: Option<MessageId>,
}

impl Position {
    fn of(record: &Record) -> Self {
        Self {
            partition: record.partition,
            offset: record.offset,
            key: String::from_utf8_lossy(record.key.as_deref().unwrap_or_default()).into_owned(),
            message_id: header_id(record, names::MESSAGE_ID),
            causation_id: header_id(record, names::CAUSATION_ID),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedEvent {
    pub at: Position,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSnapshot {
    pub at: Position,
    /// `None`: a tombstone.
    pub product: Option<Product>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedRow {
    pub at: Position,
    pub orderid: String,
    pub sku: String,
    /// `None`: a tombstone (the row was deleted).
    pub batchref: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedCommand {
    pub at: Position,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedDlq {
    pub at: Position,
    pub reason: Option<String>,
    pub source_topic: Option<String>,
    pub source_partition: Option<i32>,
    pub source_offset: Option<i64>,
    pub payload: Option<Vec<u8>>,
}

/// Every output of the worker, read with `read_committed` (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub events: Vec<ObservedEvent>,
    pub snapshots: Vec<ObservedSnapshot>,
    pub view: Vec<ObservedRow>,
    /// Records on the command topic written by the worker (they carry a `causation-id`).
    pub derived: Vec<ObservedCommand>,
    pub dlq: Vec<ObservedDlq>,
    /// Output records that could not be decoded (each one a defect).
    pub undecodable: Vec<String>,
}

impl Observed {
    /// Reads and decodes every output topic (read_committed, up to the end).
    pub async fn read(codec: &Codec, topics: &Topics) -> Self {
        let (events, changelog, view, commands, dlq) = futures::join!(
            read_all(&topics.events, Isolation::ReadCommitted),
            read_all(&topics.changelog, Isolation::ReadCommitted),
            read_all(&topics.view, Isolation::ReadCommitted),
            read_all(&topics.commands, Isolation::ReadCommitted),
            read_all(&topics.dlq, Isolation::ReadCommitted),
        );
        let mut out = Observed::default();
        let where_ = |topic: &str, r: &Record| format!("{topic}[{}]@{}", r.partition, r.offset);
        for r in &events {
            match codec.decode(r.payload.as_deref()).await {
                Ok(d) => match to_event(d.message) {
                    Ok(Some(event)) => out.events.push(ObservedEvent {
                        at: Position::of(r),
                        event,
                    }),
                    other => out
                        .undecodable
                        .push(format!("{}: not an event: {other:?}", where_("events", r))),
                },
                Err(e) => out
                    .undecodable
                    .push(format!("{}: {e}", where_("events", r))),
            }
        }
        for r in &changelog {
            match codec.decode_snapshot(r.payload.as_deref()).await {
                Ok(product) => out.snapshots.push(ObservedSnapshot {
                    at: Position::of(r),
                    product,
                }),
                Err(e) => out
                    .undecodable
                    .push(format!("{}: {e}", where_("changelog", r))),
            }
        }
        for r in &view {
            let key: Result<(String, String), _> =
                serde_json::from_slice(r.key.as_deref().unwrap_or_default());
            let Ok((orderid, sku)) = key else {
                out.undecodable
                    .push(format!("{}: key is not [orderid, sku]", where_("view", r)));
                continue;
            };
            let batchref = match &r.payload {
                None => None,
                Some(p) => match codec.decode(Some(p)).await.map(|d| d.message) {
                    Ok(WireMessage::AllocationRow(row)) => {
                        if (row.orderid.as_str(), row.sku.as_str())
                            != (orderid.as_str(), sku.as_str())
                        {
                            out.undecodable.push(format!(
                                "{}: row {row:?} under key [{orderid}, {sku}]",
                                where_("view", r)
                            ));
                        }
                        Some(row.batchref)
                    }
                    other => {
                        out.undecodable
                            .push(format!("{}: not a row: {other:?}", where_("view", r)));
                        continue;
                    }
                },
            };
            out.view.push(ObservedRow {
                at: Position::of(r),
                orderid,
                sku,
                batchref,
            });
        }
        for r in commands
            .iter()
            .filter(|r| r.headers.contains_key(names::CAUSATION_ID))
        {
            match codec
                .decode(r.payload.as_deref())
                .await
                .map(|d| to_command(d.message))
            {
                Ok(Ok(Some(command))) => out.derived.push(ObservedCommand {
                    at: Position::of(r),
                    command,
                }),
                other => out
                    .undecodable
                    .push(format!("{}: {other:?}", where_("commands", r))),
            }
        }
        for r in &dlq {
            out.dlq.push(ObservedDlq {
                at: Position::of(r),
                reason: header_str(r, names::DLQ_REASON),
                source_topic: header_str(r, names::DLQ_SOURCE_TOPIC),
                source_partition: header_str(r, names::DLQ_SOURCE_PARTITION)
                    .and_then(|v| v.parse().ok()),
                source_offset: header_str(r, names::DLQ_SOURCE_OFFSET).and_then(|v| v.parse().ok()),
                payload: r.payload.clone(),
            });
        }
        out
    }

    /// The events whose `causation-id` is `id`, in (partition, offset) order.
    pub fn events_caused_by(&self, id: MessageId) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| e.at.causation_id == Some(id))
            .map(|e| &e.event)
            .collect()
    }

    /// The view folded: orderid → {sku → batchref}, applying rows in offset order per
    /// partition (tombstones delete).
    pub fn view_fold(&self) -> ViewFold {
        let mut rows: Vec<&ObservedRow> = self.view.iter().collect();
        rows.sort_by_key(|r| (r.at.partition, r.at.offset));
        let mut view = ViewFold::new();
        for row in rows {
            match &row.batchref {
                Some(b) => {
                    view.entry(row.orderid.clone())
                        .or_default()
                        .insert(row.sku.clone(), b.clone());
                }
                None => {
                    if let Some(skus) = view.get_mut(&row.orderid) {
                        skus.remove(&row.sku);
                        if skus.is_empty() {
                            view.remove(&row.orderid);
                        }
                    }
                }
            }
        }
        view
    }

    /// The latest changelog value per sku (offset order per partition; `None`: tombstone).
    pub fn latest_products(&self) -> BTreeMap<String, (i32, Option<Product>)> {
        let mut snaps: Vec<&ObservedSnapshot> = self.snapshots.iter().collect();
        snaps.sort_by_key(|s| (s.at.partition, s.at.offset));
        let mut latest = BTreeMap::new();
        for s in snaps {
            latest.insert(s.at.key.clone(), (s.at.partition, s.product.clone()));
        }
        latest
    }
}

/// Command builders (panicking on invalid values: tests only).
pub mod cmd {
    use allocation_worker::domain::{
        Allocate, BatchRef, ChangeBatchQuantity, Command, CreateBatch, Deallocate, OrderId,
        Quantity, Sku,
    };
    use chrono::NaiveDate;

    /// A day of March 2026.
    pub fn day(d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(2026, 3, d)
    }

    pub fn create_batch(reference: &str, sku: &str, qty: i64, eta: Option<NaiveDate>) -> Command {
        Command::CreateBatch(CreateBatch {
            reference: BatchRef::new(reference).unwrap(),
            sku: Sku::new(sku).unwrap(),
            qty: Quantity::new(qty).unwrap(),
            eta,
        })
    }

    pub fn allocate(orderid: &str, sku: &str, qty: i64) -> Command {
        Command::Allocate(Allocate {
            orderid: OrderId::new(orderid).unwrap(),
            sku: Sku::new(sku).unwrap(),
            qty: Quantity::new(qty).unwrap(),
        })
    }

    pub fn change_quantity(reference: &str, sku: &str, qty: i64) -> Command {
        Command::ChangeBatchQuantity(ChangeBatchQuantity {
            reference: BatchRef::new(reference).unwrap(),
            sku: Sku::new(sku).unwrap(),
            qty: Quantity::new(qty).unwrap(),
        })
    }

    pub fn deallocate(orderid: &str, sku: &str) -> Command {
        Command::Deallocate(Deallocate {
            orderid: OrderId::new(orderid).unwrap(),
            sku: Sku::new(sku).unwrap(),
        })
    }
}
