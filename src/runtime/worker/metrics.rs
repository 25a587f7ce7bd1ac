//! Counters and gauges of the worker runtime, kept as atomics so the HTTP endpoint (and tests)
//! can read them from other threads while the processing thread updates them.

use std::collections::BTreeMap;
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
    pub assigned_partitions: AtomicU64,
    /// True once the group assigned partitions and all of them are restored.
    pub ready: AtomicBool,
    by_type: Mutex<BTreeMap<String, u64>>,
    dead_letter_reasons: Mutex<BTreeMap<&'static str, u64>>,
}

impl WorkerMetrics {
    pub(crate) fn processed(&self, message_type: &str, rejected: bool) {
        self.records_processed.fetch_add(1, Relaxed);
        if rejected {
            self.records_rejected.fetch_add(1, Relaxed);
        }
        if let Ok(mut map) = self.by_type.lock() {
            *map.entry(message_type.to_owned()).or_default() += 1;
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
    }

    pub(crate) fn aborted(&self) {
        self.batches_aborted.fetch_add(1, Relaxed);
    }

    pub(crate) fn restored(&self, records: u64, elapsed: Duration) {
        self.restore_records_total.fetch_add(records, Relaxed);
        self.restore_micros_total
            .fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    /// Records processed per message type.
    pub fn processed_by_type(&self) -> BTreeMap<String, u64> {
        self.by_type.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Dead-lettered records per reason.
    pub fn dead_lettered_by_reason(&self) -> BTreeMap<&'static str, u64> {
        self.dead_letter_reasons
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }
}
