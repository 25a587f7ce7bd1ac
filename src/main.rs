//! The `allocation-worker` binary: a thin entry point over the library. It parses the command
//! line and hands each subcommand to `allocation_worker::entrypoints`.

use std::process::ExitCode;

use allocation_worker::entrypoints;
use clap::{Parser, Subcommand};

/// Exactly-once Kafka stream-processing worker for stock allocation.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the AsyncAPI 3 contract (topics, keys, message types, Avro schemas, headers) as JSON.
    Contract(entrypoints::contract::ContractArgs),
    /// Run the worker: consume commands and external events, apply them, and write events,
    /// state, view rows and offsets in one Kafka transaction per batch.
    Run(Box<entrypoints::run::RunArgs>),
    /// Send commands to the command topic (one from flags, or JSON lines); prints their ids.
    Produce(Box<entrypoints::produce::ProduceArgs>),
    /// Create or verify every topic with its configuration (partitions, compaction); refuse a
    /// changelog that is not co-partitioned with the command topic.
    Topics(entrypoints::topics::TopicsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    allocation_worker::telemetry::init();
    let result = match cli.command {
        Command::Run(args) => {
            return match entrypoints::run::run(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "worker stopped");
                    eprintln!("allocation-worker: {e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
        Command::Produce(args) => {
            return match entrypoints::produce::run(&args, &mut std::io::stdout().lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("allocation-worker: {e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
        Command::Contract(args) => entrypoints::contract::run(&args, &mut std::io::stdout().lock())
            .map_err(|e| e.to_string()),
        Command::Topics(args) => entrypoints::topics::run(&args, &mut std::io::stdout().lock())
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("allocation-worker: {e}");
            ExitCode::FAILURE
        }
    }
}
