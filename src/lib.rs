//! allocation-worker: an exactly-once Kafka stream-processing worker for stock allocation.
//!
//! Layers (dependencies point inward):
//! - [`domain`]: aggregates, commands, events and their rules; pure Rust.
//! - [`service_layer`]: message bus, handlers, unit of work; pure Rust, no transport types.
//! - [`bootstrap`]: the composition root that wires handlers to their dependencies.
//! - `adapters` / `entrypoints`: Kafka, Avro, HTTP and the CLI.
//! - [`heap`]: the process's malloc policy (set once, first thing in `main`).

pub mod adapters;
pub mod bootstrap;
pub mod domain;
pub mod entrypoints;
pub mod heap;
pub mod runtime;
pub mod service_layer;
pub mod telemetry;

#[cfg(test)]
mod architecture_tests;
