//! The outbox: enqueues the records a batch produces on librdkafka from a thread of its own.
//!
//! One processing thread owns the partitions' state and handles every record; it is the
//! worker's bound in a drain, while the machine has CPU to spare. Enqueuing a record on
//! librdkafka — its key, value and each header copied into allocations of their own, the
//! partitioner, the partition queue's lock — was ≈ 27 % of that thread's CPU. The outbox
//! moves it to a second thread: the processing thread pushes the records it has encoded and
//! hands them over in runs of [`DISPATCH_RUN`], and the rest of a run before it waits for
//! anything ([`Outbox::dispatch`]).
//!
//! Invariants:
//! - records are enqueued in the order they were pushed (one thread behind one FIFO channel):
//!   the outputs of a partition keep the order of its inputs;
//! - [`Outbox::settle`] returns once every record pushed before it is enqueued on the
//!   producer, or with the first one that could not be; a flush after it waits for all of
//!   them — the commit settles before it sends offsets and flushes;
//! - after a failure the records that follow are dropped until [`Outbox::settle`] (or
//!   [`Outbox::push`]) reports it: their batch is aborted, and no record may be written after
//!   one of the same batch that was not;
//! - [`Outbox::discard`] drops what is not yet enqueued (its batch is being aborted), ending
//!   any wait for room in a full queue; [`Outbox::abandon`] drops them without waiting, for
//!   good; dropping the outbox abandons it and joins its thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

use crate::adapters::mapping::OutboundRecord;

/// Records handed to the outbox thread at once: a wake-up of that thread costs about as much
/// as enqueuing a few records, so runs make it negligible.
pub const DISPATCH_RUN: usize = 64;

/// How long the outbox thread waits for room, serving delivery reports, while the producer's
/// queue is full.
const FULL_QUEUE_WAIT: Duration = Duration::from_millis(10);

/// Why records could not be enqueued.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// librdkafka refused a record (other than for a full queue, which is waited out).
    #[error("produce failed: {0}")]
    Produce(#[source] KafkaError),
    #[error("the outbox thread is gone")]
    Gone,
    #[error("cannot start the outbox thread: {0}")]
    Start(#[source] std::io::Error),
}

enum Job {
    Records(Vec<OutboundRecord>),
    Settle(mpsc::SyncSender<Result<(), OutboxError>>),
}

#[derive(Debug, Default)]
struct Shared {
    /// Set while a discard or the drop is under way: pending records are dropped.
    discarding: AtomicBool,
    /// Set when a record failed; cleared when the failure is reported.
    failed: AtomicBool,
}

/// The processing thread's handle on the outbox thread.
#[derive(Debug)]
pub struct Outbox {
    pending: Vec<OutboundRecord>,
    jobs: Option<mpsc::Sender<Job>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Outbox {
    /// Starts the outbox thread, which enqueues on `producer`.
    pub fn start<C>(producer: Arc<BaseProducer<C>>) -> Result<Self, OutboxError>
    where
        C: ProducerContext<DeliveryOpaque = ()> + 'static,
    {
        let (jobs, inbox) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("outbox".into())
                .spawn(move || serve(&producer, inbox, &shared))
                .map_err(OutboxError::Start)?
        };
        Ok(Outbox {
            pending: Vec::with_capacity(DISPATCH_RUN),
            jobs: Some(jobs),
            shared,
            thread: Some(thread),
        })
    }

    /// Adds `record` to the batch's outputs. Fails with an earlier record's failure, which the
    /// caller must treat as the batch's.
    pub fn push(&mut self, record: OutboundRecord) -> Result<(), OutboxError> {
        if self.shared.failed.load(Ordering::Acquire) {
            self.settle()?;
        }
        self.pending.push(record);
        if self.pending.len() >= DISPATCH_RUN {
            self.dispatch()?;
        }
        Ok(())
    }

    /// Hands the pushed records over to the outbox thread. Call it before waiting for
    /// anything, so that no record waits with it.
    pub fn dispatch(&mut self) -> Result<(), OutboxError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let run = std::mem::replace(&mut self.pending, Vec::with_capacity(DISPATCH_RUN));
        self.send(Job::Records(run))
    }

    /// Waits until every record pushed so far is enqueued on the producer; the first failure
    /// since the last report, if any.
    pub fn settle(&mut self) -> Result<(), OutboxError> {
        self.dispatch()?;
        let (reply, settled) = mpsc::sync_channel(1);
        self.send(Job::Settle(reply))?;
        settled.recv().map_err(|_| OutboxError::Gone)?
    }

    /// Drops every record not yet enqueued and waits for the outbox thread to be idle. Any
    /// failure of the batch is dropped with it; only a lost thread is an error.
    pub fn discard(&mut self) -> Result<(), OutboxError> {
        self.pending.clear();
        self.shared.discarding.store(true, Ordering::Release);
        let settled = self.settle();
        self.shared.discarding.store(false, Ordering::Release);
        match settled {
            Err(OutboxError::Gone) => Err(OutboxError::Gone),
            _ => Ok(()),
        }
    }

    /// Drops every record not yet enqueued, and those pushed later, without waiting: for an
    /// outbox whose producer is given up (the engine is about to be dropped).
    pub fn abandon(&mut self) {
        self.pending.clear();
        self.shared.discarding.store(true, Ordering::Release);
    }

    fn send(&self, job: Job) -> Result<(), OutboxError> {
        self.jobs
            .as_ref()
            .ok_or(OutboxError::Gone)?
            .send(job)
            .map_err(|_| OutboxError::Gone)
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.shared.discarding.store(true, Ordering::Release);
        // Closing the channel ends the thread's loop.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The outbox thread: enqueues runs of records until the channel closes.
fn serve<C>(producer: &BaseProducer<C>, inbox: mpsc::Receiver<Job>, shared: &Shared)
where
    C: ProducerContext<DeliveryOpaque = ()>,
{
    let mut failure: Option<OutboxError> = None;
    for job in inbox {
        match job {
            Job::Records(run) => {
                for record in run {
                    if failure.is_some() || shared.discarding.load(Ordering::Acquire) {
                        break;
                    }
                    if let Err(e) = enqueue(producer, &record, &shared.discarding) {
                        failure = Some(OutboxError::Produce(e));
                        shared.failed.store(true, Ordering::Release);
                    }
                }
            }
            Job::Settle(reply) => {
                shared.failed.store(false, Ordering::Release);
                let _ = reply.send(failure.take().map_or(Ok(()), Err));
            }
        }
    }
}

/// Enqueues one record, waiting while the producer's queue is full (unless `discarding`).
fn enqueue<C>(
    producer: &BaseProducer<C>,
    record: &OutboundRecord,
    discarding: &AtomicBool,
) -> Result<(), KafkaError>
where
    C: ProducerContext<DeliveryOpaque = ()>,
{
    let mut base = BaseRecord::to(&record.topic)
        .key(&record.key)
        .headers(record.headers.to_rdkafka());
    if let Some(payload) = &record.payload {
        base = base.payload(payload);
    }
    if let Some(p) = record.partition {
        base = base.partition(p);
    }
    loop {
        match producer.send(base) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                if discarding.load(Ordering::Acquire) {
                    return Ok(());
                }
                base = back;
                producer.poll(FULL_QUEUE_WAIT);
            }
            Err((e, _)) => return Err(e),
        }
    }
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
