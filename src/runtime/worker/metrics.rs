//! Counters, gauges and histograms of the worker runtime, kept as atomics so the HTTP endpoint
//! (and tests) can read them from other threads while the processing thread updates them.
//!
//! Histograms have fixed bucket bounds ([`SECONDS_BUCKETS`], [`RECORDS_BUCKETS`]); a snapshot
//! is cumulative per bucket, as the Prometheus text format wants it.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Runtime metrics of one worker replica.
#[derive(Debug, Default)]
pub struct WorkerMetrics {
    pub records_processed: AtomicU64,
    pub records_rejected: AtomicU64,
    pub records_dead_lettered: AtomicU64,
    pub records_rekeyed: AtomicU64,
    pub batches_committed: AtomicU64,
    pub batches_aborted: AtomicU64,
    pub commit_latency_micros_total: AtomicU64,
    pub batch_records_total: AtomicU64,
    pub restore_records_total: AtomicU64,
    pub restore_micros_total: AtomicU64,
    pub rebalances: AtomicU64,
    /// In-process recoveries: a new producer and consumer after a fenced or broken producer.
    pub recoveries: AtomicU64,
    pub assigned_partitions: AtomicU64,
    /// True once the group assigned partitions and all of them are restored.
    pub ready: AtomicBool,
    /// Transaction (batch) commit latency, seconds.
    pub commit_latency: SecondsHistogram,
    /// Records per committed batch.
    pub batch_size: RecordsHistogram,
    /// Time to restore the command partitions one rebalance added (read together), seconds.
    pub restore_duration: SecondsHistogram,
    by_type: Mutex<BTreeMap<String, u64>>,
    rejected_by_type: Mutex<BTreeMap<String, u64>>,
    dead_letter_reasons: Mutex<BTreeMap<&'static str, u64>>,
}

/// Counts one `key` (no allocation once the key is known: this runs once per record).
fn count(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

impl WorkerMetrics {
    pub(crate) fn processed(&self, message_type: &str, rejected: bool) {
        self.records_processed.fetch_add(1, Relaxed);
        if rejected {
            self.records_rejected.fetch_add(1, Relaxed);
            if let Ok(mut map) = self.rejected_by_type.lock() {
                count(&mut map, message_type);
            }
        }
        if let Ok(mut map) = self.by_type.lock() {
            count(&mut map, message_type);
        }
    }

    pub(crate) fn dead_lettered(&self, reason: &'static str) {
        self.records_dead_lettered.fetch_add(1, Relaxed);
        if let Ok(mut map) = self.dead_letter_reasons.lock() {
            *map.entry(reason).or_default() += 1;
        }
    }

    pub(crate) fn rekeyed(&self) {
        self.records_rekeyed.fetch_add(1, Relaxed);
    }

    pub(crate) fn committed(&self, records: usize, latency: Duration) {
        self.batches_committed.fetch_add(1, Relaxed);
        self.batch_records_total.fetch_add(records as u64, Relaxed);
        self.commit_latency_micros_total
            .fetch_add(latency.as_micros() as u64, Relaxed);
        self.commit_latency.observe(latency.as_secs_f64());
        self.batch_size.observe(records as f64);
    }

    pub(crate) fn aborted(&self) {
        self.batches_aborted.fetch_add(1, Relaxed);
    }

    pub(crate) fn restored(&self, records: u64, elapsed: Duration) {
        self.restore_records_total.fetch_add(records, Relaxed);
        self.restore_micros_total
            .fetch_add(elapsed.as_micros() as u64, Relaxed);
        self.restore_duration.observe(elapsed.as_secs_f64());
    }

    /// Records processed per message type.
    pub fn processed_by_type(&self) -> BTreeMap<String, u64> {
        self.by_type.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Records processed per message type whose command was rejected (`CommandRejected`).
    pub fn rejected_by_type(&self) -> BTreeMap<String, u64> {
        self.rejected_by_type
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Dead-lettered records per reason.
    pub fn dead_lettered_by_reason(&self) -> BTreeMap<&'static str, u64> {
        self.dead_letter_reasons
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }
}

/// Bucket bounds of latency histograms, seconds.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Bucket bounds of batch-size histograms, records.
pub const RECORDS_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
];

/// A histogram with fixed bucket bounds; observations are lock-free.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One counter per bound, plus `+Inf`; not cumulative.
    buckets: Vec<AtomicU64>,
    /// Sum of observations, in millionths.
    sum_micro: AtomicU64,
    count: AtomicU64,
}

/// A point-in-time copy of a [`Histogram`].
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, cumulative count)`, ending with `(f64::INFINITY, count)`.
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micro: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let value = if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        };
        let i = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(bucket) = self.buckets.get(i) {
            bucket.fetch_add(1, Relaxed);
        }
        self.sum_micro
            .fetch_add((value * 1_000_000.0) as u64, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(self.buckets.len());
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Relaxed);
            let bound = self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, cumulative));
        }
        HistogramSnapshot {
            count: cumulative,
            buckets,
            sum: self.sum_micro.load(Relaxed) as f64 / 1_000_000.0,
        }
    }
}

/// A [`Histogram`] over [`SECONDS_BUCKETS`].
#[derive(Debug)]
pub struct SecondsHistogram(Histogram);

impl Default for SecondsHistogram {
    fn default() -> Self {
        Self(Histogram::new(SECONDS_BUCKETS))
    }
}

impl Deref for SecondsHistogram {
    type Target = Histogram;
    fn deref(&self) -> &Histogram {
        &self.0
    }
}

/// A [`Histogram`] over [`RECORDS_BUCKETS`].
#[derive(Debug)]
pub struct RecordsHistogram(Histogram);

impl Default for RecordsHistogram {
    fn default() -> Self {
        Self(Histogram::new(RECORDS_BUCKETS))
    }
}

impl Deref for RecordsHistogram {
    type Target = Histogram;
    fn deref(&self) -> &Histogram {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 1.0, 5.0, 50.0] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(1.0, 2), (10.0, 3), (f64::INFINITY, 4)]);
        assert_eq!(s.count, 4);
        assert!((s.sum - 56.5).abs() < 1e-9);
    }

    #[test]
    fn committed_batches_feed_the_histograms() {
        let m = WorkerMetrics::default();
        m.committed(3, Duration::from_millis(20));
        m.processed("allocation.commands.Allocate", true);
        assert_eq!(m.batch_size.snapshot().count, 1);
        assert_eq!(m.commit_latency.snapshot().buckets[4], (0.025, 1));
        assert_eq!(m.rejected_by_type()["allocation.commands.Allocate"], 1);
    }
}
