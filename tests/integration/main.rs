//! The one integration-test binary: every test here runs against a real Apache Kafka broker and
//! a real Confluent-compatible schema registry, found or started by [`harness`].
//!
//! Run it with `scripts/test` (starts the local stack when none is given), or with plain
//! `cargo test` on a machine with a Docker engine (testcontainers), or against any broker and
//! registry by setting `KAFKA_BOOTSTRAP_SERVERS` and `SCHEMA_REGISTRY_URL`.

mod harness;

mod contracts;
mod edge;
mod http;
mod kafka_transactions;
mod schema_registry;
mod security;
mod topics;
mod webhooks;
mod worker;
