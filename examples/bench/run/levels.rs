//! The latency levels of `bench all`: one worker per configuration, its setup preloaded and
//! committed, then each load level sent open-loop (see the `latency` module of the bench) and
//! summarized: end to end, where the time went, and the CPU used meanwhile.

use std::time::{Duration, Instant};

use allocation_worker::adapters::topics::Topics;
use anyhow::{anyhow, Result};

use super::{say, Config, Ctx};
use crate::kafka::{self, OffsetWatch};
use crate::latency::{self, Verifier};
use crate::procmon;
use crate::report::{Breakdown, Latency};
use crate::worker::{self, Worker};
use crate::workload::Workload;

/// One latency level: its rate, and that rate as a percentage of the configuration's 100 %.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Level {
    rate: f64,
    load_percent: u32,
    fixed: bool,
}

/// The fixed rates first (the worker is then fresh from its setup, not behind after an
/// overload), then the percentages of `max_rate`.
fn levels(fixed: Vec<f64>, loads: &[u32], max_rate: f64) -> Vec<Level> {
    let fixed = fixed.into_iter().map(|rate| Level {
        rate,
        load_percent: (100.0 * rate / max_rate.max(1.0)).round() as u32,
        fixed: true,
    });
    let relative = loads.iter().map(|&load| Level {
        rate: max_rate * load as f64 / 100.0,
        load_percent: load,
        fixed: false,
    });
    fixed.chain(relative).collect()
}

pub(super) fn latency_runs(ctx: &Ctx, c: &Config, max_rate: f64) -> Result<Vec<Latency>> {
    let prefix = ctx.prefix(&format!("lat-{}", c.tag));
    let topics = Topics::with_prefix(&prefix);
    let mut w = Workload::new(ctx.o.skus, 4242);
    let setup: Vec<_> = w
        .setup()
        .iter()
        .map(|j| allocation_worker::entrypoints::produce::parse_command(j))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!(e))?;
    ctx.preload(&prefix, &setup)?;
    let group = format!("{prefix}worker");
    let mut worker = Worker::spawn(
        &ctx.o.worker_bin,
        &ctx.spec(c, &prefix, &group),
        &ctx.log(&format!("lat-{}", c.tag)),
    )?;
    let result = (|| -> Result<Vec<Latency>> {
        worker.wait_ready(Duration::from_secs(120))?;
        OffsetWatch::new(ctx.env, &group, &topics.commands, ctx.o.partitions)?
            .wait_for(setup.len() as u64, Duration::from_secs(600))?;
        let verifier = Verifier::start(ctx.env, &topics.events, ctx.o.partitions)?;
        let mut out = vec![];
        for Level {
            rate,
            load_percent: load,
            fixed,
        } in levels(ctx.o.fixed_rates()?, &ctx.o.loads, max_rate)
        {
            let n = (rate * ctx.o.latency_seconds as f64) as usize;
            let warm = (rate * ctx.o.warmup_seconds as f64) as usize;
            let commands = w.commands(warm + n).map_err(|e| anyhow!(e))?;
            let encoded = kafka::encode(&ctx.codec, &ctx.rt, &topics, &commands)?;
            verifier.take();
            let (w0, d0, m0) = (
                procmon::sample(worker.pid()),
                procmon::sample(std::process::id()),
                procmon::machine_sample(),
            );
            let progress = std::env::var_os("BENCH_TRACE").map(|_| {
                let (env, group, topic, parts) =
                    (ctx.env.clone(), group.clone(), topics.commands.clone(), ctx.o.partitions);
                let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let s2 = stop.clone();
                let pending = verifier.pending_handle();
                let t = std::thread::spawn(move || {
                    let Ok(watch) = OffsetWatch::new(&env, &group, &topic, parts) else {
                        return;
                    };
                    let t0 = Instant::now();
                    while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                        let committed = watch.committed().unwrap_or(0);
                        let end = watch.end().unwrap_or(0);
                        let outstanding = pending.lock().map(|p| p.len()).unwrap_or(0);
                        say(format!(
                            "  t={:.1}s input end {end}, worker committed {committed} (lag {}), verifier outstanding {outstanding}",
                            t0.elapsed().as_secs_f64(),
                            end.saturating_sub(committed)
                        ));
                        std::thread::sleep(Duration::from_millis(1000));
                    }
                });
                (stop, t)
            });
            let sent = latency::send_open_loop(
                ctx.env,
                &topics.commands,
                &encoded,
                warm,
                rate,
                &verifier,
            )?;
            let (w1, d1, m1) = (
                procmon::sample(worker.pid()),
                procmon::sample(std::process::id()),
                procmon::machine_sample(),
            );
            let cpu = |a: Option<procmon::Sample>, b: Option<procmon::Sample>| match (a, b) {
                (Some(a), Some(b)) => procmon::cpu_percent(&a, &b),
                _ => f64::NAN,
            };
            let deadline =
                Instant::now() + Duration::from_millis(c.commit_ms) + Duration::from_secs(30);
            while verifier.outstanding() > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Some((stop, t)) = progress {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                let _ = t.join();
            }
            let missing = verifier.outstanding();
            let recorded = verifier.take();
            let s = latency::summarize(&recorded.end_to_end);
            let (to_processed, to_visible) = (
                latency::summarize(&recorded.to_processed),
                latency::summarize(&recorded.to_visible),
            );
            let breakdown = Breakdown {
                to_processed_p50_ms: to_processed.p50_ms,
                to_processed_p99_ms: to_processed.p99_ms,
                to_visible_p50_ms: to_visible.p50_ms,
                to_visible_p99_ms: to_visible.p99_ms,
                cpu_worker_percent: cpu(w0, w1),
                cpu_driver_percent: cpu(d0, d1),
                cpu_machine_percent: match (m0, m1) {
                    (Some(a), Some(b)) => procmon::machine_busy_percent(&a, &b),
                    _ => f64::NAN,
                },
                cores: procmon::cores(),
            };
            say(format!(
                "{} at {load} %{} ({rate:.0}/s, sent in {:.1} s, sender at most {:.1} ms late; CPU worker {:.0} %, driver {:.0} %, machine {:.0} % of {}): p50 {:.1} p99 {:.1} p99.9 {:.1} max {:.1} ms (sent → processed p99 {:.1}, processed → visible p99 {:.1}), {missing} unanswered",
                c.name, if fixed { " (fixed rate)" } else { "" },
                sent.elapsed.as_secs_f64(), sent.max_late.as_secs_f64() * 1e3,
                breakdown.cpu_worker_percent, breakdown.cpu_driver_percent,
                breakdown.cpu_machine_percent, breakdown.cores * 100,
                s.p50_ms, s.p99_ms, s.p999_ms, s.max_ms,
                breakdown.to_processed_p99_ms, breakdown.to_visible_p99_ms
            ));
            out.push(Latency {
                name: c.name.clone(),
                commit_interval_ms: Some(c.commit_ms),
                load_percent: load,
                fixed_rate: fixed,
                rate_per_second: rate,
                sent: n as u64,
                measured: s.count,
                p50_ms: s.p50_ms,
                p99_ms: s.p99_ms,
                p999_ms: s.p999_ms,
                max_ms: s.max_ms,
                breakdown,
            });
        }
        verifier.finish()?;
        if let Ok((_, metrics)) = worker::http_get(&worker.addr, "/metrics") {
            let _ = std::fs::write(ctx.o.out.join(format!("lat-{}.metrics", c.tag)), metrics);
        }
        Ok(out)
    })();
    worker.stop()?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_rates_come_first_with_their_share_of_the_maximum() {
        let l = levels(vec![20_000.0], &[25, 50], 80_000.0);
        assert_eq!(
            l,
            vec![
                Level {
                    rate: 20_000.0,
                    load_percent: 25,
                    fixed: true
                },
                Level {
                    rate: 20_000.0,
                    load_percent: 25,
                    fixed: false
                },
                Level {
                    rate: 40_000.0,
                    load_percent: 50,
                    fixed: false
                },
            ]
        );
        assert!(levels(vec![], &[], 1.0).is_empty());
    }
}
