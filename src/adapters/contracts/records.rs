//! The wire DTOs: one Rust struct per Avro record of `schemas/*.avsc`, declared with
//! `avro_record!` so that names, field order and field types come from one place. They carry
//! raw wire values (strings, `i64` quantities, dates); validation into domain types happens in
//! [`super::domain`].
//!
//! Invariant: every struct here mirrors its `.avsc` exactly (checked by the drift test in
//! [`super::tests`]).

use chrono::NaiveDate;

use crate::adapters::avro::{avro_enum, avro_record};

// ---- commands (topic allocation.commands, key: sku) ----

avro_record! {
    /// Command: register a batch of stock for a SKU.
    pub struct CreateBatch in "allocation.commands" {
        pub reference: String,
        pub sku: String,
        pub qty: i64,
        pub eta: Option<NaiveDate>,
    }
}

avro_record! {
    /// Command: allocate an order line to the best batch of its SKU.
    pub struct Allocate in "allocation.commands" {
        pub orderid: String,
        pub sku: String,
        pub qty: i64,
    }
}

avro_record! {
    /// Command: set a batch's purchased quantity.
    pub struct ChangeBatchQuantity in "allocation.commands" {
        pub reference: String,
        pub sku: String,
        pub qty: i64,
    }
}

avro_record! {
    /// Command: release an order's line for a SKU.
    pub struct Deallocate in "allocation.commands" {
        pub orderid: String,
        pub sku: String,
    }
}

// ---- events (topic allocation.events, key: sku) ----

avro_record! {
    /// Event: a batch was registered.
    pub struct BatchCreated in "allocation.events" {
        pub reference: String,
        pub sku: String,
        pub qty: i64,
        pub eta: Option<NaiveDate>,
    }
}

avro_record! {
    /// Event: an order line was allocated to a batch.
    pub struct Allocated in "allocation.events" {
        pub orderid: String,
        pub sku: String,
        pub qty: i64,
        pub batchref: String,
    }
}

avro_enum! {
    /// Why a line was released (Avro enum `allocation.events.DeallocationReason`).
    pub enum DeallocationReason in "allocation.events" {
        /// The batch shrank; the line is allocated again.
        BatchQuantityChanged => "BATCH_QUANTITY_CHANGED",
        /// A `Deallocate` command; final.
        Requested => "REQUESTED",
    }
}

avro_record! {
    /// Event: an order line was released from its batch.
    pub struct Deallocated in "allocation.events" {
        pub orderid: String,
        pub sku: String,
        pub qty: i64,
        pub batchref: String,
        pub reason: DeallocationReason,
    }
}

avro_record! {
    /// Event: no batch of the SKU could take the order's line.
    pub struct OutOfStock in "allocation.events" {
        pub sku: String,
        pub orderid: String,
    }
}

avro_record! {
    /// Event: a batch's purchased quantity was changed.
    pub struct BatchQuantityChanged in "allocation.events" {
        pub reference: String,
        pub sku: String,
        pub qty: i64,
    }
}

avro_record! {
    /// Event: a command broke a business rule and changed nothing.
    pub struct CommandRejected in "allocation.events" {
        pub command_id: String,
        pub sku: String,
        pub code: String,
        pub reason: String,
    }
}

// ---- external events from other contexts ----

avro_record! {
    /// External event (orders context, topic orders.events, key: orderid): an order line was
    /// cancelled. Translated into a `Deallocate` command.
    pub struct OrderCancelled in "orders.events" {
        pub orderid: String,
        pub sku: String,
    }
}

avro_record! {
    /// External event (purchasing context, topic purchasing.events, key: po_reference): a
    /// supplier confirmed a purchase-order line. Translated into a `CreateBatch` command.
    pub struct PurchaseOrderConfirmed in "purchasing.events" {
        pub po_reference: String,
        pub sku: String,
        pub qty: i64,
        pub eta: Option<NaiveDate>,
    }
}

// ---- aggregate snapshot (topic allocation.changelog, key: sku) ----

avro_record! {
    /// An allocated order line inside a [`BatchState`].
    pub struct OrderLineState in "allocation.state" {
        pub orderid: String,
        pub sku: String,
        pub qty: i64,
    }
}

avro_record! {
    /// One batch of a [`ProductSnapshot`].
    pub struct BatchState in "allocation.state" {
        pub reference: String,
        pub sku: String,
        pub purchased_quantity: i64,
        pub eta: Option<NaiveDate>,
        pub allocations: Vec<OrderLineState>,
    }
}

avro_record! {
    /// Changelog value: the latest state of one Product aggregate.
    pub struct ProductSnapshot in "allocation.state" {
        pub sku: String,
        pub version_number: i64,
        pub batches: Vec<BatchState>,
        pub applied_message_ids: Vec<String>,
    }
}

// ---- read model (topic allocation.view, key: orderid) ----

avro_record! {
    /// Read-model row: an order's line of a SKU is allocated to a batch.
    pub struct AllocationRow in "allocation.view" {
        pub orderid: String,
        pub sku: String,
        pub batchref: String,
    }
}
