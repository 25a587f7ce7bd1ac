//! The load: one idempotent seed producer (`acks=all`, `enable.idempotence`) sending the
//! workload's commands at a fixed rate until it is told to stop (and at least the profile's
//! count was sent), with poison pills (undecodable bytes) and invalid commands (qty 0)
//! interleaved at known offsets, plus bursts of them on request. Every acknowledged record is
//! kept with its partition and offset ([`Sent`]): the checker's list of inputs.
//!
//! The load runs as its own task ([`LoadTask`]), which ends only when told to stop. A record
//! the producer cannot send or that is not delivered (e.g. `MessageTimedOut` on a starved
//! machine) ends it early with a [`LoadError`], and so does a panic; the runner runs the fault
//! schedule alongside the task ([`LoadTask::finish_after`]), so that this ends the run at once,
//! naming the cause, instead of leaving it waiting for commands that will never be sent.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use allocation_worker::adapters::codec::wire::frame;
use allocation_worker::adapters::contracts::{records, WireMessage};

use allocation_worker::adapters::envelope::names;
use tokio::task::{JoinError, JoinHandle};

use crate::harness::Record;
use crate::panics;
use crate::support::{CommandProducer, ProduceError, Sent};
use crate::workload::{Rng, Workload};

/// Undecodable payloads and the `dlq-reason` the worker's codec gives each.
pub async fn pills(
    producer_codec: &allocation_worker::adapters::codec::Codec,
    topic: &str,
) -> Vec<(Vec<u8>, String)> {
    let good = producer_codec
        .encode(
            topic,
            &WireMessage::from(records::Allocate {
                orderid: "pill".into(),
                sku: "SKU-00".into(),
                qty: 1,
            }),
        )
        .await
        .expect("encode a good Allocate");
    let id = u32::from_be_bytes([good[1], good[2], good[3], good[4]]);
    let mut wrong_magic = good.clone();
    wrong_magic[0] = 7;
    let candidates = vec![
        b"\xde\xad\xbe\xef not avro at all".to_vec(),
        wrong_magic,
        frame(1_999_999_001, &good[5..]),
        vec![0, 0, 1],
        frame(id, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        [good.as_slice(), b"trailing"].concat(),
    ];
    let mut out = Vec::new();
    for bytes in candidates {
        let reason = producer_codec
            .decode(Some(&bytes))
            .await
            .expect_err("a pill must not decode")
            .reason();
        out.push((bytes, reason.to_owned()));
    }
    out
}

/// Why the load task ended before it was told to stop, or did not hand its producer back.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The seed producer could not send a record, or a record was not delivered.
    #[error("the load task failed: {0}")]
    Producer(#[from] ProduceError),
    #[error("the load task panicked: {0}")]
    Panicked(String),
    #[error("the load task was cancelled")]
    Cancelled,
    #[error("the load task ended before it was told to stop")]
    Early,
}

/// What a load task that ended handed back: its producer, or why it failed.
fn joined<P>(ended: Result<Result<P, ProduceError>, JoinError>) -> Result<P, LoadError> {
    match ended {
        Ok(result) => Ok(result?),
        Err(e) if e.is_panic() => Err(LoadError::Panicked(panics::message(e.into_panic()))),
        Err(_) => Err(LoadError::Cancelled),
    }
}

/// The running load's controls (see the module docs), shared with the fault injection.
pub struct Load {
    stop: Arc<AtomicBool>,
    burst: Arc<AtomicUsize>,
    count: Arc<AtomicUsize>,
}

/// The load task: hands its producer back once told to stop (see the module docs). `P` is the
/// producer, a [`CommandProducer`] but in the unit tests.
pub struct LoadTask<P = CommandProducer> {
    handle: JoinHandle<Result<P, ProduceError>>,
}

impl Load {
    fn new() -> Self {
        Load {
            stop: Arc::default(),
            burst: Arc::default(),
            count: Arc::default(),
        }
    }

    /// Starts sending: `min` commands at least, `rate` per second, a pill every `poison_every`.
    pub fn start(
        mut producer: CommandProducer,
        mut work: Workload,
        pills: Vec<(Vec<u8>, String)>,
        min: usize,
        rate: usize,
        poison_every: usize,
        seed: u64,
    ) -> (Self, LoadTask) {
        let load = Load::new();
        let (stop2, burst2, count2) = (load.stop.clone(), load.burst.clone(), load.count.clone());
        let tick = Duration::from_millis(50);
        let per_tick = (rate / 20).max(1);
        let handle = tokio::spawn(async move {
            let mut rng = Rng::new(seed ^ 0x10AD);
            for c in work.setup() {
                producer.try_command(c).await?;
            }
            producer.try_flush().await?;
            let mut n = 0usize;
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while n < min || !stop2.load(Ordering::Relaxed) {
                interval.tick().await;
                let mut bad = burst2.swap(0, Ordering::Relaxed);
                for _ in 0..per_tick {
                    producer.try_command(work.next_command()).await?;
                    n += 1;
                    if poison_every > 0 && rng.range(1, poison_every as u64) == 1 {
                        bad += 1;
                    }
                }
                for _ in 0..bad {
                    let sku = format!("SKU-{:02}", rng.range(0, 9));
                    if rng.range(0, 2) == 0 {
                        let order = format!("bad-order-{}", rng.next() % 1_000_000_000);
                        producer.try_invalid_allocate(&order, &sku, 0).await?;
                    } else {
                        let (bytes, reason) = rng.pick(&pills).clone();
                        producer.try_poison(&sku, bytes, &reason).await?;
                    }
                }
                if n % (per_tick * 20) < per_tick {
                    // Collect acknowledgements about once a second.
                    producer.try_flush().await?;
                }
                count2.store(n, Ordering::Relaxed);
            }
            producer.try_flush().await?;
            Ok(producer)
        });
        (load, LoadTask { handle })
    }

    /// Commands sent so far.
    pub fn sent(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Asks for `n` extra pills / invalid commands in the next tick.
    pub fn burst(&self, n: usize) {
        self.burst.fetch_add(n, Ordering::Relaxed);
    }

    /// Whether the minimum was sent (the load then stops as soon as it is told to).
    pub fn reached(&self, min: usize) -> bool {
        self.sent() >= min
    }
}

impl<P> LoadTask<P> {
    /// Runs `work` (the fault schedule, then the wait for the minimum) while the load runs,
    /// then tells `load` to stop and waits for every acknowledgement: the producer. `Err` with
    /// why as soon as the task ends before it was told to stop (`work` is dropped then,
    /// wherever it is), or when it fails after.
    pub async fn finish_after(
        mut self,
        load: &Load,
        work: impl Future<Output = ()>,
    ) -> Result<P, LoadError> {
        tokio::select! {
            () = work => {}
            ended = &mut self.handle => {
                // It ends by itself only when something went wrong.
                return Err(joined(ended).err().unwrap_or(LoadError::Early));
            }
        }
        load.stop.store(true, Ordering::Relaxed);
        joined(self.handle.await)
    }
}

/// Puts every acknowledged record whose delivery report had no offset (librdkafka reports
/// success with offset -1001 when a retried idempotent batch turns out to be already written)
/// at the offset where it really is: the record of its partition in `written` (the command
/// topic as read back) with the same `message-id`. The replay orders inputs by offset, so an
/// unplaced record would be replayed first. Returns a sentence per record it cannot place.
pub fn place_unknown_offsets(sent: &mut [Sent], written: &[Record]) -> Vec<String> {
    let mut problems = Vec::new();
    for s in sent.iter_mut().filter(|s| s.offset < 0) {
        let found = s.id.and_then(|id| {
            let id = id.to_string();
            written.iter().find(|r| {
                r.partition == s.partition
                    && r.headers.get(names::MESSAGE_ID).map(Vec::as_slice) == Some(id.as_bytes())
            })
        });
        match found {
            Some(r) => s.offset = r.offset,
            None => problems.push(format!(
                "acknowledged record {:?} on partition {} has no offset and was not found in the topic",
                s.id, s.partition
            )),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use std::future::pending;

    use allocation_worker::domain::MessageId;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use tokio::time::{sleep, timeout};

    use super::*;
    use crate::support::SentKind;

    fn timed_out() -> ProduceError {
        ProduceError::Delivery {
            topic: "chaos.commands".into(),
            source: KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
        }
    }

    /// `finish_after` with work that never ends (the runner's wait for a minimum that a dead
    /// load never sends): it must end anyway, within `timeout`, with the task's failure.
    async fn failure_of(handle: JoinHandle<Result<(), ProduceError>>) -> LoadError {
        let load = Load::new();
        let wait = LoadTask { handle }.finish_after(&load, pending());
        timeout(Duration::from_secs(10), wait)
            .await
            .expect("a dead load task ends the wait")
            .expect_err("the load task failed")
    }

    #[tokio::test]
    async fn a_load_task_that_dies_ends_the_wait_at_once_naming_the_cause() {
        let panicked = failure_of(tokio::spawn(async {
            sleep(Duration::from_millis(20)).await;
            panic!("delivery of a command failed: MessageTimedOut")
        }))
        .await;
        assert_eq!(
            panicked.to_string(),
            "the load task panicked: delivery of a command failed: MessageTimedOut"
        );

        let failed = failure_of(tokio::spawn(async { Err(timed_out()) })).await;
        let message = failed.to_string();
        assert!(
            matches!(failed, LoadError::Producer(ProduceError::Delivery { .. })),
            "{failed:?}"
        );
        assert!(
            message.starts_with(
                "the load task failed: delivery of a record to chaos.commands failed: "
            ) && message.contains("MessageTimedOut"),
            "{message}"
        );

        let cancelled = tokio::spawn(pending());
        cancelled.abort();
        assert!(matches!(failure_of(cancelled).await, LoadError::Cancelled));
        let early = failure_of(tokio::spawn(async { Ok(()) })).await;
        assert!(matches!(early, LoadError::Early), "{early:?}");
    }

    /// A task like the load's: runs until told to stop, then returns `result`.
    fn until_stopped<T: Send + 'static>(
        load: &Load,
        result: Result<T, ProduceError>,
    ) -> LoadTask<T> {
        let stop = Arc::clone(&load.stop);
        let handle = tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                sleep(Duration::from_millis(1)).await;
            }
            result
        });
        LoadTask { handle }
    }

    #[tokio::test]
    async fn a_load_task_told_to_stop_hands_its_producer_back_or_its_failure() {
        let work = || sleep(Duration::from_millis(20));
        let load = Load::new();
        let producer = until_stopped(&load, Ok(7))
            .finish_after(&load, work())
            .await;
        assert_eq!(producer.expect("the producer"), 7);
        let load = Load::new();
        let failed = until_stopped::<()>(&load, Err(timed_out()))
            .finish_after(&load, work())
            .await;
        assert!(matches!(failed, Err(LoadError::Producer(_))), "{failed:?}");
    }

    fn sent(id: Option<MessageId>, offset: i64) -> Sent {
        Sent {
            id,
            key: "SKU-1".into(),
            partition: 5,
            offset,
            kind: SentKind::Poison { reason: "x".into() },
        }
    }

    fn record(partition: i32, offset: i64, id: MessageId) -> Record {
        Record {
            partition,
            offset,
            key: None,
            payload: None,
            headers: HashMap::from([(names::MESSAGE_ID.to_owned(), id.to_string().into_bytes())]),
        }
    }

    #[test]
    fn a_record_acked_without_offset_is_placed_where_it_was_written_or_reported() {
        let (a, b, c) = (
            MessageId::from_uuid(uuid::Uuid::from_u128(1)),
            MessageId::from_uuid(uuid::Uuid::from_u128(2)),
            MessageId::from_uuid(uuid::Uuid::from_u128(3)),
        );
        let written = [record(4, 9681, a), record(5, 9680, b), record(5, 9681, a)];
        let mut all = vec![
            sent(Some(b), 9680),
            sent(Some(a), -1001),
            sent(Some(c), -1001),
        ];
        let problems = place_unknown_offsets(&mut all, &written);
        assert_eq!(all[0].offset, 9680);
        assert_eq!(all[1].offset, 9681, "same id on its own partition");
        assert_eq!(all[2].offset, -1001);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
