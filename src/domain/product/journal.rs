//! The change journal of a [`Product`](super::Product): an undo log of every mutation since
//! the journal was last released, so the aggregate can be rolled back to a [`Savepoint`]
//! without having been copied first.
//!
//! Invariants: every mutation of a product's state (batches, allocations, purchased
//! quantities, version number, applied message ids) appends exactly one [`Change`] holding
//! what is needed to undo it; undoing pops changes in reverse order, so the recorded batch
//! and line positions are always valid when they are undone.

use crate::domain::model::AllocatedLine;
use crate::domain::values::{MessageId, Quantity};

/// One undoable mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Change {
    /// A batch was pushed at the end of `batches`.
    BatchAdded,
    /// A line was pushed at the end of `batches[batch]`'s allocations.
    LineAllocated { batch: usize },
    /// `line` was removed from position `index` of `batches[batch]`'s allocations.
    LineDeallocated {
        batch: usize,
        index: usize,
        line: AllocatedLine,
    },
    /// `batches[batch]`'s purchased quantity was `previous`.
    PurchasedQuantitySet { batch: usize, previous: Quantity },
    /// `version_number` was incremented.
    VersionBumped,
    /// A message id was recorded as applied, evicting `evicted`.
    MessageRecorded { evicted: Option<MessageId> },
}

/// A point in a product's history that it can be rolled back to.
///
/// Valid until the product's journal is released (see
/// [`Product::release_journal`](super::Product::release_journal)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Savepoint {
    pub(super) changes: usize,
    pub(super) events: usize,
}
