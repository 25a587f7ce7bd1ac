//! The benchmark's results: what is measured, the targets of issue #8 evaluated on them, the
//! markdown tables (`markdown`), and the parsers of Kafka's perf tools' output. Pure,
//! unit-tested.

use serde::Serialize;

mod markdown;

/// One drain: `records` preloaded input records consumed (and their effects committed).
#[derive(Debug, Clone, Serialize)]
pub struct Drain {
    pub name: String,
    pub records: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    /// CPU of the measured process over the drain, % of one core (`None`: not measured).
    pub cpu_percent: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    pub note: String,
    /// records/s of every round, in the order they ran, when the drain ran more than once
    /// (the other fields are the median round's).
    pub rounds: Vec<f64>,
}

impl Drain {
    /// The median round (the lower of the two middle ones for an even count), listing every
    /// round's rate; `None` for no rounds.
    pub fn median_of(mut rounds: Vec<Drain>) -> Option<Drain> {
        let rates: Vec<f64> = rounds.iter().map(|d| d.records_per_second).collect();
        rounds.sort_by(|a, b| a.records_per_second.total_cmp(&b.records_per_second));
        let mut median = rounds.into_iter().nth((rates.len().max(1) - 1) / 2)?;
        if rates.len() > 1 {
            median.rounds = rates;
        }
        Some(median)
    }

    /// The note, preceded by the rounds when there were several.
    fn described(&self) -> String {
        if self.rounds.len() < 2 {
            return self.note.clone();
        }
        let rates: Vec<String> = self.rounds.iter().map(|r| format!("{r:.0}")).collect();
        format!(
            "median of {} rounds ({}); {}",
            self.rounds.len(),
            rates.join(", "),
            self.note
        )
    }
}

/// One open-loop latency run.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub name: String,
    pub commit_interval_ms: Option<u64>,
    /// Percent of the configuration's drained maximum (of a fixed rate: rounded).
    pub load_percent: u32,
    /// Sent at a rate fixed for every run (`BENCH_FIXED_RATES`) rather than a percentage.
    pub fixed_rate: bool,
    pub rate_per_second: f64,
    pub sent: u64,
    pub measured: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub breakdown: Breakdown,
}

/// Where a latency level's time went (see the `latency` module), and the CPU the machine's
/// processes used meanwhile, % of one core. The percentiles of the two parts do not add up
/// to the end-to-end ones: they are taken over the records separately.
#[derive(Debug, Clone, Serialize)]
pub struct Breakdown {
    /// Intended send time → the worker produced the command's first event.
    pub to_processed_p50_ms: f64,
    pub to_processed_p99_ms: f64,
    /// That event produced → read committed by the verifier.
    pub to_visible_p50_ms: f64,
    pub to_visible_p99_ms: f64,
    pub cpu_worker_percent: f64,
    /// The bench process: the sender and the verifier.
    pub cpu_driver_percent: f64,
    /// Every process on the machine (the broker too, when it runs here).
    pub cpu_machine_percent: f64,
    pub cores: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Restore {
    pub changelog_records: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    pub aggregates: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub aggregates: u64,
    pub empty_worker_rss_bytes: u64,
    pub restored_worker_rss_bytes: u64,
    pub bytes_per_aggregate: f64,
    /// Average changelog snapshot value size (the aggregate's serialized size).
    pub avg_snapshot_bytes: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub target: String,
    pub measured: String,
    pub holds: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    pub records: u64,
    pub skus: u64,
    pub partitions: i32,
    pub latency_seconds: u64,
    pub max_batch: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub date: String,
    pub machine: String,
    /// How fast one thread and the memory were at the start and the end of the run.
    pub calibration: crate::calibrate::Calibration,
    pub sizes: Sizes,
    pub drain: Vec<Drain>,
    pub latency: Vec<Latency>,
    pub restore: Option<Restore>,
    pub memory: Option<Memory>,
    pub targets: Vec<Target>,
}

impl Report {
    fn drain_rate(&self, name: &str) -> Option<f64> {
        self.drain
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.records_per_second)
    }

    /// Evaluates the targets on what was measured (a target whose inputs are missing
    /// is not listed).
    pub fn evaluate(&mut self) {
        let mut t = Vec::new();
        let raw = self.drain_rate(RAW);
        let eos = self.drain_rate(&eos_name(100));
        let alo = self.drain_rate(ALO);
        if let (Some(raw), Some(eos)) = (raw, eos) {
            let ratio = eos / raw;
            t.push(Target {
                target: "exactly-once 100 ms ≥ 0.5 × raw passthrough".into(),
                measured: format!("{ratio:.2} ×"),
                holds: ratio >= 0.5,
            });
        }
        if let (Some(alo), Some(eos)) = (alo, eos) {
            let overhead = 100.0 * (1.0 - eos / alo);
            t.push(Target {
                target: "exactly-once 100 ms overhead ≤ 10 % vs at-least-once".into(),
                measured: format!("{overhead:.1} %"),
                holds: overhead <= 10.0,
            });
        }
        for l in self
            .latency
            .iter()
            .filter(|l| l.load_percent == 50 && !l.fixed_rate)
        {
            if let Some(ms) = l.commit_interval_ms {
                let bound = ms as f64 + 25.0;
                t.push(Target {
                    target: format!("p99 at 50 % load ≤ {ms} + 25 ms ({})", l.name),
                    measured: format!("{:.1} ms", l.p99_ms),
                    holds: l.p99_ms <= bound,
                });
            }
        }
        if let Some(r) = &self.restore {
            t.push(Target {
                target: "restore ≥ 300k changelog records/s".into(),
                measured: format!("{:.0}/s", r.records_per_second),
                holds: r.records_per_second >= 300_000.0,
            });
        }
        if let Some(m) = &self.memory {
            t.push(Target {
                target: "memory ≤ 1 KiB per aggregate (+ fixed)".into(),
                measured: format!(
                    "{:.0} B/aggregate + {} fixed",
                    m.bytes_per_aggregate,
                    mib(m.empty_worker_rss_bytes)
                ),
                holds: m.bytes_per_aggregate <= 1024.0,
            });
        }
        self.targets = t;
    }
}

pub const RAW: &str = "raw rdkafka passthrough (at-least-once)";
/// The passthrough writing every input to three topics: the worker writes about three
/// records per input (event, snapshot, view row).
pub const RAW3: &str = "raw rdkafka passthrough, 3 outputs per input (at-least-once)";
pub const ALO: &str = "worker at-least-once (100 ms)";
pub const PRODUCER_PERF: &str = "broker: kafka-producer-perf-test";
pub const CONSUMER_PERF: &str = "broker: kafka-consumer-perf-test";

pub fn eos_name(commit_ms: u64) -> String {
    format!("worker exactly-once {commit_ms} ms")
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// records/s from the summary line of `ProducerPerformance`
/// (`100000 records sent, 52854.1 records/sec (5.04 MB/sec), …`).
pub fn parse_producer_perf(output: &str) -> Option<f64> {
    output
        .lines()
        .rev()
        .find(|l| l.contains("records sent,"))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|f| f.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// (messages, fetch messages/s) from `ConsumerPerformance`'s CSV line (header `start.time,
/// end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms,
/// fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec`).
pub fn parse_consumer_perf(output: &str) -> Option<(u64, f64)> {
    let mut lines = output.lines();
    let header = lines.by_ref().find(|l| l.contains("nMsg.sec"))?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let values: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    let get = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .and_then(|i| values.get(i))
    };
    let count = get("data.consumed.in.nMsg")?.parse().ok()?;
    let rate = get("fetch.nMsg.sec")
        .or_else(|| get("nMsg.sec"))?
        .parse()
        .ok()?;
    Some((count, rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(name: &str, rate: f64) -> Drain {
        Drain {
            name: name.into(),
            records: 1000,
            seconds: 1000.0 / rate,
            records_per_second: rate,
            cpu_percent: Some(90.0),
            peak_rss_bytes: Some(50 << 20),
            note: String::new(),
            rounds: vec![],
        }
    }

    #[test]
    fn the_median_round_is_reported_with_every_round() {
        let median = Drain::median_of(vec![
            drain(RAW, 120_000.0),
            drain(RAW, 90_000.0),
            drain(RAW, 100_000.0),
        ])
        .expect("three rounds");
        assert_eq!(median.records_per_second, 100_000.0);
        assert_eq!(median.rounds, vec![120_000.0, 90_000.0, 100_000.0]);
        assert!(median
            .described()
            .starts_with("median of 3 rounds (120000, 90000, 100000); "));
        let lower = Drain::median_of(vec![drain(RAW, 2.0), drain(RAW, 1.0)]).expect("two");
        assert_eq!(lower.records_per_second, 1.0);
        let single = Drain::median_of(vec![drain(RAW, 7.0)]).expect("one");
        assert!(single.rounds.is_empty());
        assert!(Drain::median_of(vec![]).is_none());
    }

    fn report() -> Report {
        Report {
            date: "2026-11-30".into(),
            machine: "test".into(),
            calibration: Default::default(),
            sizes: Sizes {
                records: 1000,
                skus: 10,
                partitions: 8,
                latency_seconds: 10,
                max_batch: 1000,
            },
            drain: vec![
                drain(RAW, 100_000.0),
                drain(ALO, 60_000.0),
                drain(&eos_name(100), 57_000.0),
            ],
            latency: vec![Latency {
                name: eos_name(100),
                commit_interval_ms: Some(100),
                load_percent: 50,
                fixed_rate: false,
                rate_per_second: 28_500.0,
                sent: 10,
                measured: 10,
                p50_ms: 60.0,
                p99_ms: 130.0,
                p999_ms: 140.0,
                max_ms: 150.0,
                breakdown: Breakdown {
                    to_processed_p50_ms: 12.0,
                    to_processed_p99_ms: 31.5,
                    to_visible_p50_ms: 61.0,
                    to_visible_p99_ms: 110.0,
                    cpu_worker_percent: 75.0,
                    cpu_driver_percent: 21.0,
                    cpu_machine_percent: 160.0,
                    cores: 2,
                },
            }],
            restore: Some(Restore {
                changelog_records: 10,
                seconds: 0.5,
                records_per_second: 20.0,
                aggregates: 10,
            }),
            memory: None,
            targets: vec![],
        }
    }

    #[test]
    fn targets_are_ratios_of_the_same_run() {
        let mut r = report();
        r.evaluate();
        let holds: Vec<(String, bool)> = r
            .targets
            .iter()
            .map(|t| (t.measured.clone(), t.holds))
            .collect();
        assert_eq!(
            holds,
            vec![
                ("0.57 ×".to_string(), true),
                ("5.0 %".to_string(), true),
                ("130.0 ms".to_string(), false),
                ("20/s".to_string(), false),
            ]
        );
    }

    #[test]
    fn a_fixed_rate_level_is_shown_but_not_held_to_the_targets() {
        let mut r = report();
        let mut fixed = r.latency[0].clone();
        fixed.fixed_rate = true;
        fixed.p99_ms = 90.0;
        r.latency.insert(0, fixed);
        r.evaluate();
        let latency: Vec<&str> = r
            .targets
            .iter()
            .filter(|t| t.target.starts_with("p99"))
            .map(|t| t.measured.as_str())
            .collect();
        assert_eq!(latency, vec!["130.0 ms"]);
        assert!(r.markdown().contains("| 50 % (fixed rate) | 28500 |"));
    }

    #[test]
    fn the_table_shows_every_measurement_and_ratio() {
        let mut r = report();
        r.evaluate();
        let md = r.markdown();
        assert!(md.contains("| worker exactly-once 100 ms | 57000 | 0.57 | 90 | 50.0 MiB |"));
        assert!(md.contains("| 50 % | 28500 |"));
        assert!(md.contains("| machine (of 200) |"));
        assert!(md.contains("| 50 % | 12.0 / 31.5 | 61.0 / 110.0 | 75 | 21 | 160 |"));
        assert!(md.contains("| **no** |"));
        assert!(md.contains("1000 commands over 10 skus"));
    }

    #[test]
    fn perf_tool_output_is_parsed() {
        let p = "WARN something\n500000 records sent, 123456.7 records/sec (12.34 MB/sec), 5.1 ms avg latency, 300.0 ms max latency, 3 ms 50th, 10 ms 95th.\n";
        assert_eq!(parse_producer_perf(p), Some(123_456.7));
        let c = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n2026-11-30 04:00:00:000, 2026-11-30 04:00:02:000, 20.0, 10.0, 200000, 100000.0, 300, 1700, 11.7, 117647.1\n";
        assert_eq!(parse_consumer_perf(c), Some((200_000, 117_647.1)));
        assert_eq!(parse_consumer_perf("nothing"), None);
    }
}
