//! Tests of the service layer through the message bus, with in-memory fakes.

mod anti_corruption;
mod bus;
mod duplicates;
mod envelopes;
mod properties;
mod services;
mod store;
mod support;
mod views;
