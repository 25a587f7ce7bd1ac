//! `avro_record!` and `avro_enum!`: a wire DTO declared once, its [`AvroField`](super::AvroField)
//! implementation (shape, value conversion, direct binary reader and writer) derived from that
//! declaration.
//!
//! Invariant: fields are written and read in declaration order, which the drift test holds
//! to the `.avsc` file's order.

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
