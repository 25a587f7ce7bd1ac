//! Adapters: everything between the pure core (domain, service layer) and Kafka's bytes.
//!
//! - [`contracts`]: the message contracts — the record-type catalogue, schemas embedded from
//!   `schemas/*.avsc`, wire DTOs and their validating conversion to and from the domain;
//! - [`codec`]: Confluent wire format + Avro + schema registry (encode / decode, typed errors);
//! - [`envelope`]: the record headers (`message-id`, `correlation-id`, ..., `dlq-*`);
//! - [`topics`]: topic names, keys and which record types travel where;
//! - [`webhooks`]: Standard Webhooks signatures, the outbound event form, inbound translation;
//! - [`mapping`]: the runtime-facing API: an inbound Kafka record → a bus [`Inbound`], a bus
//!   [`Outcome`] → the records to produce, a poison record → its DLQ record.
//!
//! Dependencies point inward: adapters use the domain and the service layer, never the
//! reverse; nothing here panics on external data.
//!
//! [`Inbound`]: crate::service_layer::messages::Inbound
//! [`Outcome`]: crate::service_layer::outcome::Outcome

pub mod avro;
pub mod codec;
pub mod contracts;
pub mod envelope;
pub mod mapping;
pub mod topics;
pub mod webhooks;
