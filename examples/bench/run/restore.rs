//! Restore and memory of `bench all`: a fresh worker restores the changelog an exactly-once
//! drain wrote (the rate is the worker's own metric), and its RSS once ready, against an empty
//! worker's, gives the memory per aggregate.

use std::time::Duration;

use allocation_worker::adapters::topics::Topics;
use anyhow::Result;

use super::{say, Config, Ctx};
use crate::kafka::{self, OffsetWatch};
use crate::procmon;
use crate::report::{Memory, Restore};
use crate::worker::{self, Worker};

/// Restore: a fresh worker (new group, offsets already at the end) restores the changelog that
/// the drain of `c` wrote. Memory: its RSS once ready, against an empty worker's.
pub(super) fn restore_and_memory(ctx: &Ctx, c: &Config) -> Result<(Restore, Memory)> {
    let prefix = ctx.prefix(&c.tag);
    let topics = Topics::with_prefix(&prefix);
    let (_, aggregates, avg_snapshot) =
        kafka::latest_value_sizes(ctx.env, &topics.changelog, ctx.o.partitions)?;
    let group = format!("{prefix}restore");
    OffsetWatch::new(ctx.env, &group, &topics.commands, ctx.o.partitions)?.commit_to_end()?;
    let w = ready_worker(ctx, c, &prefix, &group, "restore", Duration::from_secs(600))?;
    let records = w.metric("allocation_worker_restore_records_total")?;
    let seconds = w.metric("allocation_worker_restore_duration_seconds_sum")?;
    let restored_rss = settled_rss(&w);
    w.stop()?;
    let restore = Restore {
        changelog_records: records as u64,
        seconds,
        records_per_second: records / seconds.max(1e-9),
        aggregates,
    };
    say(format!("restore: {records} records in {seconds:.2} s"));

    let empty_prefix = ctx.prefix("empty");
    worker::create_worker_topics(&ctx.o.worker_bin, &empty_prefix, ctx.o.partitions)?;
    let group = format!("{empty_prefix}worker");
    let w = ready_worker(
        ctx,
        c,
        &empty_prefix,
        &group,
        "empty",
        Duration::from_secs(120),
    )?;
    let empty_rss = settled_rss(&w);
    w.stop()?;
    let memory = Memory {
        aggregates,
        empty_worker_rss_bytes: empty_rss,
        restored_worker_rss_bytes: restored_rss,
        bytes_per_aggregate: restored_rss.saturating_sub(empty_rss) as f64
            / aggregates.max(1) as f64,
        avg_snapshot_bytes: avg_snapshot,
    };
    Ok((restore, memory))
}

/// A worker of configuration `c` on `prefix`, started and waited for until ready.
fn ready_worker(
    ctx: &Ctx,
    c: &Config,
    prefix: &str,
    group: &str,
    log: &str,
    wait: Duration,
) -> Result<Worker> {
    let mut w = Worker::spawn(
        &ctx.o.worker_bin,
        &ctx.spec(c, prefix, group),
        &ctx.log(log),
    )?;
    w.wait_ready(wait)?;
    Ok(w)
}

/// The worker's RSS two seconds after it became ready (0 if `/proc` cannot tell).
fn settled_rss(w: &Worker) -> u64 {
    std::thread::sleep(Duration::from_secs(2));
    procmon::sample(w.pid()).map(|s| s.rss_bytes).unwrap_or(0)
}
