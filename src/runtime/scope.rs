//! Which kind of client a librdkafka property is for.
//!
//! Pass-through properties (`KAFKA_PROPERTIES`, `-X`, the config file's table) go to every
//! client a verb creates: consumers, producers and admin clients. librdkafka ignores a
//! property of the other kind, but it logs a `CONFWARN` at warning level for each one, on every
//! client, at every start: a `linger.ms` set for the producer made every consumer warn.
//! [`scoped`] (or [`ForClient::for_client`]) drops them where a client is created.
//!
//! Invariant: the lists are librdkafka's own (`CONFIGURATION.md` of the bundled 2.12, column
//! C/P), without the callback-only entries that cannot be set as strings; a property that is in
//! neither list (`*`: every client, or unknown) is always kept, so a refusal of a misspelt name
//! still comes from librdkafka.

use rdkafka::ClientConfig;

/// The kind of librdkafka handle a configuration creates. An admin client is a producer
/// handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Consumer,
    Producer,
}

const CONSUMER_ONLY: &[&str] = &[
    "auto.commit.enable",
    "auto.commit.interval.ms",
    "auto.offset.reset",
    "check.crcs",
    "consume.callback.max.messages",
    "coordinator.query.interval.ms",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "enable.partition.eof",
    "fetch.error.backoff.ms",
    "fetch.max.bytes",
    "fetch.message.max.bytes",
    "fetch.min.bytes",
    "fetch.queue.backoff.ms",
    "fetch.wait.max.ms",
    "group.id",
    "group.instance.id",
    "group.protocol",
    "group.protocol.type",
    "group.remote.assignor",
    "heartbeat.interval.ms",
    "isolation.level",
    "max.partition.fetch.bytes",
    "max.poll.interval.ms",
    "offset.store.method",
    "offset.store.path",
    "offset.store.sync.interval.ms",
    "partition.assignment.strategy",
    "queued.max.messages.kbytes",
    "queued.min.messages",
    "session.timeout.ms",
];

const PRODUCER_ONLY: &[&str] = &[
    "acks",
    "batch.num.messages",
    "batch.size",
    "compression.codec",
    "compression.level",
    "compression.type",
    "delivery.report.only.error",
    "delivery.timeout.ms",
    "enable.gapless.guarantee",
    "enable.idempotence",
    "linger.ms",
    "message.send.max.retries",
    "message.timeout.ms",
    "partitioner",
    "produce.offset.report",
    "queue.buffering.backpressure.threshold",
    "queue.buffering.max.kbytes",
    "queue.buffering.max.messages",
    "queue.buffering.max.ms",
    "queuing.strategy",
    "request.required.acks",
    "request.timeout.ms",
    "retries",
    "sticky.partitioning.linger.ms",
    "transaction.timeout.ms",
    "transactional.id",
];

/// Whether librdkafka applies `key` to a client of `kind`.
pub fn applies(key: &str, kind: ClientKind) -> bool {
    let other = match kind {
        ClientKind::Consumer => PRODUCER_ONLY,
        ClientKind::Producer => CONSUMER_ONLY,
    };
    !other.contains(&key)
}

/// [`scoped`] on a borrowed configuration, for the end of a builder chain:
/// `config.clone().set(…).for_client(ClientKind::Consumer).create()`.
pub trait ForClient {
    fn for_client(&self, kind: ClientKind) -> ClientConfig;
}

impl ForClient for ClientConfig {
    fn for_client(&self, kind: ClientKind) -> ClientConfig {
        scoped(self.clone(), kind)
    }
}

/// `config` without the properties of the other kind of client.
pub fn scoped(mut config: ClientConfig, kind: ClientKind) -> ClientConfig {
    let foreign: Vec<String> = config
        .config_map()
        .into_keys()
        .filter(|key| !applies(key, kind))
        .map(str::to_owned)
        .collect();
    for key in &foreign {
        config.remove(key);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_keeps_its_own_and_the_common_properties() {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", "k:9092")
            .set("security.protocol", "SSL")
            .set("linger.ms", "20")
            .set("fetch.wait.max.ms", "5")
            .set("no.such.property", "1");
        let consumer = scoped(config.clone(), ClientKind::Consumer);
        assert_eq!(consumer.get("fetch.wait.max.ms"), Some("5"));
        assert_eq!(consumer.get("linger.ms"), None);
        let producer = scoped(config, ClientKind::Producer);
        assert_eq!(producer.get("linger.ms"), Some("20"));
        assert_eq!(producer.get("fetch.wait.max.ms"), None);
        for c in [&consumer, &producer] {
            assert_eq!(c.get("security.protocol"), Some("SSL"));
            // Unknown names stay, for librdkafka to refuse.
            assert_eq!(c.get("no.such.property"), Some("1"));
        }
    }

    #[test]
    fn the_lists_do_not_overlap() {
        assert!(CONSUMER_ONLY.iter().all(|k| !PRODUCER_ONLY.contains(k)));
    }
}
