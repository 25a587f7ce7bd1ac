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
    /// Create or verify every topic with its configuration (partitions, compaction); refuse a
    /// changelog that is not co-partitioned with the command topic.
    Topics(entrypoints::topics::TopicsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
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
