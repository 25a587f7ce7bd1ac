//! Helpers for bus tests: a bus over in-memory fakes, command builders and event accessors.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::bootstrap::{self, InMemoryBus};
use crate::domain::{
    Allocate, ChangeBatchQuantity, Command, CreateBatch, Deallocate, Event, MessageId, Product,
};
use crate::service_layer::{Inbound, Outcome, StateStore};

pub use crate::domain::tests::framework::{batchref, date, message_id, orderid, qty, sku};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .expect("valid instant")
}

pub fn create_batch(reference: &str, sku_: &str, n: i64, eta: Option<NaiveDate>) -> Command {
    Command::CreateBatch(CreateBatch {
        reference: batchref(reference),
        sku: sku(sku_),
        qty: qty(n),
        eta,
    })
}

pub fn allocate(order: &str, sku_: &str, n: i64) -> Command {
    Command::Allocate(Allocate {
        orderid: orderid(order),
        sku: sku(sku_),
        qty: qty(n),
    })
}

pub fn change_quantity(reference: &str, sku_: &str, n: i64) -> Command {
    Command::ChangeBatchQuantity(ChangeBatchQuantity {
        reference: batchref(reference),
        sku: sku(sku_),
        qty: qty(n),
    })
}

pub fn deallocate(order: &str, sku_: &str) -> Command {
    Command::Deallocate(Deallocate {
        orderid: orderid(order),
        sku: sku(sku_),
    })
}

/// A bus over in-memory fakes that numbers the inbound messages it sends.
pub struct Harness {
    pub bus: InMemoryBus,
    next_id: u128,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_bus(bootstrap::in_memory().expect("standard wiring"))
    }

    pub fn with_bus(bus: InMemoryBus) -> Self {
        Self { bus, next_id: 1 }
    }

    /// Sends `command` with a fresh message id; returns the outcome.
    pub fn send(&mut self, command: Command) -> Outcome {
        let id = self.fresh_id();
        self.send_with_id(id, command)
    }

    /// Sends `command` with the given message id.
    pub fn send_with_id(&mut self, id: MessageId, command: Command) -> Outcome {
        self.bus
            .handle(Inbound::command(id, t0(), command))
            .expect("no bus error")
    }

    /// Sends and commits the batch at once.
    pub fn send_committed(&mut self, command: Command) -> Outcome {
        let outcome = self.send(command);
        self.bus.commit_batch();
        outcome
    }

    pub fn fresh_id(&mut self) -> MessageId {
        self.next_id += 1;
        message_id(self.next_id)
    }

    pub fn product(&self, sku_: &str) -> Option<&Product> {
        self.bus.store().product(&sku(sku_))
    }

    pub fn available(&self, sku_: &str, reference: &str) -> i64 {
        self.product(sku_)
            .and_then(|p| p.batch(&batchref(reference)))
            .map(|b| b.available_quantity())
            .expect("batch exists")
    }

    /// Which batch holds `order`'s line of `sku_`.
    pub fn batch_of(&self, sku_: &str, order: &str) -> Option<String> {
        self.product(sku_)?
            .allocation_of(&orderid(order))
            .map(|(batch, _)| batch.reference().to_string())
    }
}

/// The events of an outcome, without envelopes.
pub fn events(outcome: &Outcome) -> Vec<Event> {
    outcome.events.iter().map(|e| e.payload.clone()).collect()
}

/// The type names of an outcome's events.
pub fn event_types(outcome: &Outcome) -> Vec<&'static str> {
    outcome
        .events
        .iter()
        .map(|e| e.payload.type_name())
        .collect()
}
