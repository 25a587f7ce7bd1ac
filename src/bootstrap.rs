//! The composition root: wires the allocation handlers to their dependencies and builds the
//! [`MessageBus`] of one partition.
//!
//! Dependencies are traits, so the same wiring serves the Kafka runtime (its per-partition
//! state store, [`NoViewStore`], [`InboundTime`], [`DeterministicIds`]) and tests or
//! in-process use ([`in_memory`]). Invariant: every command has its one handler; the standard
//! event handlers are, in order: the read-model projections, then the reallocation policy.

use crate::domain::{
    Allocate, Allocated, ChangeBatchQuantity, CreateBatch, Deallocate, Deallocated,
};
use crate::service_layer::{
    handlers, views, BusConfig, Clock, DeterministicIds, HandlerRegistry, IdGenerator,
    InMemoryAllocationsView, InMemoryStore, InboundTime, MessageBus, MessageBusBuilder,
    NoViewStore, StateStore, ViewStore, WiringError,
};

/// Everything a partition's bus depends on.
pub struct Dependencies<S, V> {
    /// The partition's aggregates (unit of work and batch commit).
    pub store: S,
    /// Where committed view updates are applied ([`NoViewStore`] in the worker).
    pub views: V,
    /// Event time of outputs.
    pub clock: Box<dyn Clock>,
    /// Output message ids.
    pub ids: Box<dyn IdGenerator>,
    pub config: BusConfig,
}

impl<S: StateStore, V: ViewStore> Dependencies<S, V> {
    /// `store` and `views` with the deterministic defaults ([`InboundTime`],
    /// [`DeterministicIds`], default [`BusConfig`]).
    pub fn new(store: S, views: V) -> Self {
        Self {
            store,
            views,
            clock: Box::new(InboundTime),
            ids: Box::new(DeterministicIds),
            config: BusConfig::default(),
        }
    }
}

/// Registers the allocation service's handlers.
pub fn register_handlers(registry: &mut HandlerRegistry) -> Result<(), WiringError> {
    registry
        .on_command::<CreateBatch, _>("add_batch", handlers::add_batch)?
        .on_command::<Allocate, _>("allocate", handlers::allocate)?
        .on_command::<ChangeBatchQuantity, _>(
            "change_batch_quantity",
            handlers::change_batch_quantity,
        )?
        .on_command::<Deallocate, _>("deallocate", handlers::deallocate)?
        .on_event::<Allocated, _>(
            "add_allocation_to_read_model",
            views::add_allocation_to_read_model,
        )
        .on_event::<Deallocated, _>(
            "remove_allocation_from_read_model",
            views::remove_allocation_from_read_model,
        )
        .on_event::<Deallocated, _>("reallocate", handlers::reallocate);
    Ok(())
}

/// A builder with the standard wiring, to add handlers before building.
pub fn builder<S: StateStore, V: ViewStore>(
    deps: Dependencies<S, V>,
) -> Result<MessageBusBuilder<S, V>, WiringError> {
    let mut builder = MessageBusBuilder::new(deps.store, deps.views)
        .clock(deps.clock)
        .ids(deps.ids)
        .config(deps.config);
    register_handlers(builder.handlers())?;
    Ok(builder)
}

/// The bus of one partition, with the standard wiring.
pub fn bootstrap<S: StateStore, V: ViewStore>(
    deps: Dependencies<S, V>,
) -> Result<MessageBus<S, V>, WiringError> {
    builder(deps)?.build()
}

/// The bus the worker uses for a partition: in-memory state, view materialised downstream.
pub type WorkerBus = MessageBus<InMemoryStore, NoViewStore>;

/// A bus over a fresh in-memory store, for the worker (`WorkerBus`).
pub fn worker() -> Result<WorkerBus, WiringError> {
    bootstrap(Dependencies::new(InMemoryStore::new(), NoViewStore))
}

/// A bus with in-memory state and view, for tests and in-process use.
pub type InMemoryBus = MessageBus<InMemoryStore, InMemoryAllocationsView>;

/// A fully in-memory bus with the deterministic defaults.
pub fn in_memory() -> Result<InMemoryBus, WiringError> {
    bootstrap(Dependencies::new(
        InMemoryStore::new(),
        InMemoryAllocationsView::new(),
    ))
}
