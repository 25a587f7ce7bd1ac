//! Restoring one partition's aggregates from the changelog before any of its records is
//! processed.
//!
//! The end of the restore is the changelog partition's *high watermark* as a read_uncommitted
//! client sees it; the reader itself is read_committed, so it skips aborted snapshots and
//! transaction markers, and it has caught up when its position reaches that mark. (A
//! read_committed client reports the last stable offset instead, which may sit below
//! snapshots written by a transaction that is still open: waiting for the position to pass the
//! high watermark makes the restore wait until such a transaction is resolved.) Tombstones
//! delete. Only the latest value of each key is decoded (superseded snapshots stay bytes).
//! The reader `assign`s its partition; it never joins the group.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::errors::{classify, ErrorClass};
use crate::adapters::codec::{Codec, DecodeError};
use crate::domain::Product;

/// The restored aggregates of one partition, by sku, and what it took.
#[derive(Debug)]
pub struct Restored {
    pub products: HashMap<String, Product>,
    /// Changelog records read (snapshots and tombstones).
    pub records: u64,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("changelog {topic}[{partition}]: Kafka error: {source}")]
    Kafka {
        topic: String,
        partition: i32,
        #[source]
        source: KafkaError,
    },
    #[error("changelog {topic}[{partition}] offset {offset}: undecodable snapshot: {source}")]
    Decode {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: DecodeError,
    },
    #[error("changelog {topic}[{partition}]: no progress towards offset {end} for {timeout:?}")]
    Timeout {
        topic: String,
        partition: i32,
        end: i64,
        timeout: Duration,
    },
}

/// Reads changelog partition `partition` of `topic` from the beginning to its end.
///
/// Blocking: call it from the worker's processing thread; `rt` runs the codec's (cached)
/// registry look-ups.
pub fn restore_partition(
    base: &ClientConfig,
    topic: &str,
    partition: i32,
    codec: &Codec,
    rt: &tokio::runtime::Handle,
    timeout: Duration,
) -> Result<Restored, RestoreError> {
    let started = Instant::now();
    let kafka = |source| RestoreError::Kafka {
        topic: topic.to_owned(),
        partition,
        source,
    };
    let end = high_watermark(base, topic, partition, timeout).map_err(kafka)?;

    // The latest value per key, still encoded: a superseded snapshot is never decoded (the
    // changelog is compacted; only the last value of a key carries information).
    let mut latest: HashMap<String, (i64, Vec<u8>)> = HashMap::new();
    let mut records = 0;
    if end > 0 {
        let consumer: BaseConsumer = reader_config(base, "read_committed")
            .create()
            .map_err(kafka)?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(kafka)?;
        consumer.assign(&assignment).map_err(kafka)?;
        // `timeout` bounds a wait without progress (an open transaction holding the last
        // stable offset back), not the whole read: a long changelog takes as long as it takes
        // (a fixed bound made replicas crash-loop on a grown changelog: found by scripts/chaos).
        let mut deadline = started + timeout;
        loop {
            if Instant::now() >= deadline {
                return Err(RestoreError::Timeout {
                    topic: topic.to_owned(),
                    partition,
                    end,
                    timeout,
                });
            }
            let message = match consumer.poll(Duration::from_millis(20)) {
                Some(Ok(message)) => message,
                // Nothing yet, or only transaction markers left: done once the position has
                // reached the end.
                None => {
                    if position(&consumer, topic, partition) >= end {
                        break;
                    }
                    continue;
                }
                // A broker going away (restart, leader move) surfaces here as an event; the
                // reader reconnects by itself, and the deadline bounds the wait (a fatal exit on
                // it made every replica restart on a broker restart: found by scripts/chaos).
                Some(Err(e)) if matches!(classify(&e), ErrorClass::Retriable) => {
                    tracing::warn!(topic, partition, error = %e, "transient error while restoring; retrying");
                    continue;
                }
                Some(Err(e)) => return Err(kafka(e)),
            };
            records += 1;
            deadline = Instant::now() + timeout;
            let offset = message.offset();
            match message.key().and_then(|k| std::str::from_utf8(k).ok()) {
                None => tracing::warn!(
                    topic,
                    partition,
                    offset,
                    "changelog record without a UTF-8 key; skipped"
                ),
                Some(key) => match message.payload() {
                    Some(payload) => {
                        latest.insert(key.to_owned(), (offset, payload.to_vec()));
                    }
                    None => {
                        latest.remove(key);
                    }
                },
            }
            if offset + 1 >= end {
                break;
            }
        }
    }
    let mut products = HashMap::with_capacity(latest.len());
    for (key, (offset, payload)) in latest {
        match rt.block_on(codec.decode_snapshot(Some(&payload))) {
            Ok(Some(product)) => {
                products.insert(key, product);
            }
            Ok(None) => {}
            Err(source) => {
                return Err(RestoreError::Decode {
                    topic: topic.to_owned(),
                    partition,
                    offset,
                    source,
                })
            }
        }
    }
    Ok(Restored {
        products,
        records,
        elapsed: started.elapsed(),
    })
}

fn reader_config(base: &ClientConfig, isolation: &str) -> ClientConfig {
    let mut config = base.clone();
    // A group id is required by librdkafka even for assign-only consumers; it never joins.
    config
        .set("group.id", "allocation-worker-restore")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        // The fetch at the end of the partition (past the last transaction marker) does not
        // wait the default 500 ms.
        .set("fetch.wait.max.ms", "10")
        .set("isolation.level", isolation)
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760");
    config
}

/// The high watermark as a read_uncommitted client sees it.
fn high_watermark(
    base: &ClientConfig,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<i64, KafkaError> {
    let consumer: BaseConsumer = reader_config(base, "read_uncommitted").create()?;
    let (_, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
    Ok(high)
}

fn position(consumer: &BaseConsumer, topic: &str, partition: i32) -> i64 {
    consumer
        .position()
        .ok()
        .and_then(|tpl| tpl.find_partition(topic, partition).map(|e| e.offset()))
        .and_then(|offset| match offset {
            Offset::Offset(o) => Some(o),
            _ => None,
        })
        .unwrap_or(0)
}
