//! Child processes of the built binary for the HTTP tests: `run` and `serve` with a unique
//! topic prefix and an ephemeral HTTP port (read back from the `http listening` log line),
//! stderr captured to a file, SIGKILLed on drop.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use allocation_worker::runtime::config::Topics;
use allocation_worker::runtime::topics::{ensure, plan, Mode};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::harness::{infra, unique};

/// Creates every topic of a fresh prefix (`partitions` each) and returns the prefix.
pub async fn fresh_topics(test: &str, partitions: i32) -> String {
    let prefix = format!("{}.", unique(test));
    let admin: AdminClient<DefaultClientContext> = crate::harness::kafka::client_config()
        .await
        .create()
        .expect("admin client");
    let topics = Topics::with_prefix(&prefix);
    ensure(
        &admin,
        &topics,
        &plan(&topics, partitions),
        -1,
        Mode::Create,
    )
    .await
    .expect("creating the topics");
    prefix
}

/// A running `allocation-worker` child process.
pub struct Service {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Service {
    /// Starts `allocation-worker <args>` with `env` (plus the test infrastructure's
    /// `KAFKA_BOOTSTRAP_SERVERS` / `SCHEMA_REGISTRY_URL` unless `env` overrides them).
    pub async fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let infra = infra().await;
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("http-logs");
        std::fs::create_dir_all(&dir).expect("log directory");
        let log = dir.join(format!("{}.log", unique(name)));
        let file = File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_allocation-worker"));
        command
            .args(args)
            .env("KAFKA_BOOTSTRAP_SERVERS", &infra.bootstrap)
            .env("SCHEMA_REGISTRY_URL", &infra.registry_url)
            .env("RUST_LOG", "info")
            .env("LOG_FORMAT", "text")
            .env("HTTP_ADDR", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("log handle")))
            .stderr(Stdio::from(file));
        let child = command.spawn().expect("spawning the binary");
        eprintln!(
            "http tests: started {name} (pid {}), log {}",
            child.id(),
            log.display()
        );
        Service {
            name: name.to_owned(),
            child,
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The base URL, once the service logged the address it listens on.
    pub async fn base_url(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains("http listening")) {
                let addr = line
                    .split("addr=")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .expect("address in the http listening line");
                return format!("http://{addr}");
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited with {status} before listening:\n{log}",
                    self.name
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} never listened:\n{log}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown at all (a crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait up to `timeout` for the exit status.
    pub async fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `url` until it answers 200; returns every status seen, in order (deduplicated).
pub async fn wait_ok(client: &reqwest::Client, url: &str, timeout: Duration) -> Vec<u16> {
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<u16> = Vec::new();
    loop {
        let status = match client.get(url).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        if status == 200 {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{url} never answered 200: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the sample `series` (name with labels, exactly as exposed), if present.
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
