//! The service layer: the message bus, its handlers, the unit of work and state-store ports
//! with their in-memory implementation, the read-side view handlers and the anti-corruption
//! layer for external events.
//!
//! Owns the orchestration of use cases: for one inbound message it runs the handlers in one
//! unit of work and returns an [`Outcome`] with every record to write. Pure Rust and
//! transport-free (no Kafka, no async): the exactly-once runtime drives it through
//! [`MessageBus::handle`], [`MessageBus::commit_batch`] and [`MessageBus::abort_batch`].
//! Depends on the domain only.

pub mod anti_corruption;
pub mod bus;
pub mod clock;
pub mod handlers;
pub mod in_memory_store;
pub mod messages;
pub mod outcome;
pub mod unit_of_work;
pub mod views;

#[cfg(test)]
mod tests;

pub use anti_corruption::{
    ExternalEvent, OrderCancelled, PurchaseOrderConfirmed, TranslationError,
};
pub use bus::{
    BusConfig, BusError, BusMetrics, HandlerContext, HandlerError, HandlerRegistry, MessageBus,
    MessageBusBuilder, MetricsSnapshot, WiringError,
};
pub use clock::{Clock, DeterministicIds, FixedClock, IdGenerator, InboundTime, SystemClock};
pub use in_memory_store::InMemoryStore;
pub use messages::{Envelope, Inbound, InboundMessage, InboundMetadata, Message, Metadata};
pub use outcome::{Disposition, Outcome};
pub use unit_of_work::{
    ProductRepository, RepositoryError, Snapshot, StateStore, StoreError, UnitOfWork,
};
pub use views::{
    AllocationRow, AllocationsQuery, InMemoryAllocationsView, NoViewStore, ViewStore, ViewUpdate,
};
