//! Entities and value objects inside the [`Product`](super::Product) aggregate:
//! [`OrderLine`], [`Batch`] and the [`AllocatedLine`]s a batch holds.
//!
//! Invariants of a batch (held by construction and checked on deserialization):
//! - every allocated line has the batch's sku (a batch holds its lines without their sku,
//!   which is its own: an order line is 32 bytes in memory instead of 56), and no order
//!   appears twice;
//! - `allocated_quantity() <= purchased_quantity`, i.e. `available_quantity() >= 0`,
//!   and `allocated + available == purchased`.
//!
//! A batch only changes through its aggregate (mutators are private to the domain), so the
//! aggregate's change journal sees every mutation.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize, Serializer};

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

/// An order's line as a [`Batch`] holds it: its sku is the batch's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllocatedLine {
    pub orderid: OrderId,
    pub qty: Quantity,
}

impl AllocatedLine {
    /// The full line, with the sku of the batch that holds it.
    pub fn to_order_line(&self, sku: &Sku) -> OrderLine {
        OrderLine::new(self.orderid.clone(), sku.clone(), self.qty)
    }
}

/// A quantity of one sku, in the warehouse (`eta == None`) or arriving on `eta`.
///
/// Serialized as `{reference, sku, purchased_quantity, eta, allocations[{orderid, sku, qty}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BatchRecord")]
pub struct Batch {
    reference: BatchRef,
    sku: Sku,
    purchased_quantity: Quantity,
    eta: Option<NaiveDate>,
    /// In allocation order (oldest first).
    allocations: Vec<AllocatedLine>,
    /// Cached sum of `allocations[..].qty`.
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

    /// Allocated lines (of this batch's sku), oldest first.
    pub fn allocations(&self) -> &[AllocatedLine] {
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
    pub fn allocation_of(&self, orderid: &OrderId) -> Option<(usize, &AllocatedLine)> {
        self.allocations
            .iter()
            .enumerate()
            .find(|(_, line)| &line.orderid == orderid)
    }

    /// Sort key for allocation preference: warehouse stock first, then earliest eta.
    pub(in crate::domain) fn preference(&self) -> (bool, Option<NaiveDate>) {
        (self.eta.is_some(), self.eta)
    }

    pub(in crate::domain) fn push_allocation(&mut self, line: AllocatedLine) {
        self.allocated += u64::from(line.qty.get());
        self.allocations.push(line);
    }

    pub(in crate::domain) fn pop_allocation(&mut self) -> Option<AllocatedLine> {
        let line = self.allocations.pop()?;
        self.allocated -= u64::from(line.qty.get());
        Some(line)
    }

    pub(in crate::domain) fn remove_allocation(&mut self, index: usize) -> Option<AllocatedLine> {
        if index >= self.allocations.len() {
            return None;
        }
        let line = self.allocations.remove(index);
        self.allocated -= u64::from(line.qty.get());
        Some(line)
    }

    pub(in crate::domain) fn insert_allocation(&mut self, index: usize, line: AllocatedLine) {
        let index = index.min(self.allocations.len());
        self.allocated += u64::from(line.qty.get());
        self.allocations.insert(index, line);
    }

    /// Makes the batch share the text of `sku` (equal to its own): one allocation for a long
    /// sku, and sku comparisons inside the aggregate are pointer comparisons (a short sku is
    /// inline: nothing to share).
    pub(in crate::domain) fn share_sku(&mut self, sku: &Sku) {
        if &self.sku == sku {
            self.sku = sku.clone();
        }
    }

    /// Sets the purchased quantity, returning the previous one. May leave the batch
    /// over-allocated: the aggregate restores the invariant before returning.
    pub(in crate::domain) fn set_purchased_quantity(&mut self, qty: Quantity) -> Quantity {
        std::mem::replace(&mut self.purchased_quantity, qty)
    }
}

/// A serialized line of a batch: with the batch's sku.
#[derive(Serialize)]
struct LineView<'a> {
    orderid: &'a OrderId,
    sku: &'a Sku,
    qty: Quantity,
}

/// A batch's lines, serialized with its sku.
struct LinesView<'a>(&'a Batch);

impl Serialize for LinesView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.allocations.iter().map(|line| LineView {
            orderid: &line.orderid,
            sku: &self.0.sku,
            qty: line.qty,
        }))
    }
}

/// The serialized form of a [`Batch`], borrowed.
#[derive(Serialize)]
struct BatchView<'a> {
    reference: &'a BatchRef,
    sku: &'a Sku,
    purchased_quantity: Quantity,
    eta: Option<NaiveDate>,
    allocations: LinesView<'a>,
}

impl Serialize for Batch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        BatchView {
            reference: &self.reference,
            sku: &self.sku,
            purchased_quantity: self.purchased_quantity,
            eta: self.eta,
            allocations: LinesView(self),
        }
        .serialize(serializer)
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
        Batch::from_snapshot(
            record.reference,
            record.sku,
            record.purchased_quantity,
            record.eta,
            record.allocations,
        )
    }
}

impl Batch {
    /// A batch from its serialized parts (a snapshot), every invariant checked: each line has
    /// the batch's sku, no order twice, not over-allocated.
    pub fn from_snapshot(
        reference: BatchRef,
        sku: Sku,
        purchased_quantity: Quantity,
        eta: Option<NaiveDate>,
        allocations: Vec<OrderLine>,
    ) -> Result<Self, SnapshotError> {
        let mut batch = Batch::new(reference, sku, purchased_quantity, eta);
        batch.allocations.reserve_exact(allocations.len());
        for line in allocations {
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
            batch.push_allocation(AllocatedLine {
                orderid: line.orderid,
                qty: line.qty,
            });
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
