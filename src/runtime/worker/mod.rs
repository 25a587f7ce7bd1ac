//! The exactly-once processing loop of one worker replica.
//!
//! One dedicated thread owns the consumer and drives everything that blocks — `poll`, the
//! librdkafka transaction calls, changelog restores — so no async executor thread ever blocks
//! on Kafka. Async work (schema-registry look-ups, almost always served from the codec's
//! cache) runs on the tokio runtime through its handle. The records it produces are enqueued
//! on the producer by the outbox thread (`runtime::outbox`), in order.
//!
//! Loop: poll → process each record into the open batch → commit when the batch holds
//! `max_batch_records` records or is due (see `Engine::batch_deadline`: one `commit_interval`
//! after the previous commit began, never later than one after its first record). A
//! transient failure aborts the batch and processes it again. A fatal one ends the
//! *generation*: a fenced or broken producer, a failed restore or rewind discard everything
//! uncommitted, leave the group, and start a new generation — new producer (same
//! `transactional.id`), new consumer, state restored on the new assignment — within the budget
//! of [`recovery`]; configuration and programming errors, or a budget run out, end the loop
//! with an error so the process exits non-zero. Shutdown commits the open batch and leaves the
//! group.

mod context;
mod engine;
pub mod metrics;
mod recovery;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

use self::context::WorkerContext;
use self::engine::Engine;
pub use self::metrics::WorkerMetrics;
use self::recovery::RecoveryBudget;
use super::config::WorkerSettings;
use super::errors::{classify, ErrorClass};
use super::restore::RestoreError;
use super::transaction::TxnError;
use crate::adapters::codec::Codec;
use crate::runtime::scope::{ClientKind, ForClient};

/// Why the worker stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("Kafka client error: {0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Transaction(#[from] TxnError),
    #[error(transparent)]
    Outbox(#[from] super::outbox::OutboxError),
    #[error("restoring state failed: {0}")]
    Restore(#[from] RestoreError),
    #[error("state store error: {0}")]
    Store(#[from] crate::service_layer::StoreError),
    #[error("message bus wiring: {0}")]
    Wiring(#[from] crate::service_layer::WiringError),
    #[error("record of command partition {0} before its state was restored")]
    NotRestored(i32),
    #[error("rewinding the consumer after an abort failed: {0}")]
    Rewind(#[source] KafkaError),
    #[error("topic {0} not found (run `allocation-worker topics`)")]
    MissingTopic(String),
    #[error(
        "the changelog has {changelog} partitions but the command topic has {commands}: they \
         must be co-partitioned (see `allocation-worker topics --verify-only`)"
    )]
    NotCoPartitioned { commands: i32, changelog: i32 },
}

/// Runs the worker until `shutdown` becomes true (then drains and returns `Ok`) or an error
/// that no new generation can cure. Blocking: call it on a dedicated thread.
pub fn run(
    settings: WorkerSettings,
    codec: Arc<Codec>,
    rt: tokio::runtime::Handle,
    metrics: Arc<WorkerMetrics>,
    shutdown: Arc<AtomicBool>,
) -> Result<(), WorkerError> {
    let settings = Arc::new(settings);
    let counts = PartitionCounts::fetch(&settings)?;
    let layout = Layout {
        command_partitions: counts.of(&settings.topics.commands)?,
        view_partitions: counts.of(&settings.topics.view)?,
    };
    let changelog_partitions = counts.of(&settings.topics.changelog)?;
    if changelog_partitions != layout.command_partitions {
        // State of command partition p lives in changelog partition p: refuse to run rather
        // than restore the wrong aggregates.
        return Err(WorkerError::NotCoPartitioned {
            commands: layout.command_partitions,
            changelog: changelog_partitions,
        });
    }
    let mut budget = RecoveryBudget::default();
    loop {
        let generation = Generation {
            settings: &settings,
            codec: &codec,
            rt: &rt,
            metrics: &metrics,
            layout,
        };
        let error = match generation.run(&shutdown) {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        metrics.ready.store(false, Ordering::Relaxed);
        let committed = metrics.batches_committed.load(Ordering::Relaxed);
        let delay = match budget.next(&error, committed) {
            Some(delay) if !shutdown.load(Ordering::Relaxed) => delay,
            _ => return Err(error),
        };
        metrics.recoveries.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            %error,
            attempt = budget.in_a_row(),
            delay_ms = delay.as_millis() as u64,
            "recovering in-process: uncommitted work discarded; a new producer and consumer \
             rejoin the group and restore their partitions"
        );
        sleep_unless(&shutdown, delay);
        if shutdown.load(Ordering::Relaxed) {
            return Ok(());
        }
    }
}

/// Partition counts that do not change while the worker runs.
#[derive(Debug, Clone, Copy)]
struct Layout {
    command_partitions: i32,
    view_partitions: i32,
}

/// One producer and one group membership: from `init_transactions` and `subscribe` until
/// shutdown or an error. Dropping it leaves the group and closes both clients.
struct Generation<'a> {
    settings: &'a Arc<WorkerSettings>,
    codec: &'a Arc<Codec>,
    rt: &'a tokio::runtime::Handle,
    metrics: &'a Arc<WorkerMetrics>,
    layout: Layout,
}

impl Generation<'_> {
    fn run(self, shutdown: &AtomicBool) -> Result<(), WorkerError> {
        let engine = Arc::new(Mutex::new(Engine::new(
            Arc::clone(self.settings),
            Arc::clone(self.codec),
            self.rt.clone(),
            self.layout.command_partitions,
            self.layout.view_partitions,
            Arc::clone(self.metrics),
        )?));
        let context = WorkerContext {
            engine: Arc::clone(&engine),
            commands_topic: self.settings.topics.commands.clone(),
        };
        let consumer: BaseConsumer<WorkerContext> = self
            .settings
            .consumer_config()
            .create_with_context(context)?;
        let inputs = self.settings.inputs();
        consumer.subscribe(&inputs)?;
        tracing::info!(
            group = %self.settings.group_id,
            transactional_id = %self.settings.transactional_id,
            guarantee = ?self.settings.guarantee,
            topics = ?inputs,
            "worker started"
        );
        let result = match process_until(&consumer, &engine, shutdown) {
            Ok(()) => {
                drain(&consumer, &engine);
                Ok(())
            }
            Err(error) => {
                // The producer may be fenced: nothing more is sent with it. What the open
                // batch changed is rolled back; the revoke callback of leaving the group finds
                // no batch to commit.
                lock(&engine).discard();
                leave(&consumer);
                Err(error)
            }
        };
        retire((consumer, engine));
        result
    }
}

/// Closes a generation's consumer and producer on a thread of their own, waiting for that at
/// most [`RETIRE_BOUND`].
///
/// Closing the consumer waits for the group coordinator, and with the coordinator's broker
/// down it did not return for as long as `scripts/chaos` waited: the processing thread hung in
/// the drop, missed its recovery, and overran its shutdown bound (exit 3). Past the bound the
/// close goes on in the background; the next generation's producer fences the old one, and
/// the group drops the old member at its session timeout if its leave never arrives.
fn retire<T: Send + 'static>(clients: T) {
    let (closed, wait) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("retire-clients".into())
        .spawn(move || {
            drop(clients);
            let _ = closed.send(());
        });
    match spawned {
        Ok(_) => {
            if wait.recv_timeout(RETIRE_BOUND).is_err() {
                tracing::warn!(
                    bound_ms = RETIRE_BOUND.as_millis() as u64,
                    "the consumer and producer did not close in time; left closing in the \
                     background"
                );
            }
        }
        // The closure (and the clients in it) was dropped here, inline.
        Err(e) => tracing::warn!(error = %e, "cannot start a thread to close the clients"),
    }
}

/// How long a generation's clients may take to close before the worker goes on without them.
const RETIRE_BOUND: Duration = Duration::from_secs(5);

/// Sleeps `delay` in short steps, returning early once `shutdown` is set.
fn sleep_unless(shutdown: &AtomicBool, delay: Duration) {
    let until = Instant::now() + delay;
    while !shutdown.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

fn process_until(
    consumer: &BaseConsumer<WorkerContext>,
    engine: &Mutex<Engine>,
    shutdown: &AtomicBool,
) -> Result<(), WorkerError> {
    while !shutdown.load(Ordering::Relaxed) {
        let timeout = poll_timeout(engine);
        let polled = match consumer.poll(Duration::ZERO) {
            None if !timeout.is_zero() => {
                // Nothing ready: the outbox gets the records pushed so far before the wait.
                lock(engine).dispatch();
                consumer.poll(timeout)
            }
            ready => ready,
        };
        let mut engine = lock(engine);
        if let Some(fatal) = engine.fatal.take() {
            return Err(fatal);
        }
        match polled {
            Some(Ok(message)) => {
                if let Err(interrupt) = engine.process(&message) {
                    drop(message);
                    engine.fail_batch(consumer, interrupt)?;
                    continue;
                }
            }
            Some(Err(e)) => match classify(&e) {
                ErrorClass::Fatal => return Err(e.into()),
                class => tracing::warn!(error = %e, %class, "consumer error"),
            },
            None => {}
        }
        engine.poll_producer();
        if engine.batch_due() {
            engine.commit(consumer)?;
        }
    }
    Ok(())
}

/// Shutdown: commit what is open, then leave the group (closing the consumer runs the revoke
/// callback, which finds nothing left to commit).
///
/// A batch that cannot be committed now (its producer fenced, its abort refused) is
/// abandoned, not retried: nothing of it is visible, the coordinator aborts its transaction
/// (at once when a successor with our `transactional.id` starts, else at its timeout), and the
/// partitions' next owner processes its records again. The shutdown is still clean.
fn drain(consumer: &BaseConsumer<WorkerContext>, engine: &Mutex<Engine>) {
    let mut open = lock(engine);
    if let Err(error) = open.commit(consumer) {
        tracing::warn!(
            %error,
            "shutdown: the open batch could not be committed; abandoned, its records will be \
             processed again by the partitions' next owner"
        );
        open.discard();
    }
    drop(open);
    leave(consumer);
}

/// Leaves the group (unsubscribing runs the revoke callback, served by the poll).
fn leave(consumer: &BaseConsumer<WorkerContext>) {
    consumer.unsubscribe();
    let _ = consumer.poll(Duration::from_millis(100));
    tracing::info!("worker stopped; left the group");
}

fn poll_timeout(engine: &Mutex<Engine>) -> Duration {
    let idle = Duration::from_millis(100);
    match lock(engine).batch_deadline() {
        Some(deadline) => deadline.saturating_duration_since(Instant::now()).min(idle),
        None => idle,
    }
}

fn lock(engine: &Mutex<Engine>) -> std::sync::MutexGuard<'_, Engine> {
    // A panic while holding the lock leaves the engine in an unknown state; recovering the
    // guard is still right: the next commit aborts on any inconsistency and the state is
    // rebuilt from the changelog on restart.
    engine
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Partition counts of every topic, from one metadata request.
struct PartitionCounts(Vec<(String, i32)>);

impl PartitionCounts {
    fn fetch(settings: &WorkerSettings) -> Result<Self, WorkerError> {
        let consumer: BaseConsumer = settings
            .client_base()
            .set("group.id", &settings.group_id)
            .for_client(ClientKind::Consumer)
            .create()?;
        let metadata = consumer.fetch_metadata(None, Duration::from_secs(30))?;
        Ok(PartitionCounts(
            metadata
                .topics()
                .iter()
                .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
                .collect(),
        ))
    }

    fn of(&self, topic: &str) -> Result<i32, WorkerError> {
        self.0
            .iter()
            .find(|(name, _)| name == topic)
            .map(|(_, count)| *count)
            .ok_or_else(|| WorkerError::MissingTopic(topic.to_owned()))
    }
}
