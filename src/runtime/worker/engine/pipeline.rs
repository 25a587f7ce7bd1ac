//! Exactly-once commits that overlap the next batch.
//!
//! A transaction's commit mostly waits: for the records still in flight to be acknowledged,
//! for the coordinators' answers to the offsets and to `EndTxn` — 15–20 % of a drain's wall
//! time in which the processing thread, the worker's bound, did nothing. So the commit runs
//! on the outbox thread, in order with the records (see `runtime::outbox`): the processing
//! thread pushes the batch's last records and a commit step, closes the batch, and goes on
//! with the next one. The outbox enqueues the next batch's records only once the step has
//! committed and begun the next transaction; they wait in its queue meanwhile.
//!
//! Invariants:
//! - at most one batch is in flight: the next commit first waits for its answer;
//! - the in-flight batch's state changes are kept apart (`close_batch`) and made permanent
//!   only once its commit is confirmed (`commit_closed`);
//! - a failed commit fails the batch after it too: the outbox drops that batch's records, and
//!   both batches are rolled back (the store undoes everything not confirmed) and rewound to
//!   the in-flight batch's first offsets;
//! - nothing else waits on the in-flight commit while it runs, but every abort, the
//!   synchronous commit of a rebalance or a shutdown, and a fatal error settle it first, so
//!   the consumer's positions and the state always agree with what was committed.

use std::sync::mpsc::{self, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, ConsumerGroupMetadata};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::TopicPartitionList;

use super::batch::Batch;
use super::{Engine, Interrupt};
use crate::runtime::delivery::DeliveryWatch;
use crate::runtime::transaction::{
    flush_promptly, send_offsets_watched, with_retries, RetryPolicy, Transactions, TxnError,
};
use crate::runtime::worker::WorkerError;

/// A batch whose transaction the outbox thread is committing.
pub(super) struct InFlight {
    batch: Batch,
    started: Instant,
    /// How long the processing thread spent closing it (compacted records).
    encode: Duration,
    answer: mpsc::Receiver<Answer>,
}

/// The outbox thread's report of a commit step.
struct Answer {
    /// Records in flight when the step began.
    in_flight: i32,
    offsets: Duration,
    flush: Duration,
    commit: Duration,
    committed: Result<(), TxnError>,
    /// The next transaction's `begin_transaction` (only tried after a commit).
    began: Result<(), TxnError>,
}

/// What the commit step needs, moved to the outbox thread.
struct Step {
    producer: Arc<BaseProducer<DeliveryWatch>>,
    policy: RetryPolicy,
    timeout: Duration,
    offsets: TopicPartitionList,
    group: Option<ConsumerGroupMetadata>,
}

impl Step {
    /// Offsets, flush, commit, and the next transaction's begin.
    fn run(self) -> Answer {
        let started = Instant::now();
        let in_flight = self.producer.in_flight_count();
        let sent = match self.group {
            Some(group) => send_offsets_watched(
                &self.producer,
                self.policy,
                &self.offsets,
                group,
                self.timeout,
            ),
            None => Ok(()),
        };
        let offsets = started.elapsed();
        let flushed = sent.and_then(|()| {
            with_retries("flush", &self.policy, || {
                flush_promptly(&self.producer, self.timeout)
            })
        });
        let flush = started.elapsed() - offsets;
        let txn = Transactions::new(&*self.producer, self.policy);
        let committed = flushed.and_then(|()| txn.commit_transaction());
        let commit = started.elapsed() - offsets - flush;
        let began = match committed {
            Ok(()) => txn.begin(),
            Err(_) => Ok(()),
        };
        Answer {
            in_flight,
            offsets,
            flush,
            commit,
            committed,
            began,
        }
    }
}

impl Engine {
    /// Closes the open batch and hands its commit to the outbox thread (exactly-once).
    pub(super) fn commit_in_background<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), WorkerError> {
        if let Some(interrupt) = self.settle_in_flight(true)? {
            return self.fail_batch(consumer, interrupt);
        }
        if !self.batch_open() {
            return Ok(());
        }
        let started = Instant::now();
        self.last_commit = Some((started, Duration::ZERO));
        if let Err(interrupt) = self.send_compacted() {
            return self.fail_batch(consumer, interrupt);
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let step = Step {
            producer: Arc::clone(&self.producer),
            policy: self.policy,
            timeout: self.settings.transaction_timeout,
            offsets: self.offsets(),
            group: consumer.group_metadata(),
        };
        let handed = self.outbox.then(Box::new(move || {
            let answer = step.run();
            let failed = match (&answer.committed, &answer.began) {
                (Err(e), _) | (Ok(()), Err(e)) => Err(e.to_string()),
                _ => Ok(()),
            };
            let _ = reply.send(answer);
            failed
        }));
        if let Err(e) = handed {
            return self.fail_batch(consumer, e.into());
        }
        for p in &self.batch.touched {
            if let Some(bus) = self.states.get_mut(p) {
                bus.close_batch();
            }
        }
        self.external.close_batch();
        let batch = std::mem::replace(&mut self.batch, std::mem::take(&mut self.spare));
        self.in_flight = Some(InFlight {
            batch,
            started,
            encode: started.elapsed(),
            answer,
        });
        self.txn_open = false;
        self.last_commit = Some((started, started.elapsed()));
        Ok(())
    }

    /// Takes the in-flight commit's answer — waiting for it when `wait`, else only if it has
    /// come. A confirmed commit makes its batch permanent; a failed one is merged into the
    /// open batch (`Some`: the caller fails that one, which rolls back and rewinds both).
    /// A fatal error leaves the batches merged too, for the generation's discard.
    pub(super) fn settle_in_flight(
        &mut self,
        wait: bool,
    ) -> Result<Option<Interrupt>, WorkerError> {
        let Some(in_flight) = self.in_flight.take() else {
            return Ok(None);
        };
        let answer = if wait {
            in_flight
                .answer
                .recv()
                .map_err(|_| TryRecvError::Disconnected)
        } else {
            in_flight.answer.try_recv()
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(TryRecvError::Empty) => {
                self.in_flight = Some(in_flight);
                return Ok(None);
            }
            // The step did not run: an earlier failure or a discard dropped it.
            Err(TryRecvError::Disconnected) => {
                self.merge_closed(in_flight.batch);
                return Ok(Some(Interrupt::Transient(
                    "the commit did not run after an earlier failure".into(),
                )));
            }
        };
        tracing::debug!(
            records = in_flight.batch.records,
            in_flight = answer.in_flight,
            encode_us = in_flight.encode.as_micros() as u64,
            offsets_us = answer.offsets.as_micros() as u64,
            flush_us = answer.flush.as_micros() as u64,
            commit_us = answer.commit.as_micros() as u64,
            open_us = in_flight
                .batch
                .started
                .map(|s| (in_flight.started - s).as_micros() as u64),
            ok = answer.committed.is_ok(),
            "batch committed"
        );
        match answer.committed {
            Ok(()) => {
                for p in &in_flight.batch.touched {
                    if let Some(bus) = self.states.get_mut(p) {
                        bus.commit_closed();
                    }
                }
                self.external.commit_closed();
                // How long the commit took, not when this thread noticed it.
                let took = in_flight.encode + answer.offsets + answer.flush + answer.commit;
                self.metrics.committed(in_flight.batch.records, took);
                let mut batch = in_flight.batch;
                batch.reset();
                self.spare = batch;
                // The step began the next transaction; a failed begin ends the producer.
                answer.began?;
                self.txn_open = true;
                Ok(None)
            }
            Err(TxnError::Abort { step, source }) => {
                self.merge_closed(in_flight.batch);
                Ok(Some(Interrupt::Transient(format!("{step}: {source}"))))
            }
            Err(fatal) => {
                self.merge_closed(in_flight.batch);
                Err(fatal.into())
            }
        }
    }

    /// Makes the closed batch part of the open one, whose rollback and rewind then cover both
    /// (the store undoes every change not confirmed).
    fn merge_closed(&mut self, closed: Batch) {
        let batch = &mut self.batch;
        batch.started = batch.started.or(closed.started);
        batch.records += closed.records;
        // The closed batch came first: its first offsets are where to rewind.
        batch.first.extend(closed.first);
        for p in closed.touched {
            if !batch.touched.contains(&p) {
                batch.touched.push(p);
            }
        }
    }

    /// Forgets the in-flight commit without waiting for it, its batch merged into the open one
    /// (the generation ends: its state is dropped and restored from what was committed).
    pub(super) fn drop_in_flight(&mut self) {
        if let Some(in_flight) = self.in_flight.take() {
            self.merge_closed(in_flight.batch);
        }
    }

    /// Whether a transaction is open for the next batch's records, or will be once the
    /// in-flight commit is done.
    pub(super) fn transaction_ready(&self) -> bool {
        self.txn_open || self.in_flight.is_some()
    }
}
