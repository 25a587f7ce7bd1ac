//! Webhooks against the real broker and registry, with the built binary as a child process:
//! outbound delivery to a real local HTTP receiver (signatures verified, failures on purpose,
//! every event in order per key with no gap, nothing uncommitted, no flood after a restart,
//! CloudEvents form), parking and `webhooks replay`, and inbound `POST /webhooks/{source}`
//! processed by the real worker exactly once.

mod crash;
mod inbound;
mod outbound;
mod parking;
pub mod receiver;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use allocation_worker::adapters::codec::{Codec, RegistryConfig};
use allocation_worker::adapters::contracts::{records, WireMessage};
use allocation_worker::adapters::envelope::MessageMeta;
use allocation_worker::runtime::config::Topics;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use self::receiver::Delivery;
use crate::harness::{infra, unique, WAIT};
use crate::http::support::Service;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub async fn codec() -> Arc<Codec> {
    let infra = infra().await;
    Arc::new(Codec::new(&RegistryConfig::new(infra.registry_url.clone())).expect("codec"))
}

/// Writes a config file for the test and returns its path.
pub fn config_file(test: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("webhooks");
    std::fs::create_dir_all(&dir).expect("config dir");
    let path = dir.join(format!("{}.toml", unique(test)));
    std::fs::write(&path, text).expect("config file");
    path
}

pub(crate) fn allocated(sku: &str, seq: i64) -> WireMessage {
    WireMessage::from(records::Allocated {
        orderid: format!("{sku}-{seq}"),
        sku: sku.into(),
        qty: seq,
        batchref: "b1".into(),
    })
}

/// Produces `events` (keyed by sku) to the events topic in one transaction, committed or
/// aborted.
pub(crate) async fn produce(
    producer: &Arc<BaseProducer>,
    codec: &Codec,
    topics: &Topics,
    events: Vec<(String, WireMessage)>,
    commit: bool,
) {
    let mut records = Vec::new();
    for (key, message) in events {
        let meta = MessageMeta::root(message.record_type().full_name(), chrono::Utc::now());
        let payload = codec
            .encode(&topics.events, &message)
            .await
            .expect("encode");
        records.push((key, payload, meta.to_headers().to_rdkafka()));
    }
    let (producer, topic) = (Arc::clone(producer), topics.events.clone());
    tokio::task::spawn_blocking(move || {
        producer.begin_transaction().expect("begin");
        for (key, payload, headers) in records {
            producer
                .send(
                    BaseRecord::to(&topic)
                        .key(&key)
                        .payload(&payload)
                        .headers(headers),
                )
                .map_err(|(e, _)| e)
                .expect("send");
        }
        if commit {
            producer.commit_transaction(WAIT).expect("commit");
        } else {
            producer.flush(WAIT).expect("flush");
            producer.abort_transaction(WAIT).expect("abort");
        }
    })
    .await
    .expect("producer task");
}

/// Waits until `deliveries()` holds at least `n` distinct webhook ids.
pub(crate) async fn wait_distinct(what: &str, deliveries: impl Fn() -> Vec<Delivery>, n: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got: std::collections::HashSet<String> =
            deliveries().into_iter().map(|d| d.webhook_id).collect();
        if got.len() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {} of {n} events delivered",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Allocated sequence numbers per sku, in delivery order, consecutive repeats (a
/// redelivery of the event in flight) removed.
pub(crate) fn sequences(
    deliveries: &[Delivery],
    data: impl Fn(&Delivery) -> &serde_json::Value,
) -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for d in deliveries {
        let data = data(d);
        if data["type"] != "allocation.events.Allocated" {
            continue;
        }
        let sku = data["sku"].as_str().expect("sku").to_owned();
        let seq = data["qty"].as_i64().expect("qty");
        let list = out.entry(sku).or_default();
        if list.last() != Some(&seq) {
            list.push(seq);
        }
    }
    out
}

pub(crate) fn start_hooks(
    name: &str,
    config: &std::path::Path,
    group: &str,
) -> impl std::future::Future<Output = Service> {
    let config = config.display().to_string();
    let (name, group) = (name.to_owned(), group.to_owned());
    async move {
        Service::start(
            &name,
            &[
                "webhooks",
                "run",
                "--config",
                &config,
                "--group-id",
                &group,
                // A crashed member's partitions move on after 6 s instead of 45 s.
                "-X",
                "session.timeout.ms=6000",
            ],
            &[],
        )
        .await
    }
}
