//! Tests of the envelope: header read/write, generated defaults, DLQ headers.

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use super::*;

const TYPE: &str = "allocation.commands.Allocate";

fn at() -> SourcePosition<'static> {
    SourcePosition {
        topic: "allocation.commands",
        partition: 2,
        offset: 41,
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 31, 9, 30, 0).unwrap()
}

#[test]
fn complete_headers_are_read_as_given() {
    let id = Uuid::new_v4();
    let corr = Uuid::new_v4();
    let cause = Uuid::new_v4();
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut h = HeaderList::new();
    h.push(names::MESSAGE_ID, id.to_string())
        .push(names::CORRELATION_ID, corr.to_string())
        .push(names::CAUSATION_ID, cause.to_string())
        .push(names::MESSAGE_TYPE, TYPE)
        .push(names::TRACEPARENT, tp)
        .push(names::EVENT_TIME, "2025-01-31T10:00:00.250+01:00");
    let (meta, generated) = MessageMeta::from_inbound(&h, at(), TYPE, Some(0), now());
    assert!(generated.is_empty(), "{generated:?}");
    assert_eq!(meta.message_id, MessageId::from_uuid(id));
    assert_eq!(meta.correlation_id, MessageId::from_uuid(corr));
    assert_eq!(meta.causation_id, Some(MessageId::from_uuid(cause)));
    assert_eq!(meta.traceparent.to_string(), tp);
    assert_eq!(
        format_event_time(&meta.event_time),
        "2025-01-31T09:00:00.250Z"
    );
    // Written back, the same envelope reads the same.
    let (again, generated) = MessageMeta::from_inbound(&meta.to_headers(), at(), TYPE, None, now());
    assert!(generated.is_empty());
    assert_eq!(again, meta);
}

#[test]
fn missing_headers_get_deterministic_defaults() {
    let empty = HeaderList::new();
    let (a, generated) =
        MessageMeta::from_inbound(&empty, at(), TYPE, Some(1_700_000_000_000), now());
    let (b, _) = MessageMeta::from_inbound(&empty, at(), TYPE, Some(1_700_000_000_000), now());
    assert_eq!(a, b, "a redelivered record gets the same envelope");
    assert_eq!(a.correlation_id, a.message_id);
    assert_eq!(a.causation_id, None);
    assert_eq!(a.message_type, TYPE);
    assert_eq!(a.event_time.timestamp_millis(), 1_700_000_000_000);
    for name in [
        names::MESSAGE_ID,
        names::CORRELATION_ID,
        names::MESSAGE_TYPE,
        names::TRACEPARENT,
        names::EVENT_TIME,
    ] {
        assert!(
            generated.contains(&name),
            "{name} not reported as generated"
        );
    }
    let elsewhere = SourcePosition { offset: 42, ..at() };
    let (c, _) = MessageMeta::from_inbound(&empty, elsewhere, TYPE, None, now());
    assert_ne!(c.message_id, a.message_id);
    assert_eq!(c.event_time, now(), "no header and no timestamp: now");
}

#[test]
fn invalid_headers_are_replaced_not_fatal() {
    let mut h = HeaderList::new();
    h.push(names::MESSAGE_ID, "order-17-attempt-1")
        .push(names::TRACEPARENT, "garbage")
        .push(names::EVENT_TIME, "1700000000123")
        .push(names::CORRELATION_ID, [0xff, 0xfe]);
    let (meta, generated) = MessageMeta::from_inbound(&h, at(), TYPE, None, now());
    let (again, _) = MessageMeta::from_inbound(&h, at(), TYPE, None, now());
    assert_eq!(
        meta.message_id, again.message_id,
        "non-UUID ids map deterministically"
    );
    assert!(generated.contains(&names::MESSAGE_ID));
    assert!(generated.contains(&names::TRACEPARENT));
    assert_eq!(meta.event_time.timestamp_millis(), 1_700_000_000_123);
    assert_ne!(meta.correlation_id, meta.message_id);
}

#[test]
fn last_header_wins_and_set_replaces() {
    let mut h = HeaderList::new();
    h.push("a", "1").push("a", "2");
    assert_eq!(h.get_str("a"), Some("2"));
    h.set("a", "3");
    assert_eq!(h.iter().filter(|(n, _)| *n == "a").count(), 1);
    assert_eq!(h.get("missing"), None);
}

#[test]
fn caused_messages_are_deterministic_and_linked() {
    let (root, _) = MessageMeta::from_inbound(&HeaderList::new(), at(), TYPE, None, now());
    let e0 = root.caused("allocation.events.Allocated", 0, now());
    let e1 = root.caused("allocation.events.Allocated", 1, now());
    assert_eq!(e0, root.caused("allocation.events.Allocated", 0, now()));
    assert_ne!(e0.message_id, e1.message_id);
    assert_eq!(e0.correlation_id, root.correlation_id);
    assert_eq!(e0.causation_id, Some(root.message_id));
    assert_eq!(e0.traceparent.trace_id(), root.traceparent.trace_id());
    assert_ne!(e0.traceparent.parent_id(), root.traceparent.parent_id());
    let headers = e0.to_headers();
    assert_eq!(
        headers.get_str(names::CAUSATION_ID),
        Some(root.message_id.to_string().as_str())
    );
    assert_eq!(
        headers.get_str(names::MESSAGE_TYPE),
        Some("allocation.events.Allocated")
    );
}

#[test]
fn rdkafka_headers_convert_both_ways() {
    let meta = MessageMeta::root(TYPE, now());
    let headers = meta.to_headers();
    let owned = headers.to_rdkafka();
    assert_eq!(HeaderList::from_rdkafka(&owned), headers);
}

#[test]
fn dlq_headers_keep_the_original_and_say_why() {
    let mut original = HeaderList::new();
    original.push(names::MESSAGE_ID, "x");
    let why = DeadLetterReason {
        reason: "bad-magic-byte",
        class: "deserialization",
        error: "é".repeat(2000),
    };
    let h = dlq_headers(&original, at(), &why, now());
    assert_eq!(h.get_str(names::MESSAGE_ID), Some("x"));
    assert_eq!(h.get_str(names::DLQ_REASON), Some("bad-magic-byte"));
    assert_eq!(h.get_str(names::DLQ_CLASS), Some("deserialization"));
    assert_eq!(
        h.get_str(names::DLQ_SOURCE_TOPIC),
        Some("allocation.commands")
    );
    assert_eq!(h.get_str(names::DLQ_SOURCE_PARTITION), Some("2"));
    assert_eq!(h.get_str(names::DLQ_SOURCE_OFFSET), Some("41"));
    assert!(h.get_str(names::DLQ_ERROR).unwrap().len() <= 1024);
}

#[test]
fn event_time_is_written_as_chrono_formats_it() {
    let times = [
        Utc.with_ymd_and_hms(2025, 1, 31, 9, 30, 0).unwrap(),
        Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
        Utc.timestamp_millis_opt(0).unwrap(),
        Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
        Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(-1, 6, 1, 12, 0, 0).unwrap(),
        // A leap second: chrono writes its milliseconds as 1000 and more.
        chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 1_500))
            .unwrap()
            .and_utc(),
    ];
    for time in times {
        let mut written = b"x".to_vec();
        write_event_time(&time, &mut written);
        assert_eq!(
            written[1..],
            *format_event_time(&time).as_bytes(),
            "{time:?}"
        );
    }
}
