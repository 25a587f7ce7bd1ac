//! Two workers in one group (distinct transactional ids); while commands flow, each in turn
//! is stopped with SIGTERM (its partitions move to the other: commit on revoke, restore on
//! assign) and started again (partitions move back). Each one leaves once, so the command
//! partitions move whichever worker the assignor gave them to. Every command has exactly its
//! effects.

use std::time::Duration;

use super::checker::assert_exactly_once;
use super::support::PARTITIONS;
use super::workload::Workload;
use super::{Setup, Stream, READY, SHUTDOWN};
use crate::harness::worker::spawn_worker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_leave_and_rejoin_mid_stream_and_nothing_is_lost_or_duplicated() {
    let mut s = Setup::new("rebalance").await;
    let mut work = Workload::new(0xBA1A, 12);
    for c in work.setup() {
        s.producer.command(c).await;
    }
    s.producer.flush().await;
    let specs = [s.spec(0), s.spec(1)];
    let mut workers = [spawn_worker(&specs[0]).await, spawn_worker(&specs[1]).await];
    for w in &mut workers {
        w.wait_ready(READY).await;
    }

    let stream = Stream::start(
        s.new_producer().await,
        work,
        1500,
        10,
        Duration::from_millis(50),
    );
    let mut moments = Vec::new();
    for leaving in [1, 0] {
        tokio::time::sleep(Duration::from_millis(700)).await;
        moments.push(stream.sent());
        let (status, took) = workers[leaving].terminate(SHUTDOWN).await;
        assert!(
            status.success(),
            "SIGTERM must end {} with 0, got {status}",
            specs[leaving].label
        );
        eprintln!(
            "rebalance: {} left after {} streamed commands, shutdown took {took:?}",
            specs[leaving].label,
            stream.sent()
        );
        tokio::time::sleep(Duration::from_millis(1000)).await;
        workers[1 - leaving].assert_running();
        workers[leaving] = spawn_worker(&specs[leaving]).await;
        workers[leaving].wait_ready(READY).await;
        moments.push(stream.sent());
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let producer = stream.finish().await;
    let total = producer.sent().len();
    assert!(
        moments.first() > Some(&0)
            && moments.windows(2).all(|w| w[0] < w[1])
            && moments.last() < Some(&total),
        "the rebalances must happen while commands flow: {moments:?} of {total}"
    );

    let [w0, w1] = &mut workers;
    s.caught_up(&mut [w0, w1]).await;
    let observed = s.observed().await;
    assert_exactly_once(&s.all_sent(&[&producer]), &observed, PARTITIONS);
    for w in &mut workers {
        let (status, _) = w.terminate(SHUTDOWN).await;
        assert!(
            status.success(),
            "SIGTERM must end {} with 0, got {status}",
            w.spec.label
        );
    }
}
