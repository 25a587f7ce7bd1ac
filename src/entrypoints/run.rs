//! `allocation-worker run`: the worker — configuration from flags and environment, schema
//! registration, the processing thread, and graceful shutdown on SIGTERM / SIGINT.
//!
//! Exit codes: 0 after a clean shutdown; 1 on a fatal runtime error (e.g. the producer was
//! fenced by a newer instance, or Kafka refused us); 2 on invalid configuration; 3 when the
//! shutdown did not finish within `--shutdown-timeout-ms`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::adapters::codec::{Codec, Registration, RegistryConfig};
use crate::entrypoints::topics::parse_properties;
use crate::runtime::config::{Guarantee, Topics, WorkerSettings};
use crate::runtime::worker::{self, WorkerMetrics};

/// Delivery guarantee, as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GuaranteeArg {
    ExactlyOnce,
    AtLeastOnce,
}

/// Arguments of `allocation-worker run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap_servers: String,
    /// Base URL of the Confluent-compatible schema registry API.
    #[arg(long, env = "SCHEMA_REGISTRY_URL")]
    pub schema_registry_url: String,
    /// Register the schemas at start (default) or require that they are registered already.
    #[arg(long, env = "SCHEMA_REGISTRATION", default_value = "auto")]
    pub schema_registration: String,
    /// Prefix of every topic name (e.g. `staging.`).
    #[arg(long, env = "TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Consumer group of the workers.
    #[arg(long, env = "GROUP_ID", default_value = "allocation-worker")]
    pub group_id: String,
    /// Transactional id, stable per replica (e.g. the pod name). Required for exactly-once.
    #[arg(long, env = "TRANSACTIONAL_ID")]
    pub transactional_id: Option<String>,
    /// Static group membership id, stable per replica (e.g. the pod name).
    #[arg(long, env = "GROUP_INSTANCE_ID")]
    pub group_instance_id: Option<String>,
    /// Delivery guarantee.
    #[arg(long, env = "GUARANTEE", value_enum, default_value_t = GuaranteeArg::ExactlyOnce)]
    pub guarantee: GuaranteeArg,
    /// A batch (one transaction) closes this long after its first record.
    #[arg(long, env = "COMMIT_INTERVAL_MS", default_value_t = 100)]
    pub commit_interval_ms: u64,
    /// …or when it holds this many records.
    #[arg(long, env = "MAX_BATCH", default_value_t = 1000)]
    pub max_batch: usize,
    #[arg(long, env = "SESSION_TIMEOUT_MS", default_value_t = 10_000)]
    pub session_timeout_ms: u64,
    #[arg(long, env = "TRANSACTION_TIMEOUT_MS", default_value_t = 30_000)]
    pub transaction_timeout_ms: u64,
    /// Upper bound of a graceful shutdown.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_MS", default_value_t = 20_000)]
    pub shutdown_timeout_ms: u64,
    /// A librdkafka property passed through, `key=value` (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub property: Vec<String>,
}

/// Why `run` ended unsuccessfully.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Fatal(String),
    #[error("shutdown did not finish within {0:?}")]
    ShutdownTimeout(Duration),
}

impl RunError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Fatal(_) => 1,
            RunError::Config(_) => 2,
            RunError::ShutdownTimeout(_) => 3,
        }
    }
}

impl RunArgs {
    /// The worker settings these arguments describe.
    pub fn settings(&self) -> Result<WorkerSettings, RunError> {
        let guarantee = match self.guarantee {
            GuaranteeArg::ExactlyOnce => Guarantee::ExactlyOnce,
            GuaranteeArg::AtLeastOnce => Guarantee::AtLeastOnce,
        };
        let transactional_id =
            match (&self.transactional_id, guarantee) {
                (Some(id), _) if !id.trim().is_empty() => id.clone(),
                (_, Guarantee::ExactlyOnce) => return Err(RunError::Config(
                    "--transactional-id (TRANSACTIONAL_ID) is required for exactly-once; use a \
                     value stable per replica, e.g. the pod name"
                        .into(),
                )),
                _ => String::new(),
            };
        let mut settings = WorkerSettings::new(&self.bootstrap_servers, &transactional_id);
        settings.properties =
            parse_properties(&self.property).map_err(|e| RunError::Config(e.to_string()))?;
        settings.topics = Topics::with_prefix(&self.topic_prefix);
        settings.group_id = self.group_id.clone();
        settings.group_instance_id = self.group_instance_id.clone();
        settings.guarantee = guarantee;
        settings.commit_interval = Duration::from_millis(self.commit_interval_ms);
        settings.max_batch_records = self.max_batch;
        settings.session_timeout = Duration::from_millis(self.session_timeout_ms);
        settings.transaction_timeout = Duration::from_millis(self.transaction_timeout_ms);
        settings.shutdown_timeout = Duration::from_millis(self.shutdown_timeout_ms);
        settings
            .validate()
            .map_err(|e| RunError::Config(e.to_string()))?;
        Ok(settings)
    }

    fn registry(&self) -> Result<RegistryConfig, RunError> {
        let mut config = RegistryConfig::new(&self.schema_registry_url);
        config.registration = match self.schema_registration.as_str() {
            "auto" => Registration::AutoRegister,
            "require" => Registration::RequireExisting,
            other => {
                return Err(RunError::Config(format!(
                    "--schema-registration must be `auto` or `require`, not `{other}`"
                )))
            }
        };
        Ok(config)
    }
}

/// Runs the worker until SIGTERM / SIGINT or a fatal error.
pub fn run(args: &RunArgs) -> Result<(), RunError> {
    let settings = args.settings()?;
    let registry = args.registry()?;
    let shutdown_timeout = settings.shutdown_timeout;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| RunError::Fatal(format!("cannot start the async runtime: {e}")))?;
    let codec = Codec::new(&registry).map_err(|e| RunError::Config(e.to_string()))?;
    rt.block_on(codec.prepare(&settings.topics))
        .map_err(|e| RunError::Fatal(format!("schema registration failed: {e}")))?;
    let codec = Arc::new(codec);
    let metrics = Arc::new(WorkerMetrics::default());
    let shutdown = Arc::new(AtomicBool::new(false));

    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let handle = rt.handle().clone();
    let stop = Arc::clone(&shutdown);
    std::thread::Builder::new()
        .name("worker".into())
        .spawn(move || {
            let result = worker::run(settings, codec, handle, metrics, stop);
            let _ = done_tx.send(result);
        })
        .map_err(|e| RunError::Fatal(format!("cannot start the worker thread: {e}")))?;

    rt.block_on(async move {
        let mut done = done_rx;
        tokio::select! {
            result = &mut done => finished(result),
            signal = shutdown_signal() => {
                tracing::info!(signal, "shutting down: finishing the open batch");
                shutdown.store(true, Ordering::Relaxed);
                match tokio::time::timeout(shutdown_timeout, done).await {
                    Ok(result) => finished(result),
                    Err(_) => Err(RunError::ShutdownTimeout(shutdown_timeout)),
                }
            }
        }
    })
}

fn finished(
    result: Result<Result<(), worker::WorkerError>, tokio::sync::oneshot::error::RecvError>,
) -> Result<(), RunError> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(RunError::Fatal(e.to_string())),
        Err(_) => Err(RunError::Fatal("the worker thread panicked".into())),
    }
}

/// Resolves on SIGTERM or SIGINT with the signal's name.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the worker runs until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> RunArgs {
        let mut all = vec![
            "x",
            "--bootstrap-servers",
            "b:9092",
            "--schema-registry-url",
            "http://r",
        ];
        all.extend_from_slice(args);
        Cli::parse_from(all).run
    }

    #[test]
    fn exactly_once_needs_a_transactional_id() {
        let err = parse(&[]).settings().expect_err("no transactional id");
        assert_eq!(err.exit_code(), 2);
        assert!(parse(&["--transactional-id", "pod-0"]).settings().is_ok());
        assert!(parse(&["--guarantee", "at-least-once"]).settings().is_ok());
    }

    #[test]
    fn flags_reach_the_settings() {
        let s = parse(&[
            "--transactional-id",
            "pod-1",
            "--topic-prefix",
            "dev.",
            "--commit-interval-ms",
            "10",
            "--max-batch",
            "7",
            "-X",
            "security.protocol=SSL",
        ])
        .settings()
        .unwrap();
        assert_eq!(s.transactional_id, "pod-1");
        assert_eq!(s.topics.commands, "dev.allocation.commands");
        assert_eq!(s.commit_interval, Duration::from_millis(10));
        assert_eq!(s.max_batch_records, 7);
        assert_eq!(s.consumer_config().get("security.protocol"), Some("SSL"));
    }

    #[test]
    fn invalid_registration_mode_is_a_config_error() {
        let mut args = parse(&["--transactional-id", "p"]);
        args.schema_registration = "sometimes".into();
        assert_eq!(args.registry().unwrap_err().exit_code(), 2);
    }
}
