//! The metric families of `run` (the worker), rendered from [`WorkerMetrics`] and the
//! [`ConsumerLag`] probe. Names follow Prometheus conventions: `allocation_worker_` prefix,
//! `_total` on counters, base units (`_seconds`) on histograms.
//!
//! Invariant: label values come from the contract (message types, dead-letter reasons, topic
//! names, partitions), never from configuration or secrets.

use std::sync::atomic::Ordering::Relaxed;

use super::prometheus::Exposition;
use crate::entrypoints::lag::ConsumerLag;
use crate::runtime::worker::WorkerMetrics;

/// Writes the worker's families.
pub fn render(out: &mut Exposition, m: &WorkerMetrics, lag: &ConsumerLag) {
    build_info(out);
    let name = "allocation_worker_records_processed_total";
    out.family(name, "counter", "Records applied to an aggregate or translated, by message type (rejected commands included).");
    for (t, n) in m.processed_by_type() {
        out.sample(name, &[("message_type", &t)], n as f64);
    }
    let name = "allocation_worker_records_rejected_total";
    out.family(
        name,
        "counter",
        "Commands rejected by a business rule (a CommandRejected event), by message type.",
    );
    for (t, n) in m.rejected_by_type() {
        out.sample(name, &[("message_type", &t)], n as f64);
    }
    let name = "allocation_worker_records_dead_lettered_total";
    out.family(
        name,
        "counter",
        "Records written to the dead-letter topic, by dlq-reason.",
    );
    for (reason, n) in m.dead_lettered_by_reason() {
        out.sample(name, &[("reason", reason)], n as f64);
    }
    let counter = |out: &mut Exposition, name: &str, help: &str, v: u64| {
        out.single(name, "counter", help, v as f64);
    };
    counter(
        out,
        "allocation_worker_records_rekeyed_total",
        "Commands re-keyed to the partition that owns their sku.",
        m.records_rekeyed.load(Relaxed),
    );
    counter(
        out,
        "allocation_worker_batches_committed_total",
        "Batches (transactions) committed.",
        m.batches_committed.load(Relaxed),
    );
    counter(
        out,
        "allocation_worker_batches_aborted_total",
        "Batches (transactions) aborted and processed again.",
        m.batches_aborted.load(Relaxed),
    );
    out.histogram(
        "allocation_worker_transaction_commit_duration_seconds",
        "Time to commit one batch: its outputs, offsets and the transaction.",
        &m.commit_latency.snapshot(),
    );
    out.histogram(
        "allocation_worker_batch_size_records",
        "Records consumed per committed batch.",
        &m.batch_size.snapshot(),
    );
    out.histogram(
        "allocation_worker_restore_duration_seconds",
        "Time to restore the command partitions one rebalance added (read together) from the changelog.",
        &m.restore_duration.snapshot(),
    );
    counter(
        out,
        "allocation_worker_restore_records_total",
        "Changelog records read while restoring.",
        m.restore_records_total.load(Relaxed),
    );
    counter(
        out,
        "allocation_worker_rebalances_total",
        "Consumer-group rebalance callbacks (revocations and assignments).",
        m.rebalances.load(Relaxed),
    );
    counter(
        out,
        "allocation_worker_recoveries_total",
        "In-process recoveries: a new producer and consumer after a fenced or broken producer.",
        m.recoveries.load(Relaxed),
    );
    out.single(
        "allocation_worker_assigned_partitions",
        "gauge",
        "Input partitions assigned to this replica.",
        m.assigned_partitions.load(Relaxed) as f64,
    );
    out.single(
        "allocation_worker_ready",
        "gauge",
        "1 when assigned partitions are restored and being processed.",
        f64::from(u8::from(m.ready.load(Relaxed))),
    );
    let name = "allocation_worker_consumer_lag";
    out.family(
        name,
        "gauge",
        "Records of the group not yet committed per input partition (high watermark - committed offset; group-wide).",
    );
    for ((topic, partition), n) in lag.snapshot() {
        let p = partition.to_string();
        out.sample(name, &[("topic", &topic), ("partition", &p)], n as f64);
    }
}

/// `allocation_worker_build_info{version}`: always 1.
pub fn build_info(out: &mut Exposition) {
    out.family(
        "allocation_worker_build_info",
        "gauge",
        "Build information; always 1.",
    )
    .sample(
        "allocation_worker_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_present_even_before_any_record() {
        let mut out = Exposition::new();
        render(&mut out, &WorkerMetrics::default(), &ConsumerLag::default());
        let text = out.finish();
        for family in [
            "allocation_worker_records_processed_total",
            "allocation_worker_records_rejected_total",
            "allocation_worker_records_dead_lettered_total",
            "allocation_worker_transaction_commit_duration_seconds",
            "allocation_worker_batch_size_records",
            "allocation_worker_restore_duration_seconds",
            "allocation_worker_rebalances_total",
            "allocation_worker_recoveries_total",
            "allocation_worker_consumer_lag",
            "allocation_worker_ready",
        ] {
            assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
        }
    }
}
