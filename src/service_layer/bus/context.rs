//! What a handler may use: [`HandlerContext`] (the aggregates of the current unit of work and
//! the outbound collector) and what it may return: [`HandlerError`].
//!
//! Invariants: everything a handler emits goes to the [`Outbox`] of the current inbound
//! message and leaves the bus only if the unit of work commits; a failing event handler's
//! emissions are discarded with its changes.

use crate::domain::{Command, DomainError};
use crate::service_layer::unit_of_work::{ProductRepository, RepositoryError};
use crate::service_layer::views::ViewUpdate;

/// Why a handler failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A business rule refused the message: a command is rejected, state is unchanged.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The repository refused an operation.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// The bus routed a message of another type to this handler (a wiring bug).
    #[error("handler {handler} cannot handle a {message} message")]
    WrongMessage {
        handler: &'static str,
        message: &'static str,
    },
    /// Any other failure of a handler.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// Outputs collected while handling one inbound message.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Commands to handle within this unit of work.
    pub(crate) dispatched: Vec<Command>,
    /// Row changes for the read model.
    pub(crate) view_updates: Vec<ViewUpdate>,
    /// Commands for the command topic (other partitions).
    pub(crate) derived_commands: Vec<Command>,
}

/// A position in an [`Outbox`], to discard what was emitted after it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutboxMark {
    dispatched: usize,
    view_updates: usize,
    derived_commands: usize,
}

impl Outbox {
    pub(crate) fn mark(&self) -> OutboxMark {
        OutboxMark {
            dispatched: self.dispatched.len(),
            view_updates: self.view_updates.len(),
            derived_commands: self.derived_commands.len(),
        }
    }

    pub(crate) fn reset_to(&mut self, mark: OutboxMark) {
        self.dispatched.truncate(mark.dispatched);
        self.view_updates.truncate(mark.view_updates);
        self.derived_commands.truncate(mark.derived_commands);
    }

    pub(crate) fn clear(&mut self) {
        self.dispatched.clear();
        self.view_updates.clear();
        self.derived_commands.clear();
    }
}

/// The dependencies a handler gets for one message.
pub struct HandlerContext<'a> {
    products: &'a mut dyn ProductRepository,
    outbox: &'a mut Outbox,
}

impl<'a> HandlerContext<'a> {
    pub(crate) fn new(products: &'a mut dyn ProductRepository, outbox: &'a mut Outbox) -> Self {
        Self { products, outbox }
    }

    /// The aggregates, within the current unit of work.
    pub fn products(&mut self) -> &mut dyn ProductRepository {
        self.products
    }

    /// Queues a command to be handled in this unit of work, after the messages already
    /// queued.
    pub fn dispatch(&mut self, command: impl Into<Command>) {
        self.outbox.dispatched.push(command.into());
    }

    /// Emits a read-model row change.
    pub fn emit_view_update(&mut self, update: ViewUpdate) {
        self.outbox.view_updates.push(update);
    }

    /// Emits a command for the command topic (it is not handled here).
    pub fn emit_derived_command(&mut self, command: impl Into<Command>) {
        self.outbox.derived_commands.push(command.into());
    }
}
