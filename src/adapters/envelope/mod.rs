//! The message envelope: the Kafka headers of DESIGN §4 around every record
//! (`message-id`, `correlation-id`, `causation-id`, `message-type`, `traceparent`,
//! `event-time`) and the `dlq-*` headers of dead-lettered records.
//!
//! Headers are handled as a [`HeaderList`] (names, and every value packed in one buffer),
//! independent of rdkafka, with conversions from any `rdkafka::message::Headers` and to
//! `OwnedHeaders`. The names of [`names`] are kept as `&'static str`, any other name as an owned
//! string; the envelope's values are written straight into the list's buffer (every record in
//! and out has six of them).
//!
//! Invariants:
//! - [`MessageMeta::from_inbound`] never fails: a missing or invalid header gets a sensible
//!   value, and every generated value is deterministic in the record's position and content
//!   (a redelivered record gets the same `message-id`, so duplicates are recognised);
//! - `event-time` is written as RFC 3339 in UTC with milliseconds
//!   (`2025-01-31T09:30:00.123Z`); read as RFC 3339 or as integer epoch milliseconds;
//! - ids are UUIDs; an id header that is not a UUID is mapped to a v5 UUID of its value;
//! - when headers repeat, the last occurrence wins (as Java's `lastHeader`).

mod headers;
#[cfg(test)]
mod tests;
mod traceparent;

pub use headers::{HeaderList, HeaderName};
pub use traceparent::{TraceParent, SAMPLED};

use std::borrow::Cow;

use chrono::{DateTime, Datelike, SecondsFormat, TimeZone, Timelike, Utc};
use uuid::Uuid;

use crate::domain::values::MessageId;
use crate::service_layer::clock::name_based;

/// Header names.
pub mod names {
    pub const MESSAGE_ID: &str = "message-id";
    pub const CORRELATION_ID: &str = "correlation-id";
    pub const CAUSATION_ID: &str = "causation-id";
    pub const MESSAGE_TYPE: &str = "message-type";
    pub const TRACEPARENT: &str = "traceparent";
    pub const EVENT_TIME: &str = "event-time";
    pub const DLQ_REASON: &str = "dlq-reason";
    pub const DLQ_CLASS: &str = "dlq-class";
    pub const DLQ_ERROR: &str = "dlq-error";
    pub const DLQ_SOURCE_TOPIC: &str = "dlq-source-topic";
    pub const DLQ_SOURCE_PARTITION: &str = "dlq-source-partition";
    pub const DLQ_SOURCE_OFFSET: &str = "dlq-source-offset";
    pub const DLQ_FAILED_AT: &str = "dlq-failed-at";

    /// Every name above.
    pub const ALL: [&str; 13] = [
        MESSAGE_ID,
        CORRELATION_ID,
        CAUSATION_ID,
        MESSAGE_TYPE,
        TRACEPARENT,
        EVENT_TIME,
        DLQ_REASON,
        DLQ_CLASS,
        DLQ_ERROR,
        DLQ_SOURCE_TOPIC,
        DLQ_SOURCE_PARTITION,
        DLQ_SOURCE_OFFSET,
        DLQ_FAILED_AT,
    ];
}

/// Appends the canonical text of a UUID (hyphenated, lower case).
fn write_uuid(id: &MessageId, out: &mut Vec<u8>) {
    let at = out.len();
    out.resize(at + uuid::fmt::Hyphenated::LENGTH, 0);
    id.as_uuid().hyphenated().encode_lower(&mut out[at..]);
}

/// Namespace of the v5 UUIDs this worker derives (message ids of records without one).
pub const MESSAGE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x8d4c_1e2a_5b7f_4a39_9c0e_6f21_a3b4_c5d6);

/// Where an inbound record was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePosition<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// The envelope of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    /// Unique per message; the unit of de-duplication.
    pub message_id: MessageId,
    /// Shared by every message of one business flow (the first message's id by default).
    pub correlation_id: MessageId,
    /// The message that caused this one; `None` for a root message (e.g. sent by the CLI).
    pub causation_id: Option<MessageId>,
    /// The record full name, e.g. `allocation.events.Allocated`.
    pub message_type: Cow<'static, str>,
    pub traceparent: TraceParent,
    /// When the fact happened (or the command was issued).
    pub event_time: DateTime<Utc>,
}

/// Which envelope fields of an inbound record were generated because they were missing or
/// invalid (for a log line or a metric; never an error).
pub type Generated = Vec<&'static str>;

fn v5(namespace: &Uuid, name: &[u8]) -> MessageId {
    MessageId::from_uuid(name_based(namespace, name))
}

/// An id header: a UUID as is; any other non-empty value mapped to a v5 UUID of itself
/// (`(id, true)` when it had to be mapped).
fn id_header(headers: &HeaderList, name: &str) -> Option<(MessageId, bool)> {
    let raw = headers.get(name)?;
    let text = std::str::from_utf8(raw).ok().map(str::trim);
    if let Some(uuid) = text.and_then(|t| Uuid::parse_str(t).ok()) {
        return Some((MessageId::from_uuid(uuid), false));
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let name = [name.as_bytes(), b":", raw].concat();
    Some((v5(&MESSAGE_ID_NAMESPACE, &name), true))
}

/// A trace started for a message that came without one: the trace id is the message id's
/// 128 bits, the span id is derived from it, so a redelivery continues the same trace.
fn trace_for(message_id: &MessageId) -> TraceParent {
    let span = name_based(message_id.as_uuid(), b"span").as_u64_pair().1;
    TraceParent::non_zero(message_id.as_uuid().as_u128(), span, SAMPLED)
}

/// Parses `event-time`: RFC 3339, or integer epoch milliseconds.
pub fn parse_event_time(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    let millis: i64 = value.parse().ok()?;
    Utc.timestamp_millis_opt(millis).single()
}

/// The length of `event-time` for years 0–9999.
const EVENT_TIME_LENGTH: usize = "2025-01-31T09:30:00.123Z".len();

/// Formats `event-time` (RFC 3339, UTC, milliseconds).
pub fn format_event_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Appends `event-time`, as [`format_event_time`] writes it, without the formatting machinery
/// (one per record the worker writes).
pub fn write_event_time(time: &DateTime<Utc>, out: &mut Vec<u8>) {
    let year = time.year();
    // A leap second's nanoseconds exceed 10⁹; chrono prints them as milliseconds ≥ 1000. Such
    // times, and years of other than four digits, take chrono's formatting.
    let millis = time.timestamp_subsec_millis();
    if !(0..=9999).contains(&year) || millis > 999 {
        out.extend_from_slice(format_event_time(time).as_bytes());
        return;
    }
    let mut text = *b"0000-00-00T00:00:00.000Z";
    let digits = |text: &mut [u8], mut value: u32| {
        for byte in text.iter_mut().rev() {
            *byte = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    digits(&mut text[0..4], year.unsigned_abs());
    digits(&mut text[5..7], time.month());
    digits(&mut text[8..10], time.day());
    digits(&mut text[11..13], time.hour());
    digits(&mut text[14..16], time.minute());
    digits(&mut text[17..19], time.second());
    digits(&mut text[20..23], millis);
    out.extend_from_slice(&text);
}

impl MessageMeta {
    /// The envelope of an inbound record of type `record_type` (the payload's record full
    /// name, which wins over a disagreeing `message-type` header).
    pub fn from_inbound(
        headers: &HeaderList,
        source: SourcePosition<'_>,
        record_type: &'static str,
        kafka_timestamp_ms: Option<i64>,
        now: DateTime<Utc>,
    ) -> (Self, Generated) {
        let mut generated = Generated::new();
        let message_id = match id_header(headers, names::MESSAGE_ID) {
            Some((id, mapped)) => {
                if mapped {
                    generated.push(names::MESSAGE_ID);
                }
                id
            }
            None => {
                generated.push(names::MESSAGE_ID);
                let position = format!("{}/{}/{}", source.topic, source.partition, source.offset);
                v5(&MESSAGE_ID_NAMESPACE, position.as_bytes())
            }
        };
        let correlation_id = match id_header(headers, names::CORRELATION_ID) {
            Some((id, mapped)) => {
                if mapped {
                    generated.push(names::CORRELATION_ID);
                }
                id
            }
            None => {
                generated.push(names::CORRELATION_ID);
                message_id
            }
        };
        let causation_id = id_header(headers, names::CAUSATION_ID).map(|(id, _)| id);
        if headers.get_str(names::MESSAGE_TYPE) != Some(record_type) {
            generated.push(names::MESSAGE_TYPE);
        }
        let traceparent = headers
            .get_str(names::TRACEPARENT)
            .and_then(TraceParent::parse)
            .unwrap_or_else(|| {
                generated.push(names::TRACEPARENT);
                trace_for(&message_id)
            });
        let event_time = headers
            .get_str(names::EVENT_TIME)
            .and_then(parse_event_time)
            .unwrap_or_else(|| {
                generated.push(names::EVENT_TIME);
                kafka_timestamp_ms
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                    .unwrap_or(now)
            });
        let meta = Self {
            message_id,
            correlation_id,
            causation_id,
            message_type: Cow::Borrowed(record_type),
            traceparent,
            event_time,
        };
        (meta, generated)
    }

    /// The envelope of a new root message (a fresh random id; correlation = its id).
    pub fn root(message_type: &str, now: DateTime<Utc>) -> Self {
        let message_id = MessageId::from_uuid(Uuid::new_v4());
        Self {
            correlation_id: message_id,
            causation_id: None,
            message_type: Cow::Owned(message_type.to_owned()),
            traceparent: trace_for(&message_id),
            event_time: now,
            message_id,
        }
    }

    /// The envelope of the `index`-th message caused by this one. Deterministic: the id is a
    /// v5 UUID of (this id, type, index), so re-processing after an aborted transaction
    /// produces the same ids. Correlation and trace carry over; causation is this message.
    pub fn caused(&self, message_type: &str, index: u32, now: DateTime<Utc>) -> Self {
        let message_id = v5(
            self.message_id.as_uuid(),
            format!("{message_type}/{index}").as_bytes(),
        );
        Self {
            correlation_id: self.correlation_id,
            causation_id: Some(self.message_id),
            message_type: Cow::Owned(message_type.to_owned()),
            traceparent: self
                .traceparent
                .with_parent(message_id.as_uuid().as_u64_pair().1),
            event_time: now,
            message_id,
        }
    }

    /// The headers to write (causation only when there is one), packed in one buffer.
    pub fn to_headers(&self) -> HeaderList {
        const UUID: usize = uuid::fmt::Hyphenated::LENGTH;
        let bytes = 3 * UUID + self.message_type.len() + TraceParent::LENGTH + EVENT_TIME_LENGTH;
        let mut headers = HeaderList::with_capacity(6, bytes);
        headers
            .push_with(names::MESSAGE_ID, |out| write_uuid(&self.message_id, out))
            .push_with(names::CORRELATION_ID, |out| {
                write_uuid(&self.correlation_id, out)
            });
        if let Some(causation) = &self.causation_id {
            headers.push_with(names::CAUSATION_ID, |out| write_uuid(causation, out));
        }
        headers
            .push_with(names::MESSAGE_TYPE, |out| {
                out.extend_from_slice(self.message_type.as_bytes())
            })
            .push_with(names::TRACEPARENT, |out| {
                out.extend_from_slice(&self.traceparent.to_bytes())
            })
            .push_with(names::EVENT_TIME, |out| {
                write_event_time(&self.event_time, out)
            });
        headers
    }
}

/// Why a record is dead-lettered: stable `reason` and `class` strings plus a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterReason {
    pub reason: &'static str,
    pub class: &'static str,
    pub error: String,
}

impl From<&crate::adapters::codec::DecodeError> for DeadLetterReason {
    fn from(e: &crate::adapters::codec::DecodeError) -> Self {
        Self {
            reason: e.reason(),
            class: e.class().as_str(),
            error: e.to_string(),
        }
    }
}

/// The headers of a DLQ record: the original headers, then `dlq-*` headers saying why and
/// from where (the original key and value bytes are produced unchanged).
pub fn dlq_headers(
    original: &HeaderList,
    source: SourcePosition<'_>,
    why: &DeadLetterReason,
    now: DateTime<Utc>,
) -> HeaderList {
    let mut headers = original.clone();
    let mut error = why.error.clone();
    if error.len() > 1024 {
        let mut end = 1024;
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        error.truncate(end);
    }
    headers
        .set(names::DLQ_REASON, why.reason)
        .set(names::DLQ_CLASS, why.class)
        .set(names::DLQ_ERROR, error)
        .set(names::DLQ_SOURCE_TOPIC, source.topic)
        .set(names::DLQ_SOURCE_PARTITION, source.partition.to_string())
        .set(names::DLQ_SOURCE_OFFSET, source.offset.to_string())
        .set(names::DLQ_FAILED_AT, format_event_time(&now));
    headers
}
