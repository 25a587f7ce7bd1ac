//! Time and identity for outputs: the [`Clock`] stamps event times, the [`IdGenerator`]
//! derives message ids.
//!
//! Invariant for exactly-once: with [`InboundTime`] and [`DeterministicIds`] (the defaults)
//! every output of an inbound message is a pure function of that message and the state, so
//! reprocessing it after an aborted transaction writes byte-identical records.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::messages::InboundMetadata;
use crate::domain::MessageId;

/// Gives the event time of the outputs of an inbound message.
pub trait Clock: Send + Sync {
    /// Event time for everything `cause` produces (called once per inbound message).
    fn now(&self, cause: &InboundMetadata) -> DateTime<Utc>;
}

/// Stream time: outputs carry the inbound message's timestamp (as Kafka Streams does).
/// Deterministic across retries. The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct InboundTime;

impl Clock for InboundTime {
    fn now(&self, cause: &InboundMetadata) -> DateTime<Utc> {
        cause.timestamp
    }
}

/// Wall-clock time of processing. Not deterministic: a retried message gets a new time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self, _cause: &InboundMetadata) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Always the same instant (tests).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self, _cause: &InboundMetadata) -> DateTime<Utc> {
        self.0
    }
}

/// Derives the id of the `sequence`-th output caused by message `cause`.
pub trait IdGenerator: Send + Sync {
    fn derive(&self, cause: MessageId, sequence: u32) -> MessageId;
}

/// UUID v5 with the cause's id as namespace and the big-endian sequence number as name.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeterministicIds;

impl IdGenerator for DeterministicIds {
    fn derive(&self, cause: MessageId, sequence: u32) -> MessageId {
        MessageId::from_uuid(Uuid::new_v5(cause.as_uuid(), &sequence.to_be_bytes()))
    }
}
