//! Anti-corruption layer: events of other bounded contexts, in *their* terms, and their
//! translation into commands of this context.
//!
//! External events arrive keyed by something other than sku (e.g. orderid), so they are not
//! executed here: the bus returns the translated commands as *derived commands* for the
//! runtime to produce to the command topic, re-keyed by sku (like a Kafka Streams repartition).
//!
//! Invariants: external payloads are untrusted raw values; translation validates every field
//! into this context's value objects, or fails with a typed [`TranslationError`] (a poison
//! record for the dead-letter queue). Translation is pure: the same event always yields the
//! same commands.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::{
    BatchRef, Command, CreateBatch, Deallocate, OrderId, Quantity, Sku, ValueError,
};

/// From the orders context: an order line was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub orderid: String,
    pub sku: String,
}

/// From the purchasing context: a purchase order was confirmed by the supplier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrderConfirmed {
    pub po_reference: String,
    pub sku: String,
    pub qty: i64,
    pub eta: Option<NaiveDate>,
}

/// An event from another context that this context reacts to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ExternalEvent {
    OrderCancelled(OrderCancelled),
    PurchaseOrderConfirmed(PurchaseOrderConfirmed),
}

impl ExternalEvent {
    /// The stable type name (the `message-type` header value).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::OrderCancelled(_) => "OrderCancelled",
            Self::PurchaseOrderConfirmed(_) => "PurchaseOrderConfirmed",
        }
    }
}

impl From<OrderCancelled> for ExternalEvent {
    fn from(event: OrderCancelled) -> Self {
        Self::OrderCancelled(event)
    }
}

impl From<PurchaseOrderConfirmed> for ExternalEvent {
    fn from(event: PurchaseOrderConfirmed) -> Self {
        Self::PurchaseOrderConfirmed(event)
    }
}

/// An external event carried a value this context cannot accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event}.{field} is invalid: {source}")]
pub struct TranslationError {
    pub event: &'static str,
    pub field: &'static str,
    #[source]
    pub source: ValueError,
}

fn field<T>(
    event: &'static str,
    field: &'static str,
    value: Result<T, ValueError>,
) -> Result<T, TranslationError> {
    value.map_err(|source| TranslationError {
        event,
        field,
        source,
    })
}

/// Translates an external event into the commands it implies for this context.
pub fn translate(event: &ExternalEvent) -> Result<Vec<Command>, TranslationError> {
    let name = event.type_name();
    match event {
        ExternalEvent::OrderCancelled(e) => Ok(vec![Command::Deallocate(Deallocate {
            orderid: field(name, "orderid", OrderId::new(&e.orderid))?,
            sku: field(name, "sku", Sku::new(&e.sku))?,
        })]),
        ExternalEvent::PurchaseOrderConfirmed(e) => Ok(vec![Command::CreateBatch(CreateBatch {
            reference: field(name, "po_reference", BatchRef::new(&e.po_reference))?,
            sku: field(name, "sku", Sku::new(&e.sku))?,
            qty: field(name, "qty", Quantity::new(e.qty))?,
            eta: e.eta,
        })]),
    }
}
