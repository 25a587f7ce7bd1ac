//! `allocation-worker serve`: the HTTP face of the worker — command intake, the CQRS query
//! over the materialised `allocation.view` topic, health, readiness and metrics.
//!
//! - [`api`]: `POST /commands/{kind}`, `GET /allocations/{orderid}`;
//! - [`inbound`]: `POST /webhooks/{source}` (signed webhooks of other organisations);
//! - [`materialise`]: the thread that folds the view topic into [`view::View`];
//! - [`view`]: the in-memory read model;
//! - [`events`]: live events (Server-Sent Events) and the live page.
//!
//! Readiness: the view has been read up to the end of every partition once since start, and
//! the live-event feed has its start positions.
//! Exit codes: 0 after a clean shutdown (SIGTERM / SIGINT); 1 on a runtime failure (registry
//! refused the schemas, HTTP address taken); 2 on invalid configuration.

pub mod api;
pub mod events;
pub mod inbound;
pub mod materialise;
pub mod view;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use rdkafka::producer::{FutureProducer, Producer};

use self::api::Api;
use self::materialise::Materialiser;
use self::view::View;
use super::http::{self, prometheus::Exposition, Probes};
use super::settings::{client_error, parse_registration, pick, ConnectionArgs, SettingsError};
use crate::adapters::codec::Codec;
use crate::runtime::scope::{ClientKind, ForClient};

/// Arguments of `allocation-worker serve`. Unset values fall back to the config file, then to
/// the default shown.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// `auto` registers the schemas at start; `require` refuses to start unless they are
    /// registered. [default: auto]
    #[arg(long, env = "SCHEMA_REGISTRATION")]
    pub schema_registration: Option<String>,
    /// Where the API, `/healthz`, `/readyz` and `/metrics` listen. [default: 0.0.0.0:8080]
    #[arg(long, env = "HTTP_ADDR")]
    pub http_addr: Option<String>,
    /// How long a command may wait for Kafka's acknowledgement before the answer is 503.
    /// [default: 5000]
    #[arg(long, env = "PRODUCE_TIMEOUT_MS")]
    pub produce_timeout_ms: Option<u64>,
    /// Interval of the heartbeat comments on `/events/stream`. [default: 15000]
    #[arg(long, env = "SSE_HEARTBEAT_MS")]
    pub sse_heartbeat_ms: Option<u64>,
    /// Events a live client may have unsent before it is dropped. [default: 16384]
    #[arg(long, env = "SSE_CLIENT_BUFFER")]
    pub sse_client_buffer: Option<usize>,
}

/// Why `serve` ended unsuccessfully.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid configuration: {0}")]
    Config(#[from] SettingsError),
    #[error("{0}")]
    Fatal(String),
}

impl ServeError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::Config(_) => 2,
            ServeError::Fatal(_) => 1,
        }
    }
}

/// Counters of the intake: commands by type and outcome.
#[derive(Debug, Default)]
pub struct ServeMetrics {
    commands: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl ServeMetrics {
    /// Counts one command of `message_type` with `outcome` (accepted, invalid, unavailable).
    pub fn command(&self, message_type: &'static str, outcome: &'static str) {
        if let Ok(mut map) = self.commands.lock() {
            *map.entry((message_type, outcome)).or_default() += 1;
        }
    }

    fn render(&self, out: &mut Exposition, view: &View) {
        http::worker_metrics::build_info(out);
        let name = "allocation_worker_http_commands_total";
        out.family(
            name,
            "counter",
            "Commands received over HTTP, by message type and outcome (accepted, invalid, unavailable).",
        );
        let commands = self.commands.lock().map(|m| m.clone()).unwrap_or_default();
        for ((message_type, outcome), n) in commands {
            out.sample(
                name,
                &[("message_type", message_type), ("outcome", outcome)],
                n as f64,
            );
        }
        out.single(
            "allocation_worker_view_records_total",
            "counter",
            "View rows (upserts and tombstones) folded into the read model.",
            view.records.load(Ordering::Relaxed) as f64,
        );
        out.single(
            "allocation_worker_view_records_skipped_total",
            "counter",
            "View records that could not be read (bad key or value) and were skipped.",
            view.skipped.load(Ordering::Relaxed) as f64,
        );
        out.single(
            "allocation_worker_view_orders",
            "gauge",
            "Orders with at least one allocation in the read model.",
            view.orders() as f64,
        );
        out.single(
            "allocation_worker_ready",
            "gauge",
            "1 once the view was read up to the end of every partition.",
            f64::from(u8::from(view.caught_up.load(Ordering::Relaxed))),
        );
        let name = "allocation_worker_view_lag";
        out.family(
            name,
            "gauge",
            "View records not yet read, per partition of the view topic.",
        );
        for (partition, lag) in view.lag() {
            let p = partition.to_string();
            out.sample(name, &[("partition", &p)], lag as f64);
        }
    }
}

/// Runs the service until SIGTERM / SIGINT.
pub fn run(args: &ServeArgs) -> Result<(), ServeError> {
    let file = args.connection.file()?;
    let connection = args.connection.resolve(&file)?;
    let registration = parse_registration(&pick(
        args.schema_registration.clone(),
        file.schema_registration.clone(),
        "auto".into(),
    ))?;
    let registry = connection.registry(registration)?;
    let http_addr = pick(
        args.http_addr.clone(),
        file.http_addr.clone(),
        http::DEFAULT_ADDR.into(),
    );
    http::parse_addr(&http_addr)?;
    let produce_timeout = pick(args.produce_timeout_ms, file.produce_timeout_ms, 5000);
    if produce_timeout == 0 {
        return Err(SettingsError::Invalid {
            what: "produce timeout (PRODUCE_TIMEOUT_MS)",
            message: "must be positive".into(),
        }
        .into());
    }
    let webhooks = file.webhooks.clone().unwrap_or_default().resolve()?;
    let sse_heartbeat = pick(args.sse_heartbeat_ms, file.sse_heartbeat_ms, 15_000);
    let sse_client_buffer = pick(args.sse_client_buffer, file.sse_client_buffer, 16_384);
    if sse_heartbeat == 0 || sse_client_buffer == 0 {
        return Err(SettingsError::Invalid {
            what: "live events (SSE_HEARTBEAT_MS, SSE_CLIENT_BUFFER)",
            message: "must be positive".into(),
        }
        .into());
    }
    let fatal = |what: &str| {
        let what = what.to_owned();
        move |e: String| ServeError::Fatal(format!("{what}: {e}"))
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fatal("cannot start the async runtime")(e.to_string()))?;
    let listener = rt
        .block_on(http::bind(&http_addr))
        .map_err(|e| ServeError::Fatal(e.to_string()))?;
    events::limit_send_buffer(&listener);
    connection.check_connection()?;
    let codec = Codec::new(&registry).map_err(|e| fatal("schema registry")(e.to_string()))?;
    rt.block_on(codec.prepare(&connection.topics))
        .map_err(|e| match e {
            e if e.is_configuration() => ServeError::Config(SettingsError::Invalid {
                what: "schema registry access",
                message: e.to_string(),
            }),
            e => fatal("schema registration failed")(e.to_string()),
        })?;
    let codec = Arc::new(codec);

    let mut producer_config = connection.client_config();
    producer_config
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("message.timeout.ms", produce_timeout.to_string());
    let producer: FutureProducer = producer_config
        .for_client(ClientKind::Producer)
        .create()
        .map_err(|e| client_error(&e))?;

    let view = Arc::new(View::default());
    let stop = Arc::new(AtomicBool::new(false));
    let materialiser = Materialiser {
        config: connection.client_config(),
        topic: connection.topics.view.clone(),
        codec: Arc::clone(&codec),
        rt: rt.handle().clone(),
        view: Arc::clone(&view),
        stop: Arc::clone(&stop),
    }
    .spawn()
    .map_err(|e| fatal("cannot start the view thread")(e.to_string()))?;

    let hub = Arc::new(events::hub::Hub::default());
    let source = events::feed::Source {
        config: connection.client_config(),
        topic: connection.topics.events.clone(),
        codec: Arc::clone(&codec),
        rt: rt.handle().clone(),
        stop: Arc::clone(&stop),
    };
    let feed = source
        .clone()
        .spawn_feed(Arc::clone(&hub))
        .map_err(|e| fatal("cannot start the live-event thread")(e.to_string()))?;
    let live = Arc::new(events::Live {
        hub: Arc::clone(&hub),
        source,
        heartbeat: Duration::from_millis(sse_heartbeat),
        client_buffer: sse_client_buffer,
        catch_ups: Arc::new(tokio::sync::Semaphore::new(events::MAX_CATCH_UPS)),
    });

    let metrics = Arc::new(ServeMetrics::default());
    let inbound = Arc::new(inbound::Inbound {
        producer: producer.clone(),
        codec: Arc::clone(&codec),
        topics: connection.topics.clone(),
        sources: webhooks.sources,
        tolerance_secs: webhooks.tolerance_secs,
        metrics: inbound::InboundMetrics::default(),
    });
    let probes = {
        let (ready_view, metrics_view, metrics) =
            (Arc::clone(&view), Arc::clone(&view), Arc::clone(&metrics));
        let inbound = Arc::clone(&inbound);
        let (ready_hub, metrics_hub) = (Arc::clone(&hub), Arc::clone(&hub));
        Probes {
            ready: Arc::new(move || {
                let caught_up = ready_view.caught_up.load(Ordering::Relaxed);
                let live = ready_hub.started();
                (
                    caught_up && live,
                    serde_json::json!({"view_caught_up": caught_up, "live_events": live}),
                )
            }),
            metrics: Arc::new(move || {
                let mut out = Exposition::new();
                metrics.render(&mut out, &metrics_view);
                inbound.metrics.render(&mut out);
                events::render_metrics(&mut out, &metrics_hub);
                out.finish()
            }),
        }
    };
    let api = Arc::new(Api {
        producer: producer.clone(),
        codec,
        topics: connection.topics.clone(),
        view,
        metrics,
    });
    let router = http::probes_router(probes).merge(
        axum::Router::new()
            .route("/commands/{kind}", post(api::post_command))
            .route("/allocations/{orderid}", get(api::get_allocations))
            .with_state(api)
            .merge(events::router(live)),
    );
    let router = router.merge(
        axum::Router::new()
            .route("/webhooks/{source}", post(inbound::receive))
            .with_state(inbound),
    );
    let (stop_http, http_stopped) = tokio::sync::watch::channel(false);
    rt.block_on(async move {
        let server = tokio::spawn(http::serve(listener, router, http_stopped));
        let signal = super::run::shutdown_signal().await;
        tracing::info!(signal, "shutting down");
        hub.close(); // live streams end, so the graceful shutdown need not wait for them
        let _ = stop_http.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    });
    stop.store(true, Ordering::Relaxed);
    // Blocking: off the executor, after the server stopped taking commands.
    let _ = producer.flush(Duration::from_secs(5));
    let _ = materialiser.join();
    let _ = feed.join();
    tracing::info!("serve stopped");
    Ok(())
}
