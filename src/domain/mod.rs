//! The allocation domain: value objects, the [`Product`] aggregate with its [`Batch`]es and
//! [`OrderLine`]s, and the [`Command`]s and [`Event`]s of the context.
//!
//! Owns every business rule of stock allocation. Pure Rust: it knows nothing of the service
//! layer, of transports or of storage. Invariants are held by construction: value objects are
//! validated when built (including when deserialized), aggregate operations validate before
//! they mutate, and a deserialized aggregate is checked before it exists.

#[macro_use]
mod message_enum;

mod id_text;

pub mod commands;
pub mod errors;
pub mod events;
pub mod model;
pub mod product;
pub mod values;

#[cfg(test)]
pub(crate) mod tests;

pub use commands::{
    Allocate, ChangeBatchQuantity, Command, CommandKind, CommandPayload, CreateBatch, Deallocate,
};
pub use errors::{DomainError, SnapshotError};
pub use events::{
    Allocated, BatchCreated, BatchQuantityChanged, CommandRejected, Deallocated,
    DeallocationReason, Event, EventKind, EventPayload, OutOfStock,
};
pub use model::{AllocatedLine, Batch, OrderLine};
pub use product::{Allocation, AppliedMessages, Product, Savepoint, APPLIED_MESSAGE_CAPACITY};
pub use values::{BatchRef, MessageId, OrderId, Quantity, Sku, ValueError, MAX_IDENTIFIER_LEN};
