//! Offsets of the test topics and of a worker group: the end of every partition, the group's
//! committed offsets, and waiting until the group has committed up to given ends (failing
//! fast, with the workers' log tails, when a worker exits meanwhile).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::kafka::{client_config, high_watermark};
use super::worker::Worker;
use super::WAIT;

/// The end of every partition of `topic` (high watermarks as a read_uncommitted client sees
/// them: librdkafka's ListOffsets uses the client's isolation level).
pub async fn end_offsets(topic: &str) -> HashMap<i32, i64> {
    let mut config = client_config().await;
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let client: BaseConsumer = config
            .set("isolation.level", "read_uncommitted")
            .create()
            .expect("watermark client");
        let metadata = client
            .fetch_metadata(Some(&topic), WAIT)
            .expect("topic metadata");
        metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions())
            .map(|p| (p.id(), high_watermark(&client, &topic, p.id())))
            .collect()
    })
    .await
    .expect("watermarks task")
}

/// The offsets `group` committed on the partitions of `topic` (0 where none). `Err` when they
/// cannot be fetched right now (e.g. a transactional offset commit is still pending).
pub async fn committed_offsets(
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Result<HashMap<i32, i64>, String> {
    let mut config = client_config().await;
    let group = group.to_owned();
    let topic = topic.to_owned();
    let partitions = partitions.to_vec();
    tokio::task::spawn_blocking(move || {
        // Offset fetches only: this client never subscribes, so it never joins `group`.
        // read_committed makes librdkafka ask for stable offsets (KIP-447): a pending
        // transactional commit is waited for, not reported.
        let consumer: BaseConsumer = config
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()
            .expect("offsets client");
        let mut tpl = TopicPartitionList::new();
        for &p in &partitions {
            tpl.add_partition(&topic, p);
        }
        let committed = consumer
            .committed_offsets(tpl, Duration::from_secs(5))
            .map_err(|e| format!("fetching the committed offsets: {e}"))?;
        Ok(partitions
            .iter()
            .map(|&p| {
                let at = match committed.find_partition(&topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => 0,
                };
                (p, at)
            })
            .collect())
    })
    .await
    .expect("offsets task")
}

/// Polls until `group` has committed, on every partition of `topic`, at least the offsets
/// `targets`; `Err` with `partition → (committed, wanted)` of what is still missing (or why the
/// offsets could not be read) when `timeout` passes first. `workers` are checked to be alive
/// on every round (a crashed worker fails fast with its log).
///
/// Note: committed offsets are "last processed + 1"; on a topic that also receives
/// transactional writes the last record may be a transaction marker, which no consumer ever
/// commits past. The tests' command topics receive none.
pub async fn poll_committed(
    group: &str,
    topic: &str,
    targets: &HashMap<i32, i64>,
    workers: &mut [&mut Worker],
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let partitions: Vec<i32> = targets.keys().copied().collect();
    loop {
        let behind = committed_offsets(group, topic, &partitions)
            .await
            .map(|committed| {
                targets
                    .iter()
                    .filter(|(p, &want)| committed[p] < want)
                    .map(|(&p, &want)| (p, (committed[&p], want)))
                    .collect::<HashMap<i32, (i64, i64)>>()
            });
        if behind.as_ref().is_ok_and(HashMap::is_empty) {
            return Ok(());
        }
        for w in workers.iter_mut() {
            w.assert_running();
        }
        if Instant::now() >= deadline {
            return Err(format!("{behind:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `group` has committed at least `targets` on `topic` (see [`poll_committed`]);
/// panics with what is missing after `timeout`.
pub async fn wait_committed(
    group: &str,
    topic: &str,
    targets: &HashMap<i32, i64>,
    workers: &mut [&mut Worker],
    timeout: Duration,
) {
    if let Err(behind) = poll_committed(group, topic, targets, workers, timeout).await {
        panic!(
            "group {group} did not commit {topic} up to {targets:?} within {timeout:?}; \
             partition → (committed, wanted): {behind}"
        );
    }
}

/// Waits until `group` has committed every record of `topic` (up to its end as it is now);
/// see [`wait_committed`].
pub async fn wait_caught_up(
    group: &str,
    topic: &str,
    workers: &mut [&mut Worker],
    timeout: Duration,
) {
    let end = end_offsets(topic).await;
    wait_committed(group, topic, &end, workers, timeout).await;
}
