//! In-process recovery: a lone worker is frozen (SIGSTOP) with a transaction open for longer
//! than its transaction timeout, so the transaction coordinator aborts that transaction and
//! bumps the producer's epoch — the producer is fenced. Resumed, the worker must not exit: it
//! discards what it had not committed, creates a new producer and consumer, restores its
//! partitions and carries on, and every effect of every command shows exactly once.

use std::time::Duration;

use super::checker::assert_exactly_once;
use super::support::PARTITIONS;
use super::workload::Workload;
use super::{Setup, Stream, READY, SHUTDOWN};
use crate::harness::worker::{spawn_worker, Worker};

/// A lone worker with 3 s transactions, 1 s batches and a long session, ready, with its stock
/// set up and commands arriving every 10 ms: a transaction is open almost all the time.
async fn streaming_worker(seed: u64) -> (Setup, Worker, Stream) {
    let mut s = Setup::new("recovery").await;
    let mut work = Workload::new(seed, 12);
    for c in work.setup() {
        s.producer.command(c).await;
    }
    s.producer.flush().await;
    let mut spec = s
        .spec(0)
        .session_timeout_ms(45_000)
        .transaction_timeout_ms(3000);
    spec.commit_interval_ms = Some(1000);
    let mut worker = spawn_worker(&spec).await;
    worker.wait_ready(READY).await;
    let stream = Stream::start(
        s.new_producer().await,
        work,
        600,
        2,
        Duration::from_millis(10),
    );
    (s, worker, stream)
}

/// Lets the stream finish, waits for the worker to catch up (still running) and checks every
/// effect of every command sent; how many were sent.
async fn finish_and_check(s: &Setup, worker: &mut Worker, stream: Stream) -> usize {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let producer = stream.finish().await;
    s.caught_up(&mut [&mut *worker]).await;
    worker.assert_running();
    let observed = s.observed().await;
    let sent = s.all_sent(&[&producer]);
    assert_exactly_once(&sent, &observed, PARTITIONS);
    sent.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_fenced_by_the_coordinator_recovers_in_process() {
    // The session outlives the freeze (the group keeps the member), the transaction does not:
    // the coordinator aborts it within its 10 s check interval after the 3 s timeout.
    let (s, mut worker, stream) = streaming_worker(0x5EC0).await;
    // A freeze that happened to fall between two batches fences nothing: freeze again.
    let mut freezes = 0;
    while !worker.log().contains("recovering in-process") {
        assert!(
            freezes < 3,
            "three freezes past the transaction timeout and no recovery; log tail:\n{}",
            worker.log_tail(30)
        );
        freezes += 1;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        worker.pause();
        tokio::time::sleep(Duration::from_secs(15)).await;
        worker.resume();
        // The resumed worker meets its fenced producer at its next produce or commit.
        for _ in 0..50 {
            worker.assert_running();
            if worker.log().contains("recovering in-process") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let sent = finish_and_check(&s, &mut worker, stream).await;
    eprintln!(
        "recovery: {sent} command(s) sent; the worker recovered in-process {} time(s)",
        worker.log().matches("recovering in-process").count()
    );

    let (status, _) = worker.terminate(SHUTDOWN).await;
    assert!(
        status.success(),
        "SIGTERM must end the recovered worker with 0, got {status}"
    );
}

/// Freezes shorter than the coordinator's check for expired transactions: on waking, the
/// worker's own producer usually finds outputs of its open transaction timed out and aborts it
/// in place (an epoch bump, no new producer), rolls the batch back and processes it again;
/// when the coordinator got there first, it is fenced and recovers in-process. Four freezes;
/// every effect still shows exactly once. (This caught state changes left behind by the abort
/// of a pipelined-commit attempt, which was then reverted.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_aborts_after_timed_out_outputs_lose_nothing() {
    let (s, mut worker, stream) = streaming_worker(0x5EC1).await;
    // Varied offsets into the 1 s batches; each freeze outlasts the transaction timeout.
    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(1300 + 170 * i)).await;
        worker.pause();
        tokio::time::sleep(Duration::from_millis(4500)).await;
        worker.resume();
    }
    finish_and_check(&s, &mut worker, stream).await;
    eprintln!(
        "in-place aborts: {} batch abort(s), {} in-process recovery(ies)",
        worker.log().matches("aborting the batch").count(),
        worker.log().matches("recovering in-process").count()
    );
}
