//! The message contracts of this worker: the catalogue of every Avro record type it reads or
//! writes ([`RecordType`]), their schemas (embedded from `schemas/*.avsc` at compile time),
//! the wire DTOs ([`records`]), the tagged union of all of them ([`WireMessage`]) with its Avro
//! and JSON forms, and the validating conversions to and from the domain ([`domain`]).
//!
//! Invariants:
//! - one [`RecordType`] per top-level `.avsc` file, named by the record's full name, which is
//!   also the `message-type` header value and the JSON `type` tag;
//! - the DTO of a record type has the shape of its schema (drift test in this module);
//! - nothing here panics on input: [`SchemaCatalogue::load`] reports a broken embedded schema
//!   as an error, conversions return [`ShapeError`]s.

pub mod domain;
pub mod examples;
pub mod records;
pub mod snapshot;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use apache_avro::types::Value;
use apache_avro::Schema;

use super::avro::{AvroField, AvroRecord, Shape, ShapeError};

/// What role a record type plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A request to this context (`allocation.commands`).
    Command,
    /// A domain event of this context (`allocation.events`).
    Event,
    /// An event of another context, translated at the edge into a command.
    ExternalEvent,
    /// The latest state of an aggregate (`allocation.changelog`).
    Snapshot,
    /// A read-model row (`allocation.view`).
    View,
}

macro_rules! catalogue {
    ( $( $variant:ident = $full:literal, $kind:ident; )+ ) => {
        /// Every Avro record type of the contract.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RecordType { $( $variant ),+ }

        impl RecordType {
            /// All record types, in catalogue order.
            pub const ALL: &'static [RecordType] = &[$( RecordType::$variant ),+];

            /// The record's full name, e.g. `allocation.commands.Allocate`.
            pub const fn full_name(self) -> &'static str {
                match self { $( RecordType::$variant => $full ),+ }
            }

            /// The `.avsc` text, embedded from `schemas/<full name>.avsc`.
            pub const fn schema_text(self) -> &'static str {
                match self {
                    $( RecordType::$variant =>
                        include_str!(concat!("../../../schemas/", $full, ".avsc")) ),+
                }
            }

            /// The file name of the schema under `schemas/`.
            pub fn file_name(self) -> String {
                format!("{}.avsc", self.full_name())
            }

            /// The role of the record type.
            pub const fn kind(self) -> RecordKind {
                match self { $( RecordType::$variant => RecordKind::$kind ),+ }
            }

            /// Looks a record type up by its full name.
            pub fn from_full_name(name: &str) -> Option<RecordType> {
                match name { $( $full => Some(RecordType::$variant), )+ _ => None }
            }

            /// The shape of the Rust DTO (compared with the schema by the drift test).
            pub fn dto_shape(self) -> Shape {
                match self { $( RecordType::$variant => <records::$variant as AvroRecord>::shape() ),+ }
            }

            /// The full name the Rust DTO declares.
            pub const fn dto_full_name(self) -> &'static str {
                match self { $( RecordType::$variant => <records::$variant as AvroRecord>::FULL_NAME ),+ }
            }
        }

        /// Any message of the contract, as its wire DTO. JSON form (for debugging and the CLI):
        /// `{"type": "allocation.commands.Allocate", "orderid": "o1", "sku": "LAMP", "qty": 2}`.
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "type")]
        pub enum WireMessage {
            $( #[serde(rename = $full)] $variant(records::$variant) ),+
        }

        impl WireMessage {
            /// The record type of this message.
            pub fn record_type(&self) -> RecordType {
                match self { $( WireMessage::$variant(_) => RecordType::$variant ),+ }
            }

            /// The Avro value, ready to be written with the record type's schema.
            pub fn to_value(&self) -> Value {
                match self { $( WireMessage::$variant(m) => m.to_value() ),+ }
            }

            /// Appends the Avro binary datum (what writing [`WireMessage::to_value`] with the
            /// record type's schema gives, without the intermediate value).
            pub fn write_avro(&self, out: &mut Vec<u8>) {
                match self { $( WireMessage::$variant(m) => m.write_avro(out) ),+ }
            }

            /// Reads a datum written with `record_type`'s own schema (this worker's), without the
            /// intermediate Avro value; `input` is advanced past it.
            pub fn read_avro(
                record_type: RecordType,
                input: &mut &[u8],
            ) -> Result<Self, super::avro::ReadError> {
                match record_type {
                    $( RecordType::$variant =>
                        records::$variant::read_avro(input).map(WireMessage::$variant) ),+
                }
            }

            /// From a value read with (resolved to) `record_type`'s schema.
            pub fn from_value(record_type: RecordType, value: Value) -> Result<Self, ShapeError> {
                match record_type {
                    $( RecordType::$variant =>
                        records::$variant::from_value(value).map(WireMessage::$variant) ),+
                }
            }
        }

        $(
            impl From<records::$variant> for WireMessage {
                fn from(dto: records::$variant) -> Self {
                    WireMessage::$variant(dto)
                }
            }
        )+
    };
}

catalogue! {
    CreateBatch = "allocation.commands.CreateBatch", Command;
    Allocate = "allocation.commands.Allocate", Command;
    ChangeBatchQuantity = "allocation.commands.ChangeBatchQuantity", Command;
    Deallocate = "allocation.commands.Deallocate", Command;
    BatchCreated = "allocation.events.BatchCreated", Event;
    Allocated = "allocation.events.Allocated", Event;
    Deallocated = "allocation.events.Deallocated", Event;
    OutOfStock = "allocation.events.OutOfStock", Event;
    BatchQuantityChanged = "allocation.events.BatchQuantityChanged", Event;
    CommandRejected = "allocation.events.CommandRejected", Event;
    OrderCancelled = "orders.events.OrderCancelled", ExternalEvent;
    PurchaseOrderConfirmed = "purchasing.events.PurchaseOrderConfirmed", ExternalEvent;
    ProductSnapshot = "allocation.state.ProductSnapshot", Snapshot;
    AllocationRow = "allocation.view.AllocationRow", View;
}

impl std::fmt::Display for RecordType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.full_name())
    }
}

impl WireMessage {
    /// The JSON form (see [`WireMessage`]).
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing plain structs of strings, integers and dates cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Parses the JSON form; unknown `type`s and wrong fields are errors.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// An embedded `.avsc` that does not parse (a build defect, caught by the tests).
#[derive(Debug, thiserror::Error)]
#[error("embedded schema {record} does not parse: {source}")]
pub struct SchemaParseError {
    pub record: RecordType,
    #[source]
    pub source: apache_avro::Error,
}

/// The parsed reader schemas of every record type (this worker's view of the contract).
#[derive(Debug, Clone)]
pub struct SchemaCatalogue {
    schemas: HashMap<RecordType, Schema>,
}

impl SchemaCatalogue {
    /// Parses every embedded schema.
    pub fn load() -> Result<Self, SchemaParseError> {
        let mut schemas = HashMap::new();
        for &record in RecordType::ALL {
            let schema = Schema::parse_str(record.schema_text())
                .map_err(|source| SchemaParseError { record, source })?;
            schemas.insert(record, schema);
        }
        Ok(Self { schemas })
    }

    /// The reader schema of `record`.
    pub fn schema(&self, record: RecordType) -> &Schema {
        // `load` inserted every record type.
        &self.schemas[&record]
    }
}
