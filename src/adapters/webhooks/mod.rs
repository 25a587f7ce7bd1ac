//! Webhooks between organisations, the pure part: how an event of this context looks on the
//! wire to a subscriber, and how a foreign webhook payload becomes commands of this context.
//!
//! - [`signature`]: Standard Webhooks signing and verification (both directions);
//! - [`payload`]: the outbound body (plain or CloudEvents), the webhook id of an event, the
//!   event-type filter of a subscription;
//! - [`inbound`]: the anti-corruption translation of an inbound payload into contract commands,
//!   and the deterministic message ids that make a redelivered webhook a duplicate.
//!
//! Invariants: no I/O, no clock (callers pass the time); the JSON of an event is the contract's
//! JSON form ([`crate::adapters::contracts::WireMessage::to_json`]), never a second mapping.

pub mod inbound;
pub mod payload;
pub mod signature;

pub use signature::{SignedHeaders, VerifyError, WebhookSecret};
