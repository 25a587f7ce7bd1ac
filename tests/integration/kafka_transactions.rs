//! Proves the harness runs on a real broker with real transactions: a committed transaction is
//! visible to read_committed readers, an aborted one is not, and read_uncommitted sees both.
//! (librdkafka's mock cluster writes no transaction markers, so this test would fail on it.)

use rdkafka::producer::{BaseRecord, Producer};

use crate::harness::{self, create_topic, read_all, transactional_producer, unique, Isolation};

fn send(producer: &rdkafka::producer::BaseProducer, topic: &str, key: &str, value: &str) {
    producer
        .send(BaseRecord::to(topic).key(key).payload(value))
        .map_err(|(e, _)| e)
        .expect("enqueue record");
}

#[tokio::test]
async fn committed_is_visible_aborted_is_not() {
    let topic = unique("txn");
    create_topic(&topic, 2, &[]).await;
    let producer = transactional_producer(&unique("txn-id")).await;

    let t = topic.clone();
    tokio::task::spawn_blocking(move || {
        producer.begin_transaction().expect("begin");
        send(&producer, &t, "a", "committed-1");
        send(&producer, &t, "b", "committed-2");
        producer.commit_transaction(harness::WAIT).expect("commit");

        producer.begin_transaction().expect("begin");
        send(&producer, &t, "a", "aborted-1");
        send(&producer, &t, "b", "aborted-2");
        producer.flush(harness::WAIT).expect("flush before abort");
        producer.abort_transaction(harness::WAIT).expect("abort");

        producer.begin_transaction().expect("begin");
        send(&producer, &t, "c", "committed-3");
        producer.commit_transaction(harness::WAIT).expect("commit");
    })
    .await
    .expect("producer task");

    let values = |records: Vec<harness::Record>| -> Vec<String> {
        let mut v: Vec<String> = records
            .into_iter()
            .map(|r| String::from_utf8(r.payload.unwrap_or_default()).expect("utf-8"))
            .collect();
        v.sort();
        v
    };
    let committed = values(read_all(&topic, Isolation::ReadCommitted).await);
    assert_eq!(committed, ["committed-1", "committed-2", "committed-3"]);

    let uncommitted = values(read_all(&topic, Isolation::ReadUncommitted).await);
    assert_eq!(
        uncommitted,
        [
            "aborted-1",
            "aborted-2",
            "committed-1",
            "committed-2",
            "committed-3"
        ]
    );
}
