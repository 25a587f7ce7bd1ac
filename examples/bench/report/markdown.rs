//! The markdown tables of a [`Report`]: drains, latency levels (end to end, then where the
//! time went and the CPU used), restore, memory and the targets.

use super::{mib, Latency, Report, RAW};

impl Report {
    /// The markdown tables.
    pub fn markdown(&self) -> String {
        let s = &self.sizes;
        let mut out = format!(
            "Measured {} on {}.\nDrain: {} commands over {} skus, {} partitions (max batch {}); latency: {} s per load level.\n",
            self.date, self.machine, s.records, s.skus, s.partitions, s.max_batch, s.latency_seconds
        );
        if let Some(line) = self.calibration.describe() {
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
        out.push_str("| drain | records/s | × raw passthrough | CPU % | peak RSS | |\n|---|---:|---:|---:|---:|---|\n");
        let raw = self.drain_rate(RAW);
        for d in &self.drain {
            let ratio = raw
                .filter(|r| *r > 0.0)
                .map(|r| format!("{:.2}", d.records_per_second / r))
                .unwrap_or_else(|| "–".into());
            out.push_str(&format!(
                "| {} | {:.0} | {} | {} | {} | {} |\n",
                d.name,
                d.records_per_second,
                ratio,
                d.cpu_percent
                    .map(|c| format!("{c:.0}"))
                    .unwrap_or_else(|| "–".into()),
                d.peak_rss_bytes.map(mib).unwrap_or_else(|| "–".into()),
                d.described()
            ));
        }
        if !self.latency.is_empty() {
            out.push_str("\n| end-to-end latency (read_committed) | load | rate/s | measured | p50 ms | p99 ms | p99.9 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
            for l in &self.latency {
                out.push_str(&format!(
                    "| {} | {} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                    l.name,
                    load(l),
                    l.rate_per_second,
                    l.measured,
                    l.p50_ms,
                    l.p99_ms,
                    l.p999_ms,
                    l.max_ms
                ));
            }
            out.push_str(&self.breakdown_table());
        }
        if let Some(r) = &self.restore {
            out.push_str(&format!(
                "\nRestore: {} changelog records ({} aggregates) in {:.2} s = **{:.0} records/s**.\n",
                r.changelog_records, r.aggregates, r.seconds, r.records_per_second
            ));
        }
        if let Some(m) = &self.memory {
            out.push_str(&format!(
                "Memory: {} aggregates (avg snapshot {:.0} B) → RSS {} vs {} for an empty worker = **{:.0} B per aggregate** + {} fixed.\n",
                m.aggregates,
                m.avg_snapshot_bytes,
                mib(m.restored_worker_rss_bytes),
                mib(m.empty_worker_rss_bytes),
                m.bytes_per_aggregate,
                mib(m.empty_worker_rss_bytes)
            ));
        }
        if !self.targets.is_empty() {
            out.push_str("\n| target | measured | holds |\n|---|---|---|\n");
            for t in &self.targets {
                out.push_str(&format!(
                    "| {} | {} | {} |\n",
                    t.target,
                    t.measured,
                    if t.holds { "yes" } else { "**no**" }
                ));
            }
        }
        out
    }

    /// Where each latency level's time went, and the CPU used meanwhile.
    fn breakdown_table(&self) -> String {
        let cores = self.latency.first().map_or(1, |l| l.breakdown.cores);
        let mut out = format!(
            "\n| where the time went, p50 / p99 ms | load | sent → processed | processed → visible | CPU % worker | driver | machine (of {}) |\n|---|---:|---:|---:|---:|---:|---:|\n",
            cores * 100
        );
        for l in &self.latency {
            let b = &l.breakdown;
            out.push_str(&format!(
                "| {} | {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.0} | {:.0} | {:.0} |\n",
                l.name,
                load(l),
                b.to_processed_p50_ms,
                b.to_processed_p99_ms,
                b.to_visible_p50_ms,
                b.to_visible_p99_ms,
                b.cpu_worker_percent,
                b.cpu_driver_percent,
                b.cpu_machine_percent
            ));
        }
        out
    }
}

/// A level's load: its percentage, marked when its rate is fixed rather than a percentage.
fn load(l: &Latency) -> String {
    if l.fixed_rate {
        format!("{} % (fixed rate)", l.load_percent)
    } else {
        format!("{} %", l.load_percent)
    }
}
