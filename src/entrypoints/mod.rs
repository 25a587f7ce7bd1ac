//! Entry points: what the `allocation-worker` binary's subcommands call. `main` only parses
//! the command line and delegates here.
//!
//! - [`contract`]: `allocation-worker contract` — the AsyncAPI 3 document of the topics.
//! - [`produce`]: `allocation-worker produce` — send commands from flags or JSON lines.
//! - [`run`]: `allocation-worker run` — the exactly-once worker.
//! - [`topics`]: `allocation-worker topics` — create or verify the topics and their configs.

pub mod contract;
pub mod produce;
pub mod run;
pub mod topics;
