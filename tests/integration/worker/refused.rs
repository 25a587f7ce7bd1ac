//! An output refused for good does not block its partition: with the worker's producer limited
//! to `message.max.bytes=3000`, one sku's snapshot outgrows it batch by batch. Each command that
//! would make it too large is dead-lettered (`dlq-reason: output-refused`, pointing at its
//! source offset) and changes nothing; the commands before it, and every command of another sku
//! on the same partition, interleaved, are processed once.

use allocation_worker::adapters::mapping::default_partition;
use allocation_worker::domain::Event;

use super::support::cmd::{allocate, create_batch};
use super::support::PARTITIONS;
use super::{sku_on_partition, Setup, SHUTDOWN};
use crate::harness::worker::spawn_worker;

/// Creates batches of GROW (whose snapshot outgrows the limit) interleaved with allocations of
/// CALM (the same partition), all sent before the worker reads any.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_whose_outputs_are_refused_for_good_is_dead_lettered_and_nothing_blocks() {
    let mut s = Setup::new("refused").await;
    let grow = "GROW";
    let partition = default_partition(grow.as_bytes(), PARTITIONS);
    let calm = sku_on_partition("CALM", partition);
    let p = &mut s.producer;
    p.command(create_batch("calm-batch", &calm, 1000, None))
        .await;
    let mut grows = Vec::new();
    let mut calms = Vec::new();
    for i in 0..30 {
        // ≈ 240 bytes more snapshot per batch (its reference, and the command's id); CALM's
        // grows by ≈ 60 per allocation, and stays within the limit.
        let reference = format!("grow-batch-{i:03}-{}", "x".repeat(180));
        grows.push(p.command(create_batch(&reference, grow, 10, None)).await);
        calms.push(p.command(allocate(&format!("calm-{i}"), &calm, 1)).await);
    }
    p.flush().await;
    let sent = s.producer.sent().to_vec();

    let mut spec = s.spec(0);
    spec.extra_args = vec!["-X".into(), "message.max.bytes=3000".into()];
    let mut worker = spawn_worker(&spec).await;
    s.caught_up(&mut [&mut worker]).await;
    let observed = s.observed().await;

    for id in &calms {
        assert!(
            matches!(
                observed.events_caused_by(*id).as_slice(),
                [Event::Allocated(_)]
            ),
            "CALM's allocation {id} was not processed once: {:?}",
            observed.events_caused_by(*id)
        );
    }
    // GROW: a prefix of its commands created batches; each of the rest has one DLQ record.
    let offset_of = |id| {
        sent.iter()
            .find(|x| x.id == Some(id))
            .map(|x| x.offset)
            .expect("sent")
    };
    let mut created = 0;
    let mut refused = 0;
    for id in &grows {
        let events = observed.events_caused_by(*id);
        let letters: Vec<_> = observed
            .dlq
            .iter()
            .filter(|d| d.source_offset == Some(offset_of(*id)))
            .collect();
        match (events.as_slice(), letters.as_slice()) {
            ([Event::BatchCreated(_)], []) => {
                assert_eq!(refused, 0, "{id}: created after a refused one");
                created += 1;
            }
            ([], [letter]) => {
                assert_eq!(letter.reason.as_deref(), Some("output-refused"));
                assert_eq!(letter.source_partition, Some(partition));
                assert_eq!(letter.at.message_id, Some(*id), "original headers kept");
                refused += 1;
            }
            other => {
                panic!("GROW command {id}: expected one event or one DLQ record, got {other:?}")
            }
        }
    }
    assert!(
        created > 0 && refused > 0,
        "created {created}, refused {refused}"
    );
    assert_eq!(observed.dlq.len(), refused, "no other DLQ record");
    let latest = observed.latest_products();
    let (_, product) = latest.get(grow).expect("GROW's snapshot");
    let batches = product.as_ref().map_or(0, |p| p.batches().len());
    assert_eq!(batches, created, "the refused commands changed nothing");

    let (status, _) = worker.terminate(SHUTDOWN).await;
    assert!(
        status.success(),
        "SIGTERM must end the worker with 0, got {status}"
    );
}
