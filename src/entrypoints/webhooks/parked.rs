//! Parked subscribers, kept durably in Kafka: the compacted topic
//! `<prefix>allocation.webhooks.parked` (one partition), keyed by subscriber name. A record is
//! "parked, here is where and why"; a tombstone is "not parked" (written by `webhooks replay`).
//!
//! The delivery position itself is the subscriber's consumer group's committed offsets: a
//! parked subscriber's group stays at the failing event (its offset is never committed), so
//! resuming from the group's offsets resumes from the parked position. The record repeats the
//! positions for operators and for `replay`'s output.
//!
//! Invariants: the topic is created (compacted) when missing; reading it is read_committed,
//! from the beginning, without a consumer group; a record that is not this JSON is ignored.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::runtime::scope::{ClientKind, ForClient};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Default name of the parked topic (before the prefix).
pub const PARKED_TOPIC: &str = "allocation.webhooks.parked";

/// Why and where a subscriber was parked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParkedRecord {
    pub subscriber: String,
    pub parked_at: String,
    /// The event that could not be delivered.
    pub webhook_id: String,
    pub partition: i32,
    pub offset: i64,
    pub attempts: u32,
    pub last_error: String,
    /// The next offset to deliver, per partition of the event topic (the group's offsets).
    pub positions: BTreeMap<i32, i64>,
}

/// The parked subscribers as far as the topic was read.
#[derive(Debug, Default)]
pub struct ParkedState {
    pub parked: HashMap<String, ParkedRecord>,
    /// True once the topic was read up to its end once.
    pub caught_up: bool,
}

pub type SharedParked = Arc<Mutex<ParkedState>>;

/// Creates the compacted parked topic when it does not exist.
pub async fn ensure_topic(config: &ClientConfig, topic: &str) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = config
        .for_client(ClientKind::Producer)
        .create()
        .map_err(|e| e.to_string())?;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
    let results = admin
        .create_topics([&new], &AdminOptions::new())
        .await
        .map_err(|e| e.to_string())?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("creating {name}: {code}")),
        }
    }
    Ok(())
}

/// Writes (or, with `None`, clears) the parked record of `subscriber`; waits for the ack.
pub async fn publish(
    producer: &FutureProducer,
    topic: &str,
    subscriber: &str,
    record: Option<&ParkedRecord>,
) -> Result<(), KafkaError> {
    let payload = record.map(|r| serde_json::to_vec(r).unwrap_or_default());
    let mut out = FutureRecord::<str, Vec<u8>>::to(topic).key(subscriber);
    if let Some(p) = &payload {
        out = out.payload(p);
    }
    producer
        .send(out, Duration::from_secs(10))
        .await
        .map(|_| ())
        .map_err(|(e, _)| e)
}

/// A consumer of the parked topic, assigned from the beginning (no group offsets are used).
pub fn consumer(config: &ClientConfig, topic: &str) -> Result<BaseConsumer, KafkaError> {
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", "allocation-worker-webhooks-parked-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .for_client(ClientKind::Consumer)
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    Ok(consumer)
}

/// Polls once and folds what arrived into `state`; marks it caught up at the end of the topic.
pub fn poll_into(consumer: &BaseConsumer, topic: &str, state: &SharedParked, wait: Duration) {
    if let Some(Ok(m)) = consumer.poll(wait) {
        let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned());
        if let (Some(key), Ok(mut s)) = (key, state.lock()) {
            match m.payload().map(serde_json::from_slice::<ParkedRecord>) {
                None => {
                    s.parked.remove(&key);
                }
                Some(Ok(record)) => {
                    s.parked.insert(key, record);
                }
                Some(Err(_)) => {
                    tracing::warn!(subscriber = %key, "unreadable parked record ignored")
                }
            }
        }
    }
    let caught_up = state.lock().map(|s| s.caught_up).unwrap_or(true);
    if !caught_up {
        let high = consumer
            .fetch_watermarks(topic, 0, Duration::from_secs(5))
            .map(|(_, h)| h);
        let position = consumer.position().ok().and_then(|p| {
            match p.find_partition(topic, 0).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            }
        });
        let at_end = match (high, position) {
            (Ok(0), _) => true,
            (Ok(h), Some(p)) => p >= h,
            _ => false,
        };
        if at_end {
            if let Ok(mut s) = state.lock() {
                s.caught_up = true;
            }
        }
    }
}

/// Reads the topic to its end (for `replay`).
pub fn read_all(config: &ClientConfig, topic: &str) -> Result<ParkedState, KafkaError> {
    let consumer = consumer(config, topic)?;
    let state: SharedParked = Arc::default();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !state.lock().map(|s| s.caught_up).unwrap_or(true) {
        if std::time::Instant::now() > deadline {
            return Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::OperationTimedOut,
            ));
        }
        poll_into(&consumer, topic, &state, Duration::from_millis(200));
    }
    let parked = state.lock().map(|s| s.parked.clone()).unwrap_or_default();
    Ok(ParkedState {
        parked,
        caught_up: true,
    })
}
