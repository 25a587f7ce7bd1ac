//! Typed settings of the Kafka runtime and the librdkafka client configurations built from them.
//!
//! Invariants: every librdkafka property the user passes through reaches every client unless
//! the runtime owns it (the properties that carry the exactly-once guarantee are set here and
//! cannot be overridden); secret-bearing properties never appear in `Debug` output or logs.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::runtime::scope::{scoped, ClientKind};
use rdkafka::config::ClientConfig;

pub use crate::adapters::topics::Topics;

/// Which delivery guarantee the worker gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Guarantee {
    /// One Kafka transaction per batch: outputs and consumed offsets commit together.
    #[default]
    ExactlyOnce,
    /// No transactions: outputs are acknowledged, then offsets committed. Duplicates possible
    /// after a crash; nothing is lost.
    AtLeastOnce,
}

/// librdkafka properties passed through by the user (`security.protocol`, `sasl.*`, `ssl.*`, …).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaProperties(BTreeMap<String, String>);

/// Properties whose values are secrets: redacted in `Debug` and never logged.
pub fn is_secret_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "jaas",
        "token",
        "ssl.key.pem",
        "ssl_key",
    ]
    .iter()
    .any(|needle| key.contains(needle))
}

/// Properties the runtime sets itself because the guarantees depend on them.
const OWNED: &[&str] = &[
    "enable.auto.commit",
    "enable.auto.offset.store",
    "isolation.level",
    "transactional.id",
    "enable.idempotence",
    "group.id",
    "group.instance.id",
];

impl KafkaProperties {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pass-through property; refuses ones the runtime owns.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        if OWNED.contains(&key) {
            return Err(ConfigError::OwnedProperty(key.to_owned()));
        }
        self.0.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if is_secret_property(k) {
                    "[redacted]"
                } else {
                    v.as_str()
                };
                (k, shown)
            }))
            .finish()
    }
}

/// Invalid runtime configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("the property `{0}` is set by the worker and cannot be passed through")]
    OwnedProperty(String),
    #[error("{0} must be positive")]
    NotPositive(&'static str),
}

/// Settings of one worker replica.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub bootstrap_servers: String,
    pub properties: KafkaProperties,
    pub topics: Topics,
    pub group_id: String,
    /// Stable per replica (the pod name): a restarted replica fences its predecessor at once.
    pub transactional_id: String,
    /// Static membership: a restarted replica gets its partitions back without a rebalance.
    pub group_instance_id: Option<String>,
    pub guarantee: Guarantee,
    /// A batch closes this long after the previous commit began (at once when that is past),
    /// so never later than this long after its first record…
    pub commit_interval: Duration,
    /// …or when it holds this many records.
    pub max_batch_records: usize,
    /// Upper bound for a graceful shutdown (finish or abort, leave the group).
    pub shutdown_timeout: Duration,
    pub transaction_timeout: Duration,
    pub session_timeout: Duration,
}

impl WorkerSettings {
    /// Defaults for everything but where Kafka is and who this replica is.
    pub fn new(bootstrap_servers: &str, transactional_id: &str) -> Self {
        WorkerSettings {
            bootstrap_servers: bootstrap_servers.to_owned(),
            properties: KafkaProperties::new(),
            topics: Topics::default(),
            group_id: "allocation-worker".to_owned(),
            transactional_id: transactional_id.to_owned(),
            group_instance_id: None,
            guarantee: Guarantee::ExactlyOnce,
            commit_interval: Duration::from_millis(100),
            max_batch_records: 10_000,
            shutdown_timeout: Duration::from_secs(20),
            transaction_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(10),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.commit_interval.is_zero() {
            return Err(ConfigError::NotPositive("commit interval"));
        }
        if self.max_batch_records == 0 {
            return Err(ConfigError::NotPositive("max batch records"));
        }
        Ok(())
    }

    /// Bootstrap servers and pass-through properties: the base of every client.
    pub fn client_base(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in self.properties.iter() {
            config.set(k, v);
        }
        config
    }

    /// Every input topic: commands and the external events.
    pub fn inputs(&self) -> Vec<&str> {
        vec![
            self.topics.commands.as_str(),
            self.topics.orders_events.as_str(),
            self.topics.purchasing_events.as_str(),
        ]
    }

    /// Sets each `(key, value)` the user did not set with a pass-through property.
    fn defaults(&self, config: &mut ClientConfig, defaults: &[(&str, &str)]) {
        for (key, default) in defaults {
            if self.properties.get(key).is_none() {
                config.set(*key, *default);
            }
        }
    }

    /// The group consumer: manual offsets, read_committed, cooperative rebalancing.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut config = self.client_base();
        // librdkafka keeps one fetch per broker in flight, and the broker holds a fetch until
        // it finds `fetch.min.bytes` (1 by default) or `fetch.wait.max.ms` (500) passes.
        // - The wait: partitions whose start is found while a fetch waits are fetched only after
        //   it; with 500, every assignment began processing 0.45 s late (the first fetch carried
        //   one empty external-events partition). 5 ms bounds that, and the latency that the
        //   minimum adds, for up to 200 empty fetches a second per broker while idle. A record
        //   waits for its fetch up to this long before it is processed: at 40k commands/s, 5 ms
        //   instead of 10 took the bench's exactly-once 100 ms p99 from 128-129 ms to 121-125
        //   (three runs each, interleaved) at the same broker CPU.
        // - The minimum: with 1 byte, a steady stream is fetched a few records at a time, as
        //   fast as the round trips go; each fetch costs the broker per partition. 64 KiB (6 ms
        //   of commands at 40k/s) took the bench broker's CPU from 49 % to 40-41 % of a core at
        //   40k commands/s (exactly-once 100 ms, two runs each; 47-49 % to 39-41 % at-least-once).
        // Kafka asks for heartbeats at no more than a third of the session timeout; librdkafka's
        // fixed 3000 ms default leaves a 6 s session (the broker's minimum) two chances, and
        // makes the moment of an eviction uncertain by half the session.
        let heartbeat = (self.session_timeout.as_millis() / 3)
            .clamp(1, 3000)
            .to_string();
        self.defaults(
            &mut config,
            &[
                ("fetch.wait.max.ms", "5"),
                ("fetch.min.bytes", "65536"),
                ("heartbeat.interval.ms", heartbeat.as_str()),
            ],
        );
        config
            .set("group.id", &self.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set(
                "session.timeout.ms",
                self.session_timeout.as_millis().to_string(),
            );
        if let Some(id) = &self.group_instance_id {
            config.set("group.instance.id", id);
        }
        scoped(config, ClientKind::Consumer)
    }

    /// How long the output producer waits to fill a batch (`linger.ms`, unless passed through).
    ///
    /// An at-least-once output is visible once it is written, so it lingers 5 ms. An
    /// exactly-once output is visible only when its transaction commits, and the commit's flush
    /// sends whatever still lingers: it may wait a fifth of the commit interval, 5 to 20 ms,
    /// at no cost in visibility. Fewer, larger produce requests cost the broker that shares a
    /// small machine with the worker less: at 40k commands/s, exactly-once 100 ms, 20 ms took
    /// the bench broker from 40-43 % to 33-34 % of a core at the same p99 (50 and 100 ms made
    /// the p99 worse: 148-362 ms).
    pub fn output_linger(&self) -> Duration {
        match self.guarantee {
            Guarantee::AtLeastOnce => Duration::from_millis(5),
            Guarantee::ExactlyOnce => (self.commit_interval / 5)
                .clamp(Duration::from_millis(5), Duration::from_millis(20)),
        }
    }

    /// The output producer: transactional (EOS v2) or idempotent (at-least-once).
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = self.client_base();
        let linger = self.output_linger().as_millis().to_string();
        self.defaults(
            &mut config,
            &[("linger.ms", linger.as_str()), ("compression.type", "lz4")],
        );
        config
            .set("enable.idempotence", "true")
            // Only refusals matter (see `delivery`): the successful reports are freed by
            // librdkafka's broker threads instead of by the processing thread's polls.
            .set("delivery.report.only.error", "true")
            // The Java client's partitioner: records keyed by sku land where Java producers
            // put them, so commands, events and changelog stay co-partitioned.
            .set("partitioner", "murmur2_random");
        if self.guarantee == Guarantee::ExactlyOnce {
            config.set("transactional.id", &self.transactional_id).set(
                "transaction.timeout.ms",
                self.transaction_timeout.as_millis().to_string(),
            );
        }
        scoped(config, ClientKind::Producer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WorkerSettings {
        WorkerSettings::new("127.0.0.1:9092", "worker-0")
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let mut s = settings();
        s.properties.set("sasl.password", "hunter2").unwrap();
        s.properties.set("security.protocol", "SASL_SSL").unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("SASL_SSL"));
    }

    #[test]
    fn guarantee_properties_cannot_be_overridden() {
        let mut s = settings();
        assert_eq!(
            s.properties.set("isolation.level", "read_uncommitted"),
            Err(ConfigError::OwnedProperty("isolation.level".into()))
        );
    }

    #[test]
    fn exactly_once_producer_is_transactional_and_consumer_reads_committed() {
        let s = settings();
        assert_eq!(
            s.producer_config().get("transactional.id"),
            Some("worker-0")
        );
        assert_eq!(
            s.consumer_config().get("isolation.level"),
            Some("read_committed")
        );
        assert_eq!(s.consumer_config().get("enable.auto.commit"), Some("false"));
        assert_eq!(
            s.producer_config().get("delivery.report.only.error"),
            Some("true")
        );
    }

    #[test]
    fn at_least_once_producer_has_no_transactional_id() {
        let mut s = settings();
        s.guarantee = Guarantee::AtLeastOnce;
        assert_eq!(s.producer_config().get("transactional.id"), None);
    }

    #[test]
    fn pass_through_reaches_every_client() {
        let mut s = settings();
        s.properties.set("security.protocol", "SSL").unwrap();
        assert_eq!(s.consumer_config().get("security.protocol"), Some("SSL"));
        assert_eq!(s.producer_config().get("security.protocol"), Some("SSL"));
    }

    #[test]
    fn an_exactly_once_output_lingers_a_fifth_of_the_commit_interval_within_5_to_20_ms() {
        let mut s = settings();
        let linger = |s: &WorkerSettings| s.producer_config().get("linger.ms").map(str::to_owned);
        for (interval, expected) in [(10, "5"), (50, "10"), (100, "20"), (1000, "20")] {
            s.commit_interval = Duration::from_millis(interval);
            assert_eq!(linger(&s).as_deref(), Some(expected), "{interval} ms");
        }
        s.guarantee = Guarantee::AtLeastOnce;
        assert_eq!(linger(&s).as_deref(), Some("5"));
        s.properties.set("linger.ms", "0").unwrap();
        assert_eq!(linger(&s).as_deref(), Some("0"));
    }

    #[test]
    fn producer_defaults_yield_to_pass_through_properties() {
        let mut s = settings();
        assert_eq!(s.producer_config().get("linger.ms"), Some("20"));
        s.properties.set("linger.ms", "1").unwrap();
        s.properties.set("partitioner", "random").unwrap();
        assert_eq!(s.producer_config().get("linger.ms"), Some("1"));
        assert_eq!(s.producer_config().get("compression.type"), Some("lz4"));
        // Co-partitioning depends on the partitioner: not overridable.
        assert_eq!(
            s.producer_config().get("partitioner"),
            Some("murmur2_random")
        );
    }

    #[test]
    fn consumer_defaults_yield_to_pass_through_properties() {
        let mut s = settings();
        assert_eq!(s.consumer_config().get("fetch.wait.max.ms"), Some("5"));
        assert_eq!(s.consumer_config().get("fetch.min.bytes"), Some("65536"));
        s.properties.set("fetch.wait.max.ms", "500").unwrap();
        assert_eq!(s.consumer_config().get("fetch.wait.max.ms"), Some("500"));
    }

    #[test]
    fn each_client_gets_only_the_properties_of_its_kind() {
        let mut s = settings();
        s.properties.set("linger.ms", "20").unwrap();
        s.properties.set("fetch.wait.max.ms", "50").unwrap();
        s.properties.set("client.id", "w1").unwrap();
        let (consumer, producer) = (s.consumer_config(), s.producer_config());
        assert_eq!(consumer.get("linger.ms"), None);
        assert_eq!(consumer.get("fetch.wait.max.ms"), Some("50"));
        assert_eq!(producer.get("fetch.wait.max.ms"), None);
        assert_eq!(producer.get("linger.ms"), Some("20"));
        assert_eq!(producer.get("fetch.min.bytes"), None);
        assert_eq!(consumer.get("client.id"), Some("w1"));
        assert_eq!(producer.get("client.id"), Some("w1"));
    }

    #[test]
    fn heartbeats_default_to_a_third_of_the_session_at_most_3_s() {
        let mut s = settings();
        s.session_timeout = Duration::from_millis(6000);
        assert_eq!(
            s.consumer_config().get("heartbeat.interval.ms"),
            Some("2000")
        );
        s.session_timeout = Duration::from_millis(45_000);
        assert_eq!(
            s.consumer_config().get("heartbeat.interval.ms"),
            Some("3000")
        );
        s.properties.set("heartbeat.interval.ms", "500").unwrap();
        assert_eq!(
            s.consumer_config().get("heartbeat.interval.ms"),
            Some("500")
        );
    }

    #[test]
    fn zero_interval_is_invalid() {
        let mut s = settings();
        s.commit_interval = Duration::ZERO;
        assert!(s.validate().is_err());
    }
}
