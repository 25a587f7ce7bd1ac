//! The load: one idempotent seed producer (`acks=all`, `enable.idempotence`) sending the
//! workload's commands at a fixed rate until it is told to stop (and at least the profile's
//! count was sent), with poison pills (undecodable bytes) and invalid commands (qty 0)
//! interleaved at known offsets, plus bursts of them on request. Every acknowledged record is
//! kept with its partition and offset ([`Sent`]): the checker's list of inputs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use allocation_worker::adapters::codec::wire::frame;
use allocation_worker::adapters::contracts::{records, WireMessage};

use allocation_worker::adapters::envelope::names;

use crate::harness::Record;
use crate::support::{CommandProducer, Sent};
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

/// Handle on the running load (see the module docs).
pub struct Load {
    stop: Arc<AtomicBool>,
    burst: Arc<AtomicUsize>,
    count: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<CommandProducer>,
}

impl Load {
    /// Starts sending: `min` commands at least, `rate` per second, a pill every `poison_every`.
    pub fn start(
        mut producer: CommandProducer,
        mut work: Workload,
        pills: Vec<(Vec<u8>, String)>,
        min: usize,
        rate: usize,
        poison_every: usize,
        seed: u64,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let burst = Arc::new(AtomicUsize::new(0));
        let count = Arc::new(AtomicUsize::new(0));
        let (stop2, burst2, count2) = (stop.clone(), burst.clone(), count.clone());
        let tick = Duration::from_millis(50);
        let per_tick = (rate / 20).max(1);
        let task = tokio::spawn(async move {
            let mut rng = Rng::new(seed ^ 0x10AD);
            for c in work.setup() {
                producer.command(c).await;
            }
            producer.flush().await;
            let mut n = 0usize;
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while n < min || !stop2.load(Ordering::Relaxed) {
                interval.tick().await;
                let mut bad = burst2.swap(0, Ordering::Relaxed);
                for _ in 0..per_tick {
                    producer.command(work.next_command()).await;
                    n += 1;
                    if poison_every > 0 && rng.range(1, poison_every as u64) == 1 {
                        bad += 1;
                    }
                }
                for _ in 0..bad {
                    let sku = format!("SKU-{:02}", rng.range(0, 9));
                    if rng.range(0, 2) == 0 {
                        let order = format!("bad-order-{}", rng.next() % 1_000_000_000);
                        producer.invalid_allocate(&order, &sku, 0).await;
                    } else {
                        let (bytes, reason) = rng.pick(&pills).clone();
                        producer.poison(&sku, bytes, &reason).await;
                    }
                }
                if n % (per_tick * 20) < per_tick {
                    // Collect acknowledgements about once a second.
                    producer.flush().await;
                }
                count2.store(n, Ordering::Relaxed);
            }
            producer.flush().await;
            producer
        });
        Load {
            stop,
            burst,
            count,
            task,
        }
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

    /// Stops (once the minimum was sent) and waits for every acknowledgement.
    pub async fn finish(self) -> CommandProducer {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("load task")
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

    use allocation_worker::domain::MessageId;

    use super::*;
    use crate::support::SentKind;

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
