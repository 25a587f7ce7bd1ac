//! The outbox against librdkafka's mock cluster: order, failures, discards.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::BaseProducer;
use rdkafka::{Offset, TopicPartitionList};

use super::*;
use crate::adapters::envelope::HeaderList;
use crate::runtime::transaction::flush_promptly;

const TOPIC: &str = "out";

fn record(key: usize, payload_len: usize) -> OutboundRecord {
    let mut headers = HeaderList::new();
    headers.push("message-id", key.to_string());
    OutboundRecord {
        topic: TOPIC.into(),
        key: key.to_string().into_bytes(),
        payload: Some(vec![b'v'; payload_len]),
        headers,
        partition: Some(0),
    }
}

fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> Arc<BaseProducer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "30000")
        .set("message.max.bytes", "10000");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    Arc::new(config.create().expect("producer"))
}

/// A producer as `producer` makes, and an outbox started on it.
fn started(bootstrap: &str, extra: &[(&str, &str)]) -> (Arc<BaseProducer>, Outbox) {
    let producer = producer(bootstrap, extra);
    let outbox = Outbox::start(Arc::clone(&producer)).expect("outbox");
    (producer, outbox)
}

/// The keys of partition 0 of `TOPIC`, in log order.
fn written_keys(mock: &MockCluster<'_, rdkafka::producer::DefaultProducerContext>) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("group.id", "outbox-test")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)
        .expect("offset");
    consumer.assign(&tpl).expect("assign");
    let (_, end) = consumer
        .fetch_watermarks(TOPIC, 0, Duration::from_secs(10))
        .expect("watermarks");
    let mut keys = Vec::new();
    while (keys.len() as i64) < end {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => keys.push(String::from_utf8_lossy(m.key().unwrap_or_default()).into()),
            other => panic!("reading back: {other:?}"),
        }
    }
    keys
}

fn mock() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let mock = MockCluster::new(1).expect("mock cluster");
    mock.create_topic(TOPIC, 1, 1).expect("mock topic");
    mock
}

#[test]
fn records_are_written_in_push_order_across_runs() {
    let mock = mock();
    let (producer, mut outbox) = started(&mock.bootstrap_servers(), &[]);
    let count = DISPATCH_RUN * 3 + 5;
    for key in 0..count {
        outbox.push(record(key, 10)).expect("push");
    }
    outbox.settle().expect("settled");
    flush_promptly(&producer, Duration::from_secs(10)).expect("flush");
    let expected: Vec<String> = (0..count).map(|k| k.to_string()).collect();
    assert_eq!(written_keys(&mock), expected);
}

#[test]
fn a_refused_record_is_reported_once_and_the_records_after_it_are_not_written() {
    let mock = mock();
    let (producer, mut outbox) = started(&mock.bootstrap_servers(), &[]);
    outbox.push(record(0, 10)).expect("push");
    // Larger than message.max.bytes: librdkafka refuses it when it is enqueued.
    outbox.push(record(1, 20_000)).expect("push");
    outbox.push(record(2, 10)).expect("push");
    match outbox.settle() {
        Err(OutboxError::Produce(e)) => assert!(e.to_string().contains("too large"), "{e}"),
        other => panic!("expected the refusal, got {other:?}"),
    }
    outbox.settle().expect("reported once");
    outbox.push(record(3, 10)).expect("push");
    outbox.settle().expect("settled");
    flush_promptly(&producer, Duration::from_secs(10)).expect("flush");
    assert_eq!(written_keys(&mock), ["0", "3"]);
}

#[test]
fn a_push_after_a_refusal_reports_it() {
    let mock = mock();
    let (_producer, mut outbox) = started(&mock.bootstrap_servers(), &[]);
    outbox.push(record(1, 20_000)).expect("push");
    outbox.dispatch().expect("dispatch");
    // The thread sees the refusal shortly; a push then reports it.
    let reported = (0..1000).find_map(|key| match outbox.push(record(key, 10)) {
        Ok(()) => {
            std::thread::sleep(Duration::from_millis(5));
            None
        }
        Err(e) => Some(e),
    });
    assert!(
        matches!(reported, Some(OutboxError::Produce(_))),
        "{reported:?}"
    );
}

#[test]
fn a_discard_drops_pending_records_and_ends_a_wait_for_room() {
    // No broker: the first record stays queued, and the queue holds one.
    let (_producer, mut outbox) = started("127.0.0.1:1", &[("queue.buffering.max.messages", "1")]);
    outbox.push(record(0, 10)).expect("push");
    outbox.push(record(1, 10)).expect("push");
    outbox.dispatch().expect("dispatch");
    outbox.push(record(2, 10)).expect("push");
    let (done, wait) = mpsc::channel();
    let discarding = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let result = outbox.discard();
        let _ = done.send(result.is_ok());
        outbox
    });
    assert_eq!(
        wait.recv_timeout(Duration::from_secs(10)),
        Ok(true),
        "the discard returned"
    );
    // (The producer's queue length is not checked: with no broker it also counts the
    // connection errors waiting to be served.)
    drop(discarding.join().expect("thread"));
}

#[test]
fn an_abandoned_outbox_enqueues_nothing_more() {
    let mock = mock();
    let (producer, mut outbox) = started(&mock.bootstrap_servers(), &[]);
    outbox.push(record(0, 10)).expect("push");
    outbox.abandon();
    outbox.push(record(1, 10)).expect("push");
    let _ = outbox.settle();
    flush_promptly(&producer, Duration::from_secs(10)).expect("flush");
    assert!(written_keys(&mock).is_empty(), "nothing was written");
}
