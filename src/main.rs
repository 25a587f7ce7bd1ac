//! The `allocation-worker` binary: a thin entry point over the library. It parses the command
//! line and hands each subcommand to `allocation_worker::entrypoints`.
//!
//! Invariant: a command line or configuration the verb cannot use ends the process with exit
//! code 2 and exactly one line on stderr (`allocation-worker: invalid configuration: …`);
//! `--help` and `--version` print to stdout and exit 0.

use std::process::ExitCode;

use allocation_worker::entrypoints;
use clap::error::ErrorKind;
use clap::{Parser, Subcommand};

// Rust's allocations go to mimalloc (see `heap`); librdkafka's stay with the C library's.
#[global_allocator]
static GLOBAL: allocation_worker::heap::Allocator = allocation_worker::heap::Allocator;

/// Exactly-once Kafka stream-processing worker for stock allocation.
///
/// Every setting is read, in increasing precedence, from its default, the optional config
/// file (--config / ALLOCATION_WORKER_CONFIG, TOML), the environment, and the flags.
#[derive(Debug, Parser)]
#[command(version, about, long_about, arg_required_else_help = true)]
#[command(
    after_help = "Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration, \
                        3 shutdown timeout (run). Logs: stderr, LOG_FORMAT=json|text, RUST_LOG."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the worker: consume commands and external events, apply them, and write events,
    /// state, view rows and offsets in one Kafka transaction per batch. Serves /healthz,
    /// /readyz and /metrics on --http-addr.
    Run(Box<entrypoints::run::RunArgs>),
    /// Serve the HTTP API: POST /commands/{kind}, GET /allocations/{orderid} (from the
    /// materialised view topic), /healthz, /readyz, /metrics.
    Serve(Box<entrypoints::serve::ServeArgs>),
    /// Send commands to the command topic (one from flags, or JSON lines); prints their ids.
    Produce(Box<entrypoints::produce::ProduceArgs>),
    /// Create or verify every topic with its configuration (partitions, compaction); refuse a
    /// changelog that is not co-partitioned with the command topic.
    Topics(Box<entrypoints::topics::TopicsArgs>),
    /// Print the AsyncAPI 3 contract (topics, keys, message types, Avro schemas, headers) as JSON.
    Contract(entrypoints::contract::ContractArgs),
    /// Outbound webhooks: `run` delivers committed events to the configured subscriptions
    /// (signed, retried, in order); `replay` resumes a parked subscriber.
    Webhooks(Box<entrypoints::webhooks::WebhooksArgs>),
}

/// Reports a command-line error on one line (exit 2), or prints help / version (exit 0).
fn usage_error(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        _ => {
            let rendered = e.render().to_string();
            let line = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid command line");
            let line = line.strip_prefix("error: ").unwrap_or(line);
            eprintln!("allocation-worker: invalid configuration: {line}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    // Before anything allocates much or starts a thread: see the module's doc.
    let heap = allocation_worker::heap::configure();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    allocation_worker::telemetry::init();
    tracing::debug!(?heap, "malloc policy");
    let out = &mut std::io::stdout().lock();
    let (code, message) = match cli.command {
        Command::Run(args) => match entrypoints::run::run(&args) {
            Ok(()) => return ExitCode::SUCCESS,
            Err(e) => {
                if e.exit_code() != 2 {
                    tracing::error!(error = %e, "worker stopped");
                }
                (e.exit_code(), e.to_string())
            }
        },
        Command::Serve(args) => match entrypoints::serve::run(&args) {
            Ok(()) => return ExitCode::SUCCESS,
            Err(e) => (e.exit_code(), e.to_string()),
        },
        Command::Produce(args) => match entrypoints::produce::run(&args, out) {
            Ok(()) => return ExitCode::SUCCESS,
            Err(e) => (e.exit_code(), e.to_string()),
        },
        Command::Topics(args) => match entrypoints::topics::run(&args, out) {
            Ok(()) => return ExitCode::SUCCESS,
            Err(e) => (e.exit_code(), e.to_string()),
        },
        Command::Contract(args) => match entrypoints::contract::run(&args, out) {
            Ok(()) => return ExitCode::SUCCESS,
            Err(e) => (e.exit_code(), e.to_string()),
        },
        Command::Webhooks(args) => match entrypoints::webhooks::run(&args, out) {
            Ok(()) => return ExitCode::SUCCESS,
            Err(e) => (e.exit_code(), e.to_string()),
        },
    };
    let line = message.replace('\n', " ");
    eprintln!("allocation-worker: {line}");
    ExitCode::from(code)
}
