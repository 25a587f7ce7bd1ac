//! The exactly-once processing loop of one worker replica.
//!
//! One dedicated thread owns the consumer and drives everything that blocks — `poll`, the
//! librdkafka transaction calls, changelog restores — so no async executor thread ever blocks
//! on Kafka. Async work (schema-registry look-ups, almost always served from the codec's
//! cache) runs on the tokio runtime through its handle.
//!
//! Loop: poll → process each record into the open batch → commit when the batch holds
//! `max_batch_records` records or `commit_interval` has passed since its first record. A
//! transient failure aborts the batch and processes it again; a fatal one (fenced producer,
//! broken state) ends the loop with an error so the process exits non-zero and the orchestrator
//! restarts the replica. Shutdown commits the open batch and leaves the group.

mod context;
mod engine;
pub mod metrics;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

use self::context::WorkerContext;
use self::engine::Engine;
pub use self::metrics::WorkerMetrics;
use super::config::WorkerSettings;
use super::errors::{classify, ErrorClass};
use super::restore::RestoreError;
use super::transaction::TxnError;
use crate::adapters::codec::Codec;

/// Why the worker stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("Kafka client error: {0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Transaction(#[from] TxnError),
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

/// Runs the worker until `shutdown` becomes true (then drains and returns `Ok`) or a fatal
/// error occurs. Blocking: call it on a dedicated thread.
pub fn run(
    settings: WorkerSettings,
    codec: Arc<Codec>,
    rt: tokio::runtime::Handle,
    metrics: Arc<WorkerMetrics>,
    shutdown: Arc<AtomicBool>,
) -> Result<(), WorkerError> {
    let settings = Arc::new(settings);
    let counts = PartitionCounts::fetch(&settings)?;
    let command_partitions = counts.of(&settings.topics.commands)?;
    let view_partitions = counts.of(&settings.topics.view)?;
    let changelog_partitions = counts.of(&settings.topics.changelog)?;
    if changelog_partitions != command_partitions {
        // State of command partition p lives in changelog partition p: refuse to run rather
        // than restore the wrong aggregates.
        return Err(WorkerError::NotCoPartitioned {
            commands: command_partitions,
            changelog: changelog_partitions,
        });
    }
    let engine = Arc::new(Mutex::new(Engine::new(
        Arc::clone(&settings),
        codec,
        rt,
        command_partitions,
        view_partitions,
        metrics,
    )?));
    let context = WorkerContext {
        engine: Arc::clone(&engine),
        commands_topic: settings.topics.commands.clone(),
    };
    let consumer: BaseConsumer<WorkerContext> =
        settings.consumer_config().create_with_context(context)?;
    let inputs = settings.inputs();
    consumer.subscribe(&inputs)?;
    tracing::info!(
        group = %settings.group_id,
        transactional_id = %settings.transactional_id,
        guarantee = ?settings.guarantee,
        topics = ?inputs,
        "worker started"
    );

    let result = process_until(&consumer, &engine, &shutdown);
    let drained = drain(&consumer, &engine);
    result.and(drained)
}

fn process_until(
    consumer: &BaseConsumer<WorkerContext>,
    engine: &Mutex<Engine>,
    shutdown: &AtomicBool,
) -> Result<(), WorkerError> {
    while !shutdown.load(Ordering::Relaxed) {
        let timeout = poll_timeout(engine);
        let polled = consumer.poll(timeout);
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
fn drain(
    consumer: &BaseConsumer<WorkerContext>,
    engine: &Mutex<Engine>,
) -> Result<(), WorkerError> {
    let committed = lock(engine).commit(consumer);
    if committed.is_err() {
        let _ = lock(engine).abort(consumer);
    }
    consumer.unsubscribe();
    // Serve the revoke callback of leaving the group.
    let _ = consumer.poll(Duration::from_millis(100));
    tracing::info!("worker stopped; left the group");
    committed
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
