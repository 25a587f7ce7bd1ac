//! Restore: a worker processes commands and is stopped (SIGTERM, exit 0 within its
//! `--shutdown-timeout-ms`); a fresh process (new transactional id, nothing shared but the
//! topics and the group) continues. Its results for further commands — which depend on the
//! earlier state — equal the sequential replay: its state came from the changelog alone.
//!
//! And the restore reader on its own, against a changelog whose head was deleted: it starts at
//! each partition's low watermark, not at offset 0.

use std::collections::HashSet;
use std::time::Duration;

use allocation_worker::domain::{Command, Event, Product, Sku};
use allocation_worker::runtime::restore::restore_partitions;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::Offset;

use super::checker::assert_exactly_once;
use super::support::{SentKind, PARTITIONS};
use super::workload::Workload;
use super::{Setup, SHUTDOWN};
use crate::harness::kafka::{client_config, create_topic, delete_records, unique};
use crate::harness::worker::spawn_worker;
use crate::harness::WAIT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_process_continues_from_the_changelog_alone() {
    let mut s = Setup::new("restore").await;
    let mut first = spawn_worker(&s.spec(0).shutdown_timeout_ms(5000)).await;
    let mut work = Workload::new(0x4E57, 8);
    for c in work.setup() {
        s.producer.command(c).await;
    }
    for _ in 0..300 {
        s.producer.command(work.next_command()).await;
    }
    let phase_one = s.producer.flush().await.len();
    s.caught_up(&mut [&mut first]).await;
    let (status, took) = first.terminate(SHUTDOWN).await;
    assert!(
        status.success(),
        "SIGTERM must end the worker with 0, got {status}"
    );
    assert!(
        took < Duration::from_secs(5),
        "shutdown took {took:?}, beyond --shutdown-timeout-ms 5000"
    );

    let mut second = spawn_worker(&s.spec(1)).await;
    for _ in 0..300 {
        s.producer.command(work.next_command()).await;
    }
    s.producer.flush().await;
    s.caught_up(&mut [&mut second]).await;
    let observed = s.observed().await;
    let sent = s.producer.sent().to_vec();
    assert_exactly_once(&sent, &observed, PARTITIONS);

    // The second phase really depended on the first one's state.
    let (one, two) = sent.split_at(phase_one);
    let old_batches: HashSet<String> = one
        .iter()
        .filter_map(|s| match &s.kind {
            SentKind::Command {
                command: Command::CreateBatch(c),
                ..
            } => Some(c.reference.to_string()),
            _ => None,
        })
        .collect();
    let into_old_batches = two
        .iter()
        .filter_map(|s| s.id)
        .flat_map(|id| observed.events_caused_by(id))
        .filter(|e| matches!(e, Event::Allocated(a) if old_batches.contains(a.batchref.as_str())))
        .count();
    assert!(
        into_old_batches > 0,
        "no second-phase allocation went to a batch created before the restart"
    );
    let (status, _) = second.terminate(SHUTDOWN).await;
    assert!(
        status.success(),
        "SIGTERM must end the worker with 0, got {status}"
    );
}

fn snapshot(sku: &str, version: u64) -> Product {
    Product::from_snapshot(Sku::new(sku).expect("sku"), version, vec![], vec![]).expect("product")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_starts_at_the_low_watermark_of_a_changelog_whose_head_was_deleted() {
    let topic = unique("restore-head");
    create_topic(&topic, 3, &[]).await;
    let codec = super::support::codec().await;
    // Partition 0: A v1, A v2 | A v3, B v1 (the first two deleted); partition 1: C v1, all
    // deleted (low = high = 1); partition 2: empty.
    let records = [
        (0, "A", 1),
        (0, "A", 2),
        (0, "A", 3),
        (0, "B", 1),
        (1, "C", 1),
    ];
    let producer: rdkafka::producer::BaseProducer =
        client_config().await.create().expect("producer");
    for (partition, sku, version) in records {
        let value = codec
            .encode_snapshot_value(&topic, &snapshot(sku, version))
            .await
            .expect("encode");
        producer
            .send(
                BaseRecord::to(&topic)
                    .partition(partition)
                    .key(sku)
                    .payload(&value),
            )
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.flush(WAIT).expect("flush");
    delete_records(&topic, 0, Offset::Offset(2)).await;
    delete_records(&topic, 1, Offset::End).await;

    let base = client_config().await;
    let rt = tokio::runtime::Handle::current();
    let reader_topic = topic.clone();
    let restored = tokio::task::spawn_blocking(move || {
        restore_partitions(&base, &reader_topic, &[0, 1, 2], &codec, &rt, WAIT)
    })
    .await
    .expect("restore task")
    .expect("restore");

    assert_eq!(
        restored.records, 2,
        "only what is left of the changelog is read"
    );
    let versions = |p: i32| {
        let mut v: Vec<(String, u64)> = restored
            .partitions
            .iter()
            .find(|(partition, _)| *partition == p)
            .map(|(_, products)| {
                products
                    .iter()
                    .map(|product| (product.sku().to_string(), product.version_number()))
                    .collect()
            })
            .unwrap_or_else(|| panic!("partition {p} missing from the result"));
        v.sort();
        v
    };
    assert_eq!(versions(0), vec![("A".into(), 3), ("B".into(), 1)]);
    assert_eq!(versions(1), vec![]);
    assert_eq!(versions(2), vec![]);
}
