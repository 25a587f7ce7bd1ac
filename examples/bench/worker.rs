//! Child processes under test: the real `allocation-worker run` binary (release), the raw
//! passthrough (this driver, `passthrough` subcommand) and Kafka's perf tools — spawned,
//! probed over HTTP (`/readyz`, `/metrics`) and stopped by their own pid only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

/// How to run one worker.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub prefix: String,
    pub group: String,
    pub transactional_id: String,
    pub exactly_once: bool,
    pub commit_ms: u64,
    pub max_batch: u64,
}

pub struct Worker {
    pub child: Child,
    pub addr: String,
}

/// Starts the process under test in a session of its own, as it would run in a pod of its own.
///
/// With autogroup scheduling (`/proc/sys/kernel/sched_autogroup_enabled`) the kernel shares
/// the CPU between sessions first, then between the processes of a session. Spawned into this
/// driver's session, the worker shared one share with the open-loop sender and the verifier
/// (≈ 25 % of a core at 32k commands/s), while the broker, started in a session of its own by
/// `scripts/stack`, had a whole share. Each process under test (worker, raw passthrough,
/// Kafka's perf tools) gets its own session, like the broker.
pub fn own_session(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: `setsid` is async-signal-safe, touches no memory of the parent, and is the only
    // call made between fork and exec. It fails only for a process-group leader, which a
    // freshly forked child is not.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `allocation-worker topics --partitions N` under `prefix`.
pub fn create_worker_topics(bin: &Path, prefix: &str, partitions: i32) -> Result<()> {
    let out = Command::new(bin)
        .args(["topics", "--partitions", &partitions.to_string()])
        .env("TOPIC_PREFIX", prefix)
        .output()
        .context("running allocation-worker topics")?;
    if !out.status.success() {
        return Err(anyhow!(
            "allocation-worker topics failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

impl Worker {
    pub fn spawn(bin: &Path, spec: &WorkerSpec, log: &Path) -> Result<Worker> {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let logfile = std::fs::File::create(log)?;
        let child = own_session(&mut Command::new(bin))
            .arg("run")
            .env("TOPIC_PREFIX", &spec.prefix)
            .env("GROUP_ID", &spec.group)
            .env("TRANSACTIONAL_ID", &spec.transactional_id)
            .env(
                "GUARANTEE",
                if spec.exactly_once {
                    "exactly-once"
                } else {
                    "at-least-once"
                },
            )
            .env("COMMIT_INTERVAL_MS", spec.commit_ms.to_string())
            .env("MAX_BATCH", spec.max_batch.to_string())
            .env("HTTP_ADDR", &addr)
            .env("LAG_INTERVAL_MS", "0")
            .env(
                "RUST_LOG",
                std::env::var("BENCH_WORKER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(logfile.try_clone()?)
            .stderr(logfile)
            .spawn()
            .context("spawning allocation-worker run")?;
        Ok(Worker { child, addr })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for `/readyz` to answer 200.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(anyhow!("worker exited before ready: {status}"));
            }
            if http_get(&self.addr, "/readyz").is_ok_and(|(code, _)| code == 200) {
                return Ok(Instant::now());
            }
            if Instant::now() > deadline {
                return Err(anyhow!("worker not ready after {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The value of an unlabelled metric.
    pub fn metric(&self, name: &str) -> Result<f64> {
        let (_, body) = http_get(&self.addr, "/metrics")?;
        metric_value(&body, name).ok_or_else(|| anyhow!("metric {name} not found"))
    }

    /// SIGTERM, then SIGKILL after 30 s.
    pub fn stop(mut self) -> Result<()> {
        stop_child(&mut self.child)
    }
}

pub fn stop_child(child: &mut Child) -> Result<()> {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

/// The value of an unlabelled Prometheus metric in a text exposition.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let mut parts = l.split_whitespace();
        (parts.next()? == name).then_some(())?;
        parts.next()?.parse().ok()
    })
}

/// A minimal HTTP/1.0 GET: (status, body).
pub fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow!("bad HTTP answer"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

/// Spawns the raw passthrough (this executable) and waits for its `ready` line.
pub fn spawn_passthrough(args: &[String], log: &Path) -> Result<(Child, Instant)> {
    let exe = std::env::current_exe()?;
    let mut child = own_session(&mut Command::new(exe))
        .arg("passthrough")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log)?)
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    match lines.next() {
        Some(Ok(l)) if l == "ready" => Ok((child, Instant::now())),
        other => {
            let _ = child.kill();
            Err(anyhow!("passthrough did not start: {other:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlabelled_metrics_are_found_by_exact_name() {
        let text = "# HELP x\nallocation_worker_restore_records_total_x 1\nallocation_worker_restore_records_total 1234\nallocation_worker_ready 1\n";
        assert_eq!(
            metric_value(text, "allocation_worker_restore_records_total"),
            Some(1234.0)
        );
        assert_eq!(metric_value(text, "missing"), None);
    }
}
