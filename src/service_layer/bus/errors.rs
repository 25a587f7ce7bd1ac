//! Errors of the message bus: [`BusError`] (returned to the runtime) and the internal
//! `RunError` of a cascade.
//!
//! Invariant: a `BusError` is returned only after the unit of work was rolled back, so it
//! never comes with partial state changes.

use super::HandlerError;
use crate::domain::MessageId;
use crate::service_layer::anti_corruption::TranslationError;

/// An inbound message could not be processed for a reason other than a business rule.
/// State is unchanged; the runtime should dead-letter the message.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("message {message_id}: handler {handler} failed: {source}")]
    Handler {
        message_id: MessageId,
        handler: &'static str,
        #[source]
        source: HandlerError,
    },
    #[error("message {message_id}: no handler for command {command}")]
    NoHandler {
        message_id: MessageId,
        command: &'static str,
    },
    #[error("message {message_id} cascaded into more than {limit} messages")]
    CascadeLimit { message_id: MessageId, limit: usize },
    #[error("message {message_id}: {source}")]
    Untranslatable {
        message_id: MessageId,
        #[source]
        source: TranslationError,
    },
}

pub(super) enum RunError {
    Handler {
        handler: &'static str,
        error: HandlerError,
    },
    NoHandler(&'static str),
    CascadeLimit,
}
