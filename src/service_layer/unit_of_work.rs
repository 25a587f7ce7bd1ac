//! Persistence ports of the write side: [`ProductRepository`] (what handlers see),
//! [`UnitOfWork`] (what the bus drives, one per inbound message) and [`StateStore`] (what the
//! exactly-once runtime drives, one per assigned partition).
//!
//! Two-level commit:
//! 1. a unit of work either commits into the store's *batch staging* or rolls back to
//!    exactly the state it began with;
//! 2. the runtime then calls [`StateStore::commit_batch`] once the Kafka transaction holding
//!    the batch's outputs committed, or [`StateStore::abort_batch`] after it aborted, which
//!    restores exactly the state of the last `commit_batch`.
//!
//! Transport-free: no Kafka type appears here.

use std::sync::Arc;

use crate::domain::{Event, Product, Sku};

/// The latest state of an aggregate, as handed to the runtime for the changelog.
/// Shared, not copied: the store copies an aggregate on write only while a snapshot of it
/// is still held, so drop snapshots once they are serialized.
pub type Snapshot = Arc<Product>;

/// A repository could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryError {
    #[error("a product already exists for sku {0}")]
    AlreadyExists(Sku),
}

/// A state-store maintenance operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Restore and delete write committed state directly; they are refused while the sku has
    /// changes staged in the open batch (commit or abort it first).
    #[error("sku {0} has uncommitted changes in the open batch")]
    StagedChanges(Sku),
}

/// Access to the aggregates, as seen by handlers.
pub trait ProductRepository {
    /// The product for `sku`, for reading or changing. Every product obtained here takes part
    /// in the current unit of work.
    fn get(&mut self, sku: &Sku) -> Option<&mut Product>;

    /// Adds a new product (and takes it into the current unit of work).
    fn add(&mut self, product: Product) -> Result<(), RepositoryError>;
}

/// One atomic change to the aggregates, spanning a whole inbound message.
pub trait UnitOfWork: ProductRepository {
    /// A point inside the unit of work to roll back to.
    type Savepoint;

    /// Starts a unit of work (rolling back one left open by mistake).
    fn begin(&mut self);

    /// The current point inside the unit of work.
    fn savepoint(&self) -> Self::Savepoint;

    /// Undoes every change made since `savepoint` (the unit of work stays open).
    fn rollback_to(&mut self, savepoint: Self::Savepoint);

    /// Moves the events raised by the touched aggregates into `into`.
    fn collect_new_events(&mut self, into: &mut Vec<Event>);

    /// Commits into the batch staging layer; returns the snapshots of the aggregates that
    /// changed, in the order they were first touched.
    fn commit(&mut self) -> Vec<Snapshot>;

    /// Discards every change made by the unit of work.
    fn rollback(&mut self);
}

/// The per-partition state: aggregates keyed by sku, with batch-level commit and abort.
pub trait StateStore: UnitOfWork {
    /// Current state (committed plus staged) of `sku`'s product.
    fn product(&self, sku: &Sku) -> Option<&Product>;

    /// Makes everything staged since the last commit/abort permanent.
    fn commit_batch(&mut self);

    /// Discards everything staged since the last commit/abort (and an open unit of work).
    fn abort_batch(&mut self);

    /// Whether any change is staged.
    fn has_staged_changes(&self) -> bool;

    /// Loads a snapshot read from the changelog, replacing any state for its sku.
    fn restore(&mut self, product: Product) -> Result<(), StoreError>;

    /// Applies a changelog tombstone: forgets `sku`'s product.
    fn delete(&mut self, sku: &Sku) -> Result<(), StoreError>;

    /// Forgets everything (the partition was revoked).
    fn drop_all(&mut self);

    /// Number of products.
    fn len(&self) -> usize;

    /// True when there is no product.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every product (current state), in no particular order.
    fn products(&self) -> Box<dyn Iterator<Item = &Product> + '_>;
}
