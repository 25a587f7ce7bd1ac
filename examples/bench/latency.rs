//! Open-loop latency: a sender produces pre-encoded commands on a fixed schedule (the
//! intended send time of record i is `start + i / rate`, written in the `bench-intended-ns`
//! header), a verifier reads the events topic `read_committed` and records, for the first
//! event caused by each command, `now − intended send time` in an HdrHistogram. Measuring
//! from the intended time (not the actual send) avoids coordinated omission: a stalled
//! sender or worker shows up as latency. The sender sleeps between bursts instead of spinning,
//! so it leaves the CPU to the worker and the broker.
//!
//! The event's own timestamp (its CreateTime: when the worker produced it, to the millisecond,
//! on the same host's clock) splits each latency in two: intended send → processed (sending,
//! fetching, queueing behind other records, processing) and processed → visible (the wait for
//! the batch's commit, the commit, the transaction markers). The first grows with queueing on
//! a saturated machine; the second is what the commit interval bounds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::kafka::{header_str, send_blocking, with_header, Encoded, Env};

pub const INTENDED_HEADER: &str = "bench-intended-ns";

pub fn epoch_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Latency percentiles, in milliseconds, from a histogram of microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

pub fn summarize(h: &Histogram<u64>) -> Summary {
    let ms = |us: u64| us as f64 / 1000.0;
    Summary {
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.5)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

pub fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| Histogram::new(3).unwrap())
}

/// What the verifier recorded for the commands whose first event it read, in microseconds.
pub struct Recorded {
    /// Intended send time → first event read (read_committed).
    pub end_to_end: Histogram<u64>,
    /// Intended send time → the worker produced that event (its timestamp).
    pub to_processed: Histogram<u64>,
    /// The event produced → read.
    pub to_visible: Histogram<u64>,
}

impl Recorded {
    fn new() -> Recorded {
        Recorded {
            end_to_end: new_histogram(),
            to_processed: new_histogram(),
            to_visible: new_histogram(),
        }
    }

    /// Records one answered command: `intended` send, event `produced` and `read`, all ns since
    /// the epoch (`produced` to the millisecond, or unknown).
    fn record(&mut self, intended: u64, produced: Option<u64>, read: u64) {
        let us = |from: u64, to: u64| (to.saturating_sub(from) / 1000).max(1);
        let _ = self.end_to_end.record(us(intended, read));
        if let Some(produced) = produced {
            let _ = self.to_processed.record(us(intended, produced));
            let _ = self.to_visible.record(us(produced, read));
        }
    }
}

/// The verifier: reads `topic` (read_committed, from the beginning) until stopped.
pub struct Verifier {
    stop: Arc<AtomicBool>,
    pending: Arc<Mutex<HashMap<String, u64>>>,
    recorded: Arc<Mutex<Recorded>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Verifier {
    pub fn start(env: &Env, topic: &str, partitions: i32) -> Result<Verifier> {
        let consumer: BaseConsumer = env
            .client()
            .set("group.id", "bench-verifier")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("fetch.wait.max.ms", "5")
            .create()?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        }
        consumer.assign(&tpl)?;
        let stop = Arc::new(AtomicBool::new(false));
        let pending: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let recorded = Arc::new(Mutex::new(Recorded::new()));
        let (s, p, h) = (stop.clone(), pending.clone(), recorded.clone());
        let thread = std::thread::spawn(move || -> Result<()> {
            while !s.load(Ordering::Relaxed) {
                let Some(m) = consumer.poll(Duration::from_millis(50)) else {
                    continue;
                };
                let m = m?;
                let now = epoch_ns();
                let Some(cause) = m.headers().and_then(|hs| header_str(hs, "causation-id")) else {
                    continue;
                };
                let intended = lock(&p).remove(cause);
                if let Some(intended) = intended {
                    let produced = m.timestamp().to_millis().map(|ms| ms as u64 * 1_000_000);
                    lock(&h).record(intended, produced, now);
                }
            }
            Ok(())
        });
        Ok(Verifier {
            stop,
            pending,
            recorded,
            thread: Some(thread),
        })
    }

    /// The map of commands awaiting their first event (for progress reports).
    pub fn pending_handle(&self) -> Arc<Mutex<HashMap<String, u64>>> {
        self.pending.clone()
    }

    /// Number of commands sent whose first event has not been seen yet.
    pub fn outstanding(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Takes the histograms recorded so far and starts new ones.
    pub fn take(&self) -> Recorded {
        std::mem::replace(&mut *lock(&self.recorded), Recorded::new())
    }

    pub fn finish(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join()
                .map_err(|_| anyhow::anyhow!("verifier panicked"))??;
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the sender achieved.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// From the first intended send time to the last actual send.
    pub elapsed: Duration,
    /// The most any record was sent after its intended time.
    pub max_late: Duration,
}

/// Sends `records` to `topic` at `rate` per second on an open-loop schedule, registering the
/// intended send time of each command after the first `warmup` with the verifier (the
/// warm-up records are sent on the same schedule, but not measured).
pub fn send_open_loop(
    env: &Env,
    topic: &str,
    records: &[Encoded],
    warmup: usize,
    rate: f64,
    verifier: &Verifier,
) -> Result<Sent> {
    let mut max_late = Duration::ZERO;
    // The product's producer settings (linger 5 ms, like `produce` and the worker): a shorter
    // linger sends a request per burst, ~1000 a second, which loads the broker the worker
    // shares; the linger counts as latency (it is measured from the intended send time).
    let producer: BaseProducer = crate::kafka::producer_config(env).create()?;
    let period_ns = 1e9 / rate.max(1.0);
    let start = Instant::now();
    let start_epoch = epoch_ns();
    for (i, r) in records.iter().enumerate() {
        let offset = Duration::from_nanos((i as f64 * period_ns) as u64);
        let intended = start + offset;
        // Sleep (never spin: a spinning sender takes a core from the worker and the broker on
        // a small machine) until the record is due; a sleep lasts at least 1 ms, so records are
        // sent in small bursts, each up to ~1 ms after its intended time — which counts as
        // latency, since latency is measured from the intended time.
        let now = Instant::now();
        if now < intended {
            producer.poll(Duration::ZERO);
            std::thread::sleep((intended - now).max(Duration::from_millis(1)));
        }
        max_late = max_late.max(Instant::now().saturating_duration_since(intended));
        let intended_ns = start_epoch + offset.as_nanos() as u64;
        if i >= warmup {
            lock(&verifier.pending).insert(r.message_id.clone(), intended_ns);
        }
        let headers = with_header(&r.headers, INTENDED_HEADER, &intended_ns.to_string());
        let record = BaseRecord::to(topic)
            .key(r.key.as_slice())
            .payload(r.payload.as_slice())
            .headers(headers);
        send_blocking(&producer, record)?;
        producer.poll(Duration::ZERO);
    }
    let elapsed = start.elapsed();
    producer.flush(Duration::from_secs(60))?;
    Ok(Sent { elapsed, max_late })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram_in_milliseconds() {
        let mut h = new_histogram();
        for us in 1..=1000u64 {
            h.record(us * 100).unwrap();
        }
        let s = summarize(&h);
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");
    }

    #[test]
    fn the_event_timestamp_splits_the_latency() {
        let mut r = Recorded::new();
        let ms = 1_000_000;
        r.record(1_000 * ms, Some(1_012 * ms), 1_090 * ms);
        r.record(1_000 * ms, None, 1_050 * ms);
        assert_eq!(r.end_to_end.len(), 2);
        assert_eq!(r.to_processed.len(), 1);
        assert!((summarize(&r.to_processed).max_ms - 12.0).abs() < 0.1);
        assert!((summarize(&r.to_visible).max_ms - 78.0).abs() < 0.1);
        // A clock read before the intended time counts as the smallest latency, not a wrap.
        r.record(1_000 * ms, Some(999 * ms), 1_001 * ms);
        assert_eq!(r.to_processed.min(), 1);
    }
}
