//! `scripts/chaos --profile short|long`: fault injection against the real worker binary on a
//! three-broker local cluster, and the exactly-once verdict. See the README section
//! "Fault injection: scripts/chaos".
//!
//! The run itself is the one ignored test [`chaos_run`], started only by `scripts/chaos`
//! (which starts and stops its own cluster and passes `CHAOS_PROFILE`, `CHAOS_SEED` and
//! `CHAOS_REPORT`); `cargo test` runs only the unit tests of the pure pieces (schedule,
//! report, corpus check, throughout comparison, the end of a failed load task). A run whose
//! load task fails ends at once and fails naming the cause, without a report. The checker,
//! the replay, the producer and the readers are the integration tests' own modules, compiled
//! in here from `tests/integration/` (one copy, two test binaries).

#[allow(dead_code, unused_imports)]
#[path = "../integration/harness/mod.rs"]
mod harness;

#[allow(dead_code)]
#[path = "../integration/worker/checker/mod.rs"]
mod checker;
#[allow(dead_code)]
#[path = "../integration/worker/replay.rs"]
mod replay;
#[allow(dead_code)]
#[path = "../integration/worker/support.rs"]
mod support;
#[allow(dead_code)]
#[path = "../integration/worker/workload.rs"]
mod workload;

mod cluster;
mod corpus;
mod faults;
mod forensics;
mod load;
mod observe;
mod panics;
mod profile;
mod replicas;
mod report;
mod run;

use std::path::PathBuf;

/// The chaos run (see the module docs). Fails when the report does not pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the fault-injection run: started by scripts/chaos on its own 3-broker cluster"]
async fn chaos_run() {
    let name = std::env::var("CHAOS_PROFILE").unwrap_or_else(|_| "short".into());
    let profile = profile::Profile::named(&name)
        .unwrap_or_else(|| panic!("CHAOS_PROFILE must be short or long, not {name}"));
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(1)
        });
    let path = PathBuf::from(std::env::var("CHAOS_REPORT").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/chaos/report.json").into()
    }));
    eprintln!("chaos: profile {name}, seed {seed} (repeat with CHAOS_SEED={seed})");
    let mut report = match run::run(&profile, seed).await {
        Ok(report) => report,
        Err(e) => panic!("chaos run aborted, no report written: {e}"),
    };
    let why = report.decide(&profile);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("report directory");
    }
    let json = serde_json::to_string_pretty(&report).expect("report json");
    std::fs::write(&path, json).expect("write the report");
    eprintln!(
        "chaos: {} — {} faults {:?}; acked {} ({} commands); lost {}, duplicated {}, dlq {} (expected {}), \
         order violations {}, state mismatches {}, hanging transactions {}, crashes {} (fenced exits {}), in-process recoveries {}; report {}",
        if report.pass { "PASS" } else { "FAIL" },
        report.faults_total,
        report.faults,
        report.acked,
        report.acked_commands,
        report.lost,
        report.duplicated,
        report.dlq,
        report.dlq_expected,
        report.order_violations,
        report.state_mismatches,
        report.hanging_transactions,
        report.crashes,
        report.fenced_exits,
        report.recoveries,
        path.display()
    );
    for p in report.problems.iter().take(20) {
        eprintln!("  - {p}");
    }
    assert!(report.pass, "chaos run failed: {}", why.join("; "));
}
