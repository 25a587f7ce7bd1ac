//! [`Outcome`]: everything the worker must write for one inbound message, in one Kafka
//! transaction.
//!
//! Invariants: every record carries deterministic metadata (ids derived from the inbound
//! message id and the record's position in the outcome: events first, then view updates,
//! derived commands and snapshots), so handling the same message against the same state
//! yields an equal outcome. A rejected command yields exactly one `CommandRejected` event and
//! nothing else; a duplicate yields nothing.

use super::messages::Envelope;
use super::unit_of_work::Snapshot;
use super::views::ViewUpdate;
use crate::domain::{Command, DomainError, Event};

/// What happened to the inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// The command (and its cascade) was applied.
    Applied,
    /// A business rule rejected the command; state is unchanged.
    Rejected(DomainError),
    /// The message id was already applied to the aggregate; nothing was done.
    Duplicate,
    /// An external event was translated into derived commands.
    Translated,
}

/// The records to write for one inbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub disposition: Disposition,
    /// Domain events, in the order they were raised (topic `allocation.events`, key sku).
    pub events: Vec<Envelope<Event>>,
    /// Read-model row changes (topic `allocation.view`; key the row `(orderid, sku)`,
    /// partitioned by orderid; `Delete` is a tombstone).
    pub view_updates: Vec<Envelope<ViewUpdate>>,
    /// Commands for other partitions (topic `allocation.commands`, key sku).
    pub derived_commands: Vec<Envelope<Command>>,
    /// New states of the aggregates that changed (topic `allocation.changelog`, key sku).
    pub snapshots: Vec<Envelope<Snapshot>>,
}

impl Outcome {
    /// An outcome with no record.
    pub fn empty(disposition: Disposition) -> Self {
        Self {
            disposition,
            events: Vec::new(),
            view_updates: Vec::new(),
            derived_commands: Vec::new(),
            snapshots: Vec::new(),
        }
    }

    /// Number of records to write.
    pub fn record_count(&self) -> usize {
        self.events.len()
            + self.view_updates.len()
            + self.derived_commands.len()
            + self.snapshots.len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.record_count() == 0
    }

    /// The business rule that rejected the command, if it was rejected.
    pub fn rejection(&self) -> Option<&DomainError> {
        match &self.disposition {
            Disposition::Rejected(error) => Some(error),
            _ => None,
        }
    }
}
