//! The worker as a child process: spawn `allocation-worker run` against the test broker and
//! registry, signal it (SIGKILL, SIGTERM, SIGSTOP/SIGCONT), wait for it to be ready or to exit,
//! and (with [`super::offsets`], re-exported here) wait until its consumer group has committed
//! every input record.
//!
//! Every [`Worker`] is a guard: dropping it SIGKILLs and reaps the process (also when the test
//! panics), and on a panicking thread prints the tail of its log. Each incarnation logs (stderr)
//! to its own file under `CARGO_TARGET_TMPDIR/worker-logs/`.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use allocation_worker::runtime::config::Topics;
use allocation_worker::runtime::topics::{ensure, plan, Mode};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use super::kafka::client_config;
use super::{infra, unique};

pub use super::offsets::{end_offsets, poll_committed, wait_caught_up, wait_committed};

/// The log line the worker prints once it joined its group and restored its partitions.
pub const READY_LINE: &str = "worker ready";

/// Creates every topic of the contract under `prefix` with `partitions` partitions (changelog
/// and view compacted), as `allocation-worker topics` would.
pub async fn create_worker_topics(prefix: &str, partitions: i32) -> Topics {
    let topics = Topics::with_prefix(prefix);
    let admin: AdminClient<DefaultClientContext> =
        client_config().await.create().expect("admin client");
    ensure(&admin, &topics, &plan(&topics, partitions), 1, Mode::Create)
        .await
        .unwrap_or_else(|e| panic!("creating the worker topics under {prefix}: {e}"));
    topics
}

/// Fresh, unique names for one test: a topic prefix, a group and a transactional-id stem.
#[derive(Debug, Clone)]
pub struct Names {
    pub prefix: String,
    pub group: String,
    /// Transactional ids are `<txn>-<replica>`.
    pub txn: String,
}

impl Names {
    pub fn new(test: &str) -> Self {
        let id = unique(test);
        Self {
            prefix: format!("{id}."),
            group: format!("{id}-group"),
            txn: format!("{id}-txn"),
        }
    }

    /// The stable transactional id of replica `n`.
    pub fn transactional_id(&self, replica: u32) -> String {
        format!("{}-{replica}", self.txn)
    }
}

/// How to start one worker process.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// A label for logs and messages (e.g. `w0`).
    pub label: String,
    pub topic_prefix: String,
    pub group_id: String,
    pub transactional_id: String,
    pub group_instance_id: Option<String>,
    pub session_timeout_ms: Option<u64>,
    pub commit_interval_ms: Option<u64>,
    pub shutdown_timeout_ms: Option<u64>,
    pub transaction_timeout_ms: Option<u64>,
    /// Further command-line arguments.
    pub extra_args: Vec<String>,
    /// `exactly-once` (default) or `at-least-once`.
    pub guarantee: &'static str,
}

impl WorkerSpec {
    /// Replica `replica` of the test named by `names` (exactly-once, dynamic membership).
    pub fn new(names: &Names, replica: u32) -> Self {
        Self {
            label: format!("w{replica}"),
            topic_prefix: names.prefix.clone(),
            group_id: names.group.clone(),
            transactional_id: names.transactional_id(replica),
            group_instance_id: None,
            session_timeout_ms: None,
            commit_interval_ms: None,
            shutdown_timeout_ms: None,
            transaction_timeout_ms: None,
            extra_args: Vec::new(),
            guarantee: "exactly-once",
        }
    }

    /// The at-least-once mode (no transactions; offsets committed after acknowledgements).
    pub fn at_least_once(mut self) -> Self {
        self.guarantee = "at-least-once";
        self
    }

    /// Static membership with the transactional id as instance id (a StatefulSet pod name).
    pub fn static_member(mut self) -> Self {
        self.group_instance_id = Some(self.transactional_id.clone());
        self
    }

    pub fn session_timeout_ms(mut self, ms: u64) -> Self {
        self.session_timeout_ms = Some(ms);
        self
    }

    pub fn transaction_timeout_ms(mut self, ms: u64) -> Self {
        self.transaction_timeout_ms = Some(ms);
        self
    }

    pub fn shutdown_timeout_ms(mut self, ms: u64) -> Self {
        self.shutdown_timeout_ms = Some(ms);
        self
    }

    /// The `allocation-worker run ...` arguments.
    pub fn args(&self, bootstrap: &str, registry: &str) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "run".into(),
            "--bootstrap-servers".into(),
            bootstrap.into(),
            "--schema-registry-url".into(),
            registry.into(),
            "--topic-prefix".into(),
            self.topic_prefix.clone(),
            "--group-id".into(),
            self.group_id.clone(),
            "--transactional-id".into(),
            self.transactional_id.clone(),
            "--guarantee".into(),
            self.guarantee.into(),
        ];
        let mut opt = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                args.push(flag.into());
                args.push(v);
            }
        };
        opt("--group-instance-id", self.group_instance_id.clone());
        opt(
            "--session-timeout-ms",
            self.session_timeout_ms.map(|v| v.to_string()),
        );
        opt(
            "--commit-interval-ms",
            self.commit_interval_ms.map(|v| v.to_string()),
        );
        opt(
            "--shutdown-timeout-ms",
            self.shutdown_timeout_ms.map(|v| v.to_string()),
        );
        opt(
            "--transaction-timeout-ms",
            self.transaction_timeout_ms.map(|v| v.to_string()),
        );
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

static INCARNATION: AtomicU32 = AtomicU32::new(0);

/// A running (or exited) worker process. Dropping it SIGKILLs it.
pub struct Worker {
    pub spec: WorkerSpec,
    child: Child,
    pid: u32,
    log: PathBuf,
    exited: Option<ExitStatus>,
    started: Instant,
}

/// Starts `allocation-worker run` for `spec` against the test infrastructure.
pub async fn spawn_worker(spec: &WorkerSpec) -> Worker {
    let infra = infra().await;
    spawn_worker_at(spec, &infra.bootstrap, &infra.registry_url, &[])
}

/// Starts `allocation-worker run` for `spec` against `bootstrap` and `registry` with extra
/// environment variables (e.g. the secure listeners and their credentials).
pub fn spawn_worker_at(
    spec: &WorkerSpec,
    bootstrap: &str,
    registry: &str,
    env: &[(String, String)],
) -> Worker {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("worker-logs");
    std::fs::create_dir_all(&dir).expect("worker log directory");
    let n = INCARNATION.fetch_add(1, Ordering::Relaxed);
    let log = dir.join(format!("{}-{}-{n}.log", spec.transactional_id, spec.label));
    let stderr = File::create(&log).expect("worker log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_allocation-worker"));
    command
        .args(spec.args(bootstrap, registry))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(stderr.try_clone().expect("log handle")))
        .stderr(Stdio::from(stderr))
        // Several workers run side by side: each takes a free port for its HTTP endpoints.
        .env("HTTP_ADDR", "127.0.0.1:0");
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info");
    }
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawning the worker binary for {}: {e}", spec.label));
    let pid = child.id();
    eprintln!(
        "harness: started worker {} (pid {pid}, transactional id {}), log {}",
        spec.label,
        spec.transactional_id,
        log.display()
    );
    Worker {
        spec: spec.clone(),
        child,
        pid,
        log,
        exited: None,
        started: Instant::now(),
    }
}

fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg("-s")
        .arg(signal)
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .expect("running kill(1)");
    // A process that already exited (not yet reaped: a zombie) still accepts signals; a
    // failure here means it is gone, which the callers detect through `try_wait`.
    let _ = status;
}

impl Worker {
    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The exit status, if the process has exited (reaps it).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("try_wait");
        }
        self.exited
    }

    /// Panics (with the log tail) when the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.try_exit() {
            panic!(
                "worker {} exited unexpectedly with {status} after {:?}; log {}:\n{}",
                self.spec.label,
                self.started.elapsed(),
                self.log.display(),
                self.log_tail(40)
            );
        }
    }

    /// Waits until the log shows [`READY_LINE`]; panics when the process exits first or the
    /// deadline passes.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(READY_LINE) {
                return;
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "worker {} did not log {READY_LINE:?} within {timeout:?}; log {}:\n{}",
                self.spec.label,
                self.log.display(),
                self.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process id.
    #[allow(dead_code)] // not every test binary that compiles this harness uses it
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
    }

    /// Sends `signal` (`TERM`, `STOP`, `CONT`, ...) without waiting for anything.
    #[allow(dead_code)] // used by the chaos runner (tests/chaos), which compiles this harness
    pub fn signal(&mut self, signal: &str) {
        send_signal(self.pid, signal);
    }

    /// SIGSTOP: the process freezes (no heartbeats, no I/O) until [`Worker::resume`].
    pub fn pause(&mut self) {
        self.assert_running();
        send_signal(self.pid, "STOP");
    }

    /// SIGCONT.
    pub fn resume(&mut self) {
        send_signal(self.pid, "CONT");
    }

    /// SIGTERM, then waits for the exit; panics (after a SIGKILL) when it does not exit within
    /// `timeout`. Returns the exit status and how long the shutdown took.
    pub async fn terminate(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let sent = Instant::now();
        if let Some(status) = self.try_exit() {
            panic!(
                "worker {} had already exited with {status} before SIGTERM; log:\n{}",
                self.spec.label,
                self.log_tail(40)
            );
        }
        send_signal(self.pid, "TERM");
        loop {
            if let Some(status) = self.try_exit() {
                return (status, sent.elapsed());
            }
            if sent.elapsed() > timeout {
                self.kill();
                panic!(
                    "worker {} did not exit within {timeout:?} of SIGTERM; log {}:\n{}",
                    self.spec.label,
                    self.log.display(),
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // SIGKILL also ends a stopped (SIGSTOPped) process.
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "harness: worker {} (pid {}) log {} — last lines:\n{}",
                self.spec.label,
                self.pid,
                self.log.display(),
                self.log_tail(30)
            );
        }
    }
}
