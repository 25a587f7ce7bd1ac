//! Error-injection tests of the transaction state machine on librdkafka's mock cluster.
//!
//! The mock cluster writes no transaction markers and stores no transactional offsets, so these
//! tests show only how failures are classified and handled — never exactly-once (that is shown
//! on the real broker by the integration tests).

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord};
use rdkafka::types::RDKafkaApiKey;
use rdkafka::types::RDKafkaRespErr as E;

use super::*;

const TOPIC: &str = "mock-topic";

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 5,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    }
}

fn setup() -> (
    MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    BaseProducer,
) {
    let mock = MockCluster::new(1).expect("mock cluster");
    mock.create_topic(TOPIC, 1, 1).expect("mock topic");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("transactional.id", "mock-txn")
        .set("transaction.timeout.ms", "10000")
        .set("message.timeout.ms", "5000")
        .create()
        .expect("producer");
    (mock, producer)
}

fn send(producer: &BaseProducer) {
    producer
        .send(BaseRecord::to(TOPIC).key("k").payload("v"))
        .map_err(|(e, _)| e)
        .expect("enqueue");
    producer.poll(Duration::from_millis(10));
}

#[test]
fn retriable_coordinator_errors_on_commit_are_retried_to_success() {
    let (mock, producer) = setup();
    let txn = Transactions::new(&producer, fast_policy());
    txn.init(Duration::from_secs(10)).expect("init");
    txn.begin().expect("begin");
    send(&producer);
    mock.request_errors(
        RDKafkaApiKey::EndTxn,
        &[
            E::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            E::RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            E::RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
        ],
    );
    txn.commit(&rdkafka::TopicPartitionList::new(), None)
        .expect("commit succeeds after retries");
}

#[test]
fn concurrent_transactions_on_add_partitions_is_retried() {
    let (mock, producer) = setup();
    let txn = Transactions::new(&producer, fast_policy());
    txn.init(Duration::from_secs(10)).expect("init");
    mock.request_errors(
        RDKafkaApiKey::AddPartitionsToTxn,
        &[E::RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS],
    );
    txn.begin().expect("begin");
    send(&producer);
    txn.commit(&rdkafka::TopicPartitionList::new(), None)
        .expect("commit");
}

#[test]
fn fenced_producer_is_fatal() {
    let (mock, producer) = setup();
    let txn = Transactions::new(&producer, fast_policy());
    txn.init(Duration::from_secs(10)).expect("init");
    txn.begin().expect("begin");
    send(&producer);
    mock.request_errors(
        RDKafkaApiKey::EndTxn,
        &[E::RD_KAFKA_RESP_ERR_PRODUCER_FENCED],
    );
    let err = txn
        .commit(&rdkafka::TopicPartitionList::new(), None)
        .expect_err("a fenced producer cannot commit");
    assert_eq!(err.class(), ErrorClass::Fatal, "{err}");
}

#[test]
fn invalid_epoch_on_produce_is_not_committed() {
    let (mock, producer) = setup();
    let txn = Transactions::new(&producer, fast_policy());
    txn.init(Duration::from_secs(10)).expect("init");
    txn.begin().expect("begin");
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[E::RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH],
    );
    send(&producer);
    let err = txn
        .commit(&rdkafka::TopicPartitionList::new(), None)
        .expect_err("a produce failure must not commit");
    // librdkafka treats an epoch error on produce as fatal (the producer was fenced) or, for
    // idempotence bookkeeping, as abortable; never as committed.
    assert!(
        matches!(err.class(), ErrorClass::Fatal | ErrorClass::Abortable),
        "{err}"
    );
    if err.class() == ErrorClass::Abortable {
        txn.abort(Duration::from_secs(10), || producer.poll(Duration::ZERO))
            .expect("abort after an abortable error");
    }
}

#[test]
fn backoff_grows_and_is_capped() {
    let p = RetryPolicy {
        attempts: 10,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    };
    assert_eq!(p.backoff(1), Duration::from_millis(10));
    assert_eq!(p.backoff(2), Duration::from_millis(20));
    assert_eq!(p.backoff(3), Duration::from_millis(40));
    assert_eq!(p.backoff(4), Duration::from_millis(50));
    assert_eq!(p.backoff(40), Duration::from_millis(50));
}

#[test]
fn retriable_errors_that_persist_become_aborts() {
    let mut calls = 0;
    let result: Result<(), TxnError> = with_retries("probe", &fast_policy(), || {
        calls += 1;
        Err(KafkaError::MessageProduction(
            rdkafka::error::RDKafkaErrorCode::CoordinatorNotAvailable,
        ))
    });
    assert_eq!(calls, 5);
    assert!(matches!(result, Err(TxnError::Abort { .. })));
}

#[test]
fn illegal_generation_on_offset_commit_aborts_the_batch() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};

    let (mock, producer) = setup();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("group.id", "mock-group")
        .create()
        .expect("consumer");
    let group = consumer.group_metadata().expect("group metadata");
    let txn = Transactions::new(&producer, fast_policy());
    txn.init(Duration::from_secs(10)).expect("init");
    txn.begin().expect("begin");
    send(&producer);
    mock.request_errors(
        RDKafkaApiKey::TxnOffsetCommit,
        &[E::RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION],
    );
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(TOPIC, 0, Offset::Offset(1))
        .expect("offset");
    let err = txn
        .commit(&offsets, Some(&group))
        .expect_err("a stale generation cannot commit offsets");
    assert_eq!(err.class(), ErrorClass::Abortable, "{err}");
    txn.abort(Duration::from_secs(10), || producer.poll(Duration::ZERO))
        .expect("abort after a stale generation");
    // The producer is still usable: the next transaction commits.
    txn.begin().expect("begin again");
    send(&producer);
    txn.commit(&rdkafka::TopicPartitionList::new(), None)
        .expect("commit after the abort");
}

#[test]
fn abort_returns_while_a_delivery_report_is_unserved() {
    // rust-rdkafka's abort_transaction does not serve delivery reports; a delivered message
    // whose report nobody polled used to block the abort forever (found by scripts/chaos).
    let (_mock, producer) = setup();
    let txn = Transactions::new(&producer, fast_policy());
    txn.init(Duration::from_secs(10)).expect("init");
    txn.begin().expect("begin");
    producer
        .send(BaseRecord::to(TOPIC).key("k").payload("v"))
        .map_err(|(e, _)| e)
        .expect("enqueue");
    std::thread::sleep(Duration::from_millis(500)); // delivered; nobody polls its report
    let (done, returned) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = Transactions::new(&producer, fast_policy())
            .abort(Duration::from_secs(10), || producer.poll(Duration::ZERO));
        let _ = done.send(result.map_err(|e| e.to_string()));
    });
    let result = returned
        .recv_timeout(Duration::from_secs(20))
        .expect("abort_transaction returned within 20 s");
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn an_abort_leaves_no_sequence_gap_for_the_next_transaction() {
    let (_mock, producer) = setup();
    let txn = Transactions::new(&producer, fast_policy());
    txn.init(Duration::from_secs(10)).expect("init");
    txn.begin().expect("begin");
    send(&producer);
    txn.commit_transaction().expect("a first transaction");
    txn.begin().expect("begin");
    for _ in 0..3 {
        // Enqueued, not yet sent: the abort finds them queued.
        producer
            .send(BaseRecord::to(TOPIC).key("k").payload("v"))
            .map_err(|(e, _)| e)
            .expect("enqueue");
    }
    txn.abort(Duration::from_secs(10), || producer.poll(Duration::ZERO))
        .expect("abort");
    // Purging those messages without moving the sequence base past them left a gap: the
    // broker (here the mock, which checks sequences) refused the next transaction's records
    // with OUT_OF_ORDER_SEQUENCE_NUMBER.
    txn.begin().expect("begin");
    send(&producer);
    txn.commit_transaction()
        .expect("the next transaction commits: no sequence gap");
}

#[test]
fn a_call_that_does_not_return_is_given_up() {
    let result = watched("stuck-call", Duration::from_millis(50), || {
        std::thread::sleep(Duration::from_secs(5));
        Ok(())
    });
    assert!(
        matches!(
            result,
            Err(TxnError::Stuck {
                step: "stuck-call",
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(result.unwrap_err().class(), ErrorClass::Fatal);
}

#[test]
fn a_watched_call_that_returns_gives_its_result() {
    let ok = watched("quick", Duration::from_secs(5), || Ok(7));
    assert_eq!(ok.ok(), Some(7));
    let failed: Result<(), TxnError> = watched("quick", Duration::from_secs(5), || {
        Err(TxnError::Abort {
            step: "quick",
            source: rdkafka::error::KafkaError::MessageProduction(
                rdkafka::types::RDKafkaErrorCode::MessageTimedOut,
            ),
        })
    });
    assert!(matches!(failed, Err(TxnError::Abort { .. })));
}
