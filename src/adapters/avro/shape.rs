//! The [`Shape`] of an Avro schema or of a wire DTO (what the drift test compares), and the
//! [`ShapeError`] of a value that does not fit its DTO field.
//!
//! Invariant: a shape ignores docs and defaults; two schemas of the same shape read and write
//! the same bytes.

use apache_avro::schema::Schema;
use apache_avro::types::Value;

/// The structural type of an Avro schema or of a Rust DTO, ignoring docs and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    String,
    Int,
    Long,
    /// `{"type": "int", "logicalType": "date"}`: days since 1970-01-01.
    Date,
    /// `["null", T]`.
    Nullable(Box<Shape>),
    Array(Box<Shape>),
    Enum {
        name: String,
        symbols: Vec<String>,
    },
    Record {
        name: String,
        fields: Vec<(String, Shape)>,
    },
    /// Anything the contracts do not use (kept for a readable drift report).
    Other(String),
}

impl Shape {
    /// The shape of a parsed Avro schema.
    pub fn of_schema(schema: &Schema) -> Shape {
        match schema {
            Schema::String => Shape::String,
            Schema::Int => Shape::Int,
            Schema::Long => Shape::Long,
            Schema::Date => Shape::Date,
            Schema::Union(union) => match union.variants() {
                [Schema::Null, inner] => Shape::Nullable(Box::new(Shape::of_schema(inner))),
                other => Shape::Other(format!("union {other:?}")),
            },
            Schema::Array(array) => Shape::Array(Box::new(Shape::of_schema(&array.items))),
            Schema::Enum(e) => Shape::Enum {
                name: e.name.fullname(None),
                symbols: e.symbols.clone(),
            },
            Schema::Record(record) => Shape::Record {
                name: record.name.fullname(None),
                fields: record
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), Shape::of_schema(&f.schema)))
                    .collect(),
            },
            other => Shape::Other(format!("{other:?}")),
        }
    }
}

/// A value of the wrong shape for the DTO field it was meant for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("field `{field}`: expected {expected}, got {got}")]
    Mismatch {
        field: String,
        expected: &'static str,
        got: String,
    },
    #[error("field `{field}` is missing")]
    Missing { field: String },
}

pub(super) fn mismatch(field: &str, expected: &'static str, got: &Value) -> ShapeError {
    let mut got = format!("{got:?}");
    got.truncate(80);
    ShapeError::Mismatch {
        field: field.to_owned(),
        expected,
        got,
    }
}
