//! Entities and value objects inside the [`Product`](super::Product) aggregate:
//! [`OrderLine`] and [`Batch`].
//!
//! Invariants of a batch (held by construction and checked on deserialization):
//! - every allocated line has the batch's sku, and no order appears twice;
//! - `allocated_quantity() <= purchased_quantity`, i.e. `available_quantity() >= 0`,
//!   and `allocated + available == purchased`.
//!
//! A batch only changes through its aggregate (mutators are private to the domain), so the
//! aggregate's change journal sees every mutation.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::errors::SnapshotError;
use super::values::{BatchRef, OrderId, Quantity, Sku};

/// A customer's request for `qty` units of `sku` on order `orderid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderLine {
    pub orderid: OrderId,
    pub sku: Sku,
    pub qty: Quantity,
}

impl OrderLine {
    /// Builds a line from validated values.
    pub fn new(orderid: OrderId, sku: Sku, qty: Quantity) -> Self {
        Self { orderid, sku, qty }
    }
}

/// A quantity of one sku, in the warehouse (`eta == None`) or arriving on `eta`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BatchRecord")]
pub struct Batch {
    reference: BatchRef,
    sku: Sku,
    purchased_quantity: Quantity,
    eta: Option<NaiveDate>,
    /// In allocation order (oldest first).
    allocations: Vec<OrderLine>,
    /// Cached sum of `allocations[..].qty`.
    #[serde(skip)]
    allocated: u64,
}

impl Batch {
    pub(in crate::domain) fn new(
        reference: BatchRef,
        sku: Sku,
        purchased_quantity: Quantity,
        eta: Option<NaiveDate>,
    ) -> Self {
        Self {
            reference,
            sku,
            purchased_quantity,
            eta,
            allocations: Vec::new(),
            allocated: 0,
        }
    }

    pub fn reference(&self) -> &BatchRef {
        &self.reference
    }

    pub fn sku(&self) -> &Sku {
        &self.sku
    }

    pub fn purchased_quantity(&self) -> Quantity {
        self.purchased_quantity
    }

    pub fn eta(&self) -> Option<NaiveDate> {
        self.eta
    }

    /// Allocated lines, oldest first.
    pub fn allocations(&self) -> &[OrderLine] {
        &self.allocations
    }

    /// Sum of the allocated lines' quantities.
    pub fn allocated_quantity(&self) -> u64 {
        self.allocated
    }

    /// `purchased - allocated`; never negative outside an aggregate operation.
    pub fn available_quantity(&self) -> i64 {
        i64::from(self.purchased_quantity.get()) - self.allocated as i64
    }

    /// True when the sku matches and enough stock is available.
    pub fn can_allocate(&self, line: &OrderLine) -> bool {
        self.sku == line.sku && self.available_quantity() >= i64::from(line.qty.get())
    }

    /// The position and line of `orderid`'s allocation in this batch, if any.
    pub fn allocation_of(&self, orderid: &OrderId) -> Option<(usize, &OrderLine)> {
        self.allocations
            .iter()
            .enumerate()
            .find(|(_, line)| &line.orderid == orderid)
    }

    /// Sort key for allocation preference: warehouse stock first, then earliest eta.
    pub(in crate::domain) fn preference(&self) -> (bool, Option<NaiveDate>) {
        (self.eta.is_some(), self.eta)
    }

    pub(in crate::domain) fn push_allocation(&mut self, line: OrderLine) {
        self.allocated += u64::from(line.qty.get());
        self.allocations.push(line);
    }

    pub(in crate::domain) fn pop_allocation(&mut self) -> Option<OrderLine> {
        let line = self.allocations.pop()?;
        self.allocated -= u64::from(line.qty.get());
        Some(line)
    }

    pub(in crate::domain) fn remove_allocation(&mut self, index: usize) -> Option<OrderLine> {
        if index >= self.allocations.len() {
            return None;
        }
        let line = self.allocations.remove(index);
        self.allocated -= u64::from(line.qty.get());
        Some(line)
    }

    pub(in crate::domain) fn insert_allocation(&mut self, index: usize, line: OrderLine) {
        let index = index.min(self.allocations.len());
        self.allocated += u64::from(line.qty.get());
        self.allocations.insert(index, line);
    }

    /// Makes the batch and its lines share the text of `sku` (equal to theirs): one
    /// allocation for a long sku, and sku comparisons inside the aggregate are pointer
    /// comparisons (a short sku is inline: nothing to share).
    pub(in crate::domain) fn share_sku(&mut self, sku: &Sku) {
        if &self.sku == sku {
            self.sku = sku.clone();
            for line in &mut self.allocations {
                line.sku = sku.clone();
            }
        }
    }

    /// Sets the purchased quantity, returning the previous one. May leave the batch
    /// over-allocated: the aggregate restores the invariant before returning.
    pub(in crate::domain) fn set_purchased_quantity(&mut self, qty: Quantity) -> Quantity {
        std::mem::replace(&mut self.purchased_quantity, qty)
    }
}

/// The serialized form of a [`Batch`], validated into one.
#[derive(Deserialize)]
struct BatchRecord {
    reference: BatchRef,
    sku: Sku,
    purchased_quantity: Quantity,
    eta: Option<NaiveDate>,
    #[serde(default)]
    allocations: Vec<OrderLine>,
}

impl TryFrom<BatchRecord> for Batch {
    type Error = SnapshotError;

    fn try_from(record: BatchRecord) -> Result<Self, Self::Error> {
        let mut batch = Batch::new(
            record.reference,
            record.sku,
            record.purchased_quantity,
            record.eta,
        );
        for line in record.allocations {
            if line.sku != batch.sku {
                return Err(SnapshotError::LineSkuMismatch {
                    reference: batch.reference,
                    orderid: line.orderid,
                    expected: batch.sku,
                    actual: line.sku,
                });
            }
            if batch.allocation_of(&line.orderid).is_some() {
                return Err(SnapshotError::DuplicateLine {
                    orderid: line.orderid,
                    sku: line.sku,
                });
            }
            batch.push_allocation(line);
        }
        if batch.available_quantity() < 0 {
            return Err(SnapshotError::OverAllocated {
                reference: batch.reference,
                allocated: batch.allocated,
                purchased: batch.purchased_quantity.get(),
            });
        }
        Ok(batch)
    }
}
