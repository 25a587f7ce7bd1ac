//! The harness without the worker binary: a tiny in-test reference worker (read the command
//! topic, decode, run the in-memory bus, encode the outcomes, write them in one Kafka
//! transaction; dead-letter poison) proves the producer, the readers, the decoders, the replay
//! and the checker against the real broker and registry, and shows that the checker catches a
//! committed duplicate but not an aborted one.

use allocation_worker::adapters::codec::{Codec, DecodeError};
use allocation_worker::adapters::contracts::WireMessage;
use allocation_worker::adapters::envelope::{DeadLetterReason, HeaderList, MessageMeta};
use allocation_worker::adapters::mapping::{dead_letter, InboundRecord, OutboundRecord};
use allocation_worker::adapters::topics::Topics;
use allocation_worker::bootstrap;
use allocation_worker::domain::{DomainError, Quantity, Sku};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::checker::{assert_exactly_once, problems};
use super::replay::replay;
use super::support::{now_ms, CommandProducer, Observed, PARTITIONS};
use super::workload::Workload;
use super::Setup;
use crate::harness::kafka::client_config;
use crate::harness::{read_all, unique, Isolation, WAIT};

/// Processes every record of the command topic once, in one transaction.
async fn reference_worker(codec: &Codec, topics: &Topics) {
    let input = read_all(&topics.commands, Isolation::ReadCommitted).await;
    let mut bus = bootstrap::worker().expect("wiring");
    let mut out: Vec<OutboundRecord> = Vec::new();
    for r in &input {
        let headers: HeaderList = r.headers.iter().collect();
        let record = InboundRecord {
            topic: &topics.commands,
            partition: r.partition,
            offset: r.offset,
            key: r.key.as_deref(),
            payload: r.payload.as_deref(),
            headers: &headers,
            timestamp_ms: None,
        };
        match codec.decode_inbound(&record, now_ms()).await {
            Ok(decoded) => {
                let outcome = bus.handle(decoded.inbound).expect("bus");
                bus.commit_batch();
                out.extend(
                    codec
                        .encode_outcome(topics, &outcome, &decoded.meta.traceparent, PARTITIONS)
                        .await
                        .expect("encode outcome"),
                );
            }
            Err(DecodeError::InvalidValue { field: "qty", .. }) => {
                let Ok(WireMessage::Allocate(a)) =
                    codec.decode(record.payload).await.map(|d| d.message)
                else {
                    panic!("the reference only knows invalid Allocates");
                };
                let (meta, _) = MessageMeta::from_inbound(
                    &headers,
                    record.position(),
                    "allocation.commands.Allocate",
                    None,
                    now_ms(),
                );
                let error = DomainError::InvalidValue(Quantity::new(a.qty).unwrap_err());
                let outcome = bus.reject(
                    &meta.to_inbound_metadata(),
                    Sku::new(&a.sku).unwrap(),
                    error,
                );
                out.extend(
                    codec
                        .encode_outcome(topics, &outcome, &meta.traceparent, PARTITIONS)
                        .await
                        .expect("encode rejection"),
                );
            }
            Err(e) => out.push(dead_letter(
                topics,
                &record,
                &DeadLetterReason::from(&e),
                now_ms(),
            )),
        }
    }
    write(producer(&unique("reference")).await, out, true).await;
}

/// A transactional producer that partitions by key like the Java client (murmur2), so that
/// changelog records land on the partition of their commands.
async fn producer(transactional_id: &str) -> BaseProducer {
    let producer: BaseProducer = client_config()
        .await
        .set("transactional.id", transactional_id)
        .set("partitioner", "murmur2_random")
        .create()
        .expect("transactional producer");
    tokio::task::spawn_blocking(move || {
        producer.init_transactions(WAIT).expect("init_transactions");
        producer
    })
    .await
    .expect("init_transactions task")
}

/// Writes `records` in one transaction, committed or aborted.
async fn write(producer: BaseProducer, records: Vec<OutboundRecord>, commit: bool) -> BaseProducer {
    tokio::task::spawn_blocking(move || {
        producer.begin_transaction().expect("begin");
        for r in &records {
            let mut record = BaseRecord::to(&r.topic)
                .key(r.key.as_slice())
                .headers(r.headers.to_rdkafka());
            if let Some(p) = &r.payload {
                record = record.payload(p.as_slice());
            }
            if let Some(p) = r.partition {
                record = record.partition(p);
            }
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        producer.poll(std::time::Duration::from_millis(10));
                        record = back;
                    }
                }
            }
        }
        if commit {
            producer.commit_transaction(WAIT).expect("commit");
        } else {
            producer.flush(WAIT).expect("flush");
            producer.abort_transaction(WAIT).expect("abort");
        }
        producer
    })
    .await
    .expect("writer task")
}

#[tokio::test]
async fn the_harness_and_checker_work_against_a_reference_worker_on_the_real_broker() {
    let mut setup = Setup::new("ref").await;
    let p: &mut CommandProducer = &mut setup.producer;
    let mut work = Workload::new(7, 6);
    for c in work.setup() {
        p.command(c).await;
    }
    for _ in 0..150 {
        p.command(work.next_command()).await;
    }
    p.invalid_allocate("order-bad", "SKU-01", 0).await;
    p.poison("SKU-01", b"{\"json\":true}".to_vec(), "bad-magic-byte")
        .await;
    p.command(work.next_command()).await;
    let sent = p.flush().await.to_vec();

    reference_worker(&setup.codec, &setup.topics).await;
    let observed = Observed::read(&setup.codec, &setup.topics).await;
    let expected = assert_exactly_once(&sent, &observed, PARTITIONS);
    assert!(expected.outcomes.len() > 150);
    assert!(!observed.view.is_empty() && !observed.dlq.is_empty());

    // An aborted copy of an event is invisible to read_committed: still exactly once.
    let event = read_all(&setup.topics.events, Isolation::ReadCommitted)
        .await
        .remove(3);
    let copy = OutboundRecord {
        topic: setup.topics.events.clone(),
        key: event.key.clone().unwrap_or_default(),
        payload: event.payload.clone(),
        headers: event.headers.iter().collect(),
        partition: Some(event.partition),
    };
    let producer = producer(&unique("dup")).await;
    let producer = write(producer, vec![copy.clone()], false).await;
    let observed = Observed::read(&setup.codec, &setup.topics).await;
    assert_exactly_once(&sent, &observed, PARTITIONS);

    // A committed copy is a duplicate, and the checker says so.
    write(producer, vec![copy], true).await;
    let observed = Observed::read(&setup.codec, &setup.topics).await;
    let found = problems(&sent, &replay(&sent), &observed, PARTITIONS);
    assert!(
        found.iter().any(|p| p.starts_with("duplicated event")),
        "the checker missed a committed duplicate: {found:?}"
    );
}
