//! The processing engine of one worker replica: per-partition state, the open batch, and the
//! transaction around it.
//!
//! Invariants:
//! - a record of a command partition is processed only once that partition is restored
//!   (restoring happens inside the rebalance callback, before `poll` can return its records);
//! - everything a batch produces, and its consumed offsets, commit in one transaction; on
//!   abort, the in-memory changes of the batch are rolled back and the consumer rewinds to the
//!   batch's first offsets, so the batch is processed again from the same state;
//! - within a batch at most two snapshots per aggregate and two rows per view key are written
//!   (compacted topics: the intermediate values carry no information): the first change's, sent
//!   at once so that the commit has little left to encode and flush, and the latest, at commit,
//!   only when the key changed again after that; so the batch's last value of every key is
//!   written, and hot keys cost at most twice the records;
//! - changelog records go to the partition of the command that produced them
//!   (co-partitioning by construction);
//! - the records are enqueued on the producer by the outbox thread (`runtime::outbox`), in the
//!   order the engine pushes them; the commit settles the outbox before it flushes, and an
//!   abort discards what the outbox has not enqueued;
//! - an output refused for good (too large) never blocks a partition: the input that produced
//!   it is found and dead-lettered (`refusal`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{BaseProducer, Producer};

use super::metrics::WorkerMetrics;
use super::WorkerError;
use crate::adapters::codec::Codec;
use crate::adapters::codec::DecodeError;
use crate::adapters::envelope::MessageMeta;
use crate::adapters::envelope::{DeadLetterReason, HeaderList};
use crate::adapters::mapping::{dead_letter, default_partition, InboundRecord, InvalidCommand};
use crate::bootstrap::{self, WorkerBus};
use crate::domain::DomainError;
use crate::runtime::complete::complete;
use crate::runtime::config::{Guarantee, WorkerSettings};
use crate::runtime::delivery::DeliveryWatch;
use crate::runtime::outbox::{Outbox, OutboxError};
use crate::runtime::transaction::{RetryPolicy, Transactions};
use crate::service_layer::in_memory_store::FastMap;
use crate::service_layer::InboundMessage;
use crate::service_layer::{Outcome, ViewUpdate};

mod batch;
mod commit;
mod partitions;
mod refusal;

use self::batch::Batch;
use self::refusal::Refusals;

/// Why processing one record stopped the batch.
#[derive(Debug)]
pub(crate) enum Interrupt {
    /// A transient dependency failure (registry down): abort, rewind, retry later.
    Transient(String),
    /// An output refused for good (too large to send): abort, rewind, and find the input
    /// that produced it (see the `refusal` module).
    Refused(String),
    Fatal(WorkerError),
}

impl From<OutboxError> for Interrupt {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::Produce(ref error) if refusal::for_good(error) => {
                Interrupt::Refused(e.to_string())
            }
            // A record librdkafka refused for now: the batch is aborted and retried.
            OutboxError::Produce(_) => Interrupt::Transient(e.to_string()),
            lost => Interrupt::Fatal(lost.into()),
        }
    }
}

pub(crate) struct Engine {
    settings: Arc<WorkerSettings>,
    codec: Arc<Codec>,
    rt: tokio::runtime::Handle,
    /// Shared only with a watched `send_offsets_to_transaction` (see the transaction module).
    producer: Arc<BaseProducer<DeliveryWatch>>,
    /// Enqueues the batch's records on `producer` from a thread of its own.
    outbox: Outbox,
    policy: RetryPolicy,
    states: FastMap<i32, WorkerBus>,
    external: WorkerBus,
    batch: Batch,
    /// Inputs being looked for, or found, whose outputs were refused for good.
    refusals: Refusals,
    command_partitions: i32,
    view_partitions: i32,
    pub(crate) metrics: Arc<WorkerMetrics>,
    /// Set when a rebalance callback hit a fatal error (callbacks cannot return errors).
    pub(crate) fatal: Option<WorkerError>,
    /// When the last commit began and how long it took: commits start at most once per commit
    /// interval.
    last_commit: Option<(Instant, Duration)>,
}

impl Engine {
    pub(crate) fn new(
        settings: Arc<WorkerSettings>,
        codec: Arc<Codec>,
        rt: tokio::runtime::Handle,
        command_partitions: i32,
        view_partitions: i32,
        metrics: Arc<WorkerMetrics>,
    ) -> Result<Self, WorkerError> {
        let producer: BaseProducer<DeliveryWatch> = settings
            .producer_config()
            .create_with_context(DeliveryWatch::default())?;
        let policy = RetryPolicy::default();
        if settings.guarantee == Guarantee::ExactlyOnce {
            // Fences any earlier instance with our transactional.id and aborts its open
            // transaction, so its half-written batch never becomes visible.
            Transactions::new(&producer, policy).init(settings.transaction_timeout)?;
        }
        let producer = Arc::new(producer);
        Ok(Engine {
            settings,
            codec,
            rt,
            outbox: Outbox::start(Arc::clone(&producer))?,
            producer,
            policy,
            states: FastMap::default(),
            external: bootstrap::worker()?,
            batch: Batch::default(),
            refusals: Refusals::default(),
            command_partitions,
            view_partitions,
            metrics,
            fatal: None,
            last_commit: None,
        })
    }

    fn exactly_once(&self) -> bool {
        self.settings.guarantee == Guarantee::ExactlyOnce
    }

    pub(crate) fn batch_open(&self) -> bool {
        self.batch.started.is_some()
    }

    /// When the open batch must commit (`None` when no batch is open): one commit interval
    /// after the previous commit began (Kafka Streams' `commit.interval.ms`), but not before
    /// the batch has had as long as that commit took (or the interval, if shorter) to gather
    /// records — never later than one interval after its first record.
    ///
    /// Counting from the previous commit, not from the first record, keeps a record that
    /// arrives during a commit from waiting for that commit and then a whole interval more;
    /// the minimum keeps a commit that takes longer than the interval from shrinking the
    /// batches to a record each.
    pub(crate) fn batch_deadline(&self) -> Option<Instant> {
        let interval = self.settings.commit_interval;
        self.batch.started.map(|first| match self.last_commit {
            Some((last, took)) => (last + interval)
                .max(first + took.min(interval))
                .min(first + interval),
            None => first + interval,
        })
    }

    pub(crate) fn batch_due(&self) -> bool {
        self.batch.records >= self.settings.max_batch_records
            || (self.batch.records >= 1 && self.refusals.isolating())
            || self.batch_deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// Processes one consumed record into the open batch (opening it if needed).
    pub(crate) fn process(&mut self, message: &BorrowedMessage<'_>) -> Result<(), Interrupt> {
        if !self.batch_open() {
            if self.exactly_once() {
                Transactions::new(&*self.producer, self.policy)
                    .begin()
                    .map_err(|e| Interrupt::Fatal(e.into()))?;
            }
            self.batch.started = Some(Instant::now());
            // Refusals reported since the last batch closed belong to an aborted batch.
            let _ = self.producer.context().take();
        }
        let topic = message.topic();
        let partition = message.partition();
        let offset = message.offset();
        let headers = message
            .headers()
            .map(HeaderList::from_rdkafka)
            .unwrap_or_default();
        let record = InboundRecord {
            topic,
            partition,
            offset,
            key: message.key(),
            payload: message.payload(),
            headers: &headers,
            timestamp_ms: message.timestamp().to_millis(),
        };
        let span = tracing::info_span!(
            "record",
            %topic,
            partition,
            offset,
            correlation_id = tracing::field::Empty,
            message_type = tracing::field::Empty,
        );
        let _entered = span.enter();
        // Where an abort rewinds this partition to — recorded before handling: when this very
        // record interrupts the batch (e.g. the registry is down) and is its partition's first,
        // the rewind must still bring it back, or it would be skipped (found by scripts/chaos).
        self.batch.inputs.reached(topic, partition, offset);
        match self.refusals.quarantined(topic, partition, offset) {
            Some(dead) => {
                let letter = self.refused_letter(&record, dead);
                self.send(letter)?;
            }
            None => self.handle(&record, &span)?,
        }
        self.batch.inputs.processed(topic, partition, offset);
        self.batch.records += 1;
        Ok(())
    }

    fn handle(
        &mut self,
        record: &InboundRecord<'_>,
        span: &tracing::Span,
    ) -> Result<(), Interrupt> {
        let now = Utc::now();
        let decoded = match complete(&self.rt, self.codec.decode_inbound(record, now)) {
            Ok(decoded) => decoded,
            Err(e) if e.class().is_retriable() => return Err(Interrupt::Transient(e.to_string())),
            Err(e @ DecodeError::InvalidValue { .. })
                if record.topic == self.settings.topics.commands =>
            {
                if let Some(invalid) = complete(&self.rt, self.codec.invalid_command(record, now)) {
                    // A well-formed command that breaks a value rule is a business answer:
                    // `CommandRejected`, correlated to the command (DESIGN §2).
                    let InvalidCommand { meta, sku, error } = invalid;
                    let outcome = self.external.reject(
                        &meta.to_inbound_metadata(),
                        sku,
                        DomainError::InvalidValue(error),
                    );
                    return self.write_outcome(record, outcome, &meta);
                }
                return self.dead_letter_poison(record, &e, now);
            }
            Err(e) => return self.dead_letter_poison(record, &e, now),
        };
        span.record(
            "correlation_id",
            tracing::field::display(&decoded.meta.correlation_id),
        );
        span.record("message_type", &*decoded.meta.message_type);
        let is_command_topic = record.topic == self.settings.topics.commands;
        let outcome = match &decoded.inbound.message {
            InboundMessage::Command(command) if is_command_topic => {
                let owner =
                    default_partition(command.sku().as_str().as_bytes(), self.command_partitions);
                if owner != record.partition {
                    // Keyed by something else: re-key to the aggregate's partition (one writer
                    // per aggregate), inside this transaction.
                    let derived = complete(
                        &self.rt,
                        self.codec
                            .encode_command(&self.settings.topics, command, &decoded.meta),
                    )
                    .map_err(|e| Interrupt::Transient(e.to_string()))?;
                    self.metrics.rekeyed();
                    return self.send(derived);
                }
                let Some(bus) = self.states.get_mut(&record.partition) else {
                    return Err(Interrupt::Fatal(WorkerError::NotRestored(record.partition)));
                };
                let result = bus.handle(decoded.inbound);
                if !self.batch.touched.contains(&record.partition) {
                    self.batch.touched.push(record.partition);
                }
                result
            }
            _ => self.external.handle(decoded.inbound),
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(error = %e, "handler failed: dead-lettered");
                self.metrics.dead_lettered("handler-failed");
                let why = DeadLetterReason {
                    reason: "handler-failed",
                    class: "handler",
                    error: e.to_string(),
                };
                return self.send(dead_letter(&self.settings.topics, record, &why, now));
            }
        };
        self.write_outcome(record, outcome, &decoded.meta)
    }

    /// Dead-letters a record whose decoding failed deterministically.
    fn dead_letter_poison(
        &mut self,
        record: &InboundRecord<'_>,
        error: &DecodeError,
        now: chrono::DateTime<Utc>,
    ) -> Result<(), Interrupt> {
        tracing::warn!(%error, reason = error.reason(), "poison record: dead-lettered");
        self.metrics.dead_lettered(error.reason());
        let why = DeadLetterReason::from(error);
        self.send(dead_letter(&self.settings.topics, record, &why, now))
    }

    /// Encodes and sends one outcome's records. A snapshot or view row is sent now when it is
    /// the batch's first change of its key, and otherwise kept as the key's latest change, to
    /// be sent at commit (see the module's invariants).
    fn write_outcome(
        &mut self,
        record: &InboundRecord<'_>,
        mut outcome: Outcome,
        meta: &MessageMeta,
    ) -> Result<(), Interrupt> {
        self.metrics
            .processed(&meta.message_type, outcome.rejection().is_some());
        let trace = meta.traceparent;
        // Dropping the snapshot handles now keeps the store's aggregates unshared, so the
        // next change to them needs no copy.
        let transient =
            |e: crate::adapters::codec::EncodeError| Interrupt::Transient(e.to_string());
        for snapshot in std::mem::take(&mut outcome.snapshots) {
            let key = (record.partition, snapshot.payload.sku().clone());
            if let Some(later) = self.batch.snapshots.get_mut(&key) {
                *later = Some((snapshot.metadata, trace));
                continue;
            }
            let mut out = complete(
                &self.rt,
                self.codec.encode_snapshot(
                    &self.settings.topics,
                    &snapshot.payload,
                    &snapshot.metadata,
                    &trace,
                ),
            )
            .map_err(transient)?;
            out.partition = Some(record.partition);
            self.send(out)?;
            self.batch.snapshots.insert(key, None);
        }
        for update in std::mem::take(&mut outcome.view_updates) {
            let (ViewUpdate::Upsert { orderid, sku, .. } | ViewUpdate::Delete { orderid, sku }) =
                &update.payload;
            let key = (orderid.clone(), sku.clone());
            if let Some(later) = self.batch.views.get_mut(&key) {
                *later = Some((update, trace));
                continue;
            }
            let out = complete(
                &self.rt,
                self.codec.encode_view_update(
                    &self.settings.topics,
                    &update,
                    &trace,
                    self.view_partitions,
                ),
            )
            .map_err(transient)?;
            self.send(out)?;
            self.batch.views.insert(key, None);
        }
        let records = complete(
            &self.rt,
            self.codec.encode_outcome(
                &self.settings.topics,
                &outcome,
                &trace,
                self.view_partitions,
            ),
        )
        .map_err(|e| Interrupt::Transient(e.to_string()))?;
        for out in records {
            self.send(out)?;
        }
        Ok(())
    }

    /// Hands the records pushed so far to the outbox thread: call it before waiting for
    /// input, so that no output waits with it. A lost outbox thread is reported by the next
    /// push or commit.
    pub(crate) fn dispatch(&mut self) {
        let _ = self.outbox.dispatch();
    }

    /// Producer poll: serves delivery reports.
    pub(crate) fn poll_producer(&self) {
        self.producer.poll(Duration::ZERO);
    }
}
