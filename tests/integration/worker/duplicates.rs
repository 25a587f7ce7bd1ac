//! A command delivered twice with the same `message-id` (an upstream producer's retry) has
//! one effect: redelivered right away, and again after the worker restarted (the applied ids
//! travel in the changelog snapshot).

use allocation_worker::domain::Event;

use super::checker::assert_exactly_once;
use super::support::cmd::{allocate, change_quantity, create_batch};
use super::support::{CommandProducer, PARTITIONS};
use super::{Setup, SHUTDOWN};
use crate::harness::worker::spawn_worker;
use allocation_worker::adapters::contracts::RecordType;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_delivered_twice_has_one_effect_even_across_a_restart() {
    let mut s = Setup::new("dupes").await;
    let mut worker = spawn_worker(&s.spec(0)).await;
    let p = &mut s.producer;
    p.command(create_batch("b1", "LAMP", 10, None)).await;
    let twice = CommandProducer::meta(RecordType::Allocate);
    let id = p
        .command_with_meta(allocate("o1", "LAMP", 3), twice.clone())
        .await;
    p.command_with_meta(allocate("o1", "LAMP", 3), twice.clone())
        .await;
    let shrink = CommandProducer::meta(RecordType::ChangeBatchQuantity);
    let shrink_id = p
        .command_with_meta(change_quantity("b1", "LAMP", 8), shrink.clone())
        .await;
    p.command(allocate("o2", "LAMP", 2)).await;
    p.command_with_meta(change_quantity("b1", "LAMP", 8), shrink.clone())
        .await;
    p.flush().await;
    s.caught_up(&mut [&mut worker]).await;
    let (status, _) = worker.terminate(SHUTDOWN).await;
    assert!(
        status.success(),
        "SIGTERM must end the worker with 0, got {status}"
    );

    let mut worker = spawn_worker(&s.spec(0)).await;
    let p = &mut s.producer;
    p.command_with_meta(allocate("o1", "LAMP", 3), twice.clone())
        .await;
    p.command(allocate("o3", "LAMP", 1)).await;
    p.flush().await;
    s.caught_up(&mut [&mut worker]).await;

    let observed = s.observed().await;
    let sent = s.producer.sent().to_vec();
    let expected = assert_exactly_once(&sent, &observed, PARTITIONS);
    assert!(
        matches!(observed.events_caused_by(id).as_slice(), [Event::Allocated(a)] if a.orderid.as_str() == "o1"),
        "three deliveries of one Allocate must yield one Allocated: {:?}",
        observed.events_caused_by(id)
    );
    assert_eq!(
        observed.events_caused_by(shrink_id).len(),
        1,
        "two deliveries of one ChangeBatchQuantity: {:?}",
        observed.events_caused_by(shrink_id)
    );
    let latest = observed.latest_products();
    let lamp = latest["LAMP"].1.as_ref().expect("LAMP snapshot");
    assert_eq!(lamp, &expected.products["LAMP"]);
    assert_eq!(
        lamp.batches()[0].available_quantity(),
        8 - 3 - 2 - 1,
        "o1, o2 and o3 allocated once each"
    );
    let (status, _) = worker.terminate(SHUTDOWN).await;
    assert!(
        status.success(),
        "SIGTERM must end the worker with 0, got {status}"
    );
}
