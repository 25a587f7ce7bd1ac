//! The Kafka runtime of the worker: consumer-group membership, the transactional producer and
//! the exactly-once processing loop around the message bus.
//!
//! Everything that knows rdkafka types lives here (and in `adapters`); the domain and the
//! service layer never see them.

mod complete;
pub mod config;
pub mod connect;
pub mod delivery;
pub mod errors;
pub mod outbox;
pub mod restore;
pub mod scope;
pub mod topics;
pub mod transaction;
pub mod worker;
