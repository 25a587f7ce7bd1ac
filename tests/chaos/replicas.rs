//! The worker replicas of a chaos run: a pool of `allocation-worker run` processes in one
//! consumer group, kept at its target size. A replica that exits is restarted with the same
//! transactional id (a pod restarted by its StatefulSet); every exit is recorded, and marked
//! expected only when an injected fault explains that exit status: SIGKILL after a kill, exit 0
//! after a SIGTERM (also a replica being removed), exit 1 (fenced) after a freeze or stall of
//! that replica or shortly after a broker or registry outage. A frozen (SIGSTOPped) replica is
//! left alone until it is resumed; a replica being removed is not restarted.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::harness::worker::{spawn_worker, Names, Worker, WorkerSpec};
use crate::report::ExitRecord;
use crate::workload::Rng;

/// Session timeout of every replica (the broker's minimum is 6 s).
pub const SESSION_TIMEOUT_MS: u64 = 6_000;
/// Transaction timeout of every replica: a stall longer than this gets the transaction aborted.
pub const TRANSACTION_TIMEOUT_MS: u64 = 10_000;
/// What the worker prints when it exits on a fatal transactional-producer error
/// (`src/runtime/worker`: fenced or unrecoverable producer → exit 1).
const FENCED_EXIT: &str = "failed fatally (fenced or unrecoverable producer)";
/// Whether an exit is the worker's documented exit on a fenced producer.
fn is_fenced_exit(code: Option<i32>, log_tail: &str) -> bool {
    code == Some(1) && log_tail.contains(FENCED_EXIT)
}

/// How long after a fault an exit still counts as caused by it.
const BLAST_RADIUS: Duration = Duration::from_secs(60);
/// The exit an injected fault can cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Killed by SIGKILL (worker-kill).
    Killed,
    /// Exit 0 (worker-term, scale-in, the end of the run).
    Clean,
    /// Exit 1: fenced or a fatal Kafka error (after a freeze, a stall, a broker or registry
    /// outage).
    Fenced,
}

impl Outcome {
    fn matches(self, status: ExitStatus) -> bool {
        match self {
            Outcome::Killed => status.signal() == Some(9),
            Outcome::Clean => status.code() == Some(0),
            Outcome::Fenced => status.code() == Some(1),
        }
    }
}

/// Whether an exit with `status` at `now` is explained by one of the `excuses` (an outcome a
/// fault can cause, valid until an instant).
pub fn explained(excuses: &[(Instant, Outcome)], status: ExitStatus, now: Instant) -> bool {
    excuses
        .iter()
        .any(|(until, outcome)| *until > now && outcome.matches(status))
}

/// Least time between two restarts of one replica.
const RESTART_BACKOFF: Duration = Duration::from_secs(2);

struct Replica {
    index: u32,
    worker: Worker,
    frozen: bool,
    retiring: bool,
    excuses: Vec<(Instant, Outcome)>,
    exited_at: Option<Instant>,
}

/// The replicas (see the module docs).
pub struct Pool {
    names: Names,
    replicas: Vec<Replica>,
    next_index: u32,
    started: Instant,
    cluster_fault_until: Option<Instant>,
    pub exits: Vec<ExitRecord>,
    pub spawned: usize,
}

fn spec(names: &Names, index: u32) -> WorkerSpec {
    WorkerSpec::new(names, index)
        .session_timeout_ms(SESSION_TIMEOUT_MS)
        .transaction_timeout_ms(TRANSACTION_TIMEOUT_MS)
        .shutdown_timeout_ms(15_000)
}

impl Pool {
    /// Starts `count` replicas.
    pub async fn start(names: &Names, count: usize, started: Instant) -> Self {
        let mut pool = Pool {
            names: names.clone(),
            replicas: Vec::new(),
            next_index: 0,
            started,
            cluster_fault_until: None,
            exits: Vec::new(),
            spawned: 0,
        };
        for _ in 0..count {
            pool.add().await;
        }
        pool
    }

    /// Adds a replica with a new transactional id; returns its label.
    pub async fn add(&mut self) -> String {
        let index = self.next_index;
        self.next_index += 1;
        let worker = spawn_worker(&spec(&self.names, index)).await;
        self.spawned += 1;
        self.replicas.push(Replica {
            index,
            worker,
            frozen: false,
            retiring: false,
            excuses: Vec::new(),
            exited_at: None,
        });
        format!("w{index}")
    }

    /// Replicas that run (not frozen, not retiring, not exited).
    pub fn alive(&mut self) -> Vec<u32> {
        self.replicas
            .iter_mut()
            .filter(|r| !r.frozen && !r.retiring)
            .filter_map(|r| r.worker.try_exit().is_none().then_some(r.index))
            .collect()
    }

    /// How many replicas the pool keeps (running or about to be restarted).
    pub fn size(&self) -> usize {
        self.replicas.iter().filter(|r| !r.retiring).count()
    }

    fn get(&mut self, index: u32) -> Option<&mut Replica> {
        self.replicas.iter_mut().find(|r| r.index == index)
    }

    /// A random running replica, when at least `min_alive` run.
    pub fn pick(&mut self, rng: &mut Rng, min_alive: usize) -> Option<u32> {
        let alive = self.alive();
        (alive.len() >= min_alive).then(|| *rng.pick(&alive))
    }

    /// Exits in the next minute are explained by a cluster fault (broker, registry).
    pub fn cluster_fault(&mut self) {
        self.cluster_fault_until = Some(Instant::now() + BLAST_RADIUS);
    }

    fn excuse(&mut self, index: u32, outcome: Outcome) {
        if let Some(r) = self.get(index) {
            let now = Instant::now();
            r.excuses.retain(|(until, _)| *until > now);
            r.excuses.push((now + BLAST_RADIUS, outcome));
        }
    }

    /// SIGKILL (the supervisor restarts it).
    pub fn kill(&mut self, index: u32) {
        self.excuse(index, Outcome::Killed);
        if let Some(r) = self.get(index) {
            r.worker.kill();
        }
    }

    /// SIGTERM; waits (supervising the others) up to 25 s for the exit, then SIGKILLs.
    /// `retire`: remove the replica instead of restarting it. Returns the exit status.
    pub async fn terminate(&mut self, index: u32, retire: bool) -> String {
        self.excuse(index, Outcome::Clean);
        let Some(r) = self.get(index) else {
            return "gone".into();
        };
        r.retiring = retire;
        r.worker.signal("TERM");
        let sent = Instant::now();
        loop {
            let r = self.get(index).expect("replica");
            if let Some(status) = r.worker.try_exit() {
                let status = format!("{status} after {:.1}s", sent.elapsed().as_secs_f64());
                if retire {
                    self.supervise().await;
                    self.replicas.retain(|r| r.index != index);
                }
                return status;
            }
            if sent.elapsed() > Duration::from_secs(25) {
                r.worker.kill();
                return "did not exit within 25 s of SIGTERM: killed".into();
            }
            self.sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGSTOP for `how_long` (supervising the others), then SIGCONT.
    pub async fn freeze(&mut self, index: u32, how_long: Duration) {
        self.excuse(index, Outcome::Fenced);
        if let Some(r) = self.get(index) {
            r.frozen = true;
            r.worker.signal("STOP");
        }
        self.sleep(how_long).await;
        if let Some(r) = self.get(index) {
            r.worker.signal("CONT");
            r.frozen = false;
        }
        self.excuse(index, Outcome::Fenced);
    }

    /// Sleeps `how_long` in small steps, restarting exited replicas on the way.
    pub async fn sleep(&mut self, how_long: Duration) {
        let until = Instant::now() + how_long;
        loop {
            self.supervise().await;
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(Duration::from_millis(250))).await;
        }
    }

    /// Records exits and restarts exited replicas (not frozen or retiring ones).
    pub async fn supervise(&mut self) {
        let now = Instant::now();
        let mut restart = Vec::new();
        for r in &mut self.replicas {
            if r.frozen {
                continue;
            }
            let Some(status) = r.worker.try_exit() else {
                continue;
            };
            if r.exited_at.is_none() {
                r.exited_at = Some(now);
                let mut excuses = r.excuses.clone();
                if let Some(until) = self.cluster_fault_until {
                    excuses.push((until, Outcome::Fenced));
                }
                let log = r.worker.log_tail(3);
                let fenced = is_fenced_exit(status.code(), &log);
                self.exits.push(ExitRecord {
                    at_s: self.started.elapsed().as_secs_f64(),
                    replica: format!("w{}", r.index),
                    status: status.to_string(),
                    expected: fenced || explained(&excuses, status, now),
                    fenced,
                    log,
                });
            }
            if !r.retiring && r.exited_at.is_some_and(|t| now - t >= RESTART_BACKOFF) {
                restart.push(r.index);
            }
        }
        for index in restart {
            let worker = spawn_worker(&spec(&self.names, index)).await;
            self.spawned += 1;
            if let Some(r) = self.get(index) {
                r.worker = worker;
                r.exited_at = None;
            }
        }
    }

    /// Unexplained exits so far.
    pub fn crashes(&self) -> usize {
        self.exits.iter().filter(|e| !e.expected).count()
    }

    /// In-process recoveries (a new producer and consumer after a fenced one) of every
    /// replica so far, exited ones included: counted in the logs of this run's workers.
    pub fn recoveries(&self) -> usize {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("worker-logs");
        let ours = format!("{}-", self.names.txn);
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&ours))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .map(|log| log.matches("recovering in-process").count())
            .sum()
    }

    /// Exits on a fenced producer so far.
    pub fn fenced_exits(&self) -> usize {
        self.exits.iter().filter(|e| e.fenced).count()
    }

    /// SIGTERMs every replica (waits for each) at the end of the run.
    pub async fn stop_all(&mut self) {
        let indices: Vec<u32> = self.replicas.iter().map(|r| r.index).collect();
        for index in indices {
            if let Some(r) = self.get(index) {
                if r.frozen {
                    r.worker.signal("CONT");
                    r.frozen = false;
                }
                if r.worker.try_exit().is_none() {
                    self.terminate(index, true).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exit_1_with_the_fenced_producer_error_is_a_fenced_exit() {
        let fenced = "ERROR allocation_worker: worker stopped error=abort_transaction failed \
                      fatally (fenced or unrecoverable producer): Transaction error: fenced";
        assert!(is_fenced_exit(Some(1), fenced));
        assert!(!is_fenced_exit(Some(101), fenced), "a panic is a crash");
        assert!(
            !is_fenced_exit(None, fenced),
            "a signal is not the worker's own exit"
        );
        assert!(!is_fenced_exit(
            Some(1),
            "worker stopped error=restore failed"
        ));
    }

    fn exit(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn only_the_exit_a_fault_can_cause_is_excused_and_only_for_a_while() {
        let now = Instant::now();
        let later = now + Duration::from_secs(1);
        let killed = ExitStatus::from_raw(9);
        let kill = [(later, Outcome::Killed)];
        assert!(explained(&kill, killed, now));
        assert!(!explained(&kill, exit(1), now), "a crash after a kill");
        assert!(!explained(&kill, killed, later), "too late");
        let term = [(later, Outcome::Clean)];
        assert!(explained(&term, exit(0), now));
        assert!(!explained(&term, exit(3), now), "no clean shutdown");
        assert!(
            !explained(&term, killed, now),
            "a hang killed after SIGTERM"
        );
        let fenced = [(later, Outcome::Fenced), (later, Outcome::Clean)];
        assert!(explained(&fenced, exit(1), now));
        assert!(explained(&fenced, exit(0), now));
        assert!(!explained(&fenced, exit(101), now), "a panic");
        assert!(!explained(&[], exit(0), now), "nothing explains it");
    }
}
