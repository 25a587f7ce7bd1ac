//! [`HandlerRegistry`]: which handler runs for which message.
//!
//! Invariants (checked when the bus is built): every command kind has exactly one handler;
//! an event kind has any number of handlers, run in registration order. Handlers are
//! registered per payload type, so a handler can only ever see the message type it declared.

use super::context::{HandlerContext, HandlerError};
use crate::domain::{Command, CommandKind, CommandPayload, Event, EventKind, EventPayload};

type CommandFn =
    dyn Fn(&Command, &mut HandlerContext<'_>) -> Result<(), HandlerError> + Send + Sync;
type EventFn = dyn Fn(&Event, &mut HandlerContext<'_>) -> Result<(), HandlerError> + Send + Sync;

/// A command handler and its name.
pub(crate) struct CommandHandler {
    pub(crate) name: &'static str,
    pub(crate) call: Box<CommandFn>,
}

/// An event handler, its name and its index among all event handlers (for metrics).
pub(crate) struct EventHandler {
    pub(crate) name: &'static str,
    pub(crate) index: usize,
    pub(crate) call: Box<EventFn>,
}

/// The handlers are not wired as the bus requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WiringError {
    #[error("command {command} already has handler {existing}; cannot add {added}")]
    DuplicateCommandHandler {
        command: &'static str,
        existing: &'static str,
        added: &'static str,
    },
    #[error("command {command} has no handler")]
    MissingCommandHandler { command: &'static str },
}

/// Command and event handlers, indexed by message kind.
pub struct HandlerRegistry {
    commands: Vec<Option<CommandHandler>>,
    events: Vec<Vec<EventHandler>>,
    event_handler_names: Vec<&'static str>,
}

impl Default for HandlerRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HandlerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let commands: Vec<_> = self.commands.iter().flatten().map(|h| h.name).collect();
        f.debug_struct("HandlerRegistry")
            .field("commands", &commands)
            .field("events", &self.event_handler_names)
            .finish()
    }
}

impl HandlerRegistry {
    /// A registry with no handler.
    pub fn new() -> Self {
        Self {
            commands: CommandKind::ALL.iter().map(|_| None).collect(),
            events: EventKind::ALL.iter().map(|_| Vec::new()).collect(),
            event_handler_names: Vec::new(),
        }
    }

    /// Registers the handler of command type `C`; fails if it already has one.
    pub fn on_command<C, F>(
        &mut self,
        name: &'static str,
        handler: F,
    ) -> Result<&mut Self, WiringError>
    where
        C: CommandPayload,
        F: Fn(&C, &mut HandlerContext<'_>) -> Result<(), HandlerError> + Send + Sync + 'static,
    {
        let slot = &mut self.commands[C::KIND.index()];
        if let Some(existing) = slot {
            return Err(WiringError::DuplicateCommandHandler {
                command: C::KIND.name(),
                existing: existing.name,
                added: name,
            });
        }
        *slot = Some(CommandHandler {
            name,
            call: Box::new(move |command, ctx| match C::from_command(command) {
                Some(payload) => handler(payload, ctx),
                None => Err(HandlerError::WrongMessage {
                    handler: name,
                    message: command.type_name(),
                }),
            }),
        });
        Ok(self)
    }

    /// Adds a handler for event type `E` (after those already registered).
    pub fn on_event<E, F>(&mut self, name: &'static str, handler: F) -> &mut Self
    where
        E: EventPayload,
        F: Fn(&E, &mut HandlerContext<'_>) -> Result<(), HandlerError> + Send + Sync + 'static,
    {
        let index = self.event_handler_names.len();
        self.event_handler_names.push(name);
        self.events[E::KIND.index()].push(EventHandler {
            name,
            index,
            call: Box::new(move |event, ctx| match E::from_event(event) {
                Some(payload) => handler(payload, ctx),
                None => Err(HandlerError::WrongMessage {
                    handler: name,
                    message: event.type_name(),
                }),
            }),
        });
        self
    }

    /// Checks that every command kind has a handler.
    pub fn validate(&self) -> Result<(), WiringError> {
        for kind in CommandKind::ALL {
            if self.commands[kind.index()].is_none() {
                return Err(WiringError::MissingCommandHandler {
                    command: kind.name(),
                });
            }
        }
        Ok(())
    }

    /// Names of the event handlers, in registration order.
    pub fn event_handler_names(&self) -> &[&'static str] {
        &self.event_handler_names
    }

    pub(crate) fn command_handler(&self, kind: CommandKind) -> Option<&CommandHandler> {
        self.commands.get(kind.index()).and_then(Option::as_ref)
    }

    pub(crate) fn event_handlers(&self, kind: EventKind) -> &[EventHandler] {
        self.events.get(kind.index()).map_or(&[], Vec::as_slice)
    }
}
