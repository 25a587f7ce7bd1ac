//! The bad-input corpus: thousands of random and malformed records on every input topic
//! (commands, orders events, purchasing events) — random bytes, null and empty values, wrong
//! magic bytes, unknown schema ids, truncated frames, flipped bytes, trailing bytes, and valid
//! records of a type the topic does not accept. Each candidate is run through the worker's
//! own `decode_inbound` first and kept only when it must be dead-lettered; its reason is the
//! one the worker must write. The commands-topic part goes through the seed producer (the
//! checker matches it); the rest is matched here: exactly one DLQ record per corpus record,
//! with its reason, and no other DLQ record from those topics.

use std::collections::HashMap;

use allocation_worker::adapters::codec::wire::frame;
use allocation_worker::adapters::codec::{Codec, DecodeError};
use allocation_worker::adapters::contracts::examples::examples;
use allocation_worker::adapters::contracts::RecordType;
use allocation_worker::adapters::envelope::{HeaderList, MessageMeta};
use allocation_worker::adapters::mapping::InboundRecord;
use allocation_worker::adapters::topics::Topics;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::harness::kafka::client_config;
use crate::support::{now_ms, CommandProducer, ObservedDlq};
use crate::workload::Rng;

/// One corpus record on a topic other than the commands topic.
#[derive(Debug, Clone, PartialEq)]
pub struct External {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
}

/// A candidate payload (see the module docs).
fn candidate(rng: &mut Rng, valid: &[Vec<u8>], foreign: &[Vec<u8>]) -> Option<Vec<u8>> {
    let pick = |rng: &mut Rng, from: &[Vec<u8>]| rng.pick(from).clone();
    Some(match rng.range(0, 7) {
        0 => (0..rng.range(0, 48)).map(|_| rng.next() as u8).collect(),
        1 => {
            let tail: Vec<u8> = (0..rng.range(0, 24)).map(|_| rng.next() as u8).collect();
            frame(2_000_000_000 + rng.range(0, 15) as u32, &tail)
        }
        2 => {
            let mut b = pick(rng, valid);
            b.truncate(rng.range(0, b.len() as u64 - 1) as usize);
            b
        }
        3 => {
            let mut b = pick(rng, valid);
            for _ in 0..rng.range(1, 3) {
                let i = rng.range(5, b.len() as u64 - 1) as usize;
                b[i] ^= 1 << rng.range(0, 7);
            }
            b
        }
        4 => {
            let mut b = pick(rng, valid);
            b.extend((0..rng.range(1, 8)).map(|_| rng.next() as u8));
            b
        }
        5 => pick(rng, foreign),
        6 => {
            let mut b = pick(rng, valid);
            b[0] = rng.range(1, 255) as u8;
            b
        }
        _ => return None,
    })
}

/// What the worker's codec says about `payload` on `topic`: `Some(reason)` when it must be
/// dead-lettered.
async fn verdict(
    codec: &Codec,
    topics: &Topics,
    topic: &str,
    payload: Option<&[u8]>,
) -> Option<String> {
    let headers = HeaderList::new();
    let record = InboundRecord {
        topic,
        partition: 0,
        offset: 0,
        key: Some(b"corpus"),
        payload,
        headers: &headers,
        timestamp_ms: None,
    };
    match codec.decode_inbound(&record, now_ms()).await {
        Ok(_) => None,
        Err(e) if e.class().is_retriable() => None,
        Err(DecodeError::InvalidValue { .. }) if topic == topics.commands => None,
        Err(e) => Some(e.reason().to_owned()),
    }
}

/// Sends `n` corpus records spread over the input topics; the commands-topic ones through
/// `commands` (flushed), the others returned with their offsets.
pub async fn send(
    codec: &Codec,
    topics: &Topics,
    commands: &mut CommandProducer,
    n: usize,
    seed: u64,
) -> Vec<External> {
    let mut rng = Rng::new(seed ^ 0xC0_4B05);
    let inputs = [
        topics.commands.clone(),
        topics.orders_events.clone(),
        topics.purchasing_events.clone(),
    ];
    let all = examples();
    let mut valid: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    let mut foreign: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for topic in &inputs {
        for m in &all {
            let bytes = codec.encode(topic, m).await.expect("encode an example");
            let accepted = verdict(codec, topics, topic, Some(&bytes)).await.is_none();
            if accepted {
                valid.entry(topic.clone()).or_default().push(bytes);
            } else {
                foreign.entry(topic.clone()).or_default().push(bytes);
            }
        }
    }
    let producer: FutureProducer = client_config()
        .await
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("corpus producer");
    let mut pending = Vec::new();
    let mut made = 0;
    while made < n {
        let topic = inputs[made % inputs.len()].clone();
        let payload = candidate(&mut rng, &valid[&topic], &foreign[&topic]);
        let Some(reason) = verdict(codec, topics, &topic, payload.as_deref()).await else {
            continue;
        };
        made += 1;
        let key = format!("corpus-{}", rng.next() % 10_000);
        if topic == topics.commands {
            commands.poison_raw(&key, payload, &reason).await;
            continue;
        }
        let headers =
            MessageMeta::root(RecordType::OrderCancelled.full_name(), now_ms()).to_headers();
        let mut record = FutureRecord::to(&topic)
            .key(key.as_bytes())
            .headers(headers.to_rdkafka());
        if let Some(p) = &payload {
            record = record.payload(p.as_slice());
        }
        let delivery = producer
            .send_result(record)
            .unwrap_or_else(|(e, _)| panic!("corpus record for {topic}: {e}"));
        pending.push((delivery, topic, reason));
    }
    commands.flush().await;
    let mut out = Vec::new();
    for (delivery, topic, reason) in pending {
        let delivered = delivery
            .await
            .expect("delivery future")
            .unwrap_or_else(|(e, _)| panic!("corpus delivery to {topic}: {e}"));
        out.push(External {
            topic,
            partition: delivered.partition,
            offset: delivered.offset,
            reason,
        });
    }
    out
}

/// Matches the DLQ records from the non-command input topics against `sent`; problems as
/// sentences starting with `corpus`.
pub fn check(sent: &[External], dlq: &[&ObservedDlq]) -> Vec<String> {
    let mut want: HashMap<(String, i32, i64), (&str, usize)> = sent
        .iter()
        .map(|e| {
            (
                (e.topic.clone(), e.partition, e.offset),
                (e.reason.as_str(), 0),
            )
        })
        .collect();
    let mut problems = Vec::new();
    for d in dlq {
        let key = (
            d.source_topic.clone().unwrap_or_default(),
            d.source_partition.unwrap_or(-1),
            d.source_offset.unwrap_or(-1),
        );
        match want.get_mut(&key) {
            Some((reason, seen)) => {
                *seen += 1;
                if d.reason.as_deref() != Some(*reason) {
                    problems.push(format!(
                        "corpus record {key:?}: DLQ reason {:?}, expected {reason}",
                        d.reason
                    ));
                }
            }
            None => problems.push(format!("corpus: unexpected DLQ record for {key:?}")),
        }
    }
    let mut counted: Vec<_> = want.into_iter().filter(|(_, (_, n))| *n != 1).collect();
    counted.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, (_, n)) in counted {
        if n == 0 {
            problems.push(format!(
                "corpus record {key:?} is missing from the DLQ (lost)"
            ));
        } else {
            problems.push(format!(
                "corpus record {key:?} is in the DLQ {n} times (duplicated)"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::Position;

    fn dlq(topic: &str, p: i32, o: i64, reason: &str) -> ObservedDlq {
        ObservedDlq {
            at: Position {
                partition: 0,
                offset: 0,
                key: String::new(),
                message_id: None,
                causation_id: None,
            },
            reason: Some(reason.into()),
            source_topic: Some(topic.into()),
            source_partition: Some(p),
            source_offset: Some(o),
            payload: None,
        }
    }

    fn ext(p: i32, o: i64, reason: &str) -> External {
        External {
            topic: "orders".into(),
            partition: p,
            offset: o,
            reason: reason.into(),
        }
    }

    #[test]
    fn the_corpus_check_finds_missing_duplicated_unexpected_and_wrong_reasons() {
        let sent = [ext(0, 1, "truncated"), ext(1, 1, "bad-magic-byte")];
        let (a, b) = (
            dlq("orders", 0, 1, "truncated"),
            dlq("orders", 1, 1, "bad-magic-byte"),
        );
        assert!(check(&sent, &[&a, &b]).is_empty());
        assert_eq!(check(&sent, &[&a]).len(), 1, "missing");
        assert!(check(&sent, &[&a, &b, &b])[0].contains("2 times"));
        let c = dlq("orders", 2, 1, "truncated");
        assert!(check(&sent, &[&a, &b, &c])[0].contains("unexpected"));
        let wrong = dlq("orders", 0, 1, "empty-payload");
        assert!(check(&sent, &[&wrong, &b])[0].contains("expected truncated"));
    }

    #[test]
    fn candidates_cover_every_mutation_and_are_reproducible() {
        let valid = vec![vec![0, 0, 0, 0, 1, 2, 4, 6, 8]];
        let foreign = vec![vec![0, 0, 0, 0, 2, 9]];
        let gen = |seed| {
            let mut rng = Rng::new(seed);
            (0..200)
                .map(|_| candidate(&mut rng, &valid, &foreign))
                .collect::<Vec<_>>()
        };
        let a = gen(3);
        assert_eq!(a, gen(3));
        assert!(a.iter().any(Option::is_none), "null values");
        assert!(a.iter().any(|c| c.as_ref() == Some(&foreign[0])));
        assert!(a.iter().any(|c| c.as_ref().is_some_and(|b| b.len() > 9)));
    }
}
