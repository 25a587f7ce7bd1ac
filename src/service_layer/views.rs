//! CQRS read side: the allocations view (orderid → `[{sku, batchref}]`).
//!
//! The write side emits per-row changes ([`ViewUpdate`]) from its view handlers; they leave
//! the worker with the other outputs of a message (to the `allocation.view` topic), and any
//! [`ViewStore`] applies them to answer queries. Each row `(orderid, sku)` is only ever
//! written by the owner of `sku`'s partition, so rows have a single writer.
//!
//! Invariants: an `Allocated` upserts its row and a `Deallocated` deletes it, in event
//! order; applying the same update twice is harmless (updates are idempotent).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::bus::{HandlerContext, HandlerError};
use crate::domain::{Allocated, BatchRef, Deallocated, OrderId, Sku};

/// One row change of the allocations view.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum ViewUpdate {
    /// Row `(orderid, sku)` now points at `batchref`.
    Upsert {
        orderid: OrderId,
        sku: Sku,
        batchref: BatchRef,
    },
    /// Row `(orderid, sku)` is gone.
    Delete { orderid: OrderId, sku: Sku },
}

impl ViewUpdate {
    /// The order whose view changes (the partition key on `allocation.view`).
    pub fn orderid(&self) -> &OrderId {
        match self {
            Self::Upsert { orderid, .. } | Self::Delete { orderid, .. } => orderid,
        }
    }

    /// The row's sku (with the orderid, the row's identity and compaction key).
    pub fn sku(&self) -> &Sku {
        match self {
            Self::Upsert { sku, .. } | Self::Delete { sku, .. } => sku,
        }
    }

    /// The stable type name (the `message-type` header value).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Upsert { .. } => "AllocationViewUpsert",
            Self::Delete { .. } => "AllocationViewDelete",
        }
    }
}

/// A row of the allocations view.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AllocationRow {
    pub sku: Sku,
    pub batchref: BatchRef,
}

/// Somewhere view updates are applied.
pub trait ViewStore: Send {
    /// Applies one row change.
    fn apply(&mut self, update: &ViewUpdate);

    /// False for a store that ignores updates: the bus then does not stage them.
    fn is_materialized(&self) -> bool {
        true
    }
}

/// Answers the read model's query.
pub trait AllocationsQuery {
    /// The allocations of an order, sorted by sku (empty when unknown).
    fn allocations(&self, orderid: &OrderId) -> Vec<AllocationRow>;
}

/// The allocations view held in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InMemoryAllocationsView {
    rows: HashMap<OrderId, BTreeMap<Sku, BatchRef>>,
}

impl InMemoryAllocationsView {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of orders with at least one row.
    pub fn order_count(&self) -> usize {
        self.rows.len()
    }
}

impl ViewStore for InMemoryAllocationsView {
    fn apply(&mut self, update: &ViewUpdate) {
        match update {
            ViewUpdate::Upsert {
                orderid,
                sku,
                batchref,
            } => {
                self.rows
                    .entry(orderid.clone())
                    .or_default()
                    .insert(sku.clone(), batchref.clone());
            }
            ViewUpdate::Delete { orderid, sku } => {
                if let Some(rows) = self.rows.get_mut(orderid) {
                    rows.remove(sku);
                    if rows.is_empty() {
                        self.rows.remove(orderid);
                    }
                }
            }
        }
    }
}

impl AllocationsQuery for InMemoryAllocationsView {
    fn allocations(&self, orderid: &OrderId) -> Vec<AllocationRow> {
        self.rows.get(orderid).map_or_else(Vec::new, |rows| {
            rows.iter()
                .map(|(sku, batchref)| AllocationRow {
                    sku: sku.clone(),
                    batchref: batchref.clone(),
                })
                .collect()
        })
    }
}

/// A view store that keeps nothing: for the worker, whose view is materialised downstream
/// from the `allocation.view` topic.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoViewStore;

impl ViewStore for NoViewStore {
    fn apply(&mut self, _update: &ViewUpdate) {}

    fn is_materialized(&self) -> bool {
        false
    }
}

/// View handler: an allocation adds its row.
pub fn add_allocation_to_read_model(
    event: &Allocated,
    ctx: &mut HandlerContext<'_>,
) -> Result<(), HandlerError> {
    ctx.emit_view_update(ViewUpdate::Upsert {
        orderid: event.orderid.clone(),
        sku: event.sku.clone(),
        batchref: event.batchref.clone(),
    });
    Ok(())
}

/// View handler: a deallocation (of any reason) removes its row.
pub fn remove_allocation_from_read_model(
    event: &Deallocated,
    ctx: &mut HandlerContext<'_>,
) -> Result<(), HandlerError> {
    ctx.emit_view_update(ViewUpdate::Delete {
        orderid: event.orderid.clone(),
        sku: event.sku.clone(),
    });
    Ok(())
}
