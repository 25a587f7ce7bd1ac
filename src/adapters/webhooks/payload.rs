//! The outbound form of an event of this context.
//!
//! - webhook id: `msg_<message-id>` (the event's `message-id` header, a UUID, without dashes);
//!   deterministic, so every redelivery of an event carries the same id — the subscriber's
//!   idempotency key;
//! - plain body (Standard Webhooks' recommended shape): `{"type", "timestamp", "data"}` plus
//!   `correlation_id` / `causation_id`, where `data` is the event's contract JSON form;
//! - CloudEvents 1.0 structured mode (`application/cloudevents+json`): `specversion`, `id`
//!   (the webhook id), `source`, `type`, `subject` (the record key), `time`,
//!   `datacontenttype`, `data` (the contract JSON form), plus the extension attributes
//!   `correlationid` / `causationid`.
//!
//! Invariant: the same event always yields the same bytes (no clock here).

use serde_json::{json, Value};

use crate::adapters::contracts::{RecordKind, RecordType, WireMessage};
use crate::adapters::envelope::{format_event_time, MessageMeta};

/// Content type of the plain form.
pub const JSON: &str = "application/json";
/// Content type of the CloudEvents structured form.
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";

/// The webhook id of an event.
pub fn webhook_id(meta: &MessageMeta) -> String {
    format!("msg_{}", meta.message_id.as_uuid().simple())
}

/// One event, ready to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEvent {
    pub webhook_id: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Where an event was read: the topic and the record key (the CloudEvents `subject`).
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub key: Option<&'a str>,
}

/// The body of `message` (with its envelope `meta`) in the plain or the CloudEvents form.
pub fn outbound_event(
    message: &WireMessage,
    meta: &MessageMeta,
    origin: Origin<'_>,
    cloudevents: bool,
) -> OutboundEvent {
    let id = webhook_id(meta);
    let full_name = message.record_type().full_name();
    let time = format_event_time(&meta.event_time);
    let causation = meta.causation_id.map(|c| c.to_string());
    let (content_type, body): (_, Value) = if cloudevents {
        let mut event = json!({
            "specversion": "1.0",
            "id": id,
            "source": format!("urn:allocation-worker:topic:{}", origin.topic),
            "type": full_name,
            "time": time,
            "datacontenttype": JSON,
            "data": message.to_json(),
            "correlationid": meta.correlation_id.to_string(),
        });
        if let Some(key) = origin.key {
            event["subject"] = json!(key);
        }
        if let Some(c) = causation {
            event["causationid"] = json!(c);
        }
        (CLOUDEVENTS_JSON, event)
    } else {
        (
            JSON,
            json!({
                "type": full_name,
                "timestamp": time,
                "data": message.to_json(),
                "correlation_id": meta.correlation_id.to_string(),
                "causation_id": causation,
            }),
        )
    };
    OutboundEvent {
        webhook_id: id,
        content_type,
        body: body.to_string().into_bytes(),
    }
}

/// Parses one configured event type: an event record's full name
/// (`allocation.events.Allocated`) or its short name (`Allocated`); `*` means all events.
pub fn parse_event_type(name: &str) -> Result<Option<RecordType>, String> {
    let name = name.trim();
    if name == "*" {
        return Ok(None);
    }
    RecordType::ALL
        .iter()
        .copied()
        .filter(|t| t.kind() == RecordKind::Event)
        .find(|t| t.full_name() == name || t.full_name().rsplit('.').next() == Some(name))
        .map(Some)
        .ok_or_else(|| {
            let known: Vec<_> = RecordType::ALL
                .iter()
                .filter(|t| t.kind() == RecordKind::Event)
                .map(|t| t.full_name())
                .collect();
            format!(
                "`{name}` is not an event type of this context ({})",
                known.join(", ")
            )
        })
}

/// Whether a subscription with `filter` (empty = every event) wants `record`.
pub fn wanted(filter: &[RecordType], record: RecordType) -> bool {
    record.kind() == RecordKind::Event && (filter.is_empty() || filter.contains(&record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::contracts::records;
    use chrono::{TimeZone, Utc};

    fn event() -> (WireMessage, MessageMeta) {
        let message = WireMessage::from(records::Allocated {
            orderid: "o1".into(),
            sku: "LAMP".into(),
            qty: 2,
            batchref: "b1".into(),
        });
        let now = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        let root = MessageMeta::root("allocation.commands.Allocate", now);
        let meta = root.caused("allocation.events.Allocated", 0, now);
        (message, meta)
    }

    #[test]
    fn plain_and_cloudevents_forms_carry_the_contract_json_and_a_stable_id() {
        let (message, meta) = event();
        let origin = Origin {
            topic: "allocation.events",
            key: Some("LAMP"),
        };
        let plain = outbound_event(&message, &meta, origin, false);
        assert_eq!(plain, outbound_event(&message, &meta, origin, false));
        assert_eq!(plain.content_type, JSON);
        assert_eq!(
            plain.webhook_id,
            format!("msg_{}", meta.message_id.as_uuid().simple())
        );
        let body: Value = serde_json::from_slice(&plain.body).unwrap();
        assert_eq!(body["type"], "allocation.events.Allocated");
        assert_eq!(body["timestamp"], "2023-11-14T22:13:20.123Z");
        assert_eq!(body["data"], message.to_json());
        assert_eq!(body["causation_id"], meta.causation_id.unwrap().to_string());

        let ce = outbound_event(&message, &meta, origin, true);
        assert_eq!(ce.content_type, CLOUDEVENTS_JSON);
        assert_eq!(ce.webhook_id, plain.webhook_id);
        let body: Value = serde_json::from_slice(&ce.body).unwrap();
        assert_eq!(body["specversion"], "1.0");
        assert_eq!(body["id"], plain.webhook_id);
        assert_eq!(body["type"], "allocation.events.Allocated");
        assert_eq!(body["subject"], "LAMP");
        assert_eq!(
            body["source"],
            "urn:allocation-worker:topic:allocation.events"
        );
        assert_eq!(body["datacontenttype"], JSON);
        assert_eq!(body["data"]["orderid"], "o1");
    }

    #[test]
    fn event_types_are_full_or_short_names_of_events_only() {
        assert_eq!(
            parse_event_type("Allocated"),
            Ok(Some(RecordType::Allocated))
        );
        assert_eq!(
            parse_event_type("allocation.events.OutOfStock"),
            Ok(Some(RecordType::OutOfStock))
        );
        assert_eq!(parse_event_type("*"), Ok(None));
        assert!(parse_event_type("Allocate").is_err());
        assert!(parse_event_type("allocation.view.AllocationRow").is_err());
        assert!(wanted(&[], RecordType::Deallocated));
        assert!(!wanted(&[], RecordType::Allocate));
        assert!(wanted(&[RecordType::Allocated], RecordType::Allocated));
        assert!(!wanted(&[RecordType::Allocated], RecordType::OutOfStock));
    }
}
