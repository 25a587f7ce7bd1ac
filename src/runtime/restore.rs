//! Restoring the aggregates of newly assigned command partitions from the changelog before any
//! of their records is processed.
//!
//! One rebalance's partitions are restored together by ONE reader that `assign`s all of them
//! (it never joins the group), so the fixed cost of a client — connecting,
//! metadata, the first fetch — is paid once per rebalance, not once per partition. It is
//! created first, so it connects while the watermarks are fetched.
//!
//! Each partition's restore starts at its *low watermark*, fetched with the high one: an
//! explicit offset needs no offset look-up before the first fetch (`Offset::Beginning` delayed
//! it by librdkafka's fixed 500 ms), and a log start that moved meanwhile resets to the
//! earliest offset, the same place. The end of each partition's restore is its *high watermark* as a read_uncommitted client
//! sees it (one such client, all partitions); the reader itself is read_committed, so it skips
//! aborted snapshots and transaction markers, and a partition has caught up when the reader's
//! position reaches that mark. (A read_committed client reports the last stable offset
//! instead, which may sit below snapshots written by a transaction that is still open: waiting
//! for the position to pass the high watermark makes the restore wait until such a transaction
//! is resolved.) Tombstones delete. Only the latest value of each key is decoded (superseded
//! snapshots stay bytes), once the read is done, on up to one thread per core.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::errors::{classify, ErrorClass};
use crate::adapters::codec::{Codec, DecodeError};
use crate::domain::Product;
use crate::runtime::complete::complete;
use crate::runtime::scope::{scoped, ClientKind};
use crate::service_layer::in_memory_store::FastMap;

/// One partition's restored aggregates (one per sku).
pub type PartitionState = (i32, Vec<Product>);

/// The restored aggregates of a set of partitions, by partition, and what it took.
#[derive(Debug)]
pub struct Restored {
    /// Every requested partition, with its aggregates (none when it has none).
    pub partitions: Vec<PartitionState>,
    /// Changelog records read (snapshots and tombstones), all partitions.
    pub records: u64,
    /// Wall-clock time of the whole restore (all partitions, read together).
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
    #[error("changelog {topic}[{partition}] no progress towards offset {end} for {timeout:?}")]
    Timeout {
        topic: String,
        partition: i32,
        end: i64,
        timeout: Duration,
    },
}

/// What is known of one partition while it is read.
struct Progress {
    partition: i32,
    /// The low watermark: the restore of this partition starts there.
    start: i64,
    /// The high watermark: the restore of this partition ends there.
    end: i64,
    done: bool,
    /// The latest value per key, still encoded: a superseded snapshot is never decoded (the
    /// changelog is compacted; only the last value of a key carries information). Looked up
    /// once per changelog record: hashed with foldhash, not SipHash (keys from outside cannot
    /// be chosen to collide either way: its seed is per process).
    latest: FastMap<String, (i64, Vec<u8>)>,
}

/// Reads changelog partitions `partitions` of `topic` from the beginning to their ends, with
/// one reader for all of them.
///
/// Blocking: call it from the worker's processing thread; `rt` runs the codec's (cached)
/// registry look-ups.
pub fn restore_partitions(
    base: &ClientConfig,
    topic: &str,
    partitions: &[i32],
    codec: &Codec,
    rt: &tokio::runtime::Handle,
    timeout: Duration,
) -> Result<Restored, RestoreError> {
    let started = Instant::now();
    let first = partitions.first().copied().unwrap_or(0);
    let kafka = |partition: i32| {
        move |source| RestoreError::Kafka {
            topic: topic.to_owned(),
            partition,
            source,
        }
    };
    let mut progress = Vec::with_capacity(partitions.len());
    let mut reader = None;
    if !partitions.is_empty() {
        // The reader first: it connects in librdkafka's threads while the watermarks are
        // fetched.
        let consumer: BaseConsumer = reader_config(base, "read_committed")
            .create()
            .map_err(kafka(first))?;
        reader = Some(consumer);
        // No group id: a watermark client needs none, and without one librdkafka starts no
        // group machinery for it.
        let mut config = reader_config(base, "read_uncommitted");
        config.remove("group.id");
        let watermarks: BaseConsumer = config.create().map_err(kafka(first))?;
        // The topic's leaders known before the first query: a query that finds no leader is
        // retried after librdkafka's fixed 500 ms (seen as `watermarks_ms=507` in the debug
        // log of a restore).
        watermarks
            .fetch_metadata(Some(topic), timeout)
            .map_err(kafka(first))?;
        for &partition in partitions {
            let (start, end) = watermarks
                .fetch_watermarks(topic, partition, timeout)
                .map_err(kafka(partition))?;
            progress.push(Progress {
                partition,
                start,
                end,
                done: end <= start,
                latest: FastMap::default(),
            });
        }
    }
    let watermarked = started.elapsed();
    let mut records = 0;
    if let Some(reader) = reader.filter(|_| progress.iter().any(|p| !p.done)) {
        records = read(&reader, topic, &mut progress, started + timeout, timeout)?;
    }
    let read_at = started.elapsed();
    let restored = decode_all(progress, topic, codec, rt)?;
    tracing::debug!(
        topic,
        records,
        watermarks_ms = watermarked.as_millis() as u64,
        read_ms = (read_at - watermarked).as_millis() as u64,
        decode_ms = (started.elapsed() - read_at).as_millis() as u64,
        "changelog read"
    );
    Ok(Restored {
        partitions: restored,
        records,
        elapsed: started.elapsed(),
    })
}

/// Decodes the latest snapshot of every key into aggregates, the partitions shared out over
/// up to one thread per core (decoding is a fifth of a restore and the reader's core is the
/// only busy one by then); the result is in `progress`'s order.
fn decode_all(
    progress: Vec<Progress>,
    topic: &str,
    codec: &Codec,
    rt: &tokio::runtime::Handle,
) -> Result<Vec<PartitionState>, RestoreError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(progress.len())
        .max(1);
    let mut shares: Vec<Vec<(usize, Progress)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, p) in progress.into_iter().enumerate() {
        shares[i % threads].push((i, p));
    }
    let decode_share = |share: Vec<(usize, Progress)>| {
        share
            .into_iter()
            .map(|(i, p)| decode_partition(p, topic, codec, rt).map(|r| (i, r)))
            .collect::<Result<Vec<_>, RestoreError>>()
    };
    let mut shares = shares.into_iter();
    let own = shares.next().unwrap_or_default();
    let mut decoded = std::thread::scope(|scope| {
        let helpers: Vec<_> = shares
            .map(|share| scope.spawn(move || decode_share(share)))
            .collect();
        let mut decoded = decode_share(own)?;
        for helper in helpers {
            match helper.join() {
                Ok(share) => decoded.extend(share?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok::<_, RestoreError>(decoded)
    })?;
    decoded.sort_unstable_by_key(|(i, _)| *i);
    Ok(decoded.into_iter().map(|(_, r)| r).collect())
}

/// The aggregates of one partition from the latest snapshot of each of its keys.
fn decode_partition(
    p: Progress,
    topic: &str,
    codec: &Codec,
    rt: &tokio::runtime::Handle,
) -> Result<PartitionState, RestoreError> {
    let mut products = Vec::with_capacity(p.latest.len());
    for (offset, payload) in p.latest.into_values() {
        match complete(rt, codec.decode_snapshot(Some(&payload))) {
            Ok(Some(product)) => products.push(product),
            Ok(None) => {}
            Err(source) => {
                return Err(RestoreError::Decode {
                    topic: topic.to_owned(),
                    partition: p.partition,
                    offset,
                    source,
                })
            }
        }
    }
    Ok((p.partition, products))
}

/// Reads every partition of `progress` that is not done up to its end; returns the records read.
fn read(
    consumer: &BaseConsumer,
    topic: &str,
    progress: &mut [Progress],
    mut deadline: Instant,
    timeout: Duration,
) -> Result<u64, RestoreError> {
    let first = progress.first().map(|p| p.partition).unwrap_or(0);
    let kafka = |partition: i32| {
        move |source| RestoreError::Kafka {
            topic: topic.to_owned(),
            partition,
            source,
        }
    };
    consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(kafka(first))?;
    let mut assignment = TopicPartitionList::new();
    for p in progress.iter().filter(|p| !p.done) {
        assignment
            .add_partition_offset(topic, p.partition, Offset::Offset(p.start))
            .map_err(kafka(p.partition))?;
    }
    consumer.assign(&assignment).map_err(kafka(first))?;
    let index: FastMap<i32, usize> = progress
        .iter()
        .enumerate()
        .map(|(i, p)| (p.partition, i))
        .collect();
    let mut remaining = progress.iter().filter(|p| !p.done).count();
    let mut records = 0;
    while remaining > 0 {
        if Instant::now() >= deadline {
            let p = progress.iter().find(|p| !p.done).unwrap_or(&progress[0]);
            return Err(RestoreError::Timeout {
                topic: topic.to_owned(),
                partition: p.partition,
                end: p.end,
                timeout,
            });
        }
        let message = match consumer.poll(Duration::from_millis(20)) {
            Some(Ok(message)) => message,
            // Nothing yet, or only transaction markers left: a partition is done once the
            // reader's position has reached its end.
            None => {
                let positions = consumer.position().map_err(kafka(first))?;
                for p in progress.iter_mut().filter(|p| !p.done) {
                    let position = positions
                        .find_partition(topic, p.partition)
                        .and_then(|e| match e.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        })
                        .unwrap_or(0);
                    if position >= p.end {
                        p.done = true;
                        remaining -= 1;
                    }
                }
                continue;
            }
            // A broker going away (restart, leader move) surfaces here as an event; the reader
            // reconnects by itself, and the deadline bounds the wait (a fatal exit on it made
            // every replica restart on a broker restart: found by scripts/chaos).
            Some(Err(e)) if matches!(classify(&e), ErrorClass::Retriable) => {
                tracing::warn!(topic, error = %e, "transient error while restoring; retrying");
                continue;
            }
            Some(Err(e)) => return Err(kafka(first)(e)),
        };
        let Some(p) = index.get(&message.partition()).map(|&i| &mut progress[i]) else {
            continue;
        };
        let offset = message.offset();
        // A partition already read to its end: later records are not part of this restore.
        if p.done || offset >= p.end {
            continue;
        }
        records += 1;
        // `timeout` bounds a wait without progress (an open transaction holding the last
        // stable offset back), not the whole read: a long changelog takes as long as it takes
        // (a fixed bound made replicas crash-loop on a grown changelog: found by scripts/chaos).
        deadline = Instant::now() + timeout;
        match message.key().and_then(|k| std::str::from_utf8(k).ok()) {
            None => tracing::warn!(
                topic,
                partition = p.partition,
                offset,
                "changelog record without a UTF-8 key; skipped"
            ),
            Some(key) => match message.payload() {
                Some(payload) => match p.latest.get_mut(key) {
                    Some(slot) => {
                        slot.0 = offset;
                        slot.1.clear();
                        slot.1.extend_from_slice(payload);
                    }
                    None => {
                        p.latest.insert(key.to_owned(), (offset, payload.to_vec()));
                    }
                },
                None => {
                    p.latest.remove(key);
                }
            },
        }
        if offset + 1 >= p.end {
            p.done = true;
            remaining -= 1;
        }
    }
    Ok(records)
}

fn reader_config(base: &ClientConfig, isolation: &str) -> ClientConfig {
    let mut config = scoped(base.clone(), ClientKind::Consumer);
    // librdkafka's `assign` needs a group id even though the reader never joins the group.
    config
        .set("group.id", "allocation-worker-restore")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        // The fetch at the end of a partition (past the last transaction marker) does not
        // wait the default 500 ms.
        .set("fetch.wait.max.ms", "10")
        .set("isolation.level", isolation)
        // The reader starts at each partition's low watermark, fetched with the high one: an
        // explicit offset needs no offset look-up before the first fetch (`Offset::Beginning`
        // cost one, and librdkafka started fetching ≈ 500 ms after the assignment). Should
        // compaction or retention have moved the log start past it meanwhile, the fetch is out
        // of range and the reader resets to the earliest offset, which is the same place.
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760");
    config
}
