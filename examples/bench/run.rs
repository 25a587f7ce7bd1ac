//! The orchestration of `bench all`: one fresh topic prefix per configuration, preload,
//! drains, latency levels, restore and memory — in one run so the ratios are side by side.

use std::path::PathBuf;
use std::time::Instant;

use allocation_worker::adapters::topics::Topics;
use anyhow::{anyhow, Result};

use crate::calibrate::{self, Calibration};
use crate::kafka::{self, Encoded, Env};
use crate::procmon;
use crate::report::{self, Drain, Report, Sizes};
use crate::worker::{self, WorkerSpec};
use crate::workload;

mod drain;
mod levels;
mod restore;

use drain::{drain_raw, drain_worker, perf_tools};
use levels::latency_runs;
use restore::restore_and_memory;

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Where result.json, result.md and the logs go.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// The worker binary (release).
    #[arg(long, default_value = "target/release/allocation-worker")]
    pub worker_bin: PathBuf,
    /// Kafka's libs/ directory (for the perf tools); none skips them.
    #[arg(long)]
    pub kafka_libs: Option<PathBuf>,
    /// Commands preloaded per drain (including one CreateBatch per sku).
    #[arg(long, env = "BENCH_RECORDS", default_value_t = 200_000)]
    pub records: u64,
    #[arg(long, env = "BENCH_SKUS", default_value_t = 20_000)]
    pub skus: u64,
    #[arg(long, env = "BENCH_PARTITIONS", default_value_t = 8)]
    pub partitions: i32,
    /// Seconds of open-loop sending per load level.
    #[arg(long, env = "BENCH_LATENCY_SECONDS", default_value_t = 15)]
    pub latency_seconds: u64,
    #[arg(long, env = "BENCH_MAX_BATCH", default_value_t = 10_000)]
    pub max_batch: u64,
    /// Which parts to run (comma-separated: perf,raw,worker,latency,restore).
    #[arg(
        long,
        env = "BENCH_PARTS",
        default_value = "perf,raw,worker,latency,restore"
    )]
    pub parts: String,
    /// Which worker configurations to run (comma-separated tags: alo100,eos10,eos100,eos1000).
    #[arg(
        long,
        env = "BENCH_CONFIGS",
        default_value = "alo100,eos10,eos100,eos1000"
    )]
    pub configs: String,
    /// The latency runs' load levels, % of the 100 % rate (comma-separated).
    #[arg(
        long,
        env = "BENCH_LOADS",
        value_delimiter = ',',
        default_value = "25,50,80"
    )]
    pub loads: Vec<u32>,
    /// Latency levels at fixed rates, records/s (comma-separated; `none` for none), run before
    /// the percentages: every run measures the same load there, whatever its drains gave.
    #[arg(long, env = "BENCH_FIXED_RATES", default_value = "20000")]
    pub fixed_rates: String,
    /// Seconds of open-loop sending at each level's rate before the measured part (the
    /// worker's warm-up: first transactions, caches, connections), not counted.
    #[arg(long, env = "BENCH_WARMUP_SECONDS", default_value_t = 2)]
    pub warmup_seconds: u64,
    /// The latency runs' 100 % rate, records/s (default: each configuration's drained rate;
    /// set it to run `latency` without the `worker` drains).
    #[arg(long, env = "BENCH_LATENCY_MAX_RATE")]
    pub latency_max_rate: Option<f64>,
    /// Rounds of the drains that decide the throughput targets (raw passthrough, worker
    /// at-least-once and exactly-once 100 ms), interleaved; each reports its median round. One
    /// drain of the same code varies by ±15 % on a shared machine.
    #[arg(long, env = "BENCH_ROUNDS", default_value_t = 3)]
    pub rounds: u32,
    /// Keep the run's topics (deleted at the end by default: they hold several GB).
    #[arg(long, env = "BENCH_KEEP_TOPICS", value_parser = clap::builder::FalseyValueParser::new())]
    pub keep_topics: bool,
    /// Delete, before the run, the topics that earlier runs left behind (`bench-*`: a run
    /// that was killed could not delete its own); without it they are only reported.
    #[arg(long, env = "BENCH_CLEAN", value_parser = clap::builder::FalseyValueParser::new())]
    pub clean: bool,
}

impl Options {
    fn part(&self, name: &str) -> bool {
        self.parts.split(',').any(|p| p.trim() == name)
    }
    fn config(&self, tag: &str) -> bool {
        self.configs.split(',').any(|c| c.trim() == tag)
    }
    fn fixed_rates(&self) -> Result<Vec<f64>> {
        self.fixed_rates
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty() && *r != "none")
            .map(|r| match r.parse::<f64>() {
                Ok(rate) if rate > 0.0 => Ok(rate),
                _ => Err(anyhow!("BENCH_FIXED_RATES: {r:?} is not a positive rate")),
            })
            .collect()
    }
}

/// One worker configuration.
#[derive(Debug, Clone)]
struct Config {
    name: String,
    tag: String,
    exactly_once: bool,
    commit_ms: u64,
}

/// The worker configurations whose drains run [`Options::rounds`] times.
const REPEATED: [&str; 2] = ["alo100", "eos100"];

/// The topic-prefix tag of a configuration's drain in `round` (1: the plain tag, whose
/// changelog the restore reads).
fn round_tag(tag: &str, round: u32) -> String {
    if round <= 1 {
        tag.to_owned()
    } else {
        format!("{tag}-r{round}")
    }
}

fn configs() -> Vec<Config> {
    let mut v = vec![Config {
        name: report::ALO.into(),
        tag: "alo100".into(),
        exactly_once: false,
        commit_ms: 100,
    }];
    for ms in [10, 100, 1000] {
        v.push(Config {
            name: report::eos_name(ms),
            tag: format!("eos{ms}"),
            exactly_once: true,
            commit_ms: ms,
        });
    }
    v
}

struct Ctx<'a> {
    env: &'a Env,
    o: &'a Options,
    run: String,
    codec: allocation_worker::adapters::codec::Codec,
    rt: tokio::runtime::Runtime,
}

impl Ctx<'_> {
    fn prefix(&self, tag: &str) -> String {
        format!("{}-{tag}.", self.run)
    }
    fn log(&self, name: &str) -> PathBuf {
        self.o.out.join(format!("{name}.log"))
    }
    fn spec(&self, c: &Config, prefix: &str, group: &str) -> WorkerSpec {
        WorkerSpec {
            prefix: prefix.into(),
            group: group.into(),
            transactional_id: format!("{group}-0"),
            exactly_once: c.exactly_once,
            commit_ms: c.commit_ms,
            max_batch: self.o.max_batch,
        }
    }
    /// Creates the worker's topics under `prefix` and preloads `commands` (encoded for it).
    fn preload(
        &self,
        prefix: &str,
        commands: &[allocation_worker::domain::Command],
    ) -> Result<Vec<Encoded>> {
        worker::create_worker_topics(&self.o.worker_bin, prefix, self.o.partitions)?;
        let topics = Topics::with_prefix(prefix);
        let encoded = kafka::encode(&self.codec, &self.rt, &topics, commands)?;
        kafka::preload(self.env, &topics.commands, &encoded)?;
        Ok(encoded)
    }
}

fn say(text: impl AsRef<str>) {
    eprintln!("bench: {}", text.as_ref());
}

impl<'a> Ctx<'a> {
    fn new(env: &'a Env, o: &'a Options, stamp: chrono::DateTime<chrono::Utc>) -> Result<Self> {
        Ok(Ctx {
            env,
            o,
            run: format!("bench-{}", stamp.format("%Y%m%d%H%M%S")),
            codec: env.codec()?,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }
}

/// `bench preload`: the drain's commands preloaded under a new prefix (`<run>-manual.`),
/// returned; its topics are kept (`BENCH_CLEAN` deletes them in a later run).
pub fn preload_only(env: &Env, o: &Options) -> Result<String> {
    let ctx = Ctx::new(env, o, chrono::Utc::now())?;
    let mix = o.records.saturating_sub(o.skus) as usize;
    let commands = workload::drain_workload(o.skus, mix, 42).map_err(|e| anyhow!(e))?;
    let prefix = ctx.prefix("manual");
    ctx.preload(&prefix, &commands)?;
    say(format!(
        "preloaded {} commands under {prefix}",
        commands.len()
    ));
    Ok(prefix)
}

pub fn all(env: &Env, o: &Options) -> Result<Report> {
    // Refused before anything runs, not after the drains.
    o.fixed_rates()?;
    let stamp = chrono::Utc::now();
    let ctx = Ctx::new(env, o, stamp)?;
    leftovers(env, o.clean);
    let measured = measure(&ctx, stamp);
    // Every run creates its own topics (several GB at the default sizes): delete them, also
    // after a failure, unless asked to keep them for a look.
    if !o.keep_topics {
        let prefix = format!("{}-", ctx.run);
        match kafka::delete_topics_with_prefix(env, &prefix) {
            Ok(n) => say(format!("deleted the run's {n} topics ({prefix}*)")),
            Err(e) => say(format!(
                "could not delete the run's topics ({prefix}*): {e}"
            )),
        }
    }
    measured
}

/// Reports (or, with `clean`, deletes) the topics of earlier runs: a killed run leaves several
/// GB behind, and a broker whose disk fills stops ("all log dirs have failed").
fn leftovers(env: &Env, clean: bool) {
    let prefix = "bench-";
    let result = if clean {
        kafka::delete_topics_with_prefix(env, prefix).map(|n| {
            if n > 0 {
                say(format!(
                    "deleted {n} topics that earlier runs left ({prefix}*)"
                ));
            }
        })
    } else {
        kafka::topics_with_prefix(env, prefix).map(|names| {
            if !names.is_empty() {
                say(format!(
                    "{} topics of earlier runs ({prefix}*) hold disk space; BENCH_CLEAN=1 deletes them",
                    names.len()
                ));
            }
        })
    };
    if let Err(e) = result {
        say(format!("could not look for earlier runs' topics: {e}"));
    }
}

fn measure(ctx: &Ctx, stamp: chrono::DateTime<chrono::Utc>) -> Result<Report> {
    let o = ctx.o;
    let mut report = Report {
        date: stamp.format("%Y-%m-%d %H:%M UTC").to_string(),
        machine: machine(),
        calibration: Calibration {
            start: Some(calibrate::check()),
            end: None,
        },
        sizes: Sizes {
            records: o.records,
            skus: o.skus,
            partitions: o.partitions,
            latency_seconds: o.latency_seconds,
            max_batch: o.max_batch,
        },
        drain: vec![],
        latency: vec![],
        restore: None,
        memory: None,
        targets: vec![],
    };
    let mix = o.records.saturating_sub(o.skus) as usize;
    let commands = workload::drain_workload(o.skus, mix, 42).map_err(|e| anyhow!(e))?;
    say(format!(
        "run {}: {} commands, {} skus",
        ctx.run,
        commands.len(),
        o.skus
    ));

    // Preload every configuration's input first, so the drains run back to back.
    let raw_prefix = ctx.prefix("raw");
    let mut avg_size = 0.0;
    if o.part("raw") || o.part("perf") {
        let t = Instant::now();
        let encoded = ctx.preload(&raw_prefix, &commands)?;
        avg_size = encoded.iter().map(Encoded::size).sum::<usize>() as f64 / encoded.len() as f64;
        say(format!(
            "preloaded {raw_prefix} in {:.1} s (avg record {avg_size:.0} B)",
            t.elapsed().as_secs_f64()
        ));
    }
    let selected: Vec<Config> = configs().into_iter().filter(|c| o.config(&c.tag)).collect();
    let worker_configs = if o.part("worker") {
        selected.clone()
    } else {
        vec![]
    };
    let rounds = o.rounds.max(1);
    let repeated: Vec<&Config> = worker_configs
        .iter()
        .filter(|c| REPEATED.contains(&c.tag.as_str()))
        .collect();
    let preloads = worker_configs.iter().map(|c| c.tag.clone()).chain(
        (2..=rounds).flat_map(|round| repeated.iter().map(move |c| round_tag(&c.tag, round))),
    );
    for tag in preloads {
        let t = Instant::now();
        ctx.preload(&ctx.prefix(&tag), &commands)?;
        say(format!(
            "preloaded {} in {:.1} s",
            ctx.prefix(&tag),
            t.elapsed().as_secs_f64()
        ));
    }

    if o.part("perf") {
        if let Some(libs) = &o.kafka_libs {
            report.drain.extend(perf_tools(ctx, libs, avg_size)?);
        }
    }
    // Round 1 drains everything; the further rounds repeat the drains of the throughput
    // targets, interleaved, and each of those reports its median round.
    let mut raw_rounds = Vec::new();
    let mut raw3 = None;
    let mut worker_rounds: Vec<Vec<Drain>> = vec![Vec::new(); worker_configs.len()];
    for round in 1..=rounds {
        if o.part("raw") {
            raw_rounds.push(drain_raw(ctx, &raw_prefix, 1, round)?);
            if round == 1 {
                raw3 = Some(drain_raw(ctx, &raw_prefix, 3, round)?);
            }
        }
        for (c, drains) in worker_configs.iter().zip(&mut worker_rounds) {
            if round == 1 || REPEATED.contains(&c.tag.as_str()) {
                drains.push(drain_worker(ctx, c, &round_tag(&c.tag, round))?);
            }
        }
    }
    report.drain.extend(Drain::median_of(raw_rounds));
    report.drain.extend(raw3);
    report
        .drain
        .extend(worker_rounds.into_iter().filter_map(Drain::median_of));
    let eos100 = worker_configs.iter().find(|c| c.tag == "eos100");
    if let (true, Some(eos100)) = (o.part("restore"), eos100) {
        let (restore, memory) = restore_and_memory(ctx, eos100)?;
        report.restore = Some(restore);
        report.memory = Some(memory);
    }
    if o.part("latency") {
        for c in &selected {
            let drained = report
                .drain
                .iter()
                .find(|d| d.name == c.name)
                .map(|d| d.records_per_second);
            let Some(max) = o.latency_max_rate.or(drained) else {
                continue;
            };
            report.latency.extend(latency_runs(ctx, c, max)?);
        }
    }
    report.calibration.end = Some(calibrate::check());
    report.evaluate();
    Ok(report)
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown CPU");
    let cores = procmon::cores();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = procmon::status_kib_field(&meminfo, "MemTotal").unwrap_or(0);
    format!(
        "{model}, {cores} cores, {:.0} GiB RAM (shared machine, single broker on the same host)",
        mem as f64 / (1u64 << 30) as f64
    )
}
