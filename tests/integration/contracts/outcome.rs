//! A bus outcome becomes keyed records with envelope headers that decode back; a poison record
//! becomes its DLQ record.

use super::*;

#[tokio::test]
async fn an_outcome_becomes_keyed_records_with_headers_that_decode_back() {
    use allocation_worker::adapters::envelope::{names, MessageMeta};
    use allocation_worker::adapters::mapping::{dead_letter, view_key};
    use allocation_worker::domain::{self, BatchRef, MessageId, OrderId, Product, Quantity, Sku};
    use allocation_worker::service_layer::{Disposition, Envelope, Metadata, Outcome, ViewUpdate};
    use std::sync::Arc;

    let topics = topics();
    let codec = codec(Registration::AutoRegister).await;
    let now = chrono::Utc::now();
    let inbound = MessageMeta::root(RecordType::Allocate.full_name(), now);
    let meta = |n: u128| Metadata {
        message_id: MessageId::from_uuid(uuid::Uuid::from_u128(n)),
        correlation_id: inbound.correlation_id,
        causation_id: inbound.message_id,
        message_type: "ignored",
        event_time: now,
    };
    let (sku, order, batch) = (
        Sku::new("LAMP").unwrap(),
        OrderId::new("o1").unwrap(),
        BatchRef::new("b1").unwrap(),
    );
    let allocated = domain::Allocated {
        orderid: order.clone(),
        sku: sku.clone(),
        qty: Quantity::new(2).unwrap(),
        batchref: batch.clone(),
    };
    let mut outcome = Outcome::empty(Disposition::Applied);
    outcome.events.push(Envelope {
        metadata: meta(1),
        payload: allocated.into(),
    });
    outcome.view_updates.push(Envelope {
        metadata: meta(2),
        payload: ViewUpdate::Upsert {
            orderid: order.clone(),
            sku: sku.clone(),
            batchref: batch.clone(),
        },
    });
    outcome.view_updates.push(Envelope {
        metadata: meta(3),
        payload: ViewUpdate::Delete {
            orderid: order.clone(),
            sku: sku.clone(),
        },
    });
    outcome.derived_commands.push(Envelope {
        metadata: meta(4),
        payload: domain::Deallocate {
            orderid: order.clone(),
            sku: sku.clone(),
        }
        .into(),
    });
    outcome.snapshots.push(Envelope {
        metadata: meta(5),
        payload: Arc::new(Product::new(sku.clone())),
    });

    let records = codec
        .encode_outcome(&topics, &outcome, &inbound.traceparent, 3)
        .await
        .expect("encode outcome");
    assert_eq!(records.len(), 5);
    let expected = [
        (
            &topics.events,
            Some(RecordType::Allocated),
            b"LAMP".to_vec(),
        ),
        (
            &topics.view,
            Some(RecordType::AllocationRow),
            view_key(&order, &sku),
        ),
        (&topics.view, None, view_key(&order, &sku)),
        (
            &topics.commands,
            Some(RecordType::Deallocate),
            b"LAMP".to_vec(),
        ),
        (
            &topics.changelog,
            Some(RecordType::ProductSnapshot),
            b"LAMP".to_vec(),
        ),
    ];
    for (i, (record, (topic, record_type, key))) in records.iter().zip(expected).enumerate() {
        assert_eq!(&record.topic, topic, "record {i}");
        assert_eq!(record.key, key, "record {i}");
        let h = &record.headers;
        let n = (i + 1) as u128;
        assert_eq!(
            h.get_str(names::MESSAGE_ID),
            Some(uuid::Uuid::from_u128(n).to_string().as_str())
        );
        assert_eq!(
            h.get_str(names::CAUSATION_ID),
            Some(inbound.message_id.to_string().as_str())
        );
        assert_eq!(
            h.get_str(names::CORRELATION_ID),
            Some(inbound.correlation_id.to_string().as_str())
        );
        let tp = h.get_str(names::TRACEPARENT).expect("traceparent");
        assert!(
            tp.contains(&format!("{:032x}", inbound.traceparent.trace_id())),
            "trace continues"
        );
        assert!(h.get_str(names::EVENT_TIME).is_some());
        match record_type {
            Some(rt) => {
                assert_eq!(h.get_str(names::MESSAGE_TYPE), Some(rt.full_name()));
                let decoded = codec
                    .decode(record.payload.as_deref())
                    .await
                    .expect("decodes");
                assert_eq!(decoded.record_type(), rt);
            }
            None => assert_eq!(record.payload, None, "a deleted row is a tombstone"),
        }
    }
    assert!(records[1].partition.is_some() && records[1].partition == records[2].partition);
    let restored = codec
        .decode_snapshot(records[4].payload.as_deref())
        .await
        .expect("snapshot");
    assert_eq!(restored, Some(Product::new(sku.clone())));
    assert_eq!(codec.decode_snapshot(None).await.expect("tombstone"), None);

    // A poison record becomes a DLQ record with its original bytes.
    let headers = HeaderList::new();
    let poison = InboundRecord {
        topic: &topics.commands,
        partition: 1,
        offset: 9,
        key: Some(b"k"),
        payload: Some(b"garbage"),
        headers: &headers,
        timestamp_ms: None,
    };
    let err = codec.decode_inbound(&poison, now).await.unwrap_err();
    let dlq = dead_letter(&topics, &poison, &(&err).into(), now);
    assert_eq!(dlq.topic, topics.dlq);
    assert_eq!(
        (dlq.key.as_slice(), dlq.payload.as_deref()),
        (&b"k"[..], Some(&b"garbage"[..]))
    );
    assert_eq!(
        dlq.headers.get_str(names::DLQ_REASON),
        Some("bad-magic-byte")
    );
    assert_eq!(
        dlq.headers.get_str(names::DLQ_CLASS),
        Some("deserialization")
    );
}
