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
use allocation_worker::adapters::contracts::domain::from_command;
use allocation_worker::adapters::contracts::records;
use allocation_worker::adapters::contracts::{RecordType, WireMessage};
use allocation_worker::adapters::envelope::{HeaderList, MessageMeta};
use allocation_worker::adapters::mapping::default_partition;
use allocation_worker::adapters::topics::Topics;
use allocation_worker::domain::{Command, MessageId};
use allocation_worker::service_layer::InboundMetadata;
use chrono::{DateTime, TimeZone, Utc};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use crate::harness::infra;
use crate::harness::kafka::client_config;

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

#[path = "support_observed.rs"]
pub mod observed;
pub use observed::{Observed, ObservedDlq, ObservedEvent, Position};

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
