//! Entry points: what the `allocation-worker` binary's subcommands call. `main` only parses
//! the command line and delegates here.
//!
//! - [`contract`]: `allocation-worker contract` — the AsyncAPI 3 document of the topics.
//! - [`produce`]: `allocation-worker produce` — send commands from flags or JSON lines.
//! - [`run`]: `allocation-worker run` — the exactly-once worker (plus health and metrics).
//! - [`serve`]: `allocation-worker serve` — HTTP command intake, queries, health, metrics.
//! - [`topics`]: `allocation-worker topics` — create or verify the topics and their configs.
//! - [`webhooks`]: `allocation-worker webhooks run|replay` — outbound webhooks.
//! - [`settings`]: layered configuration (defaults → file → environment → flags), secrets.
//! - [`http`]: the HTTP server pieces shared by `run` and `serve`; [`lag`]: consumer lag.
//!
//! Invariant: every verb exits 2 on invalid configuration, with one line on stderr.

pub mod contract;
pub mod http;
pub mod lag;
pub mod produce;
pub mod run;
pub mod serve;
pub mod settings;
pub mod topics;
pub mod webhooks;
