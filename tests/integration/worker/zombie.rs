//! A zombie: worker A is frozen (SIGSTOP) mid-stream for longer than its session timeout.
//! The group evicts it and worker B (same group, its own transactional id) takes over A's
//! partitions; B can only restore them once A's open transaction is gone (aborted by the
//! coordinator after A's transaction timeout), and only commit offsets A never committed
//! (KIP-447). Then A is resumed (SIGCONT) believing it still owns its partitions: whatever it
//! writes late must never become visible to read_committed readers, and nothing is duplicated.
//! The fenced zombie recovers in-process (new producer, new membership): it keeps running and
//! still stops cleanly on SIGTERM.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::checker::assert_exactly_once;
use super::support::PARTITIONS;
use super::workload::Workload;
use super::{Setup, Stream, CATCH_UP, READY, SHUTDOWN};
use crate::harness::worker::{end_offsets, poll_committed, spawn_worker, wait_committed};
use crate::harness::{read_all, Isolation};

/// The workers' session timeout and heartbeat interval.
const SESSION: Duration = Duration::from_secs(6);
const HEARTBEAT: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_worker_is_fenced_and_its_late_writes_never_show() {
    let mut s = Setup::new("zombie").await;
    let mut work = Workload::new(0x2041E, 12);
    for c in work.setup() {
        s.producer.command(c).await;
    }
    s.producer.flush().await;
    // 6 s is the broker's minimum session timeout; the short transaction timeout lets the
    // coordinator abort the frozen worker's open transaction (checked every 10 s by default).
    // The coordinator counts the session from the last heartbeat it received, not from the
    // freeze: heartbeats every 500 ms put the earliest correct takeover 5.5 s after it.
    let spec = |n| {
        let mut spec = s
            .spec(n)
            .session_timeout_ms(SESSION.as_millis() as u64)
            .transaction_timeout_ms(6000);
        spec.extra_args.extend([
            "-X".to_string(),
            format!("heartbeat.interval.ms={}", HEARTBEAT.as_millis()),
        ]);
        spec
    };
    let mut a = spawn_worker(&spec(0)).await;
    a.wait_ready(READY).await;
    let mut b = spawn_worker(&spec(1)).await;
    b.wait_ready(READY).await;
    let mut workers = [a, b];

    let stream = Stream::start(
        s.new_producer().await,
        work,
        1500,
        10,
        Duration::from_millis(50),
    );
    // Let the cooperative rebalance that b's arrival started finish both of its rounds (the
    // second, which hands b its partitions, follows the first by a heartbeat or so): a member
    // frozen while a rebalance is still in progress is evicted at the join deadline, before its
    // session times out, and the takeover below would come too early.
    tokio::time::sleep(Duration::from_millis(5000)).await;

    // Freeze a worker that owns command partitions. The group's assignor balances partition
    // counts over all input topics, so one worker may own only external-event partitions:
    // a frozen worker whose absence does not stop the group from committing every command
    // partition within 3 s (half its session timeout) owned none; resume it, try the other.
    let mut victim = None;
    let mut before = HashMap::new();
    let mut frozen = Instant::now();
    for v in 0..2 {
        let (left, right) = workers.split_at_mut(1);
        let (candidate, other) = if v == 0 {
            (&mut left[0], &mut right[0])
        } else {
            (&mut right[0], &mut left[0])
        };
        candidate.pause();
        frozen = Instant::now();
        // Records sent after the freeze, on every partition.
        tokio::time::sleep(Duration::from_millis(500)).await;
        before = end_offsets(&s.topics.commands).await;
        let probe = poll_committed(
            &s.names.group,
            &s.topics.commands,
            &before,
            &mut [other],
            // Well inside the session timeout: a takeover of the frozen worker's partitions
            // (session timeout, then a restore that takes well under a second) must not
            // finish inside the probe, or an owner would look like a non-owner.
            Duration::from_millis(2500),
        )
        .await;
        if probe.is_err() {
            victim = Some(v);
            break;
        }
        candidate.resume();
        eprintln!("zombie: {} owns no command partition", candidate.spec.label);
    }
    let v = victim.expect("neither worker owned a command partition");
    let frozen_at = stream.sent();
    let (left, right) = workers.split_at_mut(1);
    let (zombie, survivor) = if v == 0 {
        (&mut left[0], &mut right[0])
    } else {
        (&mut right[0], &mut left[0])
    };

    // While the zombie is frozen it cannot commit anything: the group's committed offsets
    // passing every record sent until after it froze means the survivor took its partitions
    // over — possible only after its session timed out and its open transaction was aborted.
    wait_committed(
        &s.names.group,
        &s.topics.commands,
        &before,
        &mut [&mut *survivor],
        CATCH_UP,
    )
    .await;
    let takeover = frozen.elapsed();
    assert!(
        takeover > SESSION - HEARTBEAT,
        "the survivor cannot own the zombie's partitions before its {SESSION:?} session, \
         counted from its last heartbeat at most {HEARTBEAT:?} before the freeze, timed out \
         (took {takeover:?})"
    );
    zombie.resume();
    eprintln!(
        "zombie: {} frozen after {frozen_at} streamed commands; {} took over after {takeover:?}",
        zombie.spec.label, survivor.spec.label
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let producer = stream.finish().await;
    s.caught_up(&mut [&mut *survivor]).await;
    let observed = s.observed().await;
    assert_exactly_once(&s.all_sent(&[&producer]), &observed, PARTITIONS);

    let aborted = read_all(&s.topics.events, Isolation::ReadUncommitted)
        .await
        .len()
        - observed.events.len();
    let recoveries = zombie.log().matches("recovering in-process").count();
    eprintln!(
        "zombie: {aborted} event record(s) were written by transactions that never committed; \
         the zombie recovered in-process {recoveries} time(s)"
    );
    // A fenced replica recovers in-process (new producer, new membership) instead of exiting.
    zombie.assert_running();
    let (status, _) = zombie.terminate(SHUTDOWN).await;
    assert!(
        status.success(),
        "SIGTERM must end the resumed zombie with 0, got {status}"
    );
    let (status, _) = survivor.terminate(SHUTDOWN).await;
    assert!(
        status.success(),
        "SIGTERM must end the survivor with 0, got {status}"
    );
}
