//! Issue 5, the exactly-once worker runtime, end to end: the `allocation-worker run` binary as
//! child processes against the real broker and registry, with every output read back with
//! `read_committed` and checked against a sequential in-memory replay of the same commands.
//!
//! - [`scenarios`]: the seed book's allocation stories over Kafka, with the view folded;
//! - [`crash`]: SIGKILL three times mid-stream, restart with the same transactional id;
//! - [`rebalance`]: two workers in one group, each in turn stopped (SIGTERM) and restarted
//!   mid-stream;
//! - [`zombie`]: a worker frozen (SIGSTOP) past its session timeout while another takes over,
//!   then resumed: its late writes must not show;
//! - [`recovery`]: a producer fenced by the transaction coordinator (frozen past its
//!   transaction timeout) recovers in-process, without exiting;
//! - [`registry_outage`]: a poison pill met while the registry is down is dead-lettered once
//!   it is back, never skipped;
//! - [`restore`]: a fresh process continues from the changelog alone;
//! - [`poison`]: undecodable records go to the DLQ, invalid commands are rejected, and neither
//!   blocks the partition;
//! - [`duplicates`]: a command delivered twice (also across a restart) has one effect;
//! - [`reference`]: the harness and the checker proven without the worker binary;
//! - [`checker_tests`]: the checker fails on duplicated, lost, reordered or altered outputs.
//!
//! Every test has its own topic prefix, group and transactional ids; every child process is
//! SIGKILLed when its guard drops (also on panic).

pub(crate) mod checker;
mod checker_tests;
mod replay;
pub(crate) mod support;
mod workload;

mod at_least_once;
mod crash;
mod duplicates;
mod poison;
mod rebalance;
mod recovery;
mod reference;
mod refused;
mod registry_outage;
mod restore;
mod scenarios;
mod startup;
mod zombie;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use allocation_worker::adapters::codec::Codec;
use allocation_worker::adapters::topics::Topics;

use crate::harness::worker::{create_worker_topics, wait_caught_up, Names, Worker, WorkerSpec};
use support::{codec, CommandProducer, Observed, Sent, PARTITIONS};
use workload::Workload;

/// How long a worker may take to log that it is ready.
pub const READY: Duration = Duration::from_secs(45);
/// How long the group may take to commit every sent command.
pub const CATCH_UP: Duration = Duration::from_secs(60);
/// How long a SIGTERMed worker may take to exit (its default shutdown timeout is 20 s).
pub const SHUTDOWN: Duration = Duration::from_secs(25);

/// One test's topics, names, codec and command producer.
pub struct Setup {
    pub names: Names,
    pub topics: Topics,
    pub codec: Arc<Codec>,
    pub producer: CommandProducer,
}

impl Setup {
    /// Fresh names and every topic (with [`PARTITIONS`] partitions).
    pub async fn new(test: &str) -> Self {
        let names = Names::new(test);
        let topics = create_worker_topics(&names.prefix, PARTITIONS).await;
        let codec = codec().await;
        codec.prepare(&topics).await.expect("register the schemas");
        let producer = CommandProducer::new(Arc::clone(&codec), &topics, PARTITIONS).await;
        Self {
            names,
            topics,
            codec,
            producer,
        }
    }

    /// The spec of replica `n` (dynamic membership, default timeouts).
    pub fn spec(&self, replica: u32) -> WorkerSpec {
        WorkerSpec::new(&self.names, replica)
    }

    /// Waits until the group committed every record of the command topic.
    pub async fn caught_up(&self, workers: &mut [&mut Worker]) {
        wait_caught_up(&self.names.group, &self.topics.commands, workers, CATCH_UP).await;
    }

    /// Every output, read_committed.
    pub async fn observed(&self) -> Observed {
        Observed::read(&self.codec, &self.topics).await
    }
}

impl Setup {
    /// Another producer on the same topics (e.g. for a [`Stream`] task).
    pub async fn new_producer(&self) -> CommandProducer {
        CommandProducer::new(Arc::clone(&self.codec), &self.topics, PARTITIONS).await
    }

    /// Everything `self.producer` and `others` sent.
    pub fn all_sent(&self, others: &[&CommandProducer]) -> Vec<Sent> {
        let mut sent = self.producer.sent().to_vec();
        for p in others {
            sent.extend_from_slice(p.sent());
        }
        sent
    }
}

/// Commands flowing in the background: `per_tick` workload commands every `tick`, until
/// stopped (and at least `min` were sent).
pub struct Stream {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<CommandProducer>,
}

impl Stream {
    pub fn start(
        mut producer: CommandProducer,
        mut work: Workload,
        min: usize,
        per_tick: usize,
        tick: Duration,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let (stop2, count2) = (Arc::clone(&stop), Arc::clone(&count));
        let task = tokio::spawn(async move {
            let mut n = 0;
            while n < min || !stop2.load(Ordering::Relaxed) {
                for _ in 0..per_tick {
                    producer.command(work.next_command()).await;
                    n += 1;
                }
                count2.store(n, Ordering::Relaxed);
                tokio::time::sleep(tick).await;
            }
            producer.flush().await;
            producer
        });
        Self { stop, count, task }
    }

    /// How many commands were sent so far.
    pub fn sent(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Stops the stream (once `min` were sent) and waits for every delivery.
    pub async fn finish(self) -> CommandProducer {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("command stream task")
    }
}

/// The first sku `<prefix>-<n>` whose commands go to command partition `partition`: another
/// aggregate whose commands interleave with those of a sku on that partition.
pub fn sku_on_partition(prefix: &str, partition: i32) -> String {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .find(|k| {
            allocation_worker::adapters::mapping::default_partition(k.as_bytes(), PARTITIONS)
                == partition
        })
        .unwrap_or_default()
}
