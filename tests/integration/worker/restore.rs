//! Restore: a worker processes commands and is stopped (SIGTERM, exit 0 within its
//! `--shutdown-timeout-ms`); a fresh process (new transactional id, nothing shared but the
//! topics and the group) continues. Its results for further commands — which depend on the
//! earlier state — equal the sequential replay: its state came from the changelog alone.

use std::collections::HashSet;
use std::time::Duration;

use allocation_worker::domain::{Command, Event};

use super::checker::assert_exactly_once;
use super::support::{SentKind, PARTITIONS};
use super::workload::Workload;
use super::{Setup, SHUTDOWN};
use crate::harness::worker::spawn_worker;

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
