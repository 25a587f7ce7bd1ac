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

use apache_avro::schema::Schema;
use apache_avro::types::Value;
use chrono::NaiveDate;

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

fn mismatch(field: &str, expected: &'static str, got: &Value) -> ShapeError {
    let mut got = format!("{got:?}");
    got.truncate(80);
    ShapeError::Mismatch {
        field: field.to_owned(),
        expected,
        got,
    }
}

/// Appends an Avro `long` (or `int`: the same encoding): zig-zag, then variable-length.
pub fn write_long(out: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends an Avro `string` (or `bytes`): its length, then its bytes.
pub fn write_str(out: &mut Vec<u8>, value: &str) {
    write_utf8(out, value.as_bytes());
}

/// [`write_str`] of text given as its UTF-8 bytes (an identifier's, already known valid).
pub fn write_utf8(out: &mut Vec<u8>, text: &[u8]) {
    write_long(out, text.len() as i64);
    out.extend_from_slice(text);
}

/// Appends an Avro `array` of `len` items written by `item`: one block of `len` items (none
/// when empty), then the end marker — the layout apache-avro's writer uses.
pub fn write_array<T>(out: &mut Vec<u8>, items: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    if !items.is_empty() {
        write_long(out, items.len() as i64);
        for i in items {
            item(out, i);
        }
    }
    out.push(0);
}

/// A datum that does not decode with the DTO's own schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the datum ends early")]
    Truncated,
    #[error("a variable-length integer is longer than 10 bytes")]
    IntegerTooLong,
    #[error("{0} is out of range here")]
    OutOfRange(i64),
    #[error("a string is not UTF-8")]
    NotUtf8,
}

/// Reads an Avro `long`.
pub fn read_long(input: &mut &[u8]) -> Result<i64, ReadError> {
    let mut n: u64 = 0;
    for i in 0..10 {
        let (&byte, rest) = input.split_first().ok_or(ReadError::Truncated)?;
        *input = rest;
        n |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
        }
    }
    Err(ReadError::IntegerTooLong)
}

/// Reads an Avro `int`.
pub fn read_int(input: &mut &[u8]) -> Result<i32, ReadError> {
    let n = read_long(input)?;
    i32::try_from(n).map_err(|_| ReadError::OutOfRange(n))
}

/// Reads a length (a non-negative `long` no larger than what is left of the input).
fn read_len(input: &mut &[u8]) -> Result<usize, ReadError> {
    let n = read_long(input)?;
    match usize::try_from(n) {
        Ok(len) if len <= input.len() => Ok(len),
        Ok(_) => Err(ReadError::Truncated),
        Err(_) => Err(ReadError::OutOfRange(n)),
    }
}

/// Reads an Avro `string`.
pub fn read_string(input: &mut &[u8]) -> Result<String, ReadError> {
    let len = read_len(input)?;
    let (bytes, rest) = input.split_at(len);
    *input = rest;
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| ReadError::NotUtf8)
}

/// Reads an Avro `array` (blocks of items; a negative count is followed by the block's size
/// in bytes), each item with `item`.
pub fn read_array<T>(
    input: &mut &[u8],
    mut item: impl FnMut(&mut &[u8]) -> Result<T, ReadError>,
) -> Result<Vec<T>, ReadError> {
    let mut items = Vec::new();
    loop {
        let count = read_long(input)?;
        if count == 0 {
            return Ok(items);
        }
        if count < 0 {
            read_long(input)?; // the block's size in bytes
        }
        // Every item takes at least one byte: a count beyond the input is malformed, and no
        // allocation is made for it.
        let count = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        if count > input.len() {
            return Err(ReadError::Truncated);
        }
        // The first block (usually the only one) sizes the vector exactly: `reserve` would
        // round a small array up to four items, and the restore keeps these vectors (a
        // snapshot's batches become the aggregate's, collected in place).
        if items.is_empty() {
            items.reserve_exact(count);
        } else {
            items.reserve(count);
        }
        for _ in 0..count {
            items.push(item(input)?);
        }
    }
}

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

/// Declares a wire DTO: `avro_record! { /// doc  pub struct Name in "namespace" { pub f: T, .. } }`.
/// The struct name is the Avro record name; field names and order are the Avro fields.
macro_rules! avro_record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident in $ns:literal {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty ),*
        }

        impl $crate::adapters::avro::AvroField for $name {
            fn shape() -> $crate::adapters::avro::Shape {
                $crate::adapters::avro::Shape::Record {
                    name: concat!($ns, ".", stringify!($name)).to_owned(),
                    fields: vec![$(
                        (
                            stringify!($field).to_owned(),
                            <$ty as $crate::adapters::avro::AvroField>::shape(),
                        )
                    ),*],
                }
            }
            fn to_avro(&self) -> apache_avro::types::Value {
                apache_avro::types::Value::Record(vec![$(
                    (
                        stringify!($field).to_owned(),
                        $crate::adapters::avro::AvroField::to_avro(&self.$field),
                    )
                ),*])
            }
            fn write_avro(&self, out: &mut Vec<u8>) {
                $( $crate::adapters::avro::AvroField::write_avro(&self.$field, out); )*
                let _ = out;
            }
            fn read_avro(
                input: &mut &[u8],
            ) -> Result<Self, $crate::adapters::avro::ReadError> {
                // Fields in declaration order: the schema's order (the drift test).
                Ok(Self {
                    $( $field: <$ty as $crate::adapters::avro::AvroField>::read_avro(input)? ),*
                })
            }
            fn from_avro(
                value: apache_avro::types::Value,
                field: &str,
            ) -> Result<Self, $crate::adapters::avro::ShapeError> {
                #[allow(unused_mut)]
                let mut fields = $crate::adapters::avro::record_fields(value, field)?;
                Ok(Self {
                    $( $field: $crate::adapters::avro::take_field(&mut fields, stringify!($field))? ),*
                })
            }
        }

        impl $crate::adapters::avro::AvroRecord for $name {
            const FULL_NAME: &'static str = concat!($ns, ".", stringify!($name));
        }
    };
}

/// Declares a wire enum (an Avro `enum`): `avro_enum! { pub enum Name in "ns" { A => "A", .. } }`.
macro_rules! avro_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident in $ns:literal { $( $(#[$vmeta:meta])* $variant:ident => $symbol:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $symbol)] $variant ),+
        }

        impl $name {
            /// The Avro symbols, in schema order.
            pub const SYMBOLS: &'static [&'static str] = &[$($symbol),+];
        }

        impl $crate::adapters::avro::AvroField for $name {
            fn shape() -> $crate::adapters::avro::Shape {
                $crate::adapters::avro::Shape::Enum {
                    name: concat!($ns, ".", stringify!($name)).to_owned(),
                    symbols: Self::SYMBOLS.iter().map(|s| (*s).to_owned()).collect(),
                }
            }
            fn to_avro(&self) -> apache_avro::types::Value {
                let (index, symbol) = match self {
                    $( $name::$variant => (Self::SYMBOLS.iter().position(|s| *s == $symbol), $symbol) ),+
                };
                apache_avro::types::Value::Enum(
                    index.and_then(|i| u32::try_from(i).ok()).unwrap_or(0),
                    symbol.to_owned(),
                )
            }
            fn write_avro(&self, out: &mut Vec<u8>) {
                let index = match self {
                    $( $name::$variant => Self::SYMBOLS.iter().position(|s| *s == $symbol) ),+
                };
                $crate::adapters::avro::write_long(out, index.unwrap_or(0) as i64);
            }
            fn read_avro(
                input: &mut &[u8],
            ) -> Result<Self, $crate::adapters::avro::ReadError> {
                let index = $crate::adapters::avro::read_int(input)?;
                let symbol = usize::try_from(index)
                    .ok()
                    .and_then(|i| Self::SYMBOLS.get(i))
                    .ok_or($crate::adapters::avro::ReadError::OutOfRange(i64::from(index)))?;
                match *symbol {
                    $( $symbol => Ok($name::$variant), )+
                    _ => Err($crate::adapters::avro::ReadError::OutOfRange(i64::from(index))),
                }
            }
            fn from_avro(
                value: apache_avro::types::Value,
                field: &str,
            ) -> Result<Self, $crate::adapters::avro::ShapeError> {
                match value {
                    apache_avro::types::Value::Enum(_, symbol) => match symbol.as_str() {
                        $( $symbol => Ok($name::$variant), )+
                        other => Err($crate::adapters::avro::ShapeError::Mismatch {
                            field: field.to_owned(),
                            expected: concat!("a symbol of ", stringify!($name)),
                            got: other.chars().take(80).collect(),
                        }),
                    },
                    other => Err($crate::adapters::avro::ShapeError::Mismatch {
                        field: field.to_owned(),
                        expected: "enum",
                        got: format!("{other:?}").chars().take(80).collect(),
                    }),
                }
            }
        }
    };
}

pub(crate) use {avro_enum, avro_record};

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
