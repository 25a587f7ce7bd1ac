//! The drains of `bench all`: Kafka's own perf tools, the raw passthrough and the worker,
//! each consuming the preloaded commands of its topic prefix to the end (records/s from the
//! process being ready until its group committed every input offset; CPU and peak RSS from
//! `/proc`).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use allocation_worker::adapters::topics::Topics;
use anyhow::{anyhow, Context, Result};

use super::{say, Config, Ctx};
use crate::kafka::{self, OffsetWatch};
use crate::procmon;
use crate::report::{self, Drain};
use crate::worker::{self, own_session, Worker};

/// Runs a Java perf tool to completion, sampling its CPU and memory.
fn run_java(
    libs: &std::path::Path,
    class: &str,
    args: &[String],
    log: PathBuf,
) -> Result<(String, Drain)> {
    let started = Instant::now();
    let mut child = own_session(&mut Command::new("java"))
        .arg("-cp")
        .arg(format!("{}/*", libs.display()))
        .arg(class)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .context("running java (Kafka perf tools)")?;
    let pid = child.id();
    let sampler = std::thread::spawn(move || {
        let mut last = None;
        while let Some(s) = procmon::sample(pid) {
            last = Some(s);
            std::thread::sleep(Duration::from_millis(50));
        }
        last
    });
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        use std::io::Read;
        stdout.read_to_string(&mut out)?;
    }
    let status = child.wait()?;
    let last = sampler.join().ok().flatten();
    if !status.success() {
        return Err(anyhow!("{class} failed ({status}): {out}"));
    }
    let wall = started.elapsed().as_secs_f64();
    let drain = Drain {
        name: String::new(),
        records: 0,
        seconds: 0.0,
        records_per_second: 0.0,
        cpu_percent: last.map(|s| 100.0 * s.cpu_seconds / wall),
        peak_rss_bytes: last.map(|s| s.peak_rss_bytes),
        note: "CPU and RSS of the whole JVM, start-up included".into(),
        rounds: vec![],
    };
    Ok((out, drain))
}

pub(super) fn perf_tools(ctx: &Ctx, libs: &std::path::Path, avg_size: f64) -> Result<Vec<Drain>> {
    let o = ctx.o;
    let topic = format!("{}-perf", ctx.run);
    kafka::create_topics(ctx.env, std::slice::from_ref(&topic), o.partitions)?;
    let size = (avg_size.round() as u64).max(1);
    say(format!(
        "producer perf tool: {} records of {size} B",
        o.records
    ));
    let args: Vec<String> = [
        "--topic",
        &topic,
        "--num-records",
        &o.records.to_string(),
        "--record-size",
        &size.to_string(),
        "--throughput",
        "-1",
        "--producer-props",
        &format!("bootstrap.servers={}", ctx.env.bootstrap),
        "linger.ms=5",
        "compression.type=lz4",
        "enable.idempotence=true",
        "acks=all",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (out, mut p) = run_java(
        libs,
        "org.apache.kafka.tools.ProducerPerformance",
        &args,
        ctx.log("producer-perf"),
    )?;
    let rate = report::parse_producer_perf(&out)
        .ok_or_else(|| anyhow!("unparsable producer perf output: {out}"))?;
    p.name = report::PRODUCER_PERF.into();
    p.records = o.records;
    p.records_per_second = rate;
    p.seconds = o.records as f64 / rate;
    p.note = format!(
        "random {size} B values (the commands' average record size), lz4, acks=all; {}",
        p.note
    );

    let input = Topics::with_prefix(&ctx.prefix("raw")).commands;
    say("consumer perf tool");
    let args: Vec<String> = [
        "--bootstrap-server",
        &ctx.env.bootstrap,
        "--topic",
        &input,
        "--messages",
        &o.records.to_string(),
        "--group",
        &format!("{}-consumer-perf", ctx.run),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (out, mut c) = run_java(
        libs,
        "org.apache.kafka.tools.ConsumerPerformance",
        &args,
        ctx.log("consumer-perf"),
    )?;
    let (count, rate) = report::parse_consumer_perf(&out)
        .ok_or_else(|| anyhow!("unparsable consumer perf output: {out}"))?;
    c.name = report::CONSUMER_PERF.into();
    c.records = count;
    c.records_per_second = rate;
    c.seconds = count as f64 / rate;
    c.note = format!(
        "the preloaded commands; fetch rate (join excluded); {}",
        c.note
    );
    Ok(vec![p, c])
}

/// Measures one drain of `records` by the process `pid`, from `ready` until `group` has
/// committed every input offset.
fn measure_drain(
    ctx: &Ctx,
    name: &str,
    pid: u32,
    ready: Instant,
    group: &str,
    topic: &str,
    note: &str,
) -> Result<Drain> {
    let s0 = procmon::sample(pid).ok_or_else(|| anyhow!("{name}: process gone"))?;
    let watch = OffsetWatch::new(ctx.env, group, topic, ctx.o.partitions)?;
    let done = watch.wait_for(ctx.o.records, Duration::from_secs(1800))?;
    let s1 = procmon::sample(pid).ok_or_else(|| anyhow!("{name}: process gone"))?;
    let seconds = done.duration_since(ready).as_secs_f64();
    let d = Drain {
        name: name.into(),
        records: ctx.o.records,
        seconds,
        records_per_second: ctx.o.records as f64 / seconds,
        cpu_percent: Some(procmon::cpu_percent(&s0, &s1)),
        peak_rss_bytes: Some(s1.peak_rss_bytes),
        note: note.into(),
        rounds: vec![],
    };
    say(format!(
        "{name}: {:.0} records/s, CPU {:.0} %",
        d.records_per_second,
        d.cpu_percent.unwrap_or(0.0)
    ));
    Ok(d)
}

/// The raw passthrough of the preloaded commands under `prefix`, writing each to `outputs`
/// topics (a group and outputs of its own per round: it keeps no state, so every round reads
/// the same input).
pub(super) fn drain_raw(ctx: &Ctx, prefix: &str, outputs: usize, round: u32) -> Result<Drain> {
    let topics = Topics::with_prefix(prefix);
    let run = format!("passthrough-{outputs}-r{round}");
    let names: Vec<String> = (0..outputs)
        .map(|i| format!("{prefix}{run}-out-{i}"))
        .collect();
    kafka::create_topics(ctx.env, &names, ctx.o.partitions)?;
    let group = format!("{prefix}raw-{outputs}-r{round}");
    let mut args = vec![
        "--input".into(),
        topics.commands.clone(),
        "--group".into(),
        group.clone(),
        "--commit-ms".into(),
        "100".into(),
    ];
    for name in names {
        args.push("--output".into());
        args.push(name);
    }
    let (name, note) = if outputs == 1 {
        (
            report::RAW,
            "consume → produce key, value, headers; flush + commit every 100 ms",
        )
    } else {
        (
            report::RAW3,
            "the same, each input written to 3 topics (the worker writes ≈ 3 records per input)",
        )
    };
    let (mut child, ready) = worker::spawn_passthrough(&args, &ctx.log(&run))?;
    let result = measure_drain(ctx, name, child.id(), ready, &group, &topics.commands, note);
    worker::stop_child(&mut child)?;
    result
}

/// The worker in configuration `c` draining the commands preloaded under `tag`'s prefix.
pub(super) fn drain_worker(ctx: &Ctx, c: &Config, tag: &str) -> Result<Drain> {
    let prefix = ctx.prefix(tag);
    let group = format!("{prefix}worker");
    let mut w = Worker::spawn(
        &ctx.o.worker_bin,
        &ctx.spec(c, &prefix, &group),
        &ctx.log(tag),
    )?;
    let result = w.wait_ready(Duration::from_secs(120)).and_then(|ready| {
        let topic = Topics::with_prefix(&prefix).commands;
        measure_drain(
            ctx,
            &c.name,
            w.pid(),
            ready,
            &group,
            &topic,
            "events + changelog + view written per input",
        )
    });
    if let Ok((_, metrics)) = worker::http_get(&w.addr, "/metrics") {
        let _ = std::fs::write(ctx.o.out.join(format!("{tag}.metrics")), metrics);
    }
    w.stop()?;
    result
}
