//! Consumer lag of the worker group, measured from outside the processing loop: a dedicated
//! thread with its own client periodically reads the group's committed offsets and each input
//! partition's end as a read_committed consumer sees it (the last stable offset, like the Java
//! consumer's `records-lag`: records of open transactions cannot be consumed yet), and
//! publishes `end − committed offset` per partition. A partition whose last record is a
//! transaction marker reports 1 until the next record arrives (markers take an offset).
//!
//! Invariants: every call here blocks, so it runs only on its own thread (never on an async
//! executor thread, never on the processing thread); it joins no group (an offset fetch needs
//! no membership), so it cannot cause a rebalance; a failed measurement keeps the previous
//! values and logs at debug level. The lag is group-wide (every replica reports the same
//! numbers); a partition with no committed offset counts from its low watermark.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::runtime::config::WorkerSettings;
use crate::runtime::scope::{ClientKind, ForClient};

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The last measured lag per `(topic, partition)`.
#[derive(Debug, Default)]
pub struct ConsumerLag {
    partitions: Mutex<BTreeMap<(String, i32), i64>>,
}

impl ConsumerLag {
    pub fn snapshot(&self) -> BTreeMap<(String, i32), i64> {
        self.partitions
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    fn publish(&self, lag: BTreeMap<(String, i32), i64>) {
        if let Ok(mut map) = self.partitions.lock() {
            *map = lag;
        }
    }
}

/// Starts the probe thread; it measures every `interval` until `stop` turns true.
pub fn spawn_probe(
    settings: &WorkerSettings,
    interval: Duration,
    lag: Arc<ConsumerLag>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let mut config = settings.client_base();
    config
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed");
    let topics: Vec<String> = settings.inputs().iter().map(|t| (*t).to_owned()).collect();
    std::thread::Builder::new()
        .name("lag-probe".into())
        .spawn(move || {
            let consumer: BaseConsumer = match config.for_client(ClientKind::Consumer).create() {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "lag probe disabled: cannot create its client");
                    return;
                }
            };
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    match measure(&consumer, &topics) {
                        Ok(measured) => lag.publish(measured),
                        Err(e) => tracing::debug!(error = %e, "consumer lag not measured"),
                    }
                    next = Instant::now() + interval;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
}

fn measure(
    consumer: &BaseConsumer,
    topics: &[String],
) -> Result<BTreeMap<(String, i32), i64>, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), CALL_TIMEOUT)?;
        for t in metadata.topics().iter().filter(|t| t.error().is_none()) {
            for p in t.partitions() {
                tpl.add_partition(t.name(), p.id());
            }
        }
    }
    let committed = consumer.committed_offsets(tpl, CALL_TIMEOUT)?;
    let mut lag = BTreeMap::new();
    for element in committed.elements() {
        let (low, high) =
            consumer.fetch_watermarks(element.topic(), element.partition(), CALL_TIMEOUT)?;
        let from = match element.offset() {
            Offset::Offset(o) => o,
            _ => low,
        };
        lag.insert(
            (element.topic().to_owned(), element.partition()),
            (high - from).max(0),
        );
    }
    Ok(lag)
}
