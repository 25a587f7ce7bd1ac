//! The [`Product`] aggregate: all batches of one sku, the consistency boundary of allocation.
//!
//! Rules:
//! - `allocate`: warehouse batches (`eta == None`) first, then earliest eta (ties: oldest
//!   batch); the first batch that can take the line gets it, the version number is bumped and
//!   `Allocated` is raised. If none can, `OutOfStock` is raised and nothing else changes.
//!   An order has at most one line per sku: allocating an identical line again is a no-op
//!   (no event, no version bump); a line with another quantity is rejected.
//! - `change_batch_quantity`: sets the purchased quantity, raises `BatchQuantityChanged`, then
//!   deallocates the most recently allocated lines one at a time while the batch is
//!   over-allocated, raising `Deallocated { reason: BatchQuantityChanged }` for each.
//! - `deallocate`: releases an order's line, raising `Deallocated { reason: Requested }`.
//! - Every operation validates before it mutates: an `Err` leaves the product unchanged.
//! - `version_number` is bumped once per operation that changed the batches.
//!
//! Invariants: every batch has the product's sku; batch references are unique; an order has
//! at most one allocated line; no batch is over-allocated between operations. Every mutation
//! is journaled (an undo log inside the aggregate) so the owner can roll back to a [`Savepoint`].

mod applied;
mod journal;
mod snapshot;

use chrono::NaiveDate;

pub use applied::{AppliedMessages, APPLIED_MESSAGE_CAPACITY};
use journal::Change;
pub use journal::Savepoint;

use super::errors::DomainError;
use super::events::{
    Allocated, BatchCreated, BatchQuantityChanged, Deallocated, DeallocationReason, Event,
    OutOfStock,
};
use super::model::{AllocatedLine, Batch, OrderLine};
use super::values::{BatchRef, MessageId, OrderId, Quantity, Sku};

/// What [`Product::allocate`] did with a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allocation {
    /// Allocated to this batch; `Allocated` was raised.
    Allocated(BatchRef),
    /// The identical line was already allocated to this batch; nothing changed.
    AlreadyAllocated(BatchRef),
    /// No batch could take it; `OutOfStock` was raised.
    OutOfStock,
}

/// The aggregate root for one sku.
///
/// Equality compares state (sku, version, batches, applied ids), not pending events or the
/// journal.
#[derive(Debug, Clone)]
pub struct Product {
    sku: Sku,
    version_number: u64,
    batches: Vec<Batch>,
    applied: AppliedMessages,
    /// Raised and not yet collected.
    events: Vec<Event>,
    /// Undo log since the journal was last released.
    journal: Vec<Change>,
}

impl PartialEq for Product {
    fn eq(&self, other: &Self) -> bool {
        self.sku == other.sku
            && self.version_number == other.version_number
            && self.batches == other.batches
            && self.applied == other.applied
    }
}

impl Eq for Product {}

impl Product {
    /// A product with no batches.
    pub fn new(sku: Sku) -> Self {
        Self {
            sku,
            version_number: 0,
            batches: Vec::new(),
            applied: AppliedMessages::default(),
            events: Vec::new(),
            journal: Vec::new(),
        }
    }

    pub fn sku(&self) -> &Sku {
        &self.sku
    }

    pub fn version_number(&self) -> u64 {
        self.version_number
    }

    /// Batches in the order they were added.
    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }

    /// The batch with this reference.
    pub fn batch(&self, reference: &BatchRef) -> Option<&Batch> {
        self.batches.iter().find(|b| b.reference() == reference)
    }

    /// The batch holding `orderid`'s line, and the line (of the product's sku).
    pub fn allocation_of(&self, orderid: &OrderId) -> Option<(&Batch, &AllocatedLine)> {
        self.batches
            .iter()
            .find_map(|batch| batch.allocation_of(orderid).map(|(_, line)| (batch, line)))
    }

    /// The message ids this product remembers having applied.
    pub fn applied_message_ids(&self) -> &AppliedMessages {
        &self.applied
    }

    /// Whether message `id` was already applied to this product.
    pub fn has_applied(&self, id: MessageId) -> bool {
        self.applied.contains(id)
    }

    /// Events raised and not yet collected.
    pub fn pending_events(&self) -> &[Event] {
        &self.events
    }

    /// Removes and returns the events raised so far.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    /// Adds a batch and raises `BatchCreated`.
    pub fn add_batch(
        &mut self,
        reference: BatchRef,
        sku: Sku,
        qty: Quantity,
        eta: Option<NaiveDate>,
    ) -> Result<(), DomainError> {
        self.check_sku(&sku)?;
        if self.batch(&reference).is_some() {
            return Err(DomainError::DuplicateBatch {
                reference,
                sku: self.sku.clone(),
            });
        }
        // Batches, lines and events share the product's sku text (cheap equality; one
        // allocation when the sku is too long to be inline).
        self.events.push(Event::BatchCreated(BatchCreated {
            reference: reference.clone(),
            sku: self.sku.clone(),
            qty,
            eta,
        }));
        self.batches
            .push(Batch::new(reference, self.sku.clone(), qty, eta));
        self.journal.push(Change::BatchAdded);
        self.bump_version();
        Ok(())
    }

    /// Allocates `line` to the preferred batch that can take it (see the module rules).
    pub fn allocate(&mut self, line: OrderLine) -> Result<Allocation, DomainError> {
        self.check_sku(&line.sku)?;
        if let Some((batch, existing)) = self.allocation_of(&line.orderid) {
            if existing.qty == line.qty {
                return Ok(Allocation::AlreadyAllocated(batch.reference().clone()));
            }
            return Err(DomainError::ConflictingLine {
                orderid: line.orderid,
                sku: line.sku,
                existing: existing.qty,
                requested: line.qty,
            });
        }
        let chosen = self
            .batches
            .iter()
            .enumerate()
            .filter(|(_, batch)| batch.can_allocate(&line))
            .min_by_key(|(_, batch)| batch.preference())
            .map(|(index, _)| index);
        let Some(index) = chosen else {
            self.events.push(Event::OutOfStock(OutOfStock {
                sku: self.sku.clone(),
                orderid: line.orderid,
            }));
            return Ok(Allocation::OutOfStock);
        };
        let batchref = self.batches[index].reference().clone();
        self.events.push(Event::Allocated(Allocated {
            orderid: line.orderid.clone(),
            sku: self.sku.clone(),
            qty: line.qty,
            batchref: batchref.clone(),
        }));
        self.batches[index].push_allocation(AllocatedLine {
            orderid: line.orderid,
            qty: line.qty,
        });
        self.journal.push(Change::LineAllocated { batch: index });
        self.bump_version();
        Ok(Allocation::Allocated(batchref))
    }

    /// Sets a batch's purchased quantity and deallocates what no longer fits.
    pub fn change_batch_quantity(
        &mut self,
        reference: &BatchRef,
        qty: Quantity,
    ) -> Result<(), DomainError> {
        let index = self.batch_index(reference)?;
        let previous = self.batches[index].set_purchased_quantity(qty);
        self.journal.push(Change::PurchasedQuantitySet {
            batch: index,
            previous,
        });
        self.events
            .push(Event::BatchQuantityChanged(BatchQuantityChanged {
                reference: reference.clone(),
                sku: self.sku.clone(),
                qty,
            }));
        while self.batches[index].available_quantity() < 0 {
            let last = self.batches[index].allocations().len().saturating_sub(1);
            let removed = self.remove_line(index, last, DeallocationReason::BatchQuantityChanged);
            if removed.is_none() {
                break;
            }
        }
        self.bump_version();
        Ok(())
    }

    /// Releases `orderid`'s line; it is not reallocated.
    pub fn deallocate(&mut self, orderid: &OrderId) -> Result<OrderLine, DomainError> {
        let found = self.batches.iter().enumerate().find_map(|(b, batch)| {
            batch
                .allocation_of(orderid)
                .map(|(position, _)| (b, position))
        });
        let removed = found.and_then(|(batch, position)| {
            self.remove_line(batch, position, DeallocationReason::Requested)
        });
        let Some(line) = removed else {
            return Err(DomainError::NotAllocated {
                orderid: orderid.clone(),
                sku: self.sku.clone(),
            });
        };
        self.bump_version();
        Ok(line.to_order_line(&self.sku))
    }

    /// Records message `id` as applied (no-op when already recorded).
    pub fn record_applied(&mut self, id: MessageId) {
        if let Some(evicted) = self.applied.record(id) {
            self.journal.push(Change::MessageRecorded { evicted });
        }
    }

    /// The current point in this product's history.
    pub fn savepoint(&self) -> Savepoint {
        Savepoint {
            changes: self.journal.len(),
            events: self.events.len(),
        }
    }

    /// Whether anything changed since `savepoint`.
    pub fn changed_since(&self, savepoint: Savepoint) -> bool {
        self.journal.len() > savepoint.changes
    }

    /// Undoes every change made after `savepoint` and drops the events raised since.
    pub fn rollback_to(&mut self, savepoint: Savepoint) {
        while self.journal.len() > savepoint.changes {
            let Some(change) = self.journal.pop() else {
                break;
            };
            self.undo(change);
        }
        self.events.truncate(savepoint.events);
    }

    /// Undoes every change since the journal was last released (or since the product was
    /// built or deserialized) and drops pending events.
    pub fn rollback_unreleased(&mut self) {
        self.rollback_to(Savepoint {
            changes: 0,
            events: 0,
        });
    }

    /// Forgets the undo log: the current state becomes the new base (earlier savepoints are
    /// invalidated).
    pub fn release_journal(&mut self) {
        const RETAINED_CAPACITY: usize = 32;
        if self.journal.capacity() > RETAINED_CAPACITY {
            self.journal = Vec::new();
        } else {
            self.journal.clear();
        }
    }

    fn undo(&mut self, change: Change) {
        match change {
            Change::BatchAdded => {
                self.batches.pop();
            }
            Change::LineAllocated { batch } => {
                if let Some(batch) = self.batches.get_mut(batch) {
                    batch.pop_allocation();
                }
            }
            Change::LineDeallocated { batch, index, line } => {
                if let Some(batch) = self.batches.get_mut(batch) {
                    batch.insert_allocation(index, line);
                }
            }
            Change::PurchasedQuantitySet { batch, previous } => {
                if let Some(batch) = self.batches.get_mut(batch) {
                    batch.set_purchased_quantity(previous);
                }
            }
            Change::VersionBumped => {
                self.version_number = self.version_number.saturating_sub(1);
            }
            Change::MessageRecorded { evicted } => self.applied.unrecord(evicted),
        }
    }

    fn remove_line(
        &mut self,
        batch: usize,
        position: usize,
        reason: DeallocationReason,
    ) -> Option<AllocatedLine> {
        let line = self.batches.get_mut(batch)?.remove_allocation(position)?;
        self.events.push(Event::Deallocated(Deallocated {
            orderid: line.orderid.clone(),
            sku: self.sku.clone(),
            qty: line.qty,
            batchref: self.batches[batch].reference().clone(),
            reason,
        }));
        self.journal.push(Change::LineDeallocated {
            batch,
            index: position,
            line: line.clone(),
        });
        Some(line)
    }

    fn bump_version(&mut self) {
        self.version_number += 1;
        self.journal.push(Change::VersionBumped);
    }

    fn batch_index(&self, reference: &BatchRef) -> Result<usize, DomainError> {
        self.batches
            .iter()
            .position(|b| b.reference() == reference)
            .ok_or_else(|| DomainError::UnknownBatch {
                reference: reference.clone(),
                sku: self.sku.clone(),
            })
    }

    fn check_sku(&self, sku: &Sku) -> Result<(), DomainError> {
        if sku == &self.sku {
            Ok(())
        } else {
            Err(DomainError::SkuMismatch {
                expected: self.sku.clone(),
                actual: sku.clone(),
            })
        }
    }
}
