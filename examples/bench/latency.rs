//! Open-loop latency: a sender produces pre-encoded commands on a fixed schedule (the
//! intended send time of record i is `start + i / rate`, written in the `bench-intended-ns`
//! header), a verifier reads the events topic `read_committed` and records, for the first
//! event caused by each command, `now − intended send time` in an HdrHistogram. Measuring
//! from the intended time (not the actual send) avoids coordinated omission: a stalled
//! sender or worker shows up as latency.

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

/// The verifier: reads `topic` (read_committed, from the beginning) until stopped.
pub struct Verifier {
    stop: Arc<AtomicBool>,
    pending: Arc<Mutex<HashMap<String, u64>>>,
    histogram: Arc<Mutex<Histogram<u64>>>,
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
        let histogram = Arc::new(Mutex::new(new_histogram()));
        let (s, p, h) = (stop.clone(), pending.clone(), histogram.clone());
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
                    let us = now.saturating_sub(intended) / 1000;
                    let _ = lock(&h).record(us.max(1));
                }
            }
            Ok(())
        });
        Ok(Verifier {
            stop,
            pending,
            histogram,
            thread: Some(thread),
        })
    }

    /// Number of commands sent whose first event has not been seen yet.
    pub fn outstanding(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Takes the histogram recorded so far and starts a new one.
    pub fn take(&self) -> Histogram<u64> {
        std::mem::replace(&mut *lock(&self.histogram), new_histogram())
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

/// Sends `records` to `topic` at `rate` per second on an open-loop schedule, registering each
/// command's intended send time with the verifier. Returns the achieved send duration.
pub fn send_open_loop(
    env: &Env,
    topic: &str,
    records: &[Encoded],
    rate: f64,
    verifier: &Verifier,
) -> Result<Duration> {
    let producer: BaseProducer = crate::kafka::producer_config(env)
        .set("linger.ms", "1")
        .create()?;
    let period_ns = 1e9 / rate.max(1.0);
    let start = Instant::now();
    let start_epoch = epoch_ns();
    for (i, r) in records.iter().enumerate() {
        let offset = Duration::from_nanos((i as f64 * period_ns) as u64);
        let intended = start + offset;
        loop {
            let now = Instant::now();
            if now >= intended {
                break;
            }
            let wait = intended - now;
            if wait > Duration::from_micros(300) {
                std::thread::sleep(wait - Duration::from_micros(200));
            } else {
                std::hint::spin_loop();
            }
            producer.poll(Duration::ZERO);
        }
        let intended_ns = start_epoch + offset.as_nanos() as u64;
        lock(&verifier.pending).insert(r.message_id.clone(), intended_ns);
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
    Ok(elapsed)
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
}
