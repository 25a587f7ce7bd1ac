//! `cargo run --example tail -- <topic>…`: prints every committed record of the given topics
//! as JSON lines — position, key, envelope headers and the value in the contract's JSON form
//! (decoded through the schema registry) — then exits. Used by `scripts/demo`.
//!
//! Reads `KAFKA_BOOTSTRAP_SERVERS` and `SCHEMA_REGISTRY_URL`; `read_committed`, no consumer
//! group, every partition from the beginning up to its end.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use allocation_worker::adapters::codec::{Codec, RegistryConfig};
use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Map, Value};

fn main() -> anyhow::Result<()> {
    let topics: Vec<String> = std::env::args().skip(1).collect();
    if topics.is_empty() {
        bail!("usage: tail <topic>…");
    }
    let bootstrap = std::env::var("KAFKA_BOOTSTRAP_SERVERS").context("KAFKA_BOOTSTRAP_SERVERS")?;
    let registry = std::env::var("SCHEMA_REGISTRY_URL").context("SCHEMA_REGISTRY_URL")?;
    let codec = Codec::new(&RegistryConfig::new(registry))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for topic in &topics {
        read_topic(&bootstrap, topic, &codec, &rt)?;
    }
    Ok(())
}

/// Prints one topic, every partition from the beginning up to its end.
fn read_topic(
    bootstrap: &str,
    topic: &str,
    codec: &Codec,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "allocation-worker-tail")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    for t in metadata.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(t.name(), p.id(), Offset::Beginning)?;
        }
    }
    let total = tpl.count();
    consumer.assign(&tpl)?;
    let mut at_end = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while at_end.len() < total && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let mut headers = Map::new();
                if let Some(h) = m.headers() {
                    for header in h.iter() {
                        let value = String::from_utf8_lossy(header.value.unwrap_or_default());
                        headers.insert(header.key.to_owned(), Value::String(value.into_owned()));
                    }
                }
                let value = match m.payload() {
                    None => Value::Null,
                    Some(p) => match rt.block_on(codec.decode(Some(p))) {
                        Ok(decoded) => decoded.message.to_json(),
                        Err(e) => json!({"undecodable": e.to_string()}),
                    },
                };
                let line = json!({
                    "topic": m.topic(),
                    "partition": m.partition(),
                    "offset": m.offset(),
                    "key": m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    "headers": headers,
                    "value": value,
                });
                println!("{line}");
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => eprintln!("tail: {e}"),
            None => {}
        }
    }
    Ok(())
}
