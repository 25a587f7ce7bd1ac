//! The transaction state machine of one producer: begin → (produce…) → send offsets → commit,
//! with every failure classified (see [`super::errors`]) into retry, abort-and-redo, or fatal.
//!
//! The librdkafka calls here block (they wait for the transaction coordinator), so this type is
//! used only from the worker's dedicated processing thread, never from an async executor
//! thread. Commit waits with `Timeout::Never`, which librdkafka bounds by
//! `transaction.timeout.ms`; an abort, and sending the offsets, are bounded here (see
//! [`Transactions::abort`] and [`send_offsets_watched`]).

use std::marker::PhantomData;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::{BaseProducer, DefaultProducerContext, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::TopicPartitionList;

use super::errors::{classify, ErrorClass};

/// Bounded retries with exponential backoff for retriable errors.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `n` (1-based retry count), capped.
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// A failed transactional step, already classified.
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// The transaction must be aborted and the batch processed again.
    #[error("{step} failed, the transaction must be aborted: {source}")]
    Abort {
        step: &'static str,
        #[source]
        source: KafkaError,
    },
    /// The producer is fenced or broken: stop processing with this producer.
    #[error("{step} failed fatally (fenced or unrecoverable producer): {source}")]
    Fatal {
        step: &'static str,
        #[source]
        source: KafkaError,
    },
    /// librdkafka did not return from a call within its bound: the producer is given up.
    #[error("{step} did not return within {waited:?}; the producer is given up")]
    Stuck {
        step: &'static str,
        waited: Duration,
    },
}

impl TxnError {
    pub fn class(&self) -> ErrorClass {
        match self {
            TxnError::Abort { .. } => ErrorClass::Abortable,
            TxnError::Fatal { .. } | TxnError::Stuck { .. } => ErrorClass::Fatal,
        }
    }
}

/// Runs `op`, retrying retriable errors per `policy`; a retriable error that outlives the
/// retries becomes an abort.
pub fn with_retries<T>(
    step: &'static str,
    policy: &RetryPolicy,
    mut op: impl FnMut() -> KafkaResult<T>,
) -> Result<T, TxnError> {
    let mut attempt = 0;
    loop {
        match op() {
            Ok(value) => return Ok(value),
            Err(source) => match classify(&source) {
                ErrorClass::Retriable if attempt + 1 < policy.attempts => {
                    attempt += 1;
                    tracing::warn!(step, attempt, error = %source, "retriable Kafka error; retrying");
                    thread::sleep(policy.backoff(attempt));
                }
                ErrorClass::Retriable | ErrorClass::Abortable => {
                    return Err(TxnError::Abort { step, source })
                }
                ErrorClass::Fatal => return Err(TxnError::Fatal { step, source }),
            },
        }
    }
}

/// Waits until every message produced so far is delivered (or failed), serving the delivery
/// reports, and returns as soon as that is so.
///
/// `BaseProducer::flush` (and so `commit_transaction`, which calls it) of rdkafka 0.39 serves the
/// delivery reports with `poll(min(remaining, 100 ms))`, and that `poll` only returns when its
/// whole timeout has passed: every flush with anything in flight took at least 100 ms — most of
/// a batch's commit time. Here `rd_kafka_flush` waits in slices of a few milliseconds: it wakes
/// as soon as nothing is in flight, and while it waits librdkafka sends what `linger.ms` still
/// holds at once (a zero-timeout flush, as rdkafka's loop makes, ends before the broker threads
/// see that). Between slices the reports are served. Calling this before `commit_transaction`
/// leaves its own flush nothing to wait for.
pub fn flush_promptly<C: ProducerContext>(
    producer: &BaseProducer<C>,
    timeout: Duration,
) -> KafkaResult<()> {
    const SLICE_MS: i32 = 5;
    // Reports served between slices at most: a report counts its records as in flight until
    // it is served, so a slice with one left unserved waits its whole length. One report may
    // hold a whole message set; a storm of refusals is served this many per slice.
    const REPORTS_PER_SLICE: usize = 32;
    let deadline = Instant::now() + timeout;
    loop {
        // SAFETY: the pointer is the producer's live handle, borrowed for this call only;
        // `rd_kafka_flush` is thread-safe.
        let code: RDKafkaErrorCode =
            unsafe { rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), SLICE_MS) }
                .into();
        // Serves the refusals' reports (the only ones; see `delivery`); a poll of an empty
        // queue returns at once.
        for _ in 0..REPORTS_PER_SLICE {
            producer.poll(Duration::ZERO);
        }
        match code {
            RDKafkaErrorCode::NoError => return Ok(()),
            RDKafkaErrorCode::OperationTimedOut if Instant::now() < deadline => {}
            code => return Err(KafkaError::Flush(code)),
        }
    }
}

/// Drives the transactions of one transactional producer (`P`, whose context is `C`).
pub struct Transactions<'p, P, C = DefaultProducerContext> {
    producer: &'p P,
    policy: RetryPolicy,
    context: PhantomData<fn() -> C>,
}

impl<'p, C: ProducerContext, P: Producer<C>> Transactions<'p, P, C> {
    pub fn new(producer: &'p P, policy: RetryPolicy) -> Self {
        Transactions {
            producer,
            policy,
            context: PhantomData,
        }
    }

    /// `init_transactions`: fences any previous instance with the same `transactional.id` and
    /// aborts its open transaction.
    pub fn init(&self, timeout: Duration) -> Result<(), TxnError> {
        with_retries("init_transactions", &self.policy, || {
            self.producer.init_transactions(timeout)
        })
    }

    pub fn begin(&self) -> Result<(), TxnError> {
        with_retries("begin_transaction", &self.policy, || {
            self.producer.begin_transaction()
        })
    }

    /// Adds the consumed offsets (already last-processed + 1) with fresh group metadata, then
    /// commits. On `Err(Abort)` the caller must call [`Transactions::abort`] and redo the batch.
    pub fn commit(
        &self,
        offsets: &TopicPartitionList,
        group: Option<&ConsumerGroupMetadata>,
    ) -> Result<(), TxnError> {
        self.send_offsets(offsets, group)?;
        self.commit_transaction()
    }

    /// Adds the consumed offsets (already last-processed + 1) with fresh group metadata to the
    /// open transaction. It need not wait for the produced records (the Java producer does not
    /// either): [`Transactions::commit_transaction`] flushes them before it commits.
    pub fn send_offsets(
        &self,
        offsets: &TopicPartitionList,
        group: Option<&ConsumerGroupMetadata>,
    ) -> Result<(), TxnError> {
        if let Some(group) = group {
            send_offsets(self.producer, &self.policy, offsets, group, Timeout::Never)?;
        }
        Ok(())
    }

    /// Commits the open transaction (everything produced in it and the offsets sent to it).
    pub fn commit_transaction(&self) -> Result<(), TxnError> {
        with_retries("commit_transaction", &self.policy, || {
            self.producer.commit_transaction(Timeout::Never)
        })
    }

    /// Aborts the open transaction; everything produced in it becomes invisible to
    /// read_committed readers. Gives up with [`TxnError::Stuck`] when the abort has not
    /// finished within `bound`: the caller then replaces the producer, whose successor's
    /// `init_transactions` aborts the transaction and fences this producer's late writes.
    ///
    /// librdkafka's abort purges the queued messages (advancing the idempotence sequence base
    /// past them), then waits for the ones in flight, then ends the transaction. Waiting needs
    /// their delivery reports served, which rust-rdkafka's `abort_transaction` does not do
    /// (with a report pending it blocked forever: found by `scripts/chaos`), so the call runs
    /// on a scoped thread while this one runs `serve` (the producer's poll).
    ///
    /// Nothing is purged here: an application's purge cannot move the sequence base past the
    /// purged messages as librdkafka's abort does, and in-flight ones may or may not have
    /// reached the broker, so either leaves the idempotence state out of step with the broker.
    /// `scripts/chaos` saw the next transaction refused with `OUT_OF_ORDER_SEQUENCE_NUMBER`
    /// after such a purge (librdkafka warns against it); `an_abort_leaves_no_sequence_gap...`
    /// shows it on the mock cluster.
    pub fn abort(&self, bound: Duration, serve: impl Fn()) -> Result<(), TxnError>
    where
        P: Sync,
    {
        const STEP: &str = "abort_transaction";
        let deadline = Instant::now() + bound;
        let stuck = || TxnError::Stuck {
            step: STEP,
            waited: bound,
        };
        thread::scope(|scope| {
            let call = scope.spawn(|| loop {
                let remaining = deadline.saturating_duration_since(Instant::now());
                let source = match self.producer.abort_transaction(remaining) {
                    Ok(()) => return Ok(()),
                    Err(source) => source,
                };
                match classify(&source) {
                    // librdkafka's abort is resumable: calling it again continues it.
                    ErrorClass::Retriable if Instant::now() < deadline => {
                        thread::sleep(self.policy.backoff(1));
                    }
                    ErrorClass::Retriable => return Err(stuck()),
                    // An abort that fails abortably cannot be retried into success either.
                    ErrorClass::Abortable | ErrorClass::Fatal => {
                        return Err(TxnError::Fatal { step: STEP, source })
                    }
                }
            });
            while !call.is_finished() {
                serve();
                thread::sleep(Duration::from_millis(1));
            }
            // A panic on the abort's thread leaves the producer in an unknown state.
            call.join().unwrap_or_else(|_| Err(stuck()))
        })
    }
}

/// `send_offsets_to_transaction` with retries; nothing when `offsets` is empty.
fn send_offsets<C: ProducerContext, P: Producer<C>>(
    producer: &P,
    policy: &RetryPolicy,
    offsets: &TopicPartitionList,
    group: &ConsumerGroupMetadata,
    timeout: Timeout,
) -> Result<(), TxnError> {
    if offsets.count() == 0 {
        return Ok(());
    }
    with_retries("send_offsets_to_transaction", policy, || {
        producer.send_offsets_to_transaction(offsets, group, timeout)
    })
}

/// [`send_offsets`] under a watchdog (see [`watched`]): given up when it has not returned
/// within `bound` plus a grace period.
///
/// librdkafka does not enforce this call's timeout while it looks up the group coordinator
/// (librdkafka#5456, #5511): after a broker restart `scripts/chaos` saw it block for good. The
/// caller recovers with a new producer, whose `init_transactions` fences this one; a thread
/// stuck this way keeps its producer alive until librdkafka lets it go.
pub fn send_offsets_watched<C, P>(
    producer: &Arc<P>,
    policy: RetryPolicy,
    offsets: &TopicPartitionList,
    group: ConsumerGroupMetadata,
    bound: Duration,
) -> Result<(), TxnError>
where
    C: ProducerContext,
    P: Producer<C> + Send + Sync + 'static,
{
    const GRACE: Duration = Duration::from_secs(5);
    let producer = Arc::clone(producer);
    let offsets = offsets.clone();
    watched("send_offsets_to_transaction", bound + GRACE, move || {
        send_offsets(&*producer, &policy, &offsets, &group, bound.into())
    })
}

/// Runs `op` on its own thread and waits for it at most `limit`; past that it is abandoned
/// (its thread runs on) and the answer is [`TxnError::Stuck`].
pub fn watched<T: Send + 'static>(
    step: &'static str,
    limit: Duration,
    op: impl FnOnce() -> Result<T, TxnError> + Send + 'static,
) -> Result<T, TxnError> {
    let (done, result) = mpsc::channel();
    let spawned = thread::Builder::new()
        .name("txn-watched".into())
        .spawn(move || {
            let _ = done.send(op());
        });
    if let Err(e) = spawned {
        tracing::warn!(step, error = %e, "cannot start a watched call's thread");
        return Err(TxnError::Stuck {
            step,
            waited: Duration::ZERO,
        });
    }
    result.recv_timeout(limit).unwrap_or(Err(TxnError::Stuck {
        step,
        waited: limit,
    }))
}

#[cfg(test)]
#[path = "transaction_tests.rs"]
mod tests;
