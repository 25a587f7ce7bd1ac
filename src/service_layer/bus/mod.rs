//! The message bus: routes each message to its handlers inside one unit of work per inbound
//! message, and turns the result into an [`Outcome`].
//!
//! Rules:
//! - a command has exactly one handler; its error ends the inbound message: a business-rule
//!   error rolls the unit of work back and yields a `CommandRejected` event, any other error
//!   rolls back and is returned as a [`BusError`] (a poison message for the runtime's DLQ);
//! - an event goes to all its handlers in registration order; a failing handler is logged,
//!   counted and its own changes and emissions are undone, and the others still run;
//! - events raised by aggregates and commands dispatched by handlers are queued (FIFO) and
//!   handled until the queue is empty (bounded by [`BusConfig::max_cascade`]);
//! - a command whose message id its aggregate already applied is skipped (nothing emitted);
//!   an applied command records its id on its aggregate.
//!
//! The bus owns the partition's [`StateStore`] and exposes its batch API
//! ([`MessageBus::commit_batch`], [`MessageBus::abort_batch`]) to the runtime.

mod builder;
mod context;
mod errors;
mod metrics;
mod registry;

use std::collections::VecDeque;
use std::sync::Arc;

pub use builder::{BusConfig, MessageBusBuilder};
pub(crate) use context::Outbox;
pub use context::{HandlerContext, HandlerError};
pub use errors::BusError;
use errors::RunError;
pub use metrics::{BusMetrics, MetricsSnapshot};
pub use registry::{HandlerRegistry, WiringError};

use super::anti_corruption::{self, ExternalEvent};
use super::clock::{Clock, IdGenerator};
use super::messages::{Envelope, Inbound, InboundMessage, InboundMetadata, Message, Metadata};
use super::outcome::{Disposition, Outcome};
use super::unit_of_work::{Snapshot, StateStore, StoreError};
use super::views::{ViewStore, ViewUpdate};
use crate::domain::{Command, CommandRejected, DomainError, Event, Product, Sku};

/// Buffers reused across messages.
#[derive(Default)]
struct Scratch {
    queue: VecDeque<Message>,
    collected: Vec<Event>,
    raised: Vec<Event>,
    outbox: Outbox,
}

impl Scratch {
    fn clear(&mut self) {
        self.queue.clear();
        self.collected.clear();
        self.raised.clear();
        self.outbox.clear();
    }
}

/// The message bus of one partition. See the module documentation.
pub struct MessageBus<S, V> {
    store: S,
    views: V,
    clock: Box<dyn Clock>,
    ids: Box<dyn IdGenerator>,
    handlers: HandlerRegistry,
    metrics: Arc<BusMetrics>,
    config: BusConfig,
    /// View updates of the open batch, applied to `views` on commit.
    staged_views: Vec<ViewUpdate>,
    scratch: Scratch,
}

impl<S: StateStore, V: ViewStore> MessageBus<S, V> {
    /// Handles one inbound message; returns everything to write for it.
    ///
    /// `Err` means the message cannot be processed (not a business rule): nothing changed and
    /// the runtime should dead-letter it.
    pub fn handle(&mut self, inbound: Inbound) -> Result<Outcome, BusError> {
        let Inbound { metadata, message } = inbound;
        match message {
            InboundMessage::Command(command) => self.handle_command(&metadata, command),
            InboundMessage::External(event) => self.handle_external(&metadata, &event),
        }
    }

    /// Rejects a command without handling it: emits one `CommandRejected` (with the same
    /// deterministic metadata a handled rejection gets) and changes nothing.
    ///
    /// For the runtime, when a command's envelope and sku decode but another field fails
    /// validation (`DomainError::InvalidValue`), so the sender still gets an answer.
    pub fn reject(&mut self, meta: &InboundMetadata, sku: Sku, error: DomainError) -> Outcome {
        self.scratch.clear();
        self.metrics.command_rejected();
        tracing::debug!(message_id = %meta.message_id, %error, "command rejected");
        self.scratch
            .raised
            .push(Event::CommandRejected(CommandRejected {
                command_id: meta.message_id,
                sku,
                code: error.code().to_owned(),
                reason: error.to_string(),
            }));
        self.assemble(meta, Disposition::Rejected(error), Vec::new())
    }

    /// Makes the open batch permanent (call after the Kafka transaction committed).
    pub fn commit_batch(&mut self) {
        self.store.commit_batch();
        for update in self.staged_views.drain(..) {
            self.views.apply(&update);
        }
    }

    /// Discards the open batch (call after the Kafka transaction aborted).
    pub fn abort_batch(&mut self) {
        self.store.abort_batch();
        self.staged_views.clear();
    }

    /// Loads a changelog snapshot (restore).
    pub fn restore(&mut self, product: Product) -> Result<(), StoreError> {
        self.store.restore(product)
    }

    /// Applies a changelog tombstone (restore).
    pub fn delete(&mut self, sku: &Sku) -> Result<(), StoreError> {
        self.store.delete(sku)
    }

    /// Forgets all state (partition revoked).
    pub fn drop_all(&mut self) {
        self.store.drop_all();
        self.staged_views.clear();
    }

    /// The partition's state.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The view store (updates appear here once their batch is committed).
    pub fn views(&self) -> &V {
        &self.views
    }

    /// The bus's counters.
    pub fn metrics(&self) -> Arc<BusMetrics> {
        Arc::clone(&self.metrics)
    }

    fn handle_command(
        &mut self,
        meta: &InboundMetadata,
        command: Command,
    ) -> Result<Outcome, BusError> {
        let span = tracing::debug_span!(
            "command",
            message_id = %meta.message_id,
            correlation_id = %meta.effective_correlation_id(),
            message_type = command.type_name(),
        );
        let _entered = span.enter();
        let sku = command.sku().clone();
        let duplicate = self
            .store
            .product(&sku)
            .is_some_and(|p| p.has_applied(meta.message_id));
        if duplicate {
            tracing::debug!("duplicate message id, skipped");
            self.metrics.duplicate_skipped();
            return Ok(Outcome::empty(Disposition::Duplicate));
        }
        self.scratch.clear();
        self.store.begin();
        match self.run(command) {
            Ok(()) => {
                if let Some(product) = self.store.get(&sku) {
                    product.record_applied(meta.message_id);
                }
                let snapshots = self.store.commit();
                self.metrics.command_applied();
                Ok(self.assemble(meta, Disposition::Applied, snapshots))
            }
            Err(RunError::Handler {
                error: HandlerError::Domain(error),
                ..
            }) => {
                self.store.rollback();
                Ok(self.reject(meta, sku, error))
            }
            Err(failure) => {
                self.store.rollback();
                self.scratch.clear();
                self.metrics.message_failed();
                let message_id = meta.message_id;
                let error = match failure {
                    RunError::Handler { handler, error } => BusError::Handler {
                        message_id,
                        handler,
                        source: error,
                    },
                    RunError::NoHandler(command) => BusError::NoHandler {
                        message_id,
                        command,
                    },
                    RunError::CascadeLimit => BusError::CascadeLimit {
                        message_id,
                        limit: self.config.max_cascade,
                    },
                };
                tracing::warn!(%error, "message failed");
                Err(error)
            }
        }
    }

    fn handle_external(
        &mut self,
        meta: &InboundMetadata,
        event: &ExternalEvent,
    ) -> Result<Outcome, BusError> {
        self.scratch.clear();
        match anti_corruption::translate(event) {
            Ok(commands) => {
                self.metrics.external_translated();
                self.scratch.outbox.derived_commands.extend(commands);
                Ok(self.assemble(meta, Disposition::Translated, Vec::new()))
            }
            Err(source) => {
                self.metrics.message_failed();
                tracing::warn!(message_id = %meta.message_id, %source, "untranslatable event");
                Err(BusError::Untranslatable {
                    message_id: meta.message_id,
                    source,
                })
            }
        }
    }

    /// Handles `root` and its cascade inside the open unit of work.
    fn run(&mut self, root: Command) -> Result<(), RunError> {
        let Self {
            store,
            handlers,
            scratch,
            metrics,
            config,
            ..
        } = self;
        scratch.queue.push_back(Message::Command(root));
        let mut handled = 0usize;
        while let Some(message) = scratch.queue.pop_front() {
            handled += 1;
            if handled > config.max_cascade {
                return Err(RunError::CascadeLimit);
            }
            match message {
                Message::Command(command) => {
                    let handler = handlers
                        .command_handler(command.kind())
                        .ok_or(RunError::NoHandler(command.type_name()))?;
                    let mut ctx = HandlerContext::new(store, &mut scratch.outbox);
                    (handler.call)(&command, &mut ctx).map_err(|error| RunError::Handler {
                        handler: handler.name,
                        error,
                    })?;
                }
                Message::Event(event) => {
                    for handler in handlers.event_handlers(event.kind()) {
                        let store_mark = store.savepoint();
                        let outbox_mark = scratch.outbox.mark();
                        let mut ctx = HandlerContext::new(store, &mut scratch.outbox);
                        if let Err(error) = (handler.call)(&event, &mut ctx) {
                            store.rollback_to(store_mark);
                            scratch.outbox.reset_to(outbox_mark);
                            metrics.handler_failed(handler.index);
                            tracing::warn!(
                                handler = handler.name,
                                event = event.type_name(),
                                %error,
                                "event handler failed and was undone; the others still run"
                            );
                        }
                    }
                    metrics.event_handled();
                    scratch.raised.push(event);
                }
            }
            store.collect_new_events(&mut scratch.collected);
            scratch
                .queue
                .extend(scratch.collected.drain(..).map(Message::Event));
            scratch
                .queue
                .extend(scratch.outbox.dispatched.drain(..).map(Message::Command));
        }
        Ok(())
    }

    /// Wraps the collected outputs in envelopes with deterministic metadata.
    fn assemble(
        &mut self,
        meta: &InboundMetadata,
        disposition: Disposition,
        snapshots: Vec<Snapshot>,
    ) -> Outcome {
        let event_time = self.clock.now(meta);
        let ids = &*self.ids;
        let mut sequence = 0u32;
        let mut stamp = |message_type: &'static str| {
            let message_id = ids.derive(meta.message_id, sequence);
            sequence = sequence.wrapping_add(1);
            Metadata {
                message_id,
                correlation_id: meta.effective_correlation_id(),
                causation_id: meta.message_id,
                message_type,
                event_time,
            }
        };
        let scratch = &mut self.scratch;
        let events = scratch
            .raised
            .drain(..)
            .map(|e| Envelope {
                metadata: stamp(e.type_name()),
                payload: e,
            })
            .collect();
        if self.views.is_materialized() {
            self.staged_views
                .extend(scratch.outbox.view_updates.iter().cloned());
        }
        let view_updates = scratch
            .outbox
            .view_updates
            .drain(..)
            .map(|u| Envelope {
                metadata: stamp(u.type_name()),
                payload: u,
            })
            .collect();
        let derived_commands = scratch
            .outbox
            .derived_commands
            .drain(..)
            .map(|c| Envelope {
                metadata: stamp(c.type_name()),
                payload: c,
            })
            .collect();
        let snapshots = snapshots
            .into_iter()
            .map(|p| Envelope {
                metadata: stamp("Product"),
                payload: p,
            })
            .collect();
        Outcome {
            disposition,
            events,
            view_updates,
            derived_commands,
            snapshots,
        }
    }
}
