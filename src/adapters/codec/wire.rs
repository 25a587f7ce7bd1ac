//! The pure half of the codec: the Confluent wire format (magic byte `0x00`, 4-byte big-endian
//! schema id, Avro binary datum) and Avro decoding with schema resolution (writer schema from
//! the registry → this worker's reader schema). No I/O: the writer schema is handed in, either
//! by the registry client or by a pre-resolved [`SchemaTable`] (tests, the fuzz property).
//!
//! Invariants: never panics on any input bytes (property-tested over arbitrary bytes); a datum
//! must consume the payload exactly (trailing bytes are an error); Avro allocations are capped
//! at [`MAX_AVRO_ALLOCATION`] so a hostile length prefix cannot exhaust memory.

use std::collections::HashMap;
use std::sync::OnceLock;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;

use super::error::{DecodeError, EncodeError};
use crate::adapters::contracts::{RecordType, SchemaCatalogue, WireMessage};

/// The Confluent wire-format magic byte.
pub const MAGIC_BYTE: u8 = 0;
/// Length of the wire-format header (magic byte + schema id).
pub const HEADER_LEN: usize = 5;
/// Largest single allocation the Avro decoder may make (a Kafka record is ≤ 1 MiB by default).
/// Process-wide: apache-avro keeps it in a global set on first use.
pub const MAX_AVRO_ALLOCATION: usize = 16 * 1024 * 1024;

/// A payload decoded into a wire DTO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The registry id of the writer schema.
    pub schema_id: u32,
    pub message: WireMessage,
}

impl Decoded {
    /// The record type (from the writer schema's full name).
    pub fn record_type(&self) -> RecordType {
        self.message.record_type()
    }
}

/// Prefixes an Avro datum with the wire-format header.
pub fn frame(schema_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Splits a payload into its schema id and Avro datum.
pub fn unframe(payload: &[u8]) -> Result<(u32, &[u8]), DecodeError> {
    match payload {
        [] => Err(DecodeError::EmptyPayload),
        [magic, ..] if *magic != MAGIC_BYTE => Err(DecodeError::BadMagicByte { found: *magic }),
        [_, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        short => Err(DecodeError::Truncated { len: short.len() }),
    }
}

fn cap_allocations() {
    apache_avro::util::max_allocation_bytes(MAX_AVRO_ALLOCATION);
}

/// The full name of a writer schema, when it is a record.
pub fn record_name(schema: &Schema) -> Option<String> {
    match schema {
        Schema::Record(r) => Some(r.name.fullname(None)),
        _ => None,
    }
}

/// How a datum of a writer schema is read: the record type the schema names, and whether the
/// schema is this worker's own for that type (read straight into the DTO) or another version
/// of it (resolved). Worked out once per schema id: comparing the schemas cost a restore more
/// than a thousand instructions per snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterShape {
    pub record: RecordType,
    pub own: bool,
}

/// The [`WriterShape`] of `writer` (registry id `schema_id`).
pub fn writer_shape(
    catalogue: &SchemaCatalogue,
    schema_id: u32,
    writer: &Schema,
) -> Result<WriterShape, DecodeError> {
    let record = record_of(schema_id, writer)?;
    Ok(WriterShape {
        record,
        own: writer == catalogue.schema(record),
    })
}

/// Decodes an Avro datum written with `writer` (registry id `schema_id`) into this worker's DTO
/// of the same record name, resolving the writer schema to the reader schema.
///
/// When the writer schema is this worker's own (the usual case: the records of this contract's
/// producers), the datum is read straight into the DTO ([`WireMessage::read_avro`]: no
/// intermediate value, no resolution); the result is the same (tested on arbitrary bytes).
pub fn decode_body(
    catalogue: &SchemaCatalogue,
    schema_id: u32,
    writer: &Schema,
    body: &[u8],
) -> Result<Decoded, DecodeError> {
    let shape = writer_shape(catalogue, schema_id, writer)?;
    decode_shaped(catalogue, schema_id, writer, shape, body)
}

/// [`decode_body`] with the writer's [`WriterShape`] already known (it must be `writer`'s).
pub fn decode_shaped(
    catalogue: &SchemaCatalogue,
    schema_id: u32,
    writer: &Schema,
    shape: WriterShape,
    body: &[u8],
) -> Result<Decoded, DecodeError> {
    let record = shape.record;
    if !shape.own {
        return decode_body_resolving(catalogue, schema_id, writer, body);
    }
    let mut cursor = body;
    let message =
        WireMessage::read_avro(record, &mut cursor).map_err(|e| DecodeError::MalformedAvro {
            id: schema_id,
            record,
            detail: e.to_string(),
        })?;
    if !cursor.is_empty() {
        return Err(DecodeError::TrailingBytes {
            id: schema_id,
            record,
            count: cursor.len(),
        });
    }
    Ok(Decoded { schema_id, message })
}

/// The record type a writer schema names.
fn record_of(schema_id: u32, writer: &Schema) -> Result<RecordType, DecodeError> {
    let name = record_name(writer).unwrap_or_else(|| "<not a record>".to_owned());
    RecordType::from_full_name(&name).ok_or_else(|| DecodeError::UnhandledRecordType {
        id: schema_id,
        name: name.chars().take(200).collect(),
    })
}

/// [`decode_body`] through apache-avro: read with the writer schema, resolve to the reader
/// schema, convert the value. Any writer schema of a record type of the contract.
pub fn decode_body_resolving(
    catalogue: &SchemaCatalogue,
    schema_id: u32,
    writer: &Schema,
    body: &[u8],
) -> Result<Decoded, DecodeError> {
    cap_allocations();
    let record = record_of(schema_id, writer)?;
    let malformed = |e: apache_avro::Error| DecodeError::MalformedAvro {
        id: schema_id,
        record,
        detail: e.to_string(),
    };
    let mut cursor = body;
    let value = GenericDatumReader::builder(writer)
        .build()
        .map_err(|e| DecodeError::IncompatibleSchema {
            id: schema_id,
            record,
            detail: e.to_string(),
        })?
        .read_value(&mut cursor)
        .map_err(malformed)?;
    if !cursor.is_empty() {
        return Err(DecodeError::TrailingBytes {
            id: schema_id,
            record,
            count: cursor.len(),
        });
    }
    let value =
        value
            .resolve(catalogue.schema(record))
            .map_err(|e| DecodeError::IncompatibleSchema {
                id: schema_id,
                record,
                detail: e.to_string(),
            })?;
    let message = WireMessage::from_value(record, value)
        .map_err(|source| DecodeError::Shape { record, source })?;
    Ok(Decoded { schema_id, message })
}

/// This worker's schemas, resolved for writing once per process: a [`GenericDatumWriter`]
/// resolves its schema's names (a walk with allocations) when built, which is not something to
/// do for every record. The schemas are the embedded ones, so every [`SchemaCatalogue`] has the
/// same; the first catalogue used provides them.
fn writers(
    catalogue: &SchemaCatalogue,
) -> &'static HashMap<RecordType, GenericDatumWriter<'static>> {
    static SCHEMAS: OnceLock<HashMap<RecordType, Schema>> = OnceLock::new();
    static WRITERS: OnceLock<HashMap<RecordType, GenericDatumWriter<'static>>> = OnceLock::new();
    WRITERS.get_or_init(|| {
        let schemas = SCHEMAS.get_or_init(|| {
            RecordType::ALL
                .iter()
                .map(|&r| (r, catalogue.schema(r).clone()))
                .collect()
        });
        schemas
            .iter()
            // A schema that cannot be resolved is left out: `write_body` then reports its error.
            .filter_map(|(&r, schema)| Some((r, GenericDatumWriter::builder(schema).build().ok()?)))
            .collect()
    })
}

/// Appends the Avro datum of `message` (this worker's schema of its record type) to `out`
/// through apache-avro's validating writer: the reference [`encode_with`]'s direct writer is
/// tested against.
fn write_body_via_value(
    catalogue: &SchemaCatalogue,
    message: &WireMessage,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let record = message.record_type();
    let avro = |e: apache_avro::Error| EncodeError::Avro {
        record,
        detail: e.to_string(),
    };
    let value = message.to_value();
    match writers(catalogue).get(&record) {
        Some(writer) => writer.write_value_ref(out, &value).map_err(avro)?,
        None => GenericDatumWriter::builder(catalogue.schema(record))
            .build()
            .map_err(avro)?
            .write_value_ref(out, &value)
            .map_err(avro)?,
    };
    Ok(())
}

/// Encodes a message as an Avro datum with this worker's schema of its record type.
///
/// This is apache-avro's validating writer, the reference for the worker's direct encoding
/// ([`WireMessage::write_avro`], used by [`encode_with`]); the tests compare the two for every
/// record type.
pub fn encode_body(
    catalogue: &SchemaCatalogue,
    message: &WireMessage,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    write_body_via_value(catalogue, message, &mut out)?;
    Ok(out)
}

/// Writer schemas by registry id, resolved in advance.
pub trait WriterSchemas {
    /// The writer schema registered under `id`, if any.
    fn writer_schema(&self, id: u32) -> Option<&Schema>;
}

/// An in-memory [`WriterSchemas`]: ids assigned by the caller.
#[derive(Debug, Clone, Default)]
pub struct SchemaTable {
    schemas: HashMap<u32, Schema>,
}

impl SchemaTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the schema of `id`.
    pub fn insert(&mut self, id: u32, schema: Schema) -> &mut Self {
        self.schemas.insert(id, schema);
        self
    }
}

impl WriterSchemas for SchemaTable {
    fn writer_schema(&self, id: u32) -> Option<&Schema> {
        self.schemas.get(&id)
    }
}

/// Decodes a whole wire-format payload against pre-resolved writer schemas.
pub fn decode_with(
    catalogue: &SchemaCatalogue,
    schemas: &impl WriterSchemas,
    payload: &[u8],
) -> Result<Decoded, DecodeError> {
    let (id, body) = unframe(payload)?;
    let writer = schemas
        .writer_schema(id)
        .ok_or(DecodeError::UnknownSchemaId { id })?;
    decode_body(catalogue, id, writer, body)
}

/// Encodes a message into a wire-format payload with schema id `schema_id` (header and datum
/// written into one buffer). The datum is written straight from the DTO
/// ([`WireMessage::write_avro`]: no intermediate Avro value, no per-record validation walk);
/// its bytes equal apache-avro's ([`encode_body`]), which the tests check for every record
/// type, and the DTOs' shapes equal the schemas (the drift test), so the `catalogue` is not
/// consulted.
pub fn encode_with(
    _catalogue: &SchemaCatalogue,
    schema_id: u32,
    message: &WireMessage,
) -> Result<Vec<u8>, EncodeError> {
    frame_datum(schema_id, 256, |out| {
        message.write_avro(out);
        Ok(())
    })
}

/// A wire-format payload with schema id `schema_id` whose datum `write` appends (room for
/// `capacity` bytes of it reserved up front).
pub fn frame_datum(
    schema_id: u32,
    capacity: usize,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(HEADER_LEN + capacity);
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.to_be_bytes());
    write(&mut out)?;
    Ok(out)
}
