//! The at-least-once mode (no transactions, offsets committed after the outputs are
//! acknowledged): without failures it gives the same results as the sequential replay, and a
//! restarted worker continues from the committed offsets and the changelog; an output the
//! brokers refuse is retried, never committed over.

use std::time::{Duration, Instant};

use super::checker::{assert_exactly_once, problems};
use super::replay::replay;
use super::support::PARTITIONS;
use super::workload::Workload;
use super::{Setup, SHUTDOWN};
use crate::harness::kafka::set_topic_configs;
use crate::harness::offsets::{committed_offsets, end_offsets};
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

/// A flush returns once nothing is in flight, delivered or not: the worker must check the
/// delivery reports before it commits the offsets, or a refused output is lost for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_the_brokers_refuse_is_retried_not_committed_over() {
    let mut s = Setup::new("alo-refused").await;
    let view = s.topics.view.clone();
    // Every view row is refused (larger than the topic takes) until the limit is lifted.
    set_topic_configs(
        &view,
        &[("cleanup.policy", "compact"), ("max.message.bytes", "1")],
    )
    .await;
    let mut worker = spawn_worker(&s.spec(0).at_least_once()).await;
    let mut work = Workload::new(0xA11, 3);
    for c in work.setup() {
        s.producer.command(c).await;
    }
    for _ in 0..40 {
        s.producer.command(work.next_command()).await;
    }
    s.producer.flush().await;

    // While the worker tries (every record is processed within a second or two), the offsets
    // of the commands whose rows were refused are never committed.
    let end = end_offsets(&s.topics.commands).await;
    let partitions: Vec<i32> = end.keys().copied().collect();
    let tried = Instant::now() + Duration::from_secs(10);
    while Instant::now() < tried {
        if let Ok(committed) =
            committed_offsets(&s.names.group, &s.topics.commands, &partitions).await
        {
            assert_ne!(
                committed,
                end,
                "offsets committed over refused outputs:\n{}",
                worker.log_tail(20)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        worker.log().contains("refused by the brokers"),
        "no refusal reported:\n{}",
        worker.log_tail(40)
    );

    set_topic_configs(&view, &[("cleanup.policy", "compact")]).await;
    s.caught_up(&mut [&mut worker]).await;
    let observed = s.observed().await;
    let sent = s.producer.sent().to_vec();
    // At-least-once: the retried batches wrote their outputs again (duplicates, and older
    // snapshots after newer ones); what must not be is a loss.
    let lost: Vec<String> = problems(&sent, &replay(&sent), &observed, PARTITIONS)
        .into_iter()
        .filter(|p| LOSS.iter().any(|kind| p.starts_with(kind)) || p.contains(" has 0 outcomes"))
        .collect();
    assert!(lost.is_empty(), "outputs lost:\n{}", lost.join("\n"));
}

/// The checker's findings that mean an output is missing (the others, at-least-once, follow
/// from duplicates).
const LOSS: [&str; 5] = [
    "missing ",
    "changelog has no snapshot",
    "final changelog",
    "folded view differs",
    "undecodable",
];
