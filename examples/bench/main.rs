//! `scripts/bench`'s driver: the end-to-end performance comparison of issue #8, run against
//! a live broker and registry (`KAFKA_BOOTSTRAP_SERVERS`, `SCHEMA_REGISTRY_URL`).
//!
//! `bench all` measures, side by side in one run, on fresh topic prefixes per configuration:
//! Kafka's own producer/consumer perf tools, a raw rdkafka passthrough, the real worker
//! binary at-least-once and exactly-once (commit interval 10 / 100 / 1000 ms) draining the same
//! preloaded commands, open-loop end-to-end latency at 25 / 50 / 80 % of each drained maximum,
//! changelog restore rate and memory per aggregate; it writes `result.json` and `result.md`.
//! Without arguments it prints its usage and does nothing (so `cargo test --all-targets`
//! builds it and runs only its unit tests).

mod calibrate;
mod kafka;
mod latency;
mod procmon;
mod report;
mod worker;
mod workload;

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand};

mod run;

#[derive(Debug, Parser)]
#[command(about = "allocation-worker end-to-end benchmark (use scripts/bench)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the whole comparison.
    All(run::Options),
    /// Creates the worker's topics under a new prefix and preloads the drain's commands into
    /// them, then prints the prefix: for running the worker by hand on them (a profiler, a
    /// debugger). The topics are kept.
    Preload(run::Options),
    /// The raw passthrough (spawned by `all`).
    Passthrough {
        #[arg(long)]
        input: String,
        /// Repeat for several outputs: every input record is written to each.
        #[arg(long, required = true)]
        output: Vec<String>,
        #[arg(long)]
        group: String,
        #[arg(long, default_value_t = 100)]
        commit_ms: u64,
    },
}

fn env() -> Result<kafka::Env> {
    let var = |name: &str| {
        std::env::var(name).map_err(|_| {
            anyhow!("{name} is not set: run `scripts/stack up` and `export $(scripts/stack env)`")
        })
    };
    Ok(kafka::Env {
        bootstrap: var("KAFKA_BOOTSTRAP_SERVERS")?,
        registry: var("SCHEMA_REGISTRY_URL")?,
    })
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            println!("usage: bench all|preload [--help]  (run by scripts/bench)");
            Ok(())
        }
        Some(Cmd::Passthrough {
            input,
            output,
            group,
            commit_ms,
        }) => kafka::passthrough(&env()?, &input, &output, &group, commit_ms),
        Some(Cmd::Preload(options)) => {
            println!("{}", run::preload_only(&env()?, &options)?);
            Ok(())
        }
        Some(Cmd::All(options)) => {
            let out: PathBuf = options.out.clone();
            std::fs::create_dir_all(&out).with_context(|| format!("{}", out.display()))?;
            let report = run::all(&env()?, &options)?;
            let json = serde_json::to_string_pretty(&report)?;
            std::fs::write(out.join("result.json"), json)?;
            let md = report.markdown();
            std::fs::write(out.join("result.md"), &md)?;
            println!("{md}");
            Ok(())
        }
    }
}
