//! What the worker tests send and what they read back.
//!
//! - [`CommandProducer`]: commands (Avro, registry, envelope headers) keyed by sku with the
//!   Java-compatible murmur2 partitioner, plus raw records (poison pills); remembers every
//!   record it sent with its partition and offset ([`Sent`]). Its methods panic when a record
//!   cannot be sent or delivered; their `try_` twins return a [`ProduceError`] instead.
//! - [`Observed`]: every output topic read with `read_committed` and decoded: events,
//!   changelog snapshots, view rows, worker-written commands and DLQ records, each with its
//!   position and envelope ids.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use allocation_worker::adapters::codec::{Codec, EncodeError, RegistryConfig};
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

/// Why a record could not be sent or was not delivered as expected: what the `try_` methods
/// of [`CommandProducer`] return (the others panic with it).
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("encoding a record: {0}")]
    Encode(#[from] EncodeError),
    #[error("producing to {topic}: {source}")]
    Send { topic: String, source: KafkaError },
    #[error("delivery of a record to {topic} failed: {source}")]
    Delivery { topic: String, source: KafkaError },
    #[error("the delivery report of a record to {topic} never came (the producer is gone)")]
    NoReport { topic: String },
    #[error("key {key} went to partition {got}, not {want} like with the Java client (murmur2)")]
    Partition { key: String, got: i32, want: i32 },
}

fn or_panic<T>(result: Result<T, ProduceError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{e}"),
    }
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
        or_panic(self.try_command(command).await)
    }

    /// [`CommandProducer::command`], with an `Err` instead of a panic.
    pub async fn try_command(&mut self, command: Command) -> Result<MessageId, ProduceError> {
        let record = from_command(&command).record_type();
        self.try_command_with_meta(command, Self::meta(record))
            .await
    }

    /// Sends `command` with the envelope `meta` (resending the same `meta` is a redelivery).
    pub async fn command_with_meta(&mut self, command: Command, meta: MessageMeta) -> MessageId {
        or_panic(self.try_command_with_meta(command, meta).await)
    }

    async fn try_command_with_meta(
        &mut self,
        command: Command,
        meta: MessageMeta,
    ) -> Result<MessageId, ProduceError> {
        let record = self
            .codec
            .encode_command(&self.topics, &command, &meta)
            .await?;
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
        .await?;
        Ok(meta.message_id)
    }

    /// Sends an `Allocate` as raw wire values (e.g. qty 0), which the worker must reject with
    /// one `CommandRejected`.
    pub async fn invalid_allocate(&mut self, orderid: &str, sku: &str, qty: i64) -> MessageId {
        or_panic(self.try_invalid_allocate(orderid, sku, qty).await)
    }

    /// [`CommandProducer::invalid_allocate`], with an `Err` instead of a panic.
    pub async fn try_invalid_allocate(
        &mut self,
        orderid: &str,
        sku: &str,
        qty: i64,
    ) -> Result<MessageId, ProduceError> {
        let message = WireMessage::from(records::Allocate {
            orderid: orderid.into(),
            sku: sku.into(),
            qty,
        });
        let payload = self.codec.encode(&self.topics.commands, &message).await?;
        let meta = Self::meta(RecordType::Allocate);
        let kind = SentKind::Invalid { sku: sku.into() };
        self.enqueue(
            sku.into(),
            Some(payload),
            meta.to_headers(),
            Some(meta.message_id),
            kind,
        )
        .await?;
        Ok(meta.message_id)
    }

    /// Sends raw bytes with a fresh envelope, expected to be dead-lettered with `reason`.
    pub async fn poison(&mut self, key: &str, payload: Vec<u8>, reason: &str) -> MessageId {
        or_panic(self.try_poison(key, payload, reason).await)
    }

    /// [`CommandProducer::poison`], with an `Err` instead of a panic.
    pub async fn try_poison(
        &mut self,
        key: &str,
        payload: Vec<u8>,
        reason: &str,
    ) -> Result<MessageId, ProduceError> {
        self.try_poison_raw(key, Some(payload), reason).await
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
        or_panic(self.try_poison_raw(key, payload, reason).await)
    }

    async fn try_poison_raw(
        &mut self,
        key: &str,
        payload: Option<Vec<u8>>,
        reason: &str,
    ) -> Result<MessageId, ProduceError> {
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
        .await?;
        Ok(meta.message_id)
    }

    async fn enqueue(
        &mut self,
        key: String,
        payload: Option<Vec<u8>>,
        headers: HeaderList,
        id: Option<MessageId>,
        kind: SentKind,
    ) -> Result<(), ProduceError> {
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
                Err((source, _)) => return Err(ProduceError::Send { topic, source }),
            }
        };
        self.pending.push(Pending {
            delivery,
            id,
            key,
            kind,
        });
        Ok(())
    }

    /// Waits for every enqueued record's delivery; checks it landed on the partition the
    /// Java client would pick for its key. Returns everything sent so far.
    pub async fn flush(&mut self) -> &[Sent] {
        or_panic(self.try_flush().await)
    }

    /// [`CommandProducer::flush`], with an `Err` for the first record that was not delivered
    /// as expected instead of a panic (the records enqueued after it are forgotten).
    pub async fn try_flush(&mut self) -> Result<&[Sent], ProduceError> {
        let topic = &self.topics.commands;
        for p in std::mem::take(&mut self.pending) {
            let delivery = p
                .delivery
                .await
                .map_err(|_| ProduceError::NoReport {
                    topic: topic.clone(),
                })?
                .map_err(|(source, _)| ProduceError::Delivery {
                    topic: topic.clone(),
                    source,
                })?;
            let want = default_partition(p.key.as_bytes(), self.partitions);
            if delivery.partition != want {
                return Err(ProduceError::Partition {
                    key: p.key,
                    got: delivery.partition,
                    want,
                });
            }
            self.sent.push(Sent {
                id: p.id,
                key: p.key,
                partition: delivery.partition,
                offset: delivery.offset,
                kind: p.kind,
            });
        }
        Ok(&self.sent)
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
