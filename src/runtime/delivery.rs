//! Delivery reports of the worker's producer: the records the brokers refused for good.
//!
//! librdkafka reports the fate of every produced record when the producer is polled. In a
//! transaction a refused record makes the commit fail by itself. At-least-once nothing else
//! would notice it: a flush returns once nothing is in flight, delivered or not, and the
//! batch's offsets would be committed over an output that was never written — a loss. So the
//! worker counts the refusals here, batch by batch, and a batch that has any is aborted and
//! processed again (a duplicate, which at-least-once allows, instead of a loss).
//!
//! Invariant: [`DeliveryWatch::take`] returns each refusal reported since the previous `take`
//! exactly once (counted, with the first one described).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::ProducerContext;
use rdkafka::ClientContext;

/// The producer context of the worker: counts refused deliveries.
#[derive(Debug, Default)]
pub struct DeliveryWatch {
    refused: AtomicU64,
    first: Mutex<Option<String>>,
}

/// Deliveries refused since the previous [`DeliveryWatch::take`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub count: u64,
    /// `topic[partition]: error` of the first one.
    pub first: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} output(s) refused by the brokers, first {}",
            self.count, self.first
        )
    }
}

impl DeliveryWatch {
    /// The refusals reported since the last call, if any; starts counting afresh.
    pub fn take(&self) -> Option<Refused> {
        let count = self.refused.swap(0, Ordering::AcqRel);
        let first = self
            .first
            .lock()
            .map(|mut first| first.take())
            .unwrap_or_default();
        (count > 0).then(|| Refused {
            count,
            first: first.unwrap_or_default(),
        })
    }
}

impl ClientContext for DeliveryWatch {}

impl ProducerContext for DeliveryWatch {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if let Err((error, message)) = result {
            if let Ok(mut first) = self.first.lock() {
                first.get_or_insert_with(|| {
                    format!("{}[{}]: {error}", message.topic(), message.partition())
                });
            }
            self.refused.fetch_add(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rdkafka::config::ClientConfig;
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

    use super::*;
    use crate::runtime::transaction::flush_promptly;

    #[test]
    fn a_refused_record_is_reported_once_and_a_delivered_one_never() {
        let mock = MockCluster::new(1).expect("mock cluster");
        mock.create_topic("t", 1, 1).expect("mock topic");
        let producer: BaseProducer<DeliveryWatch> = ClientConfig::new()
            .set("bootstrap.servers", mock.bootstrap_servers())
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "5000")
            // As the worker's producer: only refusals are reported.
            .set("delivery.report.only.error", "true")
            .create_with_context(DeliveryWatch::default())
            .expect("producer");
        let send = || {
            producer
                .send(BaseRecord::to("t").key("k").payload("v"))
                .map_err(|(e, _)| e)
                .expect("enqueue");
            flush_promptly(&producer, Duration::from_secs(10)).expect("flush");
        };
        send();
        assert_eq!(producer.context().take(), None, "delivered");
        mock.request_errors(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
        );
        send();
        let refused = producer.context().take().expect("the refusal is reported");
        assert_eq!(refused.count, 1);
        assert!(refused.first.starts_with("t[0]: "), "{refused}");
        assert_eq!(producer.context().take(), None, "reported once");
    }
}
