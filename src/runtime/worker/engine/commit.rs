//! Closing a batch: writing its compacted records, committing the transaction with the
//! consumed offsets (or, at-least-once, flushing then committing offsets), and aborting it —
//! which rolls the partitions' state back and rewinds the consumer to the batch's first
//! offsets.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};

use super::{Batch, Engine, Interrupt};
use crate::adapters::mapping::OutboundRecord;
use crate::runtime::complete::complete;
use crate::runtime::transaction::{
    flush_promptly, send_offsets_watched, with_retries, Transactions, TxnError,
};
use crate::runtime::worker::WorkerError;
use crate::service_layer::StateStore;

impl Engine {
    /// Adds one record to the batch's outputs (see the outbox module).
    pub(super) fn send(&mut self, record: OutboundRecord) -> Result<(), Interrupt> {
        self.outbox.push(record).map_err(Interrupt::from)
    }

    /// Encodes and sends the latest snapshot of each aggregate (read from the partition's store,
    /// on the partition of the commands that changed it) and the latest change of each view
    /// row that changed again after its first change of the batch was sent.
    fn send_compacted(&mut self) -> Result<(), Interrupt> {
        let settings = Arc::clone(&self.settings);
        let topics = &settings.topics;
        let transient =
            |e: crate::adapters::codec::EncodeError| Interrupt::Transient(e.to_string());
        // Taken out and put back emptied, so that its capacity serves the next batch.
        let mut snapshots = std::mem::take(&mut self.batch.snapshots);
        for ((partition, sku), (metadata, trace)) in snapshots
            .drain()
            .filter_map(|(key, later)| Some((key, later?)))
        {
            let Some(product) = self
                .states
                .get(&partition)
                .and_then(|bus| bus.store().product(&sku))
            else {
                continue;
            };
            let mut record = complete(
                &self.rt,
                self.codec
                    .encode_snapshot(topics, product, &metadata, &trace),
            )
            .map_err(transient)?;
            record.partition = Some(partition);
            self.send(record)?;
        }
        self.batch.snapshots = snapshots;
        let mut views = std::mem::take(&mut self.batch.views);
        for (update, trace) in views.drain().filter_map(|(_, later)| later) {
            let record = complete(
                &self.rt,
                self.codec
                    .encode_view_update(topics, &update, &trace, self.view_partitions),
            )
            .map_err(transient)?;
            self.send(record)?;
        }
        self.batch.views = views;
        Ok(())
    }

    /// Commits the open batch: compacted records; in exactly-once mode the consumed offsets
    /// (their round trips to the coordinators overlap the outputs still in flight, as the
    /// Java producer allows); the flush (so the transaction commit does not wait in rdkafka's
    /// 100 ms flush polls); then the transaction — or, at-least-once, the offsets.
    pub(crate) fn commit<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), WorkerError> {
        if !self.batch_open() {
            return Ok(());
        }
        let started = Instant::now();
        self.last_commit = Some((started, Duration::ZERO));
        if let Err(interrupt) = self
            .send_compacted()
            .and_then(|()| self.outbox.settle().map_err(Interrupt::from))
        {
            return self.fail_batch(consumer, interrupt);
        }
        let encoded = started.elapsed();
        let in_flight = self.producer.in_flight_count();
        let offsets = self.offsets();
        let txn = Transactions::new(&*self.producer, self.policy);
        let flush = || {
            with_retries("flush", &self.policy, || {
                flush_promptly(&self.producer, self.settings.transaction_timeout)
            })
        };
        let mut flushed_at = encoded;
        let mut offsets_at = encoded;
        let result = if self.exactly_once() {
            // Fresh group metadata for every commit (KIP-447 fences zombies by generation),
            // sent under a watchdog (see `send_offsets_watched`).
            let sent = match consumer.group_metadata() {
                Some(group) => send_offsets_watched(
                    &self.producer,
                    self.policy,
                    &offsets,
                    group,
                    self.settings.transaction_timeout,
                ),
                None => Ok(()),
            };
            offsets_at = started.elapsed();
            sent.and_then(|()| {
                let flushed = flush();
                flushed_at = started.elapsed();
                flushed
            })
            .and_then(|()| txn.commit_transaction())
        } else {
            let flushed = flush();
            flushed_at = started.elapsed();
            // Flushed means nothing is in flight, not that everything was written (see the
            // delivery module): offsets over a refused output would lose it.
            if let (Ok(()), Some(refused)) = (&flushed, self.producer.context().take()) {
                return self.fail_batch(consumer, Interrupt::Transient(refused.to_string()));
            }
            flushed.and_then(|()| self.commit_at_least_once(consumer, &offsets))
        };
        tracing::debug!(
            records = self.batch.records,
            in_flight,
            encode_us = encoded.as_micros() as u64,
            offsets_us = (offsets_at.saturating_sub(encoded)).as_micros() as u64,
            flush_us = (flushed_at.saturating_sub(offsets_at)).as_micros() as u64,
            commit_us = (started.elapsed().saturating_sub(flushed_at)).as_micros() as u64,
            open_us = self.batch.started.map(|s| (started - s).as_micros() as u64),
            ok = result.is_ok(),
            offsets = %self.offset_ranges(),
            "batch committed"
        );
        self.last_commit = Some((started, started.elapsed()));
        match result {
            Ok(()) => {
                self.refusals.committed(&self.batch.inputs);
                for p in &self.batch.touched {
                    if let Some(bus) = self.states.get_mut(p) {
                        bus.commit_batch();
                    }
                }
                self.external.commit_batch();
                self.metrics
                    .committed(self.batch.records, started.elapsed());
                self.batch.reset();
                Ok(())
            }
            Err(TxnError::Abort { step, source }) => {
                self.fail_batch(consumer, Interrupt::Transient(format!("{step}: {source}")))
            }
            Err(fatal) => Err(fatal.into()),
        }
    }

    fn commit_at_least_once<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        offsets: &TopicPartitionList,
    ) -> Result<(), TxnError> {
        if offsets.count() > 0 {
            with_retries("commit offsets", &self.policy, || {
                consumer.commit(offsets, CommitMode::Sync)
            })?;
        }
        Ok(())
    }

    /// The batch's input ranges, `topic[partition]first..next` (for the debug log: which
    /// replica committed which records, when).
    fn offset_ranges(&self) -> String {
        let mut ranges = String::new();
        for (topic, partition, range) in self.batch.inputs.iter() {
            let next = range.next.unwrap_or(range.first);
            let _ = write!(ranges, "{topic}[{partition}]{}..{next} ", range.first);
        }
        ranges
    }

    fn offsets(&self) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, next) in self.batch.inputs.next() {
            // Cannot fail: the offset is a plain value.
            let _ = tpl.add_partition_offset(topic, partition, Offset::Offset(next));
        }
        tpl
    }

    /// Aborts the open batch: transaction, in-memory changes, consumer positions.
    pub(crate) fn fail_batch<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        why: Interrupt,
    ) -> Result<(), WorkerError> {
        let reason = match why {
            Interrupt::Fatal(e) => return Err(e),
            Interrupt::Transient(reason) => reason,
            Interrupt::Refused(reason) => {
                self.on_refused(&reason);
                reason
            }
        };
        tracing::warn!(%reason, records = self.batch.records, "aborting the batch; it will be processed again");
        self.metrics.aborted();
        self.abort(consumer)
    }

    /// Aborts without committing: rolls back state and rewinds the consumer.
    pub(crate) fn abort<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), WorkerError> {
        if !self.batch_open() {
            return Ok(());
        }
        // What the outbox has not enqueued yet is dropped, not written: before an abort, and
        // at-least-once before the flush that lets the rest be delivered.
        self.outbox.discard()?;
        if self.exactly_once() {
            let producer = &*self.producer;
            Transactions::new(producer, self.policy)
                .abort(self.abort_bound(), || producer.poll(Duration::ZERO))?;
        } else {
            // Whatever was sent may be delivered: at-least-once allows duplicates, not loss.
            let _ = self.producer.flush(self.settings.transaction_timeout);
        }
        let batch = self.roll_back();
        let assignment = consumer.assignment().unwrap_or_default();
        for (topic, partition, range) in batch.inputs.iter() {
            if assignment.find_partition(topic, partition).is_some() {
                consumer
                    .seek(
                        topic,
                        partition,
                        Offset::Offset(range.first),
                        Duration::from_secs(10),
                    )
                    .map_err(WorkerError::Rewind)?;
            }
        }
        std::thread::sleep(self.policy.backoff(1));
        Ok(())
    }

    /// How long an abort may wait for the messages in flight: they settle within milliseconds
    /// while their leaders are up. Past it (a broker outage) the producer is given up and
    /// replaced, which aborts the transaction just as well, and a shutdown stays within its
    /// bound.
    fn abort_bound(&self) -> Duration {
        const MAX: Duration = Duration::from_secs(10);
        self.settings.transaction_timeout.min(MAX)
    }

    /// Rolls back the in-memory changes of the open batch and closes it, returning it.
    fn roll_back(&mut self) -> Batch {
        for p in &self.batch.touched {
            if let Some(bus) = self.states.get_mut(p) {
                bus.abort_batch();
            }
        }
        self.external.abort_batch();
        std::mem::take(&mut self.batch)
    }

    /// Gives up the open batch without touching the producer (it may be fenced) or the
    /// consumer: only the in-memory changes are rolled back. The transaction, if any, is left
    /// to the coordinator, which aborts it when the next producer with our `transactional.id`
    /// initialises (or at its timeout).
    pub(crate) fn discard(&mut self) {
        if self.batch_open() {
            tracing::warn!(
                records = self.batch.records,
                "discarding the open batch; it will be processed again"
            );
            // Not waited for: its thread may be waiting for room in a broken producer's
            // queue, and the engine is dropped next.
            self.outbox.abandon();
            self.roll_back();
        }
    }
}
