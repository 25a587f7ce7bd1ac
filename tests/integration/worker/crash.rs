//! kill -9, three times, while commands keep flowing: the worker restarts each time with the
//! same transactional id (and static group membership, as a StatefulSet pod would), which
//! aborts its predecessor's open transaction. Afterwards every command has exactly its
//! effects, nothing is duplicated, and the changelog equals the sequential replay.

use std::time::Duration;

use super::checker::assert_exactly_once;
use super::support::PARTITIONS;
use super::workload::{Rng, Workload};
use super::{Setup, Stream, READY, SHUTDOWN};
use crate::harness::worker::spawn_worker;
use crate::harness::{read_all, Isolation};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_three_times_mid_stream_every_command_has_exactly_one_outcome() {
    let mut s = Setup::new("crash").await;
    let spec = s.spec(0).static_member();
    let mut work = Workload::new(0xC0FFEE, 12);
    for c in work.setup() {
        s.producer.command(c).await;
    }
    s.producer.flush().await;

    let mut worker = spawn_worker(&spec).await;
    worker.wait_ready(READY).await;
    // ~200 commands per second until the third restart is done (at least 2000).
    let stream = Stream::start(
        s.new_producer().await,
        work,
        2000,
        10,
        Duration::from_millis(50),
    );
    let mut rng = Rng::new(0x5EED);
    let mut killed_at = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(rng.range(400, 1200))).await;
        worker.assert_running();
        killed_at.push(stream.sent());
        worker.kill();
        worker = spawn_worker(&spec).await;
        worker.wait_ready(READY).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let producer = stream.finish().await;
    let total = producer.sent().len();
    assert!(
        killed_at.iter().all(|&k| k > 0 && k < total),
        "every kill must land while commands are flowing: killed after {killed_at:?} of {total}"
    );

    s.caught_up(&mut [&mut worker]).await;
    let observed = s.observed().await;
    assert_exactly_once(&s.all_sent(&[&producer]), &observed, PARTITIONS);

    let written = read_all(&s.topics.events, Isolation::ReadUncommitted)
        .await
        .len()
        + read_all(&s.topics.changelog, Isolation::ReadUncommitted)
            .await
            .len()
        + read_all(&s.topics.view, Isolation::ReadUncommitted)
            .await
            .len();
    let committed = observed.events.len() + observed.snapshots.len() + observed.view.len();
    eprintln!(
        "crash: {total} streamed commands, killed after {killed_at:?}; {} output record(s) \
         were written by transactions that never committed",
        written - committed
    );
    let (status, _) = worker.terminate(SHUTDOWN).await;
    assert!(
        status.success(),
        "SIGTERM must end the worker with 0, got {status}"
    );
}
