//! Two readers besides the checker's final read, both `read_committed`:
//!
//! - [`Throughout`]: a consumer that reads the event and DLQ topics for the whole run, while
//!   faults happen, as a downstream service would. It must see every message id exactly once
//!   and exactly the ids of the final read. Should its thread die, the run reports the panic
//!   as a problem instead of comparing what it had read.
//! - [`hanging_transactions`]: after the run, one marker record is written in a fresh
//!   transaction to every partition of every output topic; a partition whose marker does not
//!   become visible to a read_committed reader has a transaction that never ended (its last
//!   stable offset is stuck).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use allocation_worker::adapters::envelope::names;

use crate::harness::kafka::client_config;
use crate::harness::unique;
use crate::panics;

const WAIT: Duration = Duration::from_secs(60);

/// Message ids per topic: how often each was read.
pub type Seen = BTreeMap<String, HashMap<String, usize>>;

fn partitions(consumer: &BaseConsumer, topic: &str) -> Vec<i32> {
    consumer
        .fetch_metadata(Some(topic), WAIT)
        .map(|m| {
            m.topics()
                .iter()
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect()
        })
        .unwrap_or_default()
}

fn reader(mut config: ClientConfig) -> BaseConsumer {
    config
        .set("group.id", unique("chaos-reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("read_committed consumer")
}

/// Where the read-throughout consumer must stop: set once the run is over.
type Ends = Arc<Mutex<Option<HashMap<(String, i32), i64>>>>;

/// The read-throughout consumer (see the module docs).
pub struct Throughout {
    ends: Ends,
    handle: JoinHandle<(Seen, Vec<String>)>,
}

impl Throughout {
    /// Starts reading `topics` from the beginning.
    pub async fn start(topics: Vec<String>) -> Self {
        let config = client_config().await;
        let ends: Ends = Arc::default();
        let ends2 = Arc::clone(&ends);
        let handle = std::thread::spawn(move || {
            let consumer = reader(config);
            let mut tpl = TopicPartitionList::new();
            for t in &topics {
                for p in partitions(&consumer, t) {
                    tpl.add_partition_offset(t, p, Offset::Beginning)
                        .expect("assignment");
                }
            }
            consumer.assign(&tpl).expect("assign");
            let mut seen = Seen::new();
            let mut errors = Vec::new();
            let mut deadline = None;
            loop {
                if let Some(ends) = ends2.lock().expect("ends").as_ref() {
                    let deadline = *deadline.get_or_insert_with(|| Instant::now() + WAIT);
                    let position = consumer.position().ok();
                    let done = ends.iter().all(|((t, p), &end)| {
                        end == 0
                            || matches!(
                                position.as_ref().and_then(|x| x.find_partition(t, *p)).map(|e| e.offset()),
                                Some(Offset::Offset(o)) if o >= end
                            )
                    });
                    if done {
                        break;
                    }
                    if Instant::now() > deadline {
                        errors.push(format!(
                            "the read-throughout consumer did not reach the end {ends:?} within {WAIT:?}"
                        ));
                        break;
                    }
                }
                // Broker restarts surface as transient errors: the consumer carries on.
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    let id = m
                        .headers()
                        .and_then(|hs| hs.iter().find(|h| h.key == names::MESSAGE_ID))
                        .and_then(|h| h.value)
                        .map(|v| {
                            // Normalised like `MessageId`'s display (hyphenated UUID).
                            let raw = String::from_utf8_lossy(v).into_owned();
                            uuid::Uuid::parse_str(&raw).map_or(raw, |u| u.to_string())
                        })
                        .unwrap_or_else(|| format!("no-id@{}:{}", m.partition(), m.offset()));
                    *seen
                        .entry(m.topic().to_owned())
                        .or_default()
                        .entry(id)
                        .or_default() += 1;
                }
            }
            (seen, errors)
        });
        Throughout { ends, handle }
    }

    /// Reads up to the current end of every partition, then returns what it saw (and the
    /// problems it had). `Err` naming the panic when the reader thread died: what it read is
    /// then incomplete and must not be compared.
    pub async fn finish(self, topics: &[String]) -> Result<(Seen, Vec<String>), String> {
        let mut ends = HashMap::new();
        for t in topics {
            for (p, end) in crate::harness::worker::end_offsets(t).await {
                ends.insert((t.clone(), p), end);
            }
        }
        *self.ends.lock().expect("ends") = Some(ends);
        let handle = self.handle;
        match tokio::task::spawn_blocking(move || handle.join()).await {
            Ok(Ok(read)) => Ok(read),
            Ok(Err(panic)) => Err(format!(
                "the read-throughout consumer thread panicked: {}",
                panics::message(panic)
            )),
            Err(e) => Err(format!("joining the read-throughout consumer thread: {e}")),
        }
    }
}

/// Compares what the read-throughout consumer saw with the final read (`final_ids`, message
/// ids per topic): every id exactly once, the same ids. Problems as sentences.
pub fn compare(seen: &Seen, final_ids: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (topic, ids) in final_ids {
        let empty = HashMap::new();
        let got = seen.get(topic).unwrap_or(&empty);
        for (id, n) in got.iter().filter(|(_, n)| **n > 1) {
            problems.push(format!(
                "duplicated: the read-throughout consumer saw {id} {n} times on {topic}"
            ));
        }
        let want: HashSet<&String> = ids.iter().collect();
        let missing = want.iter().filter(|id| !got.contains_key(**id)).count();
        if missing > 0 {
            problems.push(format!(
                "lost: {missing} record(s) of the final read of {topic} were never seen by the read-throughout consumer"
            ));
        }
        let extra = got.keys().filter(|id| !want.contains(id)).count();
        if extra > 0 {
            problems.push(format!(
                "the read-throughout consumer saw {extra} record(s) on {topic} that the final read does not have"
            ));
        }
    }
    problems
}

/// Writes a marker to every partition of `topics` in one transaction and waits for each to
/// become visible read_committed; returns the partitions where it did not.
pub async fn hanging_transactions(topics: &[String]) -> Vec<String> {
    let config = client_config().await;
    let topics = topics.to_vec();
    let producer: FutureProducer = config
        .clone()
        .set("transactional.id", unique("chaos-marker"))
        .create()
        .expect("marker producer");
    let p2 = producer.clone();
    tokio::task::spawn_blocking(move || {
        p2.init_transactions(WAIT).expect("init_transactions");
        p2.begin_transaction().expect("begin");
    })
    .await
    .expect("init task");
    let probe = reader(config.clone());
    let mut deliveries = Vec::new();
    for t in &topics {
        for p in partitions(&probe, t) {
            let record = FutureRecord::to(t)
                .key("chaos-marker")
                .payload("end of the chaos run")
                .partition(p);
            deliveries.push(producer.send_result(record).expect("marker enqueued"));
        }
    }
    let mut at = Vec::new();
    for d in deliveries {
        let delivered = d.await.expect("delivery").expect("marker delivered");
        at.push((delivered.partition, delivered.offset));
    }
    let p2 = producer.clone();
    tokio::task::spawn_blocking(move || p2.commit_transaction(WAIT).expect("commit markers"))
        .await
        .expect("commit task");
    drop(producer);
    // Deliveries come back in order per topic: pair them with their topics again.
    let mut markers = Vec::new();
    let mut i = 0;
    for t in &topics {
        for _ in partitions(&probe, t) {
            markers.push((t.clone(), at[i].0, at[i].1));
            i += 1;
        }
    }
    tokio::task::spawn_blocking(move || {
        let consumer = reader(config);
        let mut tpl = TopicPartitionList::new();
        for (t, p, o) in &markers {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o))
                .expect("assignment");
        }
        consumer.assign(&tpl).expect("assign");
        let mut waiting: HashSet<(String, i32)> =
            markers.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
        let deadline = Instant::now() + WAIT;
        while !waiting.is_empty() && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                if m.key() == Some(b"chaos-marker".as_slice()) {
                    waiting.remove(&(m.topic().to_owned(), m.partition()));
                }
            }
        }
        let mut stuck: Vec<String> = waiting
            .into_iter()
            .map(|(t, p)| format!("{t}[{p}]"))
            .collect();
        stuck.sort();
        stuck
    })
    .await
    .expect("marker reader task")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throughout_comparison_finds_duplicates_losses_and_extras() {
        let final_ids = BTreeMap::from([("ev".to_owned(), vec!["a".to_owned(), "b".to_owned()])]);
        let seen = |pairs: &[(&str, usize)]| -> Seen {
            BTreeMap::from([(
                "ev".to_owned(),
                pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect(),
            )])
        };
        assert!(compare(&seen(&[("a", 1), ("b", 1)]), &final_ids).is_empty());
        assert!(compare(&seen(&[("a", 2), ("b", 1)]), &final_ids)[0].starts_with("duplicated"));
        assert!(compare(&seen(&[("a", 1)]), &final_ids)[0].starts_with("lost"));
        assert_eq!(
            compare(&seen(&[("a", 1), ("b", 1), ("c", 1)]), &final_ids).len(),
            1
        );
    }
}
