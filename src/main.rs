//! The `allocation-worker` binary: a thin entry point over the library.

use clap::Parser;

/// Exactly-once Kafka stream-processing worker for stock allocation.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, arg_required_else_help = true)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
