//! Typed errors of the codec layer, each with a stable `reason` string and a [`FailureClass`]:
//! what the Kafka runtime needs to decide between "dead-letter this record" (deterministic
//! failure: the same bytes will always fail) and "abort, back off and retry" (transient).
//!
//! Invariant: `reason()` strings and `class()` values are part of the DLQ contract (the
//! `dlq-reason` / `dlq-class` headers): never rename one, only add.

use crate::adapters::avro::ShapeError;
use crate::adapters::contracts::RecordType;

/// How the runtime must treat a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// The bytes are not a Confluent-framed Avro record this worker can read.
    Deserialization,
    /// The schema is unknown, unsupported, or cannot be resolved to this worker's schema.
    Schema,
    /// Valid Avro of a known type, but a value breaks a domain rule (empty sku, qty 0, ...).
    Validation,
    /// The registry could not be reached or answered 5xx: retry, never dead-letter.
    Transient,
}

impl FailureClass {
    /// Stable name (`dlq-class` header).
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureClass::Deserialization => "deserialization",
            FailureClass::Schema => "schema",
            FailureClass::Validation => "validation",
            FailureClass::Transient => "transient",
        }
    }

    /// True when retrying the same record may succeed (do not dead-letter).
    pub const fn is_retriable(self) -> bool {
        matches!(self, FailureClass::Transient)
    }
}

/// A schema-registry failure, after retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("schema registry unavailable after {attempts} attempt(s): {detail}")]
    Unavailable { attempts: u32, detail: String },
    #[error("schema id {id} is not registered")]
    SchemaNotFound { id: u32 },
    #[error("schema id {id} is not an Avro schema")]
    NotAvro { id: u32 },
    #[error("subject {subject} has no version equal to this worker's schema (registration: require-existing)")]
    NotRegistered { subject: String },
    #[error("subject {subject} refused the schema as incompatible: {detail}")]
    Incompatible { subject: String, detail: String },
    #[error("schema registry refused the request: {detail}")]
    Refused { detail: String },
    #[error(
        "schema registry refused our credentials: {detail} (check SCHEMA_REGISTRY_USERNAME / \
         SCHEMA_REGISTRY_PASSWORD or SCHEMA_REGISTRY_TOKEN)"
    )]
    Unauthorized { detail: String },
    #[error("invalid schema-registry configuration: {0}")]
    Config(String),
}

impl RegistryError {
    /// True when the settings are at fault (refused credentials, unusable CA file): retrying
    /// with the same configuration cannot succeed.
    pub const fn is_configuration(&self) -> bool {
        matches!(
            self,
            RegistryError::Unauthorized { .. } | RegistryError::Config(_)
        )
    }

    /// Stable reason string.
    pub const fn reason(&self) -> &'static str {
        match self {
            RegistryError::Unavailable { .. } => "registry-unavailable",
            RegistryError::SchemaNotFound { .. } => "unknown-schema-id",
            RegistryError::NotAvro { .. } => "unsupported-schema-type",
            RegistryError::NotRegistered { .. } => "schema-not-registered",
            RegistryError::Incompatible { .. } => "schema-incompatible",
            RegistryError::Refused { .. } => "registry-refused",
            RegistryError::Unauthorized { .. } => "registry-unauthorized",
            RegistryError::Config(_) => "registry-config",
        }
    }
}

/// Why an inbound payload could not become a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty payload (null or zero bytes)")]
    EmptyPayload,
    #[error("payload of {len} byte(s) is too short for the Confluent wire format (magic byte + 4-byte schema id)")]
    Truncated { len: usize },
    #[error("first byte is {found:#04x}, expected the Confluent magic byte 0x00")]
    BadMagicByte { found: u8 },
    #[error("schema id {id} is not registered")]
    UnknownSchemaId { id: u32 },
    #[error("schema id {id} is not an Avro schema")]
    UnsupportedSchemaType { id: u32 },
    #[error("schema id {id} is `{name}`, a record type this worker does not handle")]
    UnhandledRecordType { id: u32, name: String },
    #[error("{record} is not accepted on topic {topic}")]
    UnexpectedRecordType { record: RecordType, topic: String },
    #[error("writer schema {id} cannot be read as {record}: {detail}")]
    IncompatibleSchema {
        id: u32,
        record: RecordType,
        detail: String,
    },
    #[error("payload does not match writer schema {id} ({record}): {detail}")]
    MalformedAvro {
        id: u32,
        record: RecordType,
        detail: String,
    },
    #[error("{count} trailing byte(s) after the {record} datum (schema id {id})")]
    TrailingBytes {
        id: u32,
        record: RecordType,
        count: usize,
    },
    #[error("{record}: {source}")]
    Shape {
        record: RecordType,
        #[source]
        source: ShapeError,
    },
    #[error("{record}.{field}: {detail}")]
    InvalidValue {
        record: RecordType,
        field: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Registry(RegistryError),
}

impl DecodeError {
    /// Stable reason string (`dlq-reason` header).
    pub const fn reason(&self) -> &'static str {
        match self {
            DecodeError::EmptyPayload => "empty-payload",
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::BadMagicByte { .. } => "bad-magic-byte",
            DecodeError::UnknownSchemaId { .. } => "unknown-schema-id",
            DecodeError::UnsupportedSchemaType { .. } => "unsupported-schema-type",
            DecodeError::UnhandledRecordType { .. } => "unhandled-record-type",
            DecodeError::UnexpectedRecordType { .. } => "unexpected-record-type",
            DecodeError::IncompatibleSchema { .. } => "incompatible-schema",
            DecodeError::MalformedAvro { .. } => "malformed-avro",
            DecodeError::TrailingBytes { .. } => "trailing-bytes",
            DecodeError::Shape { .. } => "shape-mismatch",
            DecodeError::InvalidValue { .. } => "invalid-value",
            DecodeError::Registry(e) => e.reason(),
        }
    }

    /// How the runtime must treat it.
    pub const fn class(&self) -> FailureClass {
        match self {
            DecodeError::EmptyPayload
            | DecodeError::Truncated { .. }
            | DecodeError::BadMagicByte { .. }
            | DecodeError::MalformedAvro { .. }
            | DecodeError::TrailingBytes { .. } => FailureClass::Deserialization,
            DecodeError::UnknownSchemaId { .. }
            | DecodeError::UnsupportedSchemaType { .. }
            | DecodeError::UnhandledRecordType { .. }
            | DecodeError::UnexpectedRecordType { .. }
            | DecodeError::IncompatibleSchema { .. }
            | DecodeError::Shape { .. } => FailureClass::Schema,
            DecodeError::InvalidValue { .. } => FailureClass::Validation,
            DecodeError::Registry(_) => FailureClass::Transient,
        }
    }
}

impl From<RegistryError> for DecodeError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::SchemaNotFound { id } => DecodeError::UnknownSchemaId { id },
            RegistryError::NotAvro { id } => DecodeError::UnsupportedSchemaType { id },
            other => DecodeError::Registry(other),
        }
    }
}

/// Why an outbound message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{record} does not validate against its schema: {detail}")]
    Avro { record: RecordType, detail: String },
    #[error("{record}.{field}: {detail}")]
    OutOfRange {
        record: RecordType,
        field: &'static str,
        detail: String,
    },
}

impl EncodeError {
    /// Stable reason string.
    pub const fn reason(&self) -> &'static str {
        match self {
            EncodeError::Registry(e) => e.reason(),
            EncodeError::Avro { .. } => "avro-validation",
            EncodeError::OutOfRange { .. } => "out-of-range",
        }
    }

    /// True when retrying may succeed (registry outage).
    pub const fn is_retriable(&self) -> bool {
        matches!(
            self,
            EncodeError::Registry(RegistryError::Unavailable { .. })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_outages_are_transient_and_unknown_ids_are_poison() {
        let outage: DecodeError = RegistryError::Unavailable {
            attempts: 3,
            detail: "connection refused".into(),
        }
        .into();
        assert_eq!(outage.class(), FailureClass::Transient);
        assert!(outage.class().is_retriable());
        let unknown: DecodeError = RegistryError::SchemaNotFound { id: 7 }.into();
        assert_eq!(unknown, DecodeError::UnknownSchemaId { id: 7 });
        assert_eq!(unknown.reason(), "unknown-schema-id");
        assert!(!unknown.class().is_retriable());
    }
}
