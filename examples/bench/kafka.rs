//! The Kafka side of the benchmark driver: topics, the preloader (commands Avro-encoded through
//! the registry with the product's own codec, exactly as `produce` does), offset watching, the
//! raw rdkafka passthrough, and reading the changelog for the aggregate sizes.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use allocation_worker::adapters::codec::{Codec, RegistryConfig};
use allocation_worker::adapters::envelope::{HeaderList, MessageMeta};
use allocation_worker::adapters::topics::Topics;
use allocation_worker::domain::Command;
use allocation_worker::runtime::transaction::flush_promptly;
use anyhow::{anyhow, Context, Result};
use chrono::Utc;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// Connection settings of the driver.
#[derive(Debug, Clone)]
pub struct Env {
    pub bootstrap: String,
    pub registry: String,
}

impl Env {
    pub fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        c
    }

    pub fn codec(&self) -> Result<Codec> {
        Codec::new(&RegistryConfig::new(&self.registry)).map_err(|e| anyhow!("codec: {e}"))
    }
}

/// Creates plain topics (the driver's own: passthrough output, producer-perf topic).
pub fn create_topics(env: &Env, names: &[String], partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = env.client().create()?;
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for r in rt.block_on(admin.create_topics(&topics, &AdminOptions::new()))? {
        r.map_err(|(t, e)| anyhow!("creating {t}: {e}"))?;
    }
    Ok(())
}

/// The names of the topics that start with `prefix`.
pub fn topics_with_prefix(env: &Env, prefix: &str) -> Result<Vec<String>> {
    names_with_prefix(&env.client().create()?, prefix)
}

fn names_with_prefix(
    admin: &AdminClient<DefaultClientContext>,
    prefix: &str,
) -> Result<Vec<String>> {
    let metadata = admin
        .inner()
        .fetch_metadata(None, std::time::Duration::from_secs(30))?;
    Ok(metadata
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|n| n.starts_with(prefix))
        .collect())
}

/// Deletes every topic whose name starts with `prefix`; returns how many.
pub fn delete_topics_with_prefix(env: &Env, prefix: &str) -> Result<usize> {
    let admin: AdminClient<DefaultClientContext> = env.client().create()?;
    let names = names_with_prefix(&admin, prefix)?;
    if names.is_empty() {
        return Ok(0);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for r in rt.block_on(admin.delete_topics(&refs, &AdminOptions::new()))? {
        r.map_err(|(t, e)| anyhow!("deleting {t}: {e}"))?;
    }
    Ok(names.len())
}

/// One encoded command record.
pub struct Encoded {
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub headers: HeaderList,
    pub message_id: String,
}

impl Encoded {
    pub fn size(&self) -> usize {
        self.key.len()
            + self.payload.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// Encodes commands for the command topic of `topics`, each with a fresh root envelope.
pub fn encode(
    codec: &Codec,
    rt: &tokio::runtime::Runtime,
    topics: &Topics,
    commands: &[Command],
) -> Result<Vec<Encoded>> {
    rt.block_on(async {
        let mut out = Vec::with_capacity(commands.len());
        for command in commands {
            let meta = MessageMeta::root(command.type_name(), Utc::now());
            let record = codec
                .encode_command(topics, command, &meta)
                .await
                .map_err(|e| anyhow!("encoding: {e}"))?;
            out.push(Encoded {
                key: record.key,
                payload: record.payload.unwrap_or_default(),
                headers: record.headers,
                message_id: meta.message_id.to_string(),
            });
        }
        Ok(out)
    })
}

/// The producer settings of the worker's own producer (idempotent, lz4, linger 5 ms, the Java
/// partitioner), so the comparison is like for like.
pub fn producer_config(env: &Env) -> ClientConfig {
    let mut c = env.client();
    c.set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("partitioner", "murmur2_random")
        .set("compression.type", "lz4");
    c
}

/// Sends one record, serving the queue while it is full.
pub fn send_blocking(
    producer: &BaseProducer,
    mut record: BaseRecord<'_, [u8], [u8]>,
) -> Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                back,
            )) => {
                record = back;
                producer.poll(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(anyhow!("produce: {e}")),
        }
    }
}

/// Produces encoded commands to `topic` and waits for all of them to be acknowledged.
pub fn preload(env: &Env, topic: &str, records: &[Encoded]) -> Result<()> {
    let producer: BaseProducer = producer_config(env)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .create()?;
    for r in records {
        let record = BaseRecord::to(topic)
            .key(r.key.as_slice())
            .payload(r.payload.as_slice())
            .headers(r.headers.to_rdkafka());
        send_blocking(&producer, record)?;
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(120))
        .context("preload flush")?;
    Ok(())
}

/// Sum over the partitions of `topic` of the offsets committed by `group`.
pub struct OffsetWatch {
    consumer: BaseConsumer,
    tpl: TopicPartitionList,
}

impl OffsetWatch {
    pub fn new(env: &Env, group: &str, topic: &str, partitions: i32) -> Result<Self> {
        let consumer: BaseConsumer = env.client().set("group.id", group).create()?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        Ok(OffsetWatch { consumer, tpl })
    }

    pub fn committed(&self) -> Result<u64> {
        let c = self
            .consumer
            .committed_offsets(self.tpl.clone(), Duration::from_secs(10))?;
        Ok(c.elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(n) if n > 0 => n as u64,
                _ => 0,
            })
            .sum())
    }

    /// The high watermark of every partition of the topic.
    fn highs(&self) -> Result<Vec<(String, i32, i64)>> {
        let mut highs = Vec::new();
        for e in self.tpl.elements() {
            let (_, high) = self.consumer.fetch_watermarks(
                e.topic(),
                e.partition(),
                Duration::from_secs(10),
            )?;
            highs.push((e.topic().to_owned(), e.partition(), high));
        }
        Ok(highs)
    }

    /// Sum over the partitions of the topic's high watermarks.
    pub fn end(&self) -> Result<u64> {
        Ok(self
            .highs()?
            .iter()
            .map(|(_, _, h)| (*h).max(0) as u64)
            .sum())
    }

    /// Commits `group`'s offsets to the end of the topic (a worker of that group then has
    /// nothing to process).
    pub fn commit_to_end(&self) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, high) in self.highs()? {
            tpl.add_partition_offset(&topic, partition, Offset::Offset(high))?;
        }
        self.consumer.commit(&tpl, CommitMode::Sync)?;
        Ok(())
    }

    /// Polls until the committed sum reaches `target`; returns when it did.
    pub fn wait_for(&self, target: u64, timeout: Duration) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.committed()? >= target {
                return Ok(Instant::now());
            }
            if Instant::now() > deadline {
                return Err(anyhow!(
                    "timed out: committed {} of {target}",
                    self.committed()?
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The raw passthrough (a child process of the driver): consume → produce the same key,
/// value and headers to each output topic, no state, at-least-once (every `commit_ms`: flush, then commit the
/// consumed offsets — what the worker's at-least-once mode does). Runs until killed; prints
/// `ready` once it has its partitions.
pub fn passthrough(
    env: &Env,
    input: &str,
    outputs: &[String],
    group: &str,
    commit_ms: u64,
) -> Result<()> {
    let consumer: BaseConsumer = env
        .client()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()?;
    consumer.subscribe(&[input])?;
    let producer: BaseProducer = producer_config(env).create()?;
    let interval = Duration::from_millis(commit_ms);
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut last_commit = Instant::now();
    let mut ready = false;
    loop {
        if let Some(message) = consumer.poll(Duration::from_millis(50)) {
            let m = message?;
            for output in outputs {
                let mut record = BaseRecord::to(output).key(m.key().unwrap_or_default());
                if let Some(p) = m.payload() {
                    record = record.payload(p);
                }
                if let Some(h) = m.headers() {
                    record = record.headers(h.detach());
                }
                send_blocking(&producer, record)?;
            }
            next.insert(m.partition(), m.offset() + 1);
        }
        producer.poll(Duration::ZERO);
        if !ready
            && consumer
                .assignment()
                .map(|a| a.count() > 0)
                .unwrap_or(false)
        {
            ready = true;
            println!("ready");
            std::io::stdout().flush()?;
        }
        if last_commit.elapsed() >= interval && !next.is_empty() {
            flush_promptly(&producer, Duration::from_secs(30))?;
            let mut tpl = TopicPartitionList::new();
            for (p, o) in next.drain() {
                tpl.add_partition_offset(input, p, Offset::Offset(o))?;
            }
            consumer.commit(&tpl, CommitMode::Sync)?;
            last_commit = Instant::now();
        }
    }
}

/// Reads a compacted topic from the beginning to its end (read_committed): the latest value
/// size per key. Returns (records read, distinct keys, average latest value size).
pub fn latest_value_sizes(env: &Env, topic: &str, partitions: i32) -> Result<(u64, u64, f64)> {
    let consumer: BaseConsumer = env
        .client()
        .set("group.id", "bench-size-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        if high > low {
            ends.insert(p, high);
        }
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut sizes: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut records = 0u64;
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ends.is_empty() && Instant::now() < deadline {
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            // read_committed: the last offset may be a transaction marker.
            let pos = consumer.position()?;
            for e in pos.elements() {
                if let (Offset::Offset(o), Some(end)) = (e.offset(), ends.get(&e.partition())) {
                    if o >= *end - 1 {
                        ends.remove(&e.partition());
                    }
                }
            }
            continue;
        };
        let m = m?;
        records += 1;
        let key = m.key().unwrap_or_default().to_vec();
        match m.payload() {
            Some(p) => sizes.insert(key, p.len()),
            None => sizes.remove(&key),
        };
        if ends
            .get(&m.partition())
            .is_some_and(|end| m.offset() + 1 >= *end)
        {
            ends.remove(&m.partition());
        }
    }
    let avg = if sizes.is_empty() {
        0.0
    } else {
        sizes.values().sum::<usize>() as f64 / sizes.len() as f64
    };
    Ok((records, sizes.len() as u64, avg))
}

/// A header value as text.
pub fn header_str<'a, H: Headers>(headers: &'a H, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h: &Header<'_, &[u8]>| h.key == name)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// Headers plus one more.
pub fn with_header(headers: &HeaderList, name: &str, value: &str) -> OwnedHeaders {
    headers.to_rdkafka().insert(Header {
        key: name,
        value: Some(value),
    })
}
