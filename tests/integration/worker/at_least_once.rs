//! The at-least-once mode (no transactions, offsets committed after the outputs are
//! acknowledged): without failures it gives the same results as the sequential replay, and a
//! restarted worker continues from the committed offsets and the changelog.

use super::checker::assert_exactly_once;
use super::support::PARTITIONS;
use super::workload::Workload;
use super::{Setup, SHUTDOWN};
use crate::harness::worker::spawn_worker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_mode_processes_every_command() {
    let mut s = Setup::new("alo").await;
    let mut worker = spawn_worker(&s.spec(0).at_least_once()).await;
    let mut work = Workload::new(0xA10, 6);
    for c in work.setup() {
        s.producer.command(c).await;
    }
    for _ in 0..150 {
        s.producer.command(work.next_command()).await;
    }
    s.producer.flush().await;
    s.caught_up(&mut [&mut worker]).await;
    let (status, _) = worker.terminate(SHUTDOWN).await;
    assert!(
        status.success(),
        "SIGTERM must end the worker with 0, got {status}"
    );

    let mut worker = spawn_worker(&s.spec(0).at_least_once()).await;
    for _ in 0..50 {
        s.producer.command(work.next_command()).await;
    }
    s.producer.flush().await;
    s.caught_up(&mut [&mut worker]).await;

    let observed = s.observed().await;
    let sent = s.producer.sent().to_vec();
    assert_exactly_once(&sent, &observed, PARTITIONS);
}
