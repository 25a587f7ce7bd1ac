//! Kafka helpers for tests: unique names, topic creation through the admin client, producers,
//! and reading a whole topic up to its end at a chosen isolation level.
//!
//! "The end" is the high watermark fetched by a read_uncommitted client; a read_committed
//! reader has caught up when its position reaches it (aborted records and transaction markers
//! are skipped over, never returned).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use allocation_worker::runtime::errors::{classify, ErrorClass};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::{infra, WAIT};

/// A name no other test (or earlier run) uses: `prefix-<uuid>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Base client configuration pointing at the test broker.
pub async fn client_config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &infra().await.bootstrap);
    config
}

/// Creates a topic (replication factor 1) and waits until its metadata is visible.
pub async fn create_topic(name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> =
        client_config().await.create().expect("admin client");
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin
        .create_topics([&topic], &AdminOptions::new().operation_timeout(Some(WAIT)))
        .await
        .expect("create_topics request");
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => panic!("creating topic {topic} failed: {code}"),
        }
    }
}

/// Sets the topic-level configuration of `topic` to exactly `configs` (AlterConfigs replaces
/// the whole set: pass every config the topic needs).
pub async fn set_topic_configs(topic: &str, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> =
        client_config().await.create().expect("admin client");
    let mut change = AlterConfig::new(ResourceSpecifier::Topic(topic));
    for (k, v) in configs {
        change = change.set(k, v);
    }
    let results = admin
        .alter_configs(
            [&change],
            &AdminOptions::new().operation_timeout(Some(WAIT)),
        )
        .await
        .expect("alter_configs request");
    for result in results {
        if let Err((resource, code)) = result {
            panic!("altering {resource:?} failed: {code}");
        }
    }
}

/// Deletes the records of `topic`'s `partition` before `before` (DeleteRecords; `Offset::End`
/// deletes them all): the partition's low watermark moves there.
pub async fn delete_records(topic: &str, partition: i32, before: Offset) {
    let admin: AdminClient<DefaultClientContext> =
        client_config().await.create().expect("admin client");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, before)
        .expect("offset");
    let result = admin
        .delete_records(&list, &AdminOptions::new().operation_timeout(Some(WAIT)))
        .await
        .expect("delete_records request");
    for e in result.elements() {
        if let Err(code) = e.error() {
            panic!("deleting records of {topic}[{partition}] failed: {code}");
        }
    }
}

/// A transactional producer with `init_transactions` done.
pub async fn transactional_producer(transactional_id: &str) -> BaseProducer {
    let producer: BaseProducer = client_config()
        .await
        .set("transactional.id", transactional_id)
        .set("enable.idempotence", "true")
        .create()
        .expect("transactional producer");
    let producer = tokio::task::spawn_blocking(move || {
        producer.init_transactions(WAIT).expect("init_transactions");
        producer
    })
    .await
    .expect("init_transactions task");
    producer
}

/// Isolation level of a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadCommitted,
    ReadUncommitted,
}

impl Isolation {
    fn as_config(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read_committed",
            Isolation::ReadUncommitted => "read_uncommitted",
        }
    }
}

/// One consumed record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: HashMap<String, Vec<u8>>,
}

/// Reads every record of `topic` from the beginning up to the high watermark of each partition.
pub async fn read_all(topic: &str, isolation: Isolation) -> Vec<Record> {
    let config = client_config().await;
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || read_all_blocking(config, &topic, isolation))
        .await
        .expect("reader task")
}

/// The high watermark of `topic`[`partition`], retried while the broker answers with a
/// transient error (`NotLeaderForPartition` right after a topic was created or a leader moved,
/// seen in CI) for at most [`WAIT`].
pub(crate) fn high_watermark(client: &BaseConsumer, topic: &str, partition: i32) -> i64 {
    let deadline = Instant::now() + WAIT;
    loop {
        match client.fetch_watermarks(topic, partition, WAIT) {
            Ok((_, high)) => return high,
            Err(e) if classify(&e) == ErrorClass::Retriable && Instant::now() < deadline => {
                eprintln!("harness: watermarks of {topic}[{partition}]: {e} (transient; retrying)");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("watermarks of {topic}[{partition}]: {e}"),
        }
    }
}

fn read_all_blocking(mut config: ClientConfig, topic: &str, isolation: Isolation) -> Vec<Record> {
    let consumer: BaseConsumer = config
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation.as_config())
        .create()
        .expect("reader consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), WAIT)
        .expect("topic metadata");
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    assert!(!partitions.is_empty(), "topic {topic} has no partitions");

    // High watermarks as a read_uncommitted client sees them: librdkafka's ListOffsets uses
    // the client's isolation level, so a read_committed client would get the last stable
    // offset, which lags behind a just-committed transaction until its markers are written.
    let watermarks: BaseConsumer = config
        .clone()
        .set("isolation.level", Isolation::ReadUncommitted.as_config())
        .create()
        .expect("watermark client");
    let mut end = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for &p in &partitions {
        let high = high_watermark(&watermarks, topic, p);
        end.insert(p, high);
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");

    let deadline = Instant::now() + WAIT;
    let mut records = Vec::new();
    loop {
        if caught_up(&consumer, topic, &end) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reading {topic} ({isolation:?}) did not reach the end {end:?} within {WAIT:?}"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => records.push(Record {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                payload: m.payload().map(<[u8]>::to_vec),
                headers: m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            // A broker restarted just before (a chaos fault): the client reconnects.
            Some(Err(e)) if classify(&e) == ErrorClass::Retriable => {
                eprintln!("harness: reading {topic}: {e} (transient; reading on)");
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    records
}

fn caught_up(consumer: &BaseConsumer, topic: &str, end: &HashMap<i32, i64>) -> bool {
    let Ok(position) = consumer.position() else {
        return false;
    };
    end.iter().all(|(&p, &high)| {
        high == 0
            || matches!(
                position.find_partition(topic, p).map(|e| e.offset()),
                Some(Offset::Offset(o)) if o >= high
            )
    })
}
