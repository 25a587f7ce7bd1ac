//! `allocation-worker run`: the worker — layered configuration (defaults → config file →
//! environment → flags), schema registration, the processing thread, the HTTP endpoints
//! (`/healthz`, `/readyz`, `/metrics`), the consumer-lag probe, and graceful shutdown on
//! SIGTERM / SIGINT.
//!
//! Exit codes: 0 after a clean shutdown; 1 on a fatal runtime error (e.g. recovery from a fenced
//! producer failed again and again, Kafka refused us, the HTTP address is taken); 2 on invalid
//! configuration — including credentials or certificates Kafka or the registry refuse at
//! start-up (one line, no retries: see `runtime::connect`); 3 when the shutdown did not finish
//! within `--shutdown-timeout-ms`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::adapters::codec::{Codec, RegistryConfig, RegistryError};
use crate::entrypoints::http::{self, Probes};
use crate::entrypoints::lag::{self, ConsumerLag};
use crate::entrypoints::settings::{
    check_connection, client_error, parse_registration, pick, ConfigFile, ConnectionArgs,
    SettingsError,
};
use crate::runtime::config::{Guarantee, WorkerSettings};
use crate::runtime::connect::QuietContext;
use crate::runtime::worker::{self, WorkerMetrics};

/// Delivery guarantee, as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GuaranteeArg {
    ExactlyOnce,
    AtLeastOnce,
}

/// Arguments of `allocation-worker run`. Unset values fall back to the config file, then to
/// the default shown.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// `auto` registers the schemas at start; `require` refuses to start unless they are
    /// registered. [default: auto]
    #[arg(long, env = "SCHEMA_REGISTRATION")]
    pub schema_registration: Option<String>,
    /// Consumer group of the workers. [default: allocation-worker]
    #[arg(long, env = "GROUP_ID")]
    pub group_id: Option<String>,
    /// Transactional id, stable per replica (e.g. the pod name). Required for exactly-once.
    #[arg(long, env = "TRANSACTIONAL_ID")]
    pub transactional_id: Option<String>,
    /// Static group membership id, stable per replica (e.g. the pod name).
    #[arg(long, env = "GROUP_INSTANCE_ID")]
    pub group_instance_id: Option<String>,
    /// Delivery guarantee. [default: exactly-once]
    #[arg(long, env = "GUARANTEE", value_enum)]
    pub guarantee: Option<GuaranteeArg>,
    /// A batch (one transaction) commits this long after the previous commit began, never
    /// later than this long after its first record. [default: 100]
    #[arg(long, env = "COMMIT_INTERVAL_MS")]
    pub commit_interval_ms: Option<u64>,
    /// …or when it holds this many records. [default: 10000]
    #[arg(long, env = "MAX_BATCH")]
    pub max_batch: Option<usize>,
    /// Consumer group session timeout. [default: 10000]
    #[arg(long, env = "SESSION_TIMEOUT_MS")]
    pub session_timeout_ms: Option<u64>,
    /// Kafka transaction timeout. [default: 30000]
    #[arg(long, env = "TRANSACTION_TIMEOUT_MS")]
    pub transaction_timeout_ms: Option<u64>,
    /// Upper bound of a graceful shutdown. [default: 20000]
    #[arg(long, env = "SHUTDOWN_TIMEOUT_MS")]
    pub shutdown_timeout_ms: Option<u64>,
    /// Where `/healthz`, `/readyz` and `/metrics` listen. [default: 0.0.0.0:8080]
    #[arg(long, env = "HTTP_ADDR")]
    pub http_addr: Option<String>,
    /// How often the consumer lag of the group is measured (0: never). [default: 10000]
    #[arg(long, env = "LAG_INTERVAL_MS")]
    pub lag_interval_ms: Option<u64>,
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

impl From<SettingsError> for RunError {
    fn from(e: SettingsError) -> Self {
        RunError::Config(e.to_string())
    }
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

/// Everything `run` needs, resolved from every configuration layer.
#[derive(Debug)]
pub struct RunConfig {
    pub settings: WorkerSettings,
    pub registry: RegistryConfig,
    pub http_addr: String,
    pub lag_interval: Duration,
}

impl RunArgs {
    /// Resolves defaults → config file → environment → flags.
    pub fn resolve(&self) -> Result<RunConfig, RunError> {
        let file = self.connection.file()?;
        self.resolve_with(&file)
    }

    fn resolve_with(&self, file: &ConfigFile) -> Result<RunConfig, RunError> {
        let connection = self.connection.resolve(file)?;
        let guarantee = match self.guarantee {
            Some(g) => g,
            None => match &file.guarantee {
                Some(text) => clap::ValueEnum::from_str(text, true).map_err(|_| {
                    RunError::Config(format!(
                        "guarantee must be `exactly-once` or `at-least-once`, not `{text}`"
                    ))
                })?,
                None => GuaranteeArg::ExactlyOnce,
            },
        };
        let guarantee = match guarantee {
            GuaranteeArg::ExactlyOnce => Guarantee::ExactlyOnce,
            GuaranteeArg::AtLeastOnce => Guarantee::AtLeastOnce,
        };
        let transactional_id = self
            .transactional_id
            .clone()
            .or_else(|| file.transactional_id.clone())
            .filter(|id| !id.trim().is_empty());
        let transactional_id =
            match (transactional_id, guarantee) {
                (Some(id), _) => id,
                (None, Guarantee::ExactlyOnce) => return Err(RunError::Config(
                    "--transactional-id (TRANSACTIONAL_ID) is required for exactly-once; use a \
                     value stable per replica, e.g. the pod name"
                        .into(),
                )),
                (None, Guarantee::AtLeastOnce) => String::new(),
            };
        let ms = |flag: Option<u64>, file: Option<u64>, default: u64| {
            Duration::from_millis(pick(flag, file, default))
        };
        let mut settings = WorkerSettings::new(&connection.bootstrap_servers, &transactional_id);
        settings.properties = connection.properties.clone();
        settings.topics = connection.topics.clone();
        settings.group_id = pick(
            self.group_id.clone(),
            file.group_id.clone(),
            "allocation-worker".into(),
        );
        settings.group_instance_id = self
            .group_instance_id
            .clone()
            .or_else(|| file.group_instance_id.clone())
            .filter(|id| !id.trim().is_empty());
        settings.guarantee = guarantee;
        settings.commit_interval = ms(self.commit_interval_ms, file.commit_interval_ms, 100);
        settings.max_batch_records = pick(self.max_batch, file.max_batch, 10_000);
        settings.session_timeout = ms(self.session_timeout_ms, file.session_timeout_ms, 10_000);
        settings.transaction_timeout = ms(
            self.transaction_timeout_ms,
            file.transaction_timeout_ms,
            30_000,
        );
        settings.shutdown_timeout = ms(self.shutdown_timeout_ms, file.shutdown_timeout_ms, 20_000);
        settings
            .validate()
            .map_err(|e| RunError::Config(e.to_string()))?;
        let registration = parse_registration(&pick(
            self.schema_registration.clone(),
            file.schema_registration.clone(),
            "auto".into(),
        ))?;
        let registry = connection.registry(registration)?;
        let http_addr = pick(
            self.http_addr.clone(),
            file.http_addr.clone(),
            http::DEFAULT_ADDR.into(),
        );
        http::parse_addr(&http_addr)?;
        Ok(RunConfig {
            settings,
            registry,
            http_addr,
            lag_interval: ms(self.lag_interval_ms, file.lag_interval_ms, 10_000),
        })
    }
}

/// Runs the worker until SIGTERM / SIGINT or a fatal error.
pub fn run(args: &RunArgs) -> Result<(), RunError> {
    let RunConfig {
        settings,
        registry,
        http_addr,
        lag_interval,
    } = args.resolve()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| RunError::Fatal(format!("cannot start the async runtime: {e}")))?;
    // Before anything that may take a while: a SIGTERM that arrives during the start-up checks
    // is kept and ends the start cleanly, instead of killing the process by its default action
    // (seen in scripts/chaos: a replica restarted under load was terminated before it had
    // logged a line).
    let mut signals = {
        let _entered = rt.enter();
        Signals::install()
    };
    check_clients(&settings)?;
    check_connection(&settings.client_base())?;
    let shutdown_timeout = settings.shutdown_timeout;
    // Registry first: refused credentials end the process before anything is logged.
    let codec = Codec::new(&registry).map_err(|e| RunError::Config(e.to_string()))?;
    let prepared = rt.block_on(async {
        tokio::select! {
            prepared = prepare_schemas(&codec, &settings.topics) => Some(prepared),
            signal = signals.recv() => {
                tracing::info!(signal, "stopped while waiting for the schema registry");
                None
            }
        }
    });
    match prepared {
        Some(prepared) => prepared.map_err(|e| registration_failed(&e))?,
        None => return Ok(()),
    }
    let listener = rt
        .block_on(http::bind(&http_addr))
        .map_err(|e| RunError::Fatal(e.to_string()))?;
    let codec = Arc::new(codec);
    let metrics = Arc::new(WorkerMetrics::default());
    let shutdown = Arc::new(AtomicBool::new(false));

    let consumer_lag = Arc::new(ConsumerLag::default());
    if !lag_interval.is_zero() {
        lag::spawn_probe(
            &settings,
            lag_interval,
            Arc::clone(&consumer_lag),
            Arc::clone(&shutdown),
        )
        .map_err(|e| RunError::Fatal(format!("cannot start the lag probe: {e}")))?;
    }
    let probes = worker_probes(Arc::clone(&metrics), consumer_lag);
    let (stop_http, http_stopped) = tokio::sync::watch::channel(false);
    rt.spawn(http::serve(
        listener,
        http::probes_router(probes),
        http_stopped,
    ));

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

    let result = rt.block_on(async move {
        let mut done = done_rx;
        tokio::select! {
            result = &mut done => finished(result),
            signal = signals.recv() => {
                tracing::info!(signal, "shutting down: finishing the open batch");
                shutdown.store(true, Ordering::Relaxed);
                match tokio::time::timeout(shutdown_timeout, done).await {
                    Ok(result) => finished(result),
                    Err(_) => Err(RunError::ShutdownTimeout(shutdown_timeout)),
                }
            }
        }
    });
    let _ = stop_http.send(true);
    result
}

/// How long start-up waits for a schema registry that cannot be reached (a registry restarting
/// beside the worker); within the chart's start-up probe budget of 60 s.
const REGISTRY_STARTUP_WAIT: Duration = Duration::from_secs(45);

/// Registers (or checks) the schemas, waiting out an unreachable registry for up to
/// [`REGISTRY_STARTUP_WAIT`]; anything else the registry answers ends the start at once.
async fn prepare_schemas(
    codec: &Codec,
    topics: &crate::adapters::topics::Topics,
) -> Result<(), RegistryError> {
    let deadline = tokio::time::Instant::now() + REGISTRY_STARTUP_WAIT;
    loop {
        match codec.prepare(topics).await {
            Err(e @ RegistryError::Unavailable { .. })
                if tokio::time::Instant::now() < deadline =>
            {
                tracing::warn!(error = %e, "schema registry unavailable at start-up; waiting");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            other => return other,
        }
    }
}

/// Refused registry credentials are a configuration error (exit 2); anything else is fatal.
pub(crate) fn registration_failed(e: &RegistryError) -> RunError {
    if e.is_configuration() {
        RunError::Config(e.to_string())
    } else {
        RunError::Fatal(format!("schema registration failed: {e}"))
    }
}

/// Builds (and drops) the clients once, so that a librdkafka property librdkafka refuses is a
/// configuration error (exit 2) before anything starts. Their contexts print nothing: the
/// connection check that follows reports a refused connection once.
fn check_clients(settings: &WorkerSettings) -> Result<(), RunError> {
    let invalid = |e: rdkafka::error::KafkaError| RunError::from(client_error(&e));
    settings
        .consumer_config()
        .create_with_context::<_, rdkafka::consumer::BaseConsumer<QuietContext>>(
            QuietContext::default(),
        )
        .map_err(invalid)?;
    settings
        .producer_config()
        .create_with_context::<_, rdkafka::producer::BaseProducer<QuietContext>>(
            QuietContext::default(),
        )
        .map_err(invalid)?;
    Ok(())
}

/// The worker's `/readyz` (assigned partitions restored) and `/metrics`.
fn worker_probes(metrics: Arc<WorkerMetrics>, consumer_lag: Arc<ConsumerLag>) -> Probes {
    let ready_metrics = Arc::clone(&metrics);
    Probes {
        ready: Arc::new(move || {
            let ready = ready_metrics.ready.load(Ordering::Relaxed);
            let assigned = ready_metrics.assigned_partitions.load(Ordering::Relaxed);
            (ready, serde_json::json!({"assigned_partitions": assigned}))
        }),
        metrics: Arc::new(move || {
            let mut out = http::prometheus::Exposition::new();
            http::worker_metrics::render(&mut out, &metrics, &consumer_lag);
            out.finish()
        }),
    }
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
/// SIGTERM and SIGINT, listened to from [`Signals::install`] on: a signal that arrives before
/// anyone awaits [`Signals::recv`] is kept, not lost (and no longer kills the process).
struct Signals(Option<(Signal, Signal)>);

impl Signals {
    /// Must be called inside the runtime. Without signal handlers (`None`) the worker runs
    /// until killed.
    fn install() -> Self {
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Signals(Some((term, int))),
            _ => Signals(None),
        }
    }

    async fn recv(&mut self) -> &'static str {
        let Some((term, int)) = &mut self.0 else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
}

/// The first SIGTERM or SIGINT from now on.
pub(crate) async fn shutdown_signal() -> &'static str {
    Signals::install().recv().await
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
