//! `allocation-worker webhooks`: outbound webhooks to other organisations.
//!
//! - `webhooks run`: one delivery loop per `[[webhooks.subscriptions]]` entry ([`deliver`]),
//!   each with its own consumer group `<group-id>.webhook.<name>` on the committed events of
//!   `allocation.events`; serves `/healthz`, `/readyz` (ready once the parked state is read)
//!   and `/metrics` on `--http-addr`. A parked subscriber ([`parked`]) is not started; when
//!   `replay` clears it, the running process resumes it from its group's offsets.
//! - `webhooks replay --subscriber NAME [--offset P:O …]`: un-parks a subscriber, optionally
//!   moving its group's offsets first (the group must have no active member then, i.e. the
//!   subscriber is parked or `webhooks run` is stopped).
//!
//! Exit codes: 0 clean, 1 runtime failure, 2 invalid configuration.

pub mod deliver;
pub mod metrics;
pub mod parked;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};

use self::deliver::{Ended, Subscriber};
use self::metrics::HookMetrics;
use self::parked::{SharedParked, PARKED_TOPIC};
use super::http::{self, prometheus::Exposition, Probes};
use super::settings::webhooks::WebhookSettings;
use super::settings::{client_error, pick, ConfigFile, ConnectionArgs, SettingsError};
use crate::adapters::codec::{Codec, Registration};
use crate::runtime::scope::{ClientKind, ForClient};

/// `allocation-worker webhooks …`.
#[derive(Debug, clap::Args)]
pub struct WebhooksArgs {
    #[command(subcommand)]
    pub command: WebhooksCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum WebhooksCommand {
    /// Deliver committed events to every configured subscription ([[webhooks.subscriptions]]
    /// in the config file), signed per Standard Webhooks; serves /healthz, /readyz, /metrics.
    Run(HooksRunArgs),
    /// Resume a parked subscriber from its parked position (or from --offset).
    Replay(ReplayArgs),
}

/// Arguments of `webhooks run`.
#[derive(Debug, clap::Args)]
pub struct HooksRunArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Consumer groups are `<group-id>.webhook.<subscriber>`. [default: allocation-worker]
    #[arg(long, env = "GROUP_ID")]
    pub group_id: Option<String>,
    /// Where `/healthz`, `/readyz` and `/metrics` listen. [default: 0.0.0.0:8080]
    #[arg(long, env = "HTTP_ADDR")]
    pub http_addr: Option<String>,
}

/// Arguments of `webhooks replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Consumer groups are `<group-id>.webhook.<subscriber>`. [default: allocation-worker]
    #[arg(long, env = "GROUP_ID")]
    pub group_id: Option<String>,
    /// The subscription to resume.
    #[arg(long)]
    pub subscriber: String,
    /// Resume partition P at offset O instead of the parked position (repeatable).
    #[arg(long = "offset", value_name = "PARTITION:OFFSET")]
    pub offsets: Vec<String>,
}

/// Why `webhooks` ended unsuccessfully.
#[derive(Debug, thiserror::Error)]
pub enum HooksError {
    #[error("invalid configuration: {0}")]
    Config(#[from] SettingsError),
    #[error("{0}")]
    Fatal(String),
}

impl HooksError {
    pub fn exit_code(&self) -> u8 {
        match self {
            HooksError::Config(_) => 2,
            HooksError::Fatal(_) => 1,
        }
    }
}

fn fatal(what: &str) -> impl Fn(String) -> HooksError + '_ {
    move |e| HooksError::Fatal(format!("{what}: {e}"))
}

/// Runs `webhooks run` or `webhooks replay`.
pub fn run(args: &WebhooksArgs, out: &mut dyn Write) -> Result<(), HooksError> {
    match &args.command {
        WebhooksCommand::Run(a) => deliver_all(a),
        WebhooksCommand::Replay(a) => replay(a, out),
    }
}

struct Common {
    file: ConfigFile,
    settings: WebhookSettings,
    group: String,
    parked_topic: String,
}

fn common(connection: &ConnectionArgs, group: &Option<String>) -> Result<Common, HooksError> {
    let file = connection.file()?;
    let settings = file.webhooks.clone().unwrap_or_default().resolve()?;
    let group = pick(
        group.clone(),
        file.group_id.clone(),
        "allocation-worker".into(),
    );
    let prefix = pick(
        connection.topic_prefix.clone(),
        file.topic_prefix.clone(),
        String::new(),
    );
    Ok(Common {
        parked_topic: format!("{prefix}{PARKED_TOPIC}"),
        file,
        settings,
        group,
    })
}

fn group_of(group: &str, subscriber: &str) -> String {
    format!("{group}.webhook.{subscriber}")
}

fn deliver_all(args: &HooksRunArgs) -> Result<(), HooksError> {
    let Common {
        file,
        settings,
        group,
        parked_topic,
    } = common(&args.connection, &args.group_id)?;
    let connection = args.connection.resolve(&file)?;
    let registry = connection.registry(Registration::RequireExisting)?;
    let http_addr = pick(
        args.http_addr.clone(),
        file.http_addr.clone(),
        http::DEFAULT_ADDR.into(),
    );
    http::parse_addr(&http_addr)?;
    if settings.subscriptions.is_empty() {
        return Err(SettingsError::Invalid {
            what: "webhooks configuration",
            message: "no [[webhooks.subscriptions]] in the config file".into(),
        }
        .into());
    }
    let config = connection.client_config();
    let producer: FutureProducer = config
        .clone()
        .set("enable.idempotence", "true")
        .for_client(ClientKind::Producer)
        .create()
        .map_err(|e| client_error(&e))?;
    let codec =
        Arc::new(Codec::new(&registry).map_err(|e| fatal("schema registry")(e.to_string()))?);
    let http_client = reqwest::Client::builder()
        .user_agent(concat!("allocation-worker/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| fatal("HTTP client")(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fatal("cannot start the async runtime")(e.to_string()))?;
    rt.block_on(parked::ensure_topic(&config, &parked_topic))
        .map_err(fatal("parked topic"))?;
    let listener = rt
        .block_on(http::bind(&http_addr))
        .map_err(|e| HooksError::Fatal(e.to_string()))?;

    let metrics = Arc::new(HookMetrics::default());
    let state: SharedParked = Arc::default();
    let stop_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let consumer = parked::consumer(&config, &parked_topic).map_err(|e| client_error(&e))?;
        let (state, stop, topic) = (
            Arc::clone(&state),
            Arc::clone(&stop_flag),
            parked_topic.clone(),
        );
        std::thread::Builder::new()
            .name("webhooks-parked".into())
            .spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    parked::poll_into(&consumer, &topic, &state, Duration::from_millis(200));
                }
            })
            .map_err(|e| fatal("parked-state thread")(e.to_string()))?
    };
    let probes = {
        let (ready_state, metrics) = (Arc::clone(&state), Arc::clone(&metrics));
        Probes {
            ready: Arc::new(move || {
                let caught_up = ready_state.lock().map(|s| s.caught_up).unwrap_or(false);
                (
                    caught_up,
                    serde_json::json!({"parked_state_read": caught_up}),
                )
            }),
            metrics: Arc::new(move || {
                let mut out = Exposition::new();
                http::worker_metrics::build_info(&mut out);
                metrics.render(&mut out);
                out.finish()
            }),
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    rt.block_on(async {
        let server = tokio::spawn(http::serve(
            listener,
            http::probes_router(probes),
            stop_rx.clone(),
        ));
        let mut tasks = Vec::new();
        let signal = super::run::shutdown_signal();
        tokio::pin!(signal);
        loop {
            let caught_up = state.lock().map(|s| s.caught_up).unwrap_or(false);
            if caught_up {
                for subscription in &settings.subscriptions {
                    let name = subscription.name.clone();
                    let is_parked = state
                        .lock()
                        .map(|s| s.parked.contains_key(&name))
                        .unwrap_or(true);
                    metrics.set_parked(&name, is_parked);
                    let Ok(mut r) = running.lock() else { continue };
                    if is_parked || r.contains(&name) {
                        continue;
                    }
                    r.insert(name.clone());
                    let subscriber = Subscriber {
                        subscription: subscription.clone(),
                        policy: settings.policy,
                        group: group_of(&group, &name),
                        topic: connection.topics.events.clone(),
                        parked_topic: parked_topic.clone(),
                        config: config.clone(),
                        codec: Arc::clone(&codec),
                        http: http_client.clone(),
                        producer: producer.clone(),
                        metrics: Arc::clone(&metrics),
                        parked: Arc::clone(&state),
                        stop: stop_rx.clone(),
                    };
                    let running = Arc::clone(&running);
                    tasks.push(tokio::spawn(async move {
                        match subscriber.run().await {
                            Ok(Ended::Parked | Ended::Stopped) => {}
                            Err(e) => {
                                tracing::error!(subscriber = %name, error = %e, "subscriber failed")
                            }
                        }
                        if let Ok(mut r) = running.lock() {
                            r.remove(&name);
                        }
                    }));
                }
            }
            tokio::select! {
                s = &mut signal => {
                    tracing::info!(signal = s, "shutting down");
                    break;
                }
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
        let _ = stop_tx.send(true);
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    });
    stop_flag.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = watcher.join();
    tracing::info!("webhooks stopped");
    Ok(())
}

fn parse_offset(text: &str) -> Result<(i32, i64), SettingsError> {
    text.split_once(':')
        .and_then(|(p, o)| Some((p.trim().parse().ok()?, o.trim().parse().ok()?)))
        .filter(|(p, o): &(i32, i64)| *p >= 0 && *o >= 0)
        .ok_or_else(|| SettingsError::Invalid {
            what: "--offset",
            message: format!("`{text}` is not PARTITION:OFFSET"),
        })
}

fn replay(args: &ReplayArgs, out: &mut dyn Write) -> Result<(), HooksError> {
    let Common {
        file,
        settings,
        group,
        parked_topic,
    } = common(&args.connection, &args.group_id)?;
    if !settings
        .subscriptions
        .iter()
        .any(|s| s.name == args.subscriber)
    {
        return Err(SettingsError::Invalid {
            what: "--subscriber",
            message: format!(
                "no subscription named `{}` in [[webhooks.subscriptions]]",
                args.subscriber
            ),
        }
        .into());
    }
    let offsets: Vec<(i32, i64)> = args
        .offsets
        .iter()
        .map(|o| parse_offset(o))
        .collect::<Result<_, _>>()?;
    let connection = args.connection.resolve(&file)?;
    let config = connection.client_config();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fatal("cannot start the async runtime")(e.to_string()))?;
    rt.block_on(parked::ensure_topic(&config, &parked_topic))
        .map_err(fatal("parked topic"))?;
    let state = parked::read_all(&config, &parked_topic)
        .map_err(|e| fatal("reading the parked state")(e.to_string()))?;
    let record = state.parked.get(&args.subscriber).cloned();
    let group_id = group_of(&group, &args.subscriber);
    let mut resumed: BTreeMap<i32, i64> = record
        .as_ref()
        .map(|r| r.positions.clone())
        .unwrap_or_default();
    if !offsets.is_empty() {
        let consumer: BaseConsumer = config
            .clone()
            .set("group.id", &group_id)
            .set("enable.auto.commit", "false")
            .for_client(ClientKind::Consumer)
            .create()
            .map_err(|e| client_error(&e))?;
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &offsets {
            tpl.add_partition_offset(&connection.topics.events, *p, Offset::Offset(*o))
                .map_err(|e| fatal("--offset")(e.to_string()))?;
            resumed.insert(*p, *o);
        }
        consumer.commit(&tpl, CommitMode::Sync).map_err(|e| {
            fatal("moving the group's offsets (is the subscriber running? it must be parked or stopped)")(e.to_string())
        })?;
    }
    let producer: FutureProducer = config
        .for_client(ClientKind::Producer)
        .create()
        .map_err(|e| client_error(&e))?;
    if record.is_some() {
        rt.block_on(parked::publish(
            &producer,
            &parked_topic,
            &args.subscriber,
            None,
        ))
        .map_err(|e| fatal("clearing the parked record")(e.to_string()))?;
    }
    let line = serde_json::json!({
        "subscriber": args.subscriber,
        "group": group_id,
        "was_parked": record.is_some(),
        "parked": record,
        "resumes_from": resumed,
    });
    writeln!(out, "{line}").map_err(|e| fatal("cannot write")(e.to_string()))?;
    Ok(())
}
