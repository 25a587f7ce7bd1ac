//! The runtime-facing API of the adapters: what the Kafka loop calls.
//!
//! - in: [`Codec::decode_inbound`] turns a consumed record into a bus [`Inbound`] plus its
//!   [`MessageMeta`]; [`Codec::decode_snapshot`] restores a [`Product`] from the changelog;
//! - out: [`Codec::encode_outcome`] turns a bus [`Outcome`] into the [`OutboundRecord`]s of
//!   the transaction (events, view rows/tombstones, derived commands, snapshots), each with
//!   its envelope headers; [`Codec::encode_command`] serves `produce` and HTTP intake;
//! - poison: [`dead_letter`] builds the DLQ record (original key, value and headers, plus
//!   `dlq-*` headers).
//!
//! Invariants: keys are UTF-8 strings (sku, orderid), except view rows whose key is the JSON
//! array `[orderid, sku]` (one compacted row per order line), placed on the partition of
//! `orderid` with Kafka's default (murmur2) partitioner; outbound headers carry the record
//! full name as `message-type` and continue the inbound trace.

use chrono::{DateTime, Utc};

use super::codec::{Codec, DecodeError, EncodeError};
use super::contracts::{domain as convert, RecordType, WireMessage};
use super::envelope::{
    dlq_headers, DeadLetterReason, Generated, HeaderList, MessageMeta, SourcePosition, TraceParent,
};
use super::topics::Topics;
use crate::domain::{Command, OrderId, Product, Sku, ValueError};
use crate::service_layer::messages::{Envelope, Inbound, InboundMetadata, Metadata};
use crate::service_layer::outcome::Outcome;
use crate::service_layer::views::ViewUpdate;

/// A consumed record, borrowed from the Kafka client.
#[derive(Debug, Clone, Copy)]
pub struct InboundRecord<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
    pub headers: &'a HeaderList,
    /// The Kafka record timestamp, epoch milliseconds.
    pub timestamp_ms: Option<i64>,
}

impl InboundRecord<'_> {
    /// Topic, partition and offset.
    pub fn position(&self) -> SourcePosition<'_> {
        SourcePosition {
            topic: self.topic,
            partition: self.partition,
            offset: self.offset,
        }
    }
}

/// An inbound record, decoded and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedInbound {
    /// What to hand to the bus.
    pub inbound: Inbound,
    /// The full envelope (with the trace to continue in the outputs).
    pub meta: MessageMeta,
    pub record_type: RecordType,
    pub schema_id: u32,
    /// Envelope fields that were generated (missing or invalid headers).
    pub generated: Generated,
}

/// A command that is well-formed on the wire but breaks a value rule: answered with
/// `CommandRejected` (correlated to the command), not dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCommand {
    pub meta: MessageMeta,
    pub sku: Sku,
    pub error: ValueError,
}

/// A record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRecord {
    pub topic: String,
    pub key: Vec<u8>,
    /// `None` is a tombstone.
    pub payload: Option<Vec<u8>>,
    pub headers: HeaderList,
    /// An explicit partition, when the key's hash must not decide it (view rows).
    pub partition: Option<i32>,
}

impl MessageMeta {
    /// The service layer's view of an inbound envelope.
    pub fn to_inbound_metadata(&self) -> InboundMetadata {
        InboundMetadata {
            message_id: self.message_id,
            correlation_id: Some(self.correlation_id),
            causation_id: self.causation_id,
            timestamp: self.event_time,
        }
    }

    /// The envelope of an output the bus produced, continuing trace `trace`.
    pub fn from_metadata(meta: &Metadata, record: RecordType, trace: &TraceParent) -> Self {
        Self {
            message_id: meta.message_id,
            correlation_id: meta.correlation_id,
            causation_id: Some(meta.causation_id),
            message_type: record.full_name().into(),
            traceparent: trace.with_parent(meta.message_id.as_uuid().as_u64_pair().1),
            event_time: meta.event_time,
        }
    }
}

/// The key of a view row: the JSON array `[orderid, sku]`.
pub fn view_key(orderid: &OrderId, sku: &Sku) -> Vec<u8> {
    let (orderid, sku) = (orderid.as_str(), sku.as_str());
    let mut key = Vec::with_capacity(orderid.len() + sku.len() + 7);
    // Cannot fail: two strings into a vector.
    let _ = serde_json::to_writer(&mut key, &(orderid, sku));
    key
}

/// Kafka's murmur2 hash (Java client `Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&first) = tail.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for `key` among `partitions` (> 0).
pub fn default_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

impl Codec {
    /// Decodes a record of an input topic (commands or external events) into what the bus
    /// takes. Errors are poison records for the DLQ unless `class().is_retriable()`.
    pub async fn decode_inbound(
        &self,
        record: &InboundRecord<'_>,
        now: DateTime<Utc>,
    ) -> Result<DecodedInbound, DecodeError> {
        let decoded = self.decode(record.payload).await?;
        let record_type = decoded.record_type();
        let message = convert::to_inbound(decoded.message, record.topic)?;
        let (meta, generated) = MessageMeta::from_inbound(
            record.headers,
            record.position(),
            record_type.full_name(),
            record.timestamp_ms,
            now,
        );
        Ok(DecodedInbound {
            inbound: Inbound {
                metadata: meta.to_inbound_metadata(),
                message,
            },
            meta,
            record_type,
            schema_id: decoded.schema_id,
            generated,
        })
    }

    /// When `record` is a command with a valid sku that breaks a value rule (what
    /// [`Codec::decode_inbound`] reports as `DecodeError::InvalidValue`): the command's envelope,
    /// its sku and the rule broken. `None` when the record is anything else.
    pub async fn invalid_command(
        &self,
        record: &InboundRecord<'_>,
        now: DateTime<Utc>,
    ) -> Option<InvalidCommand> {
        let decoded = self.decode(record.payload).await.ok()?;
        let (sku, error) = convert::command_value_error(&decoded.message)?;
        let (meta, _) = MessageMeta::from_inbound(
            record.headers,
            record.position(),
            decoded.message.record_type().full_name(),
            record.timestamp_ms,
            now,
        );
        Some(InvalidCommand { meta, sku, error })
    }

    /// Restores a product from a changelog value; `Ok(None)` for a tombstone.
    pub async fn decode_snapshot(
        &self,
        payload: Option<&[u8]>,
    ) -> Result<Option<Product>, DecodeError> {
        let Some(payload) = payload else {
            return Ok(None);
        };
        match self.decode(Some(payload)).await?.message {
            WireMessage::ProductSnapshot(snapshot) => convert::to_product(snapshot).map(Some),
            other => Err(DecodeError::UnexpectedRecordType {
                record: other.record_type(),
                topic: "changelog".to_owned(),
            }),
        }
    }

    async fn outbound(
        &self,
        topic: &str,
        key: Vec<u8>,
        message: Option<&WireMessage>,
        meta: MessageMeta,
    ) -> Result<OutboundRecord, EncodeError> {
        let payload = match message {
            Some(m) => Some(self.encode(topic, m).await?),
            None => None,
        };
        Ok(OutboundRecord {
            topic: topic.to_owned(),
            key,
            payload,
            headers: meta.to_headers(),
            partition: None,
        })
    }

    /// A command to produce to the commands topic (key: its sku).
    pub async fn encode_command(
        &self,
        topics: &Topics,
        command: &Command,
        meta: &MessageMeta,
    ) -> Result<OutboundRecord, EncodeError> {
        let message = convert::from_command(command);
        let meta = MessageMeta {
            message_type: message.record_type().full_name().into(),
            ..meta.clone()
        };
        let key = command.sku().as_str().as_bytes().to_vec();
        self.outbound(&topics.commands, key, Some(&message), meta)
            .await
    }

    /// Every record of one outcome, in the outcome's order (events, view rows, derived
    /// commands, snapshots). `trace` is the inbound trace to continue; `view_partitions` the
    /// partition count of the view topic (rows go to the partition of their orderid).
    pub async fn encode_outcome(
        &self,
        topics: &Topics,
        outcome: &Outcome,
        trace: &TraceParent,
        view_partitions: i32,
    ) -> Result<Vec<OutboundRecord>, EncodeError> {
        let mut out = Vec::with_capacity(outcome.record_count());
        for Envelope { metadata, payload } in &outcome.events {
            let message = convert::from_event(payload);
            let meta = MessageMeta::from_metadata(metadata, message.record_type(), trace);
            let key = payload.sku().as_str().as_bytes().to_vec();
            out.push(
                self.outbound(&topics.events, key, Some(&message), meta)
                    .await?,
            );
        }
        for update in &outcome.view_updates {
            out.push(
                self.encode_view_update(topics, update, trace, view_partitions)
                    .await?,
            );
        }
        for Envelope { metadata, payload } in &outcome.derived_commands {
            let message = convert::from_command(payload);
            let meta = MessageMeta::from_metadata(metadata, message.record_type(), trace);
            let key = payload.sku().as_str().as_bytes().to_vec();
            out.push(
                self.outbound(&topics.commands, key, Some(&message), meta)
                    .await?,
            );
        }
        for Envelope { metadata, payload } in &outcome.snapshots {
            out.push(
                self.encode_snapshot(topics, payload, metadata, trace)
                    .await?,
            );
        }
        Ok(out)
    }

    /// One view row change (a tombstone for `Delete`), keyed `[orderid, sku]` and placed on the
    /// partition of its orderid among `view_partitions`.
    pub async fn encode_view_update(
        &self,
        topics: &Topics,
        update: &Envelope<ViewUpdate>,
        trace: &TraceParent,
        view_partitions: i32,
    ) -> Result<OutboundRecord, EncodeError> {
        let (orderid, sku) = match &update.payload {
            ViewUpdate::Upsert { orderid, sku, .. } | ViewUpdate::Delete { orderid, sku } => {
                (orderid, sku)
            }
        };
        let message = convert::from_view_update(&update.payload);
        let meta = MessageMeta::from_metadata(&update.metadata, RecordType::AllocationRow, trace);
        let mut record = self
            .outbound(&topics.view, view_key(orderid, sku), message.as_ref(), meta)
            .await?;
        record.partition = Some(default_partition(
            orderid.as_str().as_bytes(),
            view_partitions,
        ));
        Ok(record)
    }

    /// The changelog record of `product` (key: its sku) with the envelope `metadata`.
    pub async fn encode_snapshot(
        &self,
        topics: &Topics,
        product: &Product,
        metadata: &Metadata,
        trace: &TraceParent,
    ) -> Result<OutboundRecord, EncodeError> {
        let payload = self
            .encode_snapshot_value(&topics.changelog, product)
            .await?;
        let meta = MessageMeta::from_metadata(metadata, RecordType::ProductSnapshot, trace);
        Ok(OutboundRecord {
            topic: topics.changelog.clone(),
            key: product.sku().as_str().as_bytes().to_vec(),
            payload: Some(payload),
            headers: meta.to_headers(),
            partition: None,
        })
    }
}

/// The DLQ record of a poison record: its original key, value and headers, plus `dlq-*`
/// headers (reason, class, error, source topic/partition/offset, time).
pub fn dead_letter(
    topics: &Topics,
    record: &InboundRecord<'_>,
    why: &DeadLetterReason,
    now: DateTime<Utc>,
) -> OutboundRecord {
    OutboundRecord {
        topic: topics.dlq.clone(),
        key: record.key.unwrap_or_default().to_vec(),
        payload: record.payload.map(<[u8]>::to_vec),
        headers: dlq_headers(record.headers, record.position(), why, now),
        partition: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Vectors from Kafka's UtilsTest.
        assert_eq!(murmur2(b"21"), -973_932_308);
        assert_eq!(murmur2(b"foobar"), -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
        assert_eq!(murmur2(b"abc"), 479_470_107);
        let p = default_partition(b"order-1", 6);
        assert!((0..6).contains(&p));
    }

    #[test]
    fn view_keys_are_unambiguous_json_arrays() {
        let key = view_key(&OrderId::new("o/1").unwrap(), &Sku::new("a\"b").unwrap());
        let parsed: Vec<String> = serde_json::from_slice(&key).unwrap();
        assert_eq!(parsed, vec!["o/1".to_owned(), "a\"b".to_owned()]);
        let as_value = serde_json::json!(["o/1", "a\"b"]).to_string().into_bytes();
        assert_eq!(key, as_value, "the same bytes as a JSON value's text");
    }
}
