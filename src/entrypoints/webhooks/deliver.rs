//! One subscriber's delivery loop: its own consumer group (`<group>.webhook.<name>`) reads the
//! committed events of `allocation.events` (read_committed), keeps those the subscription asks
//! for, and POSTs them one at a time, signed, to the subscriber's URL.
//!
//! Guarantees:
//! - **at-least-once**: an event's offset is committed only after the subscriber answered
//!   2xx (or the event was filtered out); a crash redelivers at most the events in flight;
//!   every redelivery carries the same `webhook-id` (the idempotency key);
//! - **order**: strictly sequential per subscriber — event *n+1* of a partition is sent only
//!   after event *n* was acknowledged — so the order per partition, hence per sku, is kept;
//! - **retries**: exponential backoff with jitter, capped; after `max_attempts` the subscriber
//!   is **parked**: the group's offsets stay at the failing event, a record goes to the parked
//!   topic, and the loop ends until `webhooks replay` clears it;
//! - **shutdown**: the loop stops between attempts and commits what was acknowledged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::watch;

use super::metrics::HookMetrics;
use super::parked::{self, ParkedRecord, SharedParked};
use crate::adapters::codec::Codec;
use crate::adapters::envelope::{HeaderList, MessageMeta, SourcePosition};
use crate::adapters::webhooks::payload::{outbound_event, wanted, Origin, OutboundEvent};
use crate::adapters::webhooks::signature::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};
use crate::entrypoints::settings::webhooks::{DeliveryPolicy, Subscription};
use crate::runtime::scope::{ClientKind, ForClient};

/// The delay before attempt `attempt + 1` (after `attempt` failures, ≥ 1): half of
/// `min(max, initial · 2^(attempt−1))` plus a random part of the other half ("equal jitter"),
/// so delays grow and spread without ever exceeding the cap.
pub fn backoff(policy: &DeliveryPolicy, attempt: u32, random: u64) -> Duration {
    let initial = policy.backoff_initial.as_millis() as u64;
    let cap = policy.backoff_max.as_millis() as u64;
    let exp = initial.saturating_mul(1u64 << attempt.saturating_sub(1).min(32));
    let base = exp.min(cap);
    let half = base / 2;
    Duration::from_millis(half + random % (base - half + 1))
}

/// How one subscriber's loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Stopped,
    Parked,
}

/// Everything one subscriber's loop needs.
pub struct Subscriber {
    pub subscription: Subscription,
    pub policy: DeliveryPolicy,
    pub group: String,
    pub topic: String,
    pub parked_topic: String,
    pub config: ClientConfig,
    pub codec: Arc<Codec>,
    pub http: reqwest::Client,
    pub producer: FutureProducer,
    pub metrics: Arc<HookMetrics>,
    pub parked: SharedParked,
    pub stop: watch::Receiver<bool>,
}

enum Attempts {
    Delivered,
    Stopped,
    Failed { attempts: u32, error: String },
}

impl Subscriber {
    fn consumer(&self) -> Result<StreamConsumer, String> {
        let consumer: StreamConsumer = self
            .config
            .clone()
            .set("group.id", &self.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .for_client(ClientKind::Consumer)
            .create()
            .map_err(|e| e.to_string())?;
        consumer
            .subscribe(&[&self.topic])
            .map_err(|e| e.to_string())?;
        Ok(consumer)
    }

    /// Runs until stopped or parked. Errors: the consumer could not be created.
    pub async fn run(mut self) -> Result<Ended, String> {
        let name = self.subscription.name.clone();
        let consumer = self.consumer()?;
        tracing::info!(subscriber = %name, group = %self.group, "webhook subscriber started");
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        let ended = loop {
            let received = tokio::select! {
                m = consumer.recv() => m.map(|m| m.detach()),
                _ = self.stop.wait_for(|s| *s) => break Ended::Stopped,
            };
            let message = match received {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(subscriber = %name, error = %e, "consumer error");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let Some(event) = self.prepare(&message).await else {
                if *self.stop.borrow() {
                    break Ended::Stopped;
                }
                self.done(&consumer, &mut next, &message);
                continue;
            };
            match self.attempt(&event).await {
                Attempts::Delivered => {
                    self.metrics.event(&name, "delivered");
                    self.done(&consumer, &mut next, &message);
                }
                Attempts::Stopped => break Ended::Stopped,
                Attempts::Failed { attempts, error } => {
                    self.park(&message, &event, &mut next, attempts, error)
                        .await;
                    break Ended::Parked;
                }
            }
        };
        let tpl = offsets(&self.topic, &next);
        if tpl.count() > 0 {
            let _ = tokio::task::block_in_place(|| consumer.commit(&tpl, CommitMode::Sync));
        }
        tracing::info!(subscriber = %name, ?ended, "webhook subscriber ended");
        Ok(ended)
    }

    /// The outbound form of a record, or `None` when it is not for this subscriber (filtered
    /// out, or not an event of the contract) or the loop was stopped while the registry was
    /// unreachable.
    async fn prepare(&mut self, m: &OwnedMessage) -> Option<OutboundEvent> {
        let name = self.subscription.name.clone();
        let name = &name;
        let mut failures = 0;
        let decoded = loop {
            match self.codec.decode(m.payload()).await {
                Ok(d) => break d,
                Err(e) if e.class().is_retriable() => {
                    failures += 1;
                    tracing::warn!(subscriber = %name, error = %e, "registry unavailable; retrying");
                    let delay = backoff(&self.policy, failures, random());
                    if self.sleep(delay).await {
                        return None;
                    }
                }
                Err(e) => {
                    self.metrics.event(name, "undecodable");
                    tracing::warn!(subscriber = %name, partition = m.partition(), offset = m.offset(), reason = e.reason(), "undecodable record skipped");
                    return None;
                }
            }
        };
        let record_type = decoded.record_type();
        if !wanted(&self.subscription.event_types, record_type) {
            self.metrics.event(name, "filtered");
            return None;
        }
        let headers = m
            .headers()
            .map(HeaderList::from_rdkafka)
            .unwrap_or_default();
        let (meta, _) = MessageMeta::from_inbound(
            &headers,
            SourcePosition {
                topic: m.topic(),
                partition: m.partition(),
                offset: m.offset(),
            },
            record_type.full_name(),
            m.timestamp().to_millis(),
            Utc::now(),
        );
        let key = m.key().and_then(|k| std::str::from_utf8(k).ok());
        Some(outbound_event(
            &decoded.message,
            &meta,
            Origin {
                topic: m.topic(),
                key,
            },
            self.subscription.cloudevents,
        ))
    }

    /// Sleeps `delay` unless stopped first (`true` = stopped).
    async fn sleep(&mut self, delay: Duration) -> bool {
        let stopped = tokio::select! {
            _ = tokio::time::sleep(delay) => false,
            _ = self.stop.wait_for(|s| *s) => true,
        };
        stopped || *self.stop.borrow()
    }

    async fn attempt(&mut self, event: &OutboundEvent) -> Attempts {
        let name = self.subscription.name.clone();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let timestamp = Utc::now().timestamp();
            let signature =
                self.subscription
                    .secret
                    .sign(&event.webhook_id, timestamp, &event.body);
            let sent = self
                .http
                .post(&self.subscription.url)
                .header("content-type", event.content_type)
                .header(WEBHOOK_ID, &event.webhook_id)
                .header(WEBHOOK_TIMESTAMP, timestamp.to_string())
                .header(WEBHOOK_SIGNATURE, signature)
                .timeout(self.policy.request_timeout)
                .body(event.body.clone())
                .send()
                .await;
            let error = match sent {
                Ok(r) if r.status().is_success() => {
                    self.metrics.attempt(&name, "ok");
                    return Attempts::Delivered;
                }
                Ok(r) => format!("HTTP {}", r.status().as_u16()),
                Err(e) => format!("request failed: {}", describe(e)),
            };
            self.metrics.attempt(&name, "failed");
            if attempt >= self.policy.max_attempts {
                return Attempts::Failed {
                    attempts: attempt,
                    error,
                };
            }
            let delay = backoff(&self.policy, attempt, random());
            tracing::info!(subscriber = %name, webhook_id = %event.webhook_id, attempt, %error, delay_ms = delay.as_millis() as u64, "delivery failed; retrying");
            if self.sleep(delay).await {
                return Attempts::Stopped;
            }
        }
    }

    /// Marks `m` handled: its next offset is committed (asynchronously; the last commit at
    /// the end of the loop is synchronous).
    fn done(&self, consumer: &StreamConsumer, next: &mut BTreeMap<i32, i64>, m: &OwnedMessage) {
        next.insert(m.partition(), m.offset() + 1);
        let mut tpl = TopicPartitionList::new();
        if tpl
            .add_partition_offset(&self.topic, m.partition(), Offset::Offset(m.offset() + 1))
            .is_ok()
        {
            if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
                tracing::warn!(subscriber = %self.subscription.name, error = %e, "offset commit failed; the event may be redelivered");
            }
        }
    }

    async fn park(
        &mut self,
        m: &OwnedMessage,
        event: &OutboundEvent,
        next: &mut BTreeMap<i32, i64>,
        attempts: u32,
        last_error: String,
    ) {
        let name = self.subscription.name.clone();
        next.insert(m.partition(), m.offset());
        let record = ParkedRecord {
            subscriber: name.clone(),
            parked_at: Utc::now().to_rfc3339(),
            webhook_id: event.webhook_id.clone(),
            partition: m.partition(),
            offset: m.offset(),
            attempts,
            last_error,
            positions: next.clone(),
        };
        tracing::error!(subscriber = %name, webhook_id = %record.webhook_id, partition = record.partition, offset = record.offset, attempts, error = %record.last_error, "subscriber parked; resume with `allocation-worker webhooks replay --subscriber {name}`");
        if let Ok(mut s) = self.parked.lock() {
            s.parked.insert(name.clone(), record.clone());
        }
        self.metrics.set_parked(&name, true);
        let mut failures = 0;
        while let Err(e) =
            parked::publish(&self.producer, &self.parked_topic, &name, Some(&record)).await
        {
            failures += 1;
            tracing::warn!(subscriber = %name, error = %e, "cannot record the parked position yet");
            if self.sleep(backoff(&self.policy, failures, random())).await {
                break;
            }
        }
    }
}

fn offsets(topic: &str, next: &BTreeMap<i32, i64>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (p, o) in next {
        let _ = tpl.add_partition_offset(topic, *p, Offset::Offset(*o));
    }
    tpl
}

/// A request error with its causes, without the URL (it may carry a token).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A random number for the jitter (from the OS, through a v4 UUID).
fn random() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_is_capped() {
        let policy = DeliveryPolicy {
            max_attempts: 10,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            request_timeout: Duration::from_secs(1),
        };
        let ms = |attempt, random| backoff(&policy, attempt, random).as_millis();
        assert_eq!(ms(1, 0), 50);
        assert_eq!(ms(1, 50), 100);
        assert_eq!(ms(2, 0), 100);
        assert_eq!(ms(3, 0), 200);
        assert_eq!(ms(4, 0), 400);
        assert_eq!(ms(5, 0), 500);
        assert_eq!(ms(5, 500), 1000);
        for attempt in 1..100 {
            for random in [0, 1, 7, u64::MAX / 3, u64::MAX] {
                let d = ms(attempt, random);
                assert!(d <= 1000, "{attempt} {random} {d}");
                assert!(d >= 50, "{attempt} {random} {d}");
            }
        }
    }
}
