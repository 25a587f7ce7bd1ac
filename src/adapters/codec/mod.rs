//! The Avro codec of the Kafka adapters: Confluent wire format, schemas from a
//! Confluent-compatible registry (TopicRecordNameStrategy subjects, so several record types
//! share a topic), dispatch by the writer schema's record full name.
//!
//! - [`wire`]: the pure part (framing, Avro decoding with schema resolution), no I/O;
//! - [`registry`]: the registry client (registration modes, caching, retries);
//! - [`Codec`]: both together, what the runtime holds.
//!
//! Invariants: decoding never panics; every failure is a typed [`DecodeError`] /
//! [`EncodeError`] with a stable `reason()`; transient registry failures are classed
//! [`FailureClass::Transient`] and must never be dead-lettered.

pub mod error;
pub mod registry;
#[cfg(test)]
mod tests;
pub mod wire;

pub use error::{DecodeError, EncodeError, FailureClass, RegistryError};
pub use registry::{Registration, RegistryClient, RegistryConfig, RetryPolicy};
pub use wire::Decoded;

use std::sync::RwLock;

use wire::WriterShape;

use super::contracts::snapshot::write_snapshot;
use super::contracts::{RecordType, SchemaCatalogue, WireMessage};
use super::topics::Topics;
use crate::domain::Product;

/// Why a [`Codec`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CodecSetupError {
    #[error(transparent)]
    Schema(#[from] super::contracts::SchemaParseError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Encodes outbound and decodes inbound record values. Share it behind an `Arc`.
#[derive(Debug)]
pub struct Codec {
    catalogue: SchemaCatalogue,
    registry: RegistryClient,
    /// The shape of each writer schema id met so far (a registry id names one schema for
    /// good, so this never goes stale); at most [`MAX_SHAPES`] entries, a linear scan.
    shapes: RwLock<Vec<(u32, WriterShape)>>,
}

/// How many writer schema ids a [`Codec`] remembers the shape of: far more than the versions of
/// a contract in use at once; the ids beyond are worked out per record, as before.
const MAX_SHAPES: usize = 64;

impl Codec {
    /// Parses the embedded schemas and builds the registry client (no request yet).
    pub fn new(config: &RegistryConfig) -> Result<Self, CodecSetupError> {
        Ok(Self {
            catalogue: SchemaCatalogue::load()?,
            registry: RegistryClient::new(config)?,
            shapes: RwLock::new(Vec::new()),
        })
    }

    /// Registers (or, with [`Registration::RequireExisting`], checks) the schema of every record
    /// type on its topic. Call at start: a worker whose contract the registry refuses must not
    /// start.
    pub async fn prepare(&self, topics: &Topics) -> Result<(), RegistryError> {
        for channel in topics.channels() {
            for record in channel.record_types {
                self.registry.schema_id(&channel.topic, record).await?;
            }
        }
        Ok(())
    }

    /// The value bytes of `message` for `topic` (subject `<topic>-<record full name>`).
    pub async fn encode(&self, topic: &str, message: &WireMessage) -> Result<Vec<u8>, EncodeError> {
        let id = self
            .registry
            .schema_id(topic, message.record_type())
            .await?;
        wire::encode_with(&self.catalogue, id, message)
    }

    /// The value bytes of `product`'s changelog snapshot for `topic`, written straight from the
    /// aggregate ([`write_snapshot`]: the same bytes as [`Codec::encode`] of its DTO).
    pub async fn encode_snapshot_value(
        &self,
        topic: &str,
        product: &Product,
    ) -> Result<Vec<u8>, EncodeError> {
        let id = self
            .registry
            .schema_id(topic, RecordType::ProductSnapshot)
            .await?;
        wire::frame_datum(id, 0, |out| write_snapshot(product, out))
    }

    /// Decodes a record value of any record type of the contract. `None` (a tombstone) and
    /// empty payloads are [`DecodeError::EmptyPayload`].
    pub async fn decode(&self, payload: Option<&[u8]>) -> Result<Decoded, DecodeError> {
        let (id, body) = wire::unframe(payload.unwrap_or_default())?;
        let writer = self.registry.writer_schema(id).await?;
        let shape = match self.known_shape(id) {
            Some(shape) => shape,
            None => {
                let shape = wire::writer_shape(&self.catalogue, id, &writer.parsed)?;
                if let Ok(mut shapes) = self.shapes.write() {
                    if shapes.len() < MAX_SHAPES && !shapes.iter().any(|(known, _)| *known == id) {
                        shapes.push((id, shape));
                    }
                }
                shape
            }
        };
        wire::decode_shaped(&self.catalogue, id, &writer.parsed, shape, body)
    }

    fn known_shape(&self, id: u32) -> Option<WriterShape> {
        let shapes = self.shapes.read().ok()?;
        shapes
            .iter()
            .find(|(known, _)| *known == id)
            .map(|(_, shape)| *shape)
    }

    /// This worker's reader schemas.
    pub fn catalogue(&self) -> &SchemaCatalogue {
        &self.catalogue
    }

    /// The registry client.
    pub fn registry(&self) -> &RegistryClient {
        &self.registry
    }
}
