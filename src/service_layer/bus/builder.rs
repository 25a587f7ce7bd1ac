//! [`MessageBusBuilder`] and [`BusConfig`]: how a [`MessageBus`] is assembled.
//!
//! Invariant: a bus is only built from a registry where every command has its handler
//! ([`HandlerRegistry::validate`]); its metrics have one failure counter per event handler.

use std::sync::Arc;

use super::{BusMetrics, HandlerRegistry, MessageBus, Scratch, WiringError};
use crate::service_layer::clock::{Clock, DeterministicIds, IdGenerator, InboundTime};
use crate::service_layer::unit_of_work::StateStore;
use crate::service_layer::views::ViewStore;

/// Tuning of the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusConfig {
    /// Most messages (the inbound one included) handled for one inbound message; beyond,
    /// the message fails with [`BusError::CascadeLimit`](super::BusError::CascadeLimit)
    /// (protects against handler loops).
    pub max_cascade: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            max_cascade: 10_000,
        }
    }
}

/// Builds a [`MessageBus`]; see [`crate::bootstrap`] for the standard wiring.
pub struct MessageBusBuilder<S, V> {
    store: S,
    views: V,
    clock: Box<dyn Clock>,
    ids: Box<dyn IdGenerator>,
    config: BusConfig,
    handlers: HandlerRegistry,
}

impl<S: StateStore, V: ViewStore> MessageBusBuilder<S, V> {
    /// A builder with no handler, [`InboundTime`] and [`DeterministicIds`].
    pub fn new(store: S, views: V) -> Self {
        Self {
            store,
            views,
            clock: Box::new(InboundTime),
            ids: Box::new(DeterministicIds),
            config: BusConfig::default(),
            handlers: HandlerRegistry::new(),
        }
    }

    /// Uses `clock` for event times.
    pub fn clock(mut self, clock: Box<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `ids` for output message ids.
    pub fn ids(mut self, ids: Box<dyn IdGenerator>) -> Self {
        self.ids = ids;
        self
    }

    /// Uses `config`.
    pub fn config(mut self, config: BusConfig) -> Self {
        self.config = config;
        self
    }

    /// The handlers, to register more.
    pub fn handlers(&mut self) -> &mut HandlerRegistry {
        &mut self.handlers
    }

    /// Checks the wiring and builds the bus.
    pub fn build(self) -> Result<MessageBus<S, V>, WiringError> {
        self.handlers.validate()?;
        let metrics = Arc::new(BusMetrics::new(
            self.handlers.event_handler_names().to_vec(),
        ));
        Ok(MessageBus {
            store: self.store,
            views: self.views,
            clock: self.clock,
            ids: self.ids,
            handlers: self.handlers,
            metrics,
            config: self.config,
            staged_views: Vec::new(),
            scratch: Scratch::default(),
        })
    }
}
