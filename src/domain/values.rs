//! Value objects of the allocation context: [`Sku`], [`OrderId`], [`BatchRef`], [`Quantity`]
//! and [`MessageId`].
//!
//! Invariants (enforced by the only constructors, including `Deserialize`):
//! - identifiers are non-empty, at most [`MAX_IDENTIFIER_LEN`] bytes, have no leading or
//!   trailing whitespace and contain no control characters;
//! - a [`Quantity`] is strictly positive and fits in a `u32`.
//!
//! Identifiers are backed by [`IdText`] (24 bytes): short text inline (no allocation, cloning
//! is a copy), longer text a shared `Arc<str>` with a fingerprint (cloning is a reference-count
//! increment; comparing two different identifiers does not read their text); equality is
//! decided on the text.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::id_text::IdText;

/// Longest identifier accepted, in bytes.
pub const MAX_IDENTIFIER_LEN: usize = 256;

/// Why a value object could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} is {len} bytes long, the maximum is {max}")]
    TooLong {
        kind: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{kind} must not start or end with whitespace")]
    SurroundingWhitespace { kind: &'static str },
    #[error("{kind} must not contain control characters")]
    ControlCharacter { kind: &'static str },
    #[error("quantity must be positive, got {0}")]
    NonPositiveQuantity(i64),
    #[error("quantity {0} is too large (maximum {max})", max = u32::MAX)]
    QuantityTooLarge(i64),
}

fn validate_identifier(kind: &'static str, value: &str) -> Result<(), ValueError> {
    if value.is_empty() {
        return Err(ValueError::Empty { kind });
    }
    if value.len() > MAX_IDENTIFIER_LEN {
        return Err(ValueError::TooLong {
            kind,
            len: value.len(),
            max: MAX_IDENTIFIER_LEN,
        });
    }
    if value.trim() != value {
        return Err(ValueError::SurroundingWhitespace { kind });
    }
    if value.chars().any(char::is_control) {
        return Err(ValueError::ControlCharacter { kind });
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            text: IdText,
        }

        impl $name {
            /// Validates `value` and builds the identifier.
            pub fn new(value: impl AsRef<str>) -> Result<Self, ValueError> {
                let value = value.as_ref();
                validate_identifier($kind, value)?;
                Ok(Self {
                    text: IdText::new(value),
                })
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                self.text.as_str()
            }

            /// The identifier's UTF-8 bytes (no validation: for writers and hashing).
            pub fn as_bytes(&self) -> &[u8] {
                self.text.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValueError;
            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValueError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(IdentifierVisitor::<$name>::new($kind))
            }
        }

        impl ParseIdentifier for $name {
            fn parse(value: &str) -> Result<Self, ValueError> {
                Self::new(value)
            }
        }
    };
}

/// Lets one serde visitor build every identifier type.
trait ParseIdentifier: Sized {
    fn parse(value: &str) -> Result<Self, ValueError>;
}

struct IdentifierVisitor<T> {
    kind: &'static str,
    marker: std::marker::PhantomData<T>,
}

impl<T> IdentifierVisitor<T> {
    fn new(kind: &'static str) -> Self {
        Self {
            kind,
            marker: std::marker::PhantomData,
        }
    }
}

impl<T: ParseIdentifier> Visitor<'_> for IdentifierVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a valid {}", self.kind)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        T::parse(value).map_err(E::custom)
    }
}

identifier!(
    /// Stock-keeping unit: identifies a product, and so the [`crate::domain::Product`] aggregate.
    Sku,
    "sku"
);
identifier!(
    /// Identifies a customer order.
    OrderId,
    "orderid"
);
identifier!(
    /// Identifies a batch of stock (a warehouse lot or a purchase order in transit).
    BatchRef,
    "batch reference"
);

/// A strictly positive number of units.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quantity(NonZeroU32);

impl Quantity {
    /// Validates `value` (must be in `1..=u32::MAX`).
    pub fn new(value: i64) -> Result<Self, ValueError> {
        if value <= 0 {
            return Err(ValueError::NonPositiveQuantity(value));
        }
        u32::try_from(value)
            .ok()
            .and_then(NonZeroU32::new)
            .map(Self)
            .ok_or(ValueError::QuantityTooLarge(value))
    }

    /// The number of units.
    pub fn get(self) -> u32 {
        self.0.get()
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quantity({})", self.0)
    }
}

impl TryFrom<i64> for Quantity {
    type Error = ValueError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.get())
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = i64::deserialize(deserializer)?;
        Self::new(raw).map_err(de::Error::custom)
    }
}

/// Identifies one message (command or event) end to end; the unit of de-duplication.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(Uuid);

impl MessageId {
    /// Wraps a UUID.
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The underlying UUID.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl From<Uuid> for MessageId {
    fn from(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.0)
    }
}
