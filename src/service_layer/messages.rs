//! Message envelopes: what enters the bus ([`Inbound`]), what travels on its internal queue
//! ([`Message`]) and what leaves it ([`Envelope`] with [`Metadata`]).
//!
//! Transport-free: the runtime maps Kafka headers to [`InboundMetadata`] and [`Metadata`] back
//! to headers (`message-id`, `correlation-id`, `causation-id`, `message-type`, event time).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::anti_corruption::ExternalEvent;
use crate::domain::{Command, Event, MessageId};

/// Metadata of a message received from outside the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMetadata {
    /// Unique id of the inbound message; the unit of de-duplication and the root of every
    /// output id derived from it.
    pub message_id: MessageId,
    /// The conversation it belongs to; `None` starts a new one (rooted at `message_id`).
    pub correlation_id: Option<MessageId>,
    /// The message that caused it, if known.
    pub causation_id: Option<MessageId>,
    /// When it was produced (the Kafka record timestamp).
    pub timestamp: DateTime<Utc>,
}

impl InboundMetadata {
    /// Metadata for a message starting a new conversation.
    pub fn new(message_id: MessageId, timestamp: DateTime<Utc>) -> Self {
        Self {
            message_id,
            correlation_id: None,
            causation_id: None,
            timestamp,
        }
    }

    /// The correlation id outputs inherit.
    pub fn effective_correlation_id(&self) -> MessageId {
        self.correlation_id.unwrap_or(self.message_id)
    }
}

/// The payload of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundMessage {
    /// A command for an aggregate owned by this partition (keyed by sku).
    Command(Command),
    /// An event from another bounded context, translated at the edge.
    External(ExternalEvent),
}

/// One message handed to [`MessageBus::handle`](super::MessageBus::handle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub metadata: InboundMetadata,
    pub message: InboundMessage,
}

impl Inbound {
    /// An inbound command starting a new conversation.
    pub fn command(
        message_id: MessageId,
        timestamp: DateTime<Utc>,
        command: impl Into<Command>,
    ) -> Self {
        Self {
            metadata: InboundMetadata::new(message_id, timestamp),
            message: InboundMessage::Command(command.into()),
        }
    }

    /// An inbound external event starting a new conversation.
    pub fn external(
        message_id: MessageId,
        timestamp: DateTime<Utc>,
        event: impl Into<ExternalEvent>,
    ) -> Self {
        Self {
            metadata: InboundMetadata::new(message_id, timestamp),
            message: InboundMessage::External(event.into()),
        }
    }
}

/// An item on the bus's internal queue (the seed book's `Message = Union[Command, Event]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Command(Command),
    Event(Event),
}

/// Metadata of a record the worker writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// Deterministic: derived from the inbound message id and the output's sequence number.
    pub message_id: MessageId,
    /// Inherited from the inbound message.
    pub correlation_id: MessageId,
    /// The inbound message that caused this output.
    pub causation_id: MessageId,
    /// The record's type name (e.g. `Allocated`, `Product`).
    pub message_type: &'static str,
    /// From the bus's [`Clock`](super::Clock).
    pub event_time: DateTime<Utc>,
}

/// A payload with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<T> {
    pub metadata: Metadata,
    pub payload: T,
}
