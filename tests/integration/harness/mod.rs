//! Shared integration-test harness: where the broker and registry come from, and helpers that
//! every test needs (unique names, topic creation, producing, reading everything committed).
//!
//! Discovery order, decided once per test binary:
//! 1. `KAFKA_BOOTSTRAP_SERVERS` and `SCHEMA_REGISTRY_URL` from the environment (`scripts/stack`);
//! 2. else, when a Docker engine is reachable, containers started by testcontainers;
//! 3. else a loud failure that names `scripts/stack`. Tests are never skipped silently.

pub mod containers;
pub mod kafka;
pub mod offsets;
pub mod worker;

use std::time::Duration;

use tokio::sync::OnceCell;

pub use kafka::{create_topic, read_all, transactional_producer, unique, Isolation, Record};

/// Where the broker and registry live for this test run.
pub struct Infra {
    /// librdkafka `bootstrap.servers`.
    pub bootstrap: String,
    /// Base URL of the Confluent-compatible API (e.g. `http://127.0.0.1:18081/apis/ccompat/v7`).
    pub registry_url: String,
    /// Keeps the containers alive for the whole binary when testcontainers started them.
    _containers: Option<containers::Running>,
}

static INFRA: OnceCell<Infra> = OnceCell::const_new();

/// How long a test waits for Kafka to hand back what it expects before failing.
pub const WAIT: Duration = Duration::from_secs(60);

const NO_INFRA_HINT: &str = "no Kafka broker / schema registry for the integration tests.\n\
    Either start the local stack and export what it prints:\n    \
    export $(scripts/stack up)   # Apache Kafka (KRaft) + Apicurio Registry on 127.0.0.1\n\
    or run `scripts/test`, which does that for you,\n\
    or start a Docker engine so that testcontainers can run them.";

/// The broker and registry for this test binary, discovered (or started) on first use.
pub async fn infra() -> &'static Infra {
    INFRA
        .get_or_init(|| async {
            let bootstrap = std::env::var("KAFKA_BOOTSTRAP_SERVERS").ok();
            let registry = std::env::var("SCHEMA_REGISTRY_URL").ok();
            match (bootstrap, registry) {
                (Some(bootstrap), Some(registry_url)) if !bootstrap.is_empty() => {
                    eprintln!("harness: using KAFKA_BOOTSTRAP_SERVERS={bootstrap} SCHEMA_REGISTRY_URL={registry_url}");
                    Infra { bootstrap, registry_url, _containers: None }
                }
                (Some(_), None) | (None, Some(_)) => panic!(
                    "set both KAFKA_BOOTSTRAP_SERVERS and SCHEMA_REGISTRY_URL, or neither.\n{NO_INFRA_HINT}"
                ),
                _ if containers::docker_reachable() => {
                    eprintln!("harness: starting Kafka and the registry with testcontainers");
                    let running = containers::start().await.unwrap_or_else(|e| {
                        panic!("testcontainers could not start the stack: {e}\n{NO_INFRA_HINT}")
                    });
                    Infra {
                        bootstrap: running.bootstrap.clone(),
                        registry_url: running.registry_url.clone(),
                        _containers: Some(running),
                    }
                }
                _ => panic!("{NO_INFRA_HINT}"),
            }
        })
        .await
}

/// Sets a subject's compatibility level to BACKWARD (Apicurio has no rule by default).
pub async fn set_backward(registry: &str, subject: &str) {
    let response = reqwest::Client::new()
        .put(format!("{registry}/config/{subject}"))
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .body(r#"{"compatibility":"BACKWARD"}"#)
        .send()
        .await
        .expect("PUT /config");
    assert!(
        response.status().is_success(),
        "setting BACKWARD compatibility of {subject} failed: {}",
        response.status()
    );
}
