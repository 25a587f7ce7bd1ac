//! Rust ⇄ Avro mapping for the wire contracts: the [`AvroField`] trait (how one Rust field type
//! becomes an Avro value and back), the [`Shape`] of a schema (what the drift test compares),
//! and the `avro_record!` macro that declares a wire DTO struct once and derives from that one
//! declaration its field list, its Avro value conversion and its shape.
//!
//! Invariants:
//! - [`AvroField::write_avro`] appends exactly the Avro binary encoding that writing
//!   [`AvroField::to_avro`] with the schema gives (unit-tested against apache-avro's writer for
//!   every record type), without building the intermediate value: the hot path of the worker;
//! - [`AvroField::read_avro`] reads exactly what apache-avro's reader followed by
//!   [`AvroField::from_avro`] gives from a datum written with the DTO's own schema (tested on
//!   arbitrary bytes), never panics, and allocates no more than the input's length allows;
//! - a DTO's [`AvroRecord::shape`] is derived from its Rust field types only, so comparing it to
//!   [`Shape::of_schema`] of the `.avsc` file detects any drift in names, order or types;
//! - conversions never panic: a value of the wrong shape is a [`ShapeError`].

mod binary;
mod macros;
mod shape;

use apache_avro::types::Value;
use chrono::NaiveDate;

pub use binary::{
    read_array, read_int, read_long, read_string, write_array, write_long, write_str, write_utf8,
    ReadError,
};
pub(crate) use macros::{avro_enum, avro_record};
use shape::mismatch;
pub use shape::{Shape, ShapeError};

/// One Rust field type of a wire DTO.
pub trait AvroField: Sized {
    /// The Avro shape this type maps to.
    fn shape() -> Shape;
    /// The Avro value (union branches made explicit, so it validates against the schema).
    fn to_avro(&self) -> Value;
    /// Appends the Avro binary encoding of the value (see the module's invariants).
    fn write_avro(&self, out: &mut Vec<u8>);
    /// Reads a value written with this type's own schema (see the module's invariants).
    fn read_avro(input: &mut &[u8]) -> Result<Self, ReadError>;
    /// Back from a value read with the reader schema; `field` names it in errors.
    fn from_avro(value: Value, field: &str) -> Result<Self, ShapeError>;
}

impl AvroField for String {
    fn shape() -> Shape {
        Shape::String
    }
    fn to_avro(&self) -> Value {
        Value::String(self.clone())
    }
    fn write_avro(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
    fn read_avro(input: &mut &[u8]) -> Result<Self, ReadError> {
        read_string(input)
    }
    fn from_avro(value: Value, field: &str) -> Result<Self, ShapeError> {
        match value {
            Value::String(s) => Ok(s),
            other => Err(mismatch(field, "string", &other)),
        }
    }
}

impl AvroField for i32 {
    fn shape() -> Shape {
        Shape::Int
    }
    fn to_avro(&self) -> Value {
        Value::Int(*self)
    }
    fn write_avro(&self, out: &mut Vec<u8>) {
        write_long(out, i64::from(*self));
    }
    fn read_avro(input: &mut &[u8]) -> Result<Self, ReadError> {
        read_int(input)
    }
    fn from_avro(value: Value, field: &str) -> Result<Self, ShapeError> {
        match value {
            Value::Int(v) => Ok(v),
            other => Err(mismatch(field, "int", &other)),
        }
    }
}

impl AvroField for i64 {
    fn shape() -> Shape {
        Shape::Long
    }
    fn to_avro(&self) -> Value {
        Value::Long(*self)
    }
    fn write_avro(&self, out: &mut Vec<u8>) {
        write_long(out, *self);
    }
    fn read_avro(input: &mut &[u8]) -> Result<Self, ReadError> {
        read_long(input)
    }
    fn from_avro(value: Value, field: &str) -> Result<Self, ShapeError> {
        match value {
            Value::Long(v) => Ok(v),
            Value::Int(v) => Ok(i64::from(v)),
            other => Err(mismatch(field, "long", &other)),
        }
    }
}

/// 1970-01-01, the origin of Avro's `date` logical type.
fn epoch() -> NaiveDate {
    NaiveDate::default()
}

fn days_since_epoch(date: &NaiveDate) -> i32 {
    let days = date.signed_duration_since(epoch()).num_days();
    // chrono's date range (±262 000 years) always fits in an i32 of days.
    i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX })
}

impl AvroField for NaiveDate {
    fn shape() -> Shape {
        Shape::Date
    }
    fn to_avro(&self) -> Value {
        Value::Date(days_since_epoch(self))
    }
    fn write_avro(&self, out: &mut Vec<u8>) {
        write_long(out, i64::from(days_since_epoch(self)));
    }
    fn read_avro(input: &mut &[u8]) -> Result<Self, ReadError> {
        let days = read_int(input)?;
        epoch()
            .checked_add_signed(chrono::TimeDelta::days(i64::from(days)))
            .ok_or(ReadError::OutOfRange(i64::from(days)))
    }
    fn from_avro(value: Value, field: &str) -> Result<Self, ShapeError> {
        let days = match value {
            Value::Date(d) | Value::Int(d) => d,
            other => return Err(mismatch(field, "date", &other)),
        };
        epoch()
            .checked_add_signed(chrono::TimeDelta::days(i64::from(days)))
            .ok_or_else(|| ShapeError::Mismatch {
                field: field.to_owned(),
                expected: "a date within ±262000 years",
                got: format!("{days} days since 1970-01-01"),
            })
    }
}

impl<T: AvroField> AvroField for Option<T> {
    fn shape() -> Shape {
        Shape::Nullable(Box::new(T::shape()))
    }
    fn to_avro(&self) -> Value {
        match self {
            None => Value::Union(0, Box::new(Value::Null)),
            Some(v) => Value::Union(1, Box::new(v.to_avro())),
        }
    }
    fn write_avro(&self, out: &mut Vec<u8>) {
        // `["null", T]`: the branch index, then the value.
        match self {
            None => write_long(out, 0),
            Some(v) => {
                write_long(out, 1);
                v.write_avro(out);
            }
        }
    }
    fn read_avro(input: &mut &[u8]) -> Result<Self, ReadError> {
        match read_long(input)? {
            0 => Ok(None),
            1 => T::read_avro(input).map(Some),
            other => Err(ReadError::OutOfRange(other)),
        }
    }
    fn from_avro(value: Value, field: &str) -> Result<Self, ShapeError> {
        match value {
            Value::Union(_, inner) => match *inner {
                Value::Null => Ok(None),
                v => T::from_avro(v, field).map(Some),
            },
            Value::Null => Ok(None),
            v => T::from_avro(v, field).map(Some),
        }
    }
}

impl<T: AvroField> AvroField for Vec<T> {
    fn shape() -> Shape {
        Shape::Array(Box::new(T::shape()))
    }
    fn to_avro(&self) -> Value {
        Value::Array(self.iter().map(AvroField::to_avro).collect())
    }
    fn write_avro(&self, out: &mut Vec<u8>) {
        write_array(out, self, |out, item| item.write_avro(out));
    }
    fn read_avro(input: &mut &[u8]) -> Result<Self, ReadError> {
        read_array(input, T::read_avro)
    }
    fn from_avro(value: Value, field: &str) -> Result<Self, ShapeError> {
        match value {
            Value::Array(items) => items.into_iter().map(|v| T::from_avro(v, field)).collect(),
            other => Err(mismatch(field, "array", &other)),
        }
    }
}

/// A wire DTO that is an Avro record of its own (top-level or nested).
pub trait AvroRecord: AvroField {
    /// `namespace.Name`, e.g. `allocation.commands.Allocate`.
    const FULL_NAME: &'static str;
    /// The record's shape, from its Rust field types.
    fn shape() -> Shape {
        <Self as AvroField>::shape()
    }
    /// The record as an Avro value ready to be written with its schema.
    fn to_value(&self) -> Value {
        self.to_avro()
    }
    /// From a value read with (resolved to) this record's schema.
    fn from_value(value: Value) -> Result<Self, ShapeError> {
        Self::from_avro(value, Self::FULL_NAME)
    }
}

/// The fields of a record value, for [`take_field`]. Used by `avro_record!`.
pub fn record_fields(value: Value, record: &str) -> Result<Vec<(String, Value)>, ShapeError> {
    match value {
        Value::Record(fields) => Ok(fields),
        other => Err(mismatch(record, "record", &other)),
    }
}

/// Removes field `name` from `fields` and converts it. Used by `avro_record!`.
pub fn take_field<T: AvroField>(
    fields: &mut Vec<(String, Value)>,
    name: &str,
) -> Result<T, ShapeError> {
    let index = fields
        .iter()
        .position(|(n, _)| n == name)
        .ok_or_else(|| ShapeError::Missing {
            field: name.to_owned(),
        })?;
    let (_, value) = fields.swap_remove(index);
    T::from_avro(value, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_map_to_days_since_the_epoch() {
        let date = NaiveDate::from_ymd_opt(1970, 1, 11).unwrap();
        assert_eq!(date.to_avro(), Value::Date(10));
        assert_eq!(NaiveDate::from_avro(Value::Date(10), "eta").unwrap(), date);
        assert!(NaiveDate::from_avro(Value::Date(i32::MAX), "eta").is_err());
    }

    #[test]
    fn options_are_explicit_union_branches() {
        assert_eq!(
            Some(3i64).to_avro(),
            Value::Union(1, Box::new(Value::Long(3)))
        );
        assert_eq!(
            None::<i64>.to_avro(),
            Value::Union(0, Box::new(Value::Null))
        );
        assert_eq!(
            Option::<i64>::from_avro(Value::Union(0, Box::new(Value::Null)), "f").unwrap(),
            None
        );
        assert!(Option::<i64>::from_avro(Value::String("x".into()), "f").is_err());
    }

    #[test]
    fn an_array_in_one_block_is_read_into_an_exactly_sized_vector() {
        for n in [1usize, 2, 3, 7] {
            let items: Vec<i64> = (0..n as i64).collect();
            let mut bytes = Vec::new();
            write_array(&mut bytes, &items, |out, v| write_long(out, *v));
            let read = read_array(&mut bytes.as_slice(), read_long).unwrap();
            assert_eq!(read, items);
            assert_eq!(read.capacity(), n, "{n} items");
        }
    }
}
