//! A SIGTERM that arrives while the worker is still starting ends it cleanly (exit 0), not by
//! the signal's default action. In `scripts/chaos` a replica restarted under load was
//! terminated before it had logged a line and died of the signal (counted as a crash); in
//! Kubernetes a rollout can stop a pod at any moment of its start.
//!
//! The start is held in the broker connection check by a "broker" that accepts connections
//! and never answers. The moment the worker connects to it, SIGTERM must already be caught
//! (read from `/proc/<pid>/status`), which holds only when the handlers are installed before
//! the start-up checks.

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use crate::harness::infra;
use crate::harness::worker::{spawn_worker_at, Names, WorkerSpec};

/// Whether the process catches SIGTERM (bit 15 of the `SigCgt` mask).
fn catches_sigterm(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (15 - 1)) != 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_during_start_up_ends_the_worker_cleanly() {
    let infra = infra().await;
    let silent = TcpListener::bind("127.0.0.1:0").expect("a silent broker");
    let bootstrap = silent.local_addr().expect("its address").to_string();
    let names = Names::new("startup-sigterm");
    let mut worker = spawn_worker_at(
        &WorkerSpec::new(&names, 0),
        &bootstrap,
        &infra.registry_url,
        &[],
    );
    let pid = worker.pid();
    // Blocks until the worker's connection check reaches the silent broker; the connection is
    // kept open (and unanswered) until the end of the test.
    let accepted = tokio::task::spawn_blocking(move || {
        let (mut connection, _) = silent.accept().expect("the worker connects");
        let mut first = [0u8; 4];
        let _ = connection.read(&mut first);
        (silent, connection)
    })
    .await
    .expect("accept task");
    assert!(
        catches_sigterm(pid),
        "SIGTERM is not caught while the worker checks its broker connection; log:\n{}",
        worker.log()
    );
    let (status, _) = worker.terminate(Duration::from_secs(60)).await;
    drop(accepted);
    assert_eq!(status.code(), Some(0), "{status}; log:\n{}", worker.log());
}
