//! Domain events of the allocation context: facts raised by the [`Product`](super::Product)
//! aggregate (plus [`CommandRejected`], raised by the service layer for a refused command).
//! Every event names the sku it is about (its partition key on `allocation.events`).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::values::{BatchRef, MessageId, OrderId, Quantity, Sku};

/// A batch was added to a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCreated {
    pub reference: BatchRef,
    pub sku: Sku,
    pub qty: Quantity,
    pub eta: Option<NaiveDate>,
}

/// An order line was allocated to batch `batchref`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocated {
    pub orderid: OrderId,
    pub sku: Sku,
    pub qty: Quantity,
    pub batchref: BatchRef,
}

/// Why a line was deallocated. Only [`DeallocationReason::BatchQuantityChanged`] lines are
/// reallocated; a deallocation the user asked for is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeallocationReason {
    /// The batch shrank below its allocations; the line will be allocated again.
    BatchQuantityChanged,
    /// A `Deallocate` command (e.g. the order was cancelled).
    Requested,
}

/// An order line was taken off batch `batchref`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deallocated {
    pub orderid: OrderId,
    pub sku: Sku,
    pub qty: Quantity,
    pub batchref: BatchRef,
    pub reason: DeallocationReason,
}

/// No batch could take order `orderid`'s line for `sku`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutOfStock {
    pub sku: Sku,
    pub orderid: OrderId,
}

/// A batch's purchased quantity was set to `qty`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchQuantityChanged {
    pub reference: BatchRef,
    pub sku: Sku,
    pub qty: Quantity,
}

/// Command `command_id` (for `sku`) broke a business rule and changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRejected {
    pub command_id: MessageId,
    pub sku: Sku,
    /// Stable machine-readable code, e.g. `unknown_sku`.
    pub code: String,
    /// Human-readable explanation.
    pub reason: String,
}

message_enum! {
    /// Any event of this context. JSON form: `{"type": "Allocated", "orderid": .., ..}`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(tag = "type")]
    enum Event;
    /// The type of an [`Event`], without its data.
    kind EventKind;
    /// Implemented by each event struct: lets handlers be registered per event type.
    payload EventPayload::from_event;
    variants {
        BatchCreated,
        Allocated,
        Deallocated,
        OutOfStock,
        BatchQuantityChanged,
        CommandRejected,
    }
}

impl Event {
    /// The sku this event is about (its partition key).
    pub fn sku(&self) -> &Sku {
        match self {
            Event::BatchCreated(e) => &e.sku,
            Event::Allocated(e) => &e.sku,
            Event::Deallocated(e) => &e.sku,
            Event::OutOfStock(e) => &e.sku,
            Event::BatchQuantityChanged(e) => &e.sku,
            Event::CommandRejected(e) => &e.sku,
        }
    }
}
