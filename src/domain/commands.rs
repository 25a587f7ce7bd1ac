//! Commands of the allocation context: requests that the [`Product`](super::Product) for
//! their sku do something. Every command names the sku of the aggregate it targets (the
//! Kafka partition key), and carries only validated value objects.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::values::{BatchRef, OrderId, Quantity, Sku};

/// Add a batch of stock (`eta == None`: already in the warehouse).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateBatch {
    pub reference: BatchRef,
    pub sku: Sku,
    pub qty: Quantity,
    pub eta: Option<NaiveDate>,
}

/// Allocate an order line to a batch of its sku.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocate {
    pub orderid: OrderId,
    pub sku: Sku,
    pub qty: Quantity,
}

/// Change a batch's purchased quantity; lines that no longer fit are reallocated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeBatchQuantity {
    pub reference: BatchRef,
    pub sku: Sku,
    pub qty: Quantity,
}

/// Release an order's allocated line for a sku (it is not reallocated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deallocate {
    pub orderid: OrderId,
    pub sku: Sku,
}

message_enum! {
    /// Any command of this context. JSON form: `{"type": "Allocate", "orderid": .., ..}`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(tag = "type")]
    enum Command;
    /// The type of a [`Command`], without its data.
    kind CommandKind;
    /// Implemented by each command struct: lets handlers be registered per command type.
    payload CommandPayload::from_command;
    variants { CreateBatch, Allocate, ChangeBatchQuantity, Deallocate }
}

impl Command {
    /// The sku of the aggregate this command targets (its partition key).
    pub fn sku(&self) -> &Sku {
        match self {
            Command::CreateBatch(c) => &c.sku,
            Command::Allocate(c) => &c.sku,
            Command::ChangeBatchQuantity(c) => &c.sku,
            Command::Deallocate(c) => &c.sku,
        }
    }
}
