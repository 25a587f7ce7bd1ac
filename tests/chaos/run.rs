//! One chaos run, start to verdict: fresh topics (replicated over the stack's brokers), the
//! read-throughout consumer, the worker replicas, the bad-input corpus, the load, the faults
//! of the schedule at their intervals; then the load stops, the group goes idle, and the
//! checker compares the final read_committed outputs with a sequential replay of every
//! acknowledged input. The replicas are stopped and the hanging-transaction probe runs last.
//!
//! The fault schedule runs alongside the load task: should that task fail (a record not
//! delivered, a panic), the run ends at once with the [`LoadError`] and without a report,
//! wherever the schedule is: the replicas are killed as the pool is dropped (a frozen one
//! too), and a broker or the registry a fault left down stays down until `scripts/chaos`
//! stops the cluster.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use allocation_worker::runtime::config::Topics;
use allocation_worker::runtime::topics::{ensure, plan, Mode};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::checker::problems;
use crate::cluster;
use crate::corpus;
use crate::faults::inject;
use crate::forensics;
use crate::harness::kafka::client_config;
use crate::harness::worker::{end_offsets, poll_committed, Names};
use crate::harness::{read_all, Isolation};
use crate::load::{pills, place_unknown_offsets, Load, LoadError};
use crate::observe::{compare, hanging_transactions, Throughout};
use crate::profile::{count_by_kind, schedule, Profile};
use crate::replay::replay;
use crate::replicas::Pool;
use crate::report::Report;
use crate::support::{codec, CommandProducer, Observed, SentKind};
use crate::workload::{Rng, Workload};

/// How long the group may take to become idle after the load stopped.
const IDLE: Duration = Duration::from_secs(240);

fn log(started: Instant, what: impl AsRef<str>) {
    eprintln!(
        "chaos [{:>6.1}s] {}",
        started.elapsed().as_secs_f64(),
        what.as_ref()
    );
}

async fn create_topics(prefix: &str, partitions: i32) -> Topics {
    let topics = Topics::with_prefix(prefix);
    let admin: AdminClient<DefaultClientContext> =
        client_config().await.create().expect("admin client");
    let replication = cluster::brokers().min(3) as i32;
    // A cluster that has just started may time a request out; `ensure` is idempotent.
    let mut attempt = 1;
    loop {
        let specs = plan(&topics, partitions);
        match ensure(&admin, &topics, &specs, replication, Mode::Create).await {
            Ok(_) => return topics,
            Err(e) if attempt < 5 => {
                eprintln!("chaos: creating the topics (attempt {attempt}): {e}; retrying");
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            Err(e) => panic!("creating the chaos topics under {prefix}: {e}"),
        }
    }
}

/// Waits until the group committed every record of the input topics, restarting replicas
/// meanwhile. `Err` with what is missing after [`IDLE`].
async fn wait_idle(pool: &mut Pool, group: &str, inputs: &[String]) -> Result<(), String> {
    let deadline = Instant::now() + IDLE;
    let mut ends = Vec::new();
    for t in inputs {
        ends.push((t.clone(), end_offsets(t).await));
    }
    loop {
        let mut behind = Vec::new();
        for (t, end) in &ends {
            if let Err(e) = poll_committed(group, t, end, &mut [], Duration::from_millis(500)).await
            {
                behind.push(format!("{t}: {e}"));
            }
        }
        if behind.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(behind.join("; "));
        }
        pool.sleep(Duration::from_secs(1)).await;
    }
}

/// Runs `profile` with `seed`; returns the report (not yet written), or why the load task
/// failed (see the module docs).
pub async fn run(profile: &Profile, seed: u64) -> Result<Report, LoadError> {
    let started = Instant::now();
    let mut report = Report {
        profile: profile.name.clone(),
        seed,
        ..Report::default()
    };
    let names = Names::new("chaos");
    let topics = create_topics(&names.prefix, profile.partitions).await;
    let codec = codec().await;
    codec.prepare(&topics).await.expect("register the schemas");
    log(
        started,
        format!(
            "topics under {} ({} partitions)",
            names.prefix, profile.partitions
        ),
    );

    let outputs_read = vec![topics.events.clone(), topics.dlq.clone()];
    let throughout = Throughout::start(outputs_read.clone()).await;
    let mut pool = Pool::start(&names, profile.replicas, started).await;
    let mut producer = CommandProducer::new(Arc::clone(&codec), &topics, profile.partitions).await;
    let external = corpus::send(&codec, &topics, &mut producer, profile.corpus, seed).await;
    report.corpus_sent = profile.corpus;
    log(
        started,
        format!("corpus of {} bad records sent", profile.corpus),
    );

    let pills = pills(&codec, &topics.commands).await;
    let (load, task) = Load::start(
        producer,
        Workload::new(seed, profile.skus),
        pills,
        profile.commands,
        profile.rate,
        profile.poison_every,
        seed,
    );
    let mut rng = Rng::new(seed ^ 0xFA_0175);
    let mut kinds = Vec::new();
    let faults = async {
        for planned in schedule(profile, seed) {
            pool.sleep(planned.after).await;
            let done = inject(planned.kind, &mut pool, &load, &mut rng, started).await;
            log(
                started,
                format!(
                    "fault {}: {} {} — {} (load: {} commands)",
                    kinds.len() + 1,
                    done.record.kind,
                    done.record.target,
                    done.record.detail,
                    load.sent()
                ),
            );
            if done.counted {
                kinds.push(planned.kind);
            }
            report.fault_log.push(done.record);
        }
        while !load.reached(profile.commands) {
            pool.sleep(Duration::from_secs(1)).await;
        }
    };
    let producer = match task.finish_after(&load, faults).await {
        Ok(producer) => producer,
        Err(e) => {
            log(started, format!("aborted: {e}"));
            return Err(e);
        }
    };
    let mut sent = producer.sent().to_vec();
    let mut findings = Vec::new();
    if sent.iter().any(|s| s.offset < 0) {
        let written = read_all(&topics.commands, Isolation::ReadUncommitted).await;
        findings.extend(place_unknown_offsets(&mut sent, &written));
    }
    write_acked(&sent);
    log(
        started,
        format!(
            "load done: {} records acknowledged; waiting for the group",
            sent.len()
        ),
    );

    let inputs = [
        topics.commands.clone(),
        topics.orders_events.clone(),
        topics.purchasing_events.clone(),
    ];
    if let Err(e) = wait_idle(&mut pool, &names.group, &inputs).await {
        findings.push(format!(
            "lost: the group did not commit every input within {IDLE:?}: {e}"
        ));
    }
    log(started, "group idle; reading every output read_committed");

    let mut observed = Observed::read(&codec, &topics).await;
    let (from_commands, from_others): (Vec<_>, Vec<_>) = observed
        .dlq
        .iter()
        .cloned()
        .partition(|d| d.source_topic.as_deref() == Some(topics.commands.as_str()));
    let dlq_total = observed.dlq.len();
    let final_ids: BTreeMap<String, Vec<String>> = BTreeMap::from([
        (
            topics.events.clone(),
            observed.events.iter().map(|e| id_of(&e.at)).collect(),
        ),
        (
            topics.dlq.clone(),
            observed.dlq.iter().map(|d| id_of(&d.at)).collect(),
        ),
    ]);
    findings.extend(corpus::check(
        &external,
        &from_others.iter().collect::<Vec<_>>(),
    ));
    observed.dlq = from_commands;
    let expected = replay(&sent);
    findings.extend(problems(&sent, &expected, &observed, profile.partitions));
    match throughout.finish(&outputs_read).await {
        Ok((seen, reader_errors)) => {
            findings.extend(reader_errors);
            findings.extend(compare(&seen, &final_ids));
            report.read_throughout_records = seen.values().flat_map(|m| m.values()).sum();
        }
        // Compared, what a dead reader did not read would count as lost.
        Err(died) => findings.push(died),
    }
    log(started, format!("checker: {} finding(s)", findings.len()));
    forensics::write(&forensics_dir(), &sent, &expected, &observed, &findings);

    pool.stop_all().await;
    let stuck = hanging_transactions(&[
        topics.events.clone(),
        topics.changelog.clone(),
        topics.view.clone(),
        topics.dlq.clone(),
        topics.commands.clone(),
    ])
    .await;
    report.hanging_transactions = stuck.len();
    for s in stuck {
        findings.push(format!(
            "hanging transaction on {s}: a committed marker never became visible"
        ));
    }

    report.duration_s = started.elapsed().as_secs_f64();
    report.faults = count_by_kind(kinds.iter().copied());
    report.faults_total = kinds.len();
    report.acked = sent.len();
    report.acked_commands = sent
        .iter()
        .filter(|s| matches!(s.kind, SentKind::Command { .. }))
        .count();
    report.dlq = dlq_total;
    report.dlq_expected = external.len()
        + sent
            .iter()
            .filter(|s| matches!(s.kind, SentKind::Poison { .. }))
            .count();
    report.crashes = pool.crashes();
    report.fenced_exits = pool.fenced_exits();
    report.recoveries = pool.recoveries();
    report.worker_exits = pool.exits.clone();
    report.add_problems(&findings, 10);
    report.decide(profile);
    Ok(report)
}

/// `forensics/` beside the report (see `CHAOS_REPORT`).
fn forensics_dir() -> std::path::PathBuf {
    let report = std::env::var("CHAOS_REPORT").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/chaos/report.json").into()
    });
    std::path::Path::new(&report)
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("forensics")
}

fn id_of(at: &crate::support::Position) -> String {
    at.message_id
        .map(|id| id.to_string())
        .unwrap_or_else(|| format!("no-id@{}:{}", at.partition, at.offset))
}

/// The seed producer's log: every acknowledged record, one line each (`partition offset
/// message-id kind`), next to the report.
fn write_acked(sent: &[crate::support::Sent]) {
    let Ok(report) = std::env::var("CHAOS_REPORT") else {
        return;
    };
    let path = std::path::Path::new(&report).with_file_name("acked.log");
    let lines: String = sent
        .iter()
        .map(|s| {
            let kind = match &s.kind {
                SentKind::Command { command, .. } => command.type_name().to_owned(),
                SentKind::Invalid { .. } => "invalid".to_owned(),
                SentKind::Poison { reason } => format!("poison:{reason}"),
            };
            let id = s.id.map(|i| i.to_string()).unwrap_or_default();
            format!("{} {} {id} {kind}\n", s.partition, s.offset)
        })
        .collect();
    if let Err(e) = std::fs::write(&path, lines) {
        eprintln!("chaos: could not write {}: {e}", path.display());
    }
}
