//! Entry points: what the `allocation-worker` binary's subcommands call. `main` only parses
//! the command line and delegates here.
//!
//! - [`contract`]: `allocation-worker contract` — the AsyncAPI 3 document of the topics.
//! - [`topics`]: `allocation-worker topics` — create or verify the topics and their configs.

pub mod contract;
pub mod topics;
