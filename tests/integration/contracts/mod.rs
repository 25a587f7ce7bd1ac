//! The message contracts against the real schema registry: every record type registers under
//! its TopicRecordNameStrategy subject and round-trips through the codec; registration modes;
//! bad input yields typed errors; BACKWARD evolution of a command (v1 ⇄ v2 interoperate, an
//! incompatible change is refused); a registry outage heals by itself.

use std::time::Duration;

use allocation_worker::adapters::codec::wire::frame;
use allocation_worker::adapters::codec::{
    Codec, DecodeError, FailureClass, Registration, RegistryConfig, RegistryError, RetryPolicy,
};
use allocation_worker::adapters::contracts::records::Allocate;
use allocation_worker::adapters::contracts::{examples::examples, RecordType, WireMessage};
use allocation_worker::adapters::envelope::HeaderList;
use allocation_worker::adapters::mapping::InboundRecord;
use allocation_worker::adapters::topics::{subject_name, Topics};
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use schema_registry_converter::async_impl::schema_registry::{post_schema, SrSettings};
use schema_registry_converter::schema_registry_common::{SchemaType, SuppliedSchema};

use crate::harness::{infra, set_backward, unique};

mod evolution;
mod outage;
mod outcome;

pub(super) const V2: &str =
    include_str!("../../../schemas/evolution/allocation.commands.Allocate.v2.avsc");
pub(super) const INCOMPATIBLE: &str =
    include_str!("../../../schemas/evolution/allocation.commands.Allocate.incompatible.avsc");

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
    }
}

async fn codec(registration: Registration) -> Codec {
    let mut config = RegistryConfig::new(infra().await.registry_url.clone());
    config.registration = registration;
    Codec::new(&config).expect("codec")
}

fn topics() -> Topics {
    Topics::with_prefix(&format!("{}.", unique("ct")))
}

fn supplied(name: &str, text: &str) -> SuppliedSchema {
    SuppliedSchema::new(Some(name.to_owned()), SchemaType::Avro, text.to_owned())
}

#[tokio::test]
async fn every_record_type_registers_and_round_trips_through_the_registry() {
    let registry = &infra().await.registry_url;
    let topics = topics();
    let writer = codec(Registration::AutoRegister).await;
    writer
        .prepare(&topics)
        .await
        .expect("register every schema");
    // A second codec has cold caches: decoding must fetch every writer schema by id.
    let reader = codec(Registration::AutoRegister).await;
    for message in examples() {
        let record = message.record_type();
        let topic = topics.topic_of(record);
        let bytes = writer.encode(topic, &message).await.expect("encode");
        assert_eq!(bytes[0], 0, "{record}: Confluent magic byte");
        let decoded = reader.decode(Some(&bytes)).await.expect("decode");
        assert_eq!(decoded.message, message, "{record}");
        assert_eq!(
            decoded.schema_id,
            u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]])
        );
        // The subject follows TopicRecordNameStrategy.
        let subject = subject_name(topic, record);
        let versions = reqwest::get(format!("{registry}/subjects/{subject}/versions"))
            .await
            .expect("GET versions");
        assert!(
            versions.status().is_success(),
            "{subject}: {}",
            versions.status()
        );
    }
}

#[tokio::test]
async fn require_existing_refuses_missing_schemas_and_uses_registered_ones() {
    let topics = topics();
    let strict = codec(Registration::RequireExisting).await;
    match strict.prepare(&topics).await {
        Err(RegistryError::NotRegistered { subject }) => {
            assert!(subject.starts_with(&topics.commands))
        }
        other => panic!("expected NotRegistered, got {other:?}"),
    }
    codec(Registration::AutoRegister)
        .await
        .prepare(&topics)
        .await
        .expect("register");
    let strict = codec(Registration::RequireExisting).await;
    strict
        .prepare(&topics)
        .await
        .expect("every schema is registered now");
    let message = examples().remove(1);
    let bytes = strict
        .encode(&topics.commands, &message)
        .await
        .expect("encode");
    assert_eq!(
        strict.decode(Some(&bytes)).await.expect("decode").message,
        message
    );
}

#[tokio::test]
async fn bad_input_yields_typed_errors_with_the_real_registry() {
    let registry = &infra().await.registry_url;
    let topics = topics();
    let codec = codec(Registration::AutoRegister).await;
    let decode = |bytes: Vec<u8>| {
        let codec = &codec;
        async move { codec.decode(Some(&bytes)).await }
    };
    assert_eq!(decode(vec![]).await.unwrap_err(), DecodeError::EmptyPayload);
    assert_eq!(
        codec.decode(None).await.unwrap_err(),
        DecodeError::EmptyPayload
    );
    assert_eq!(
        decode(vec![0, 1]).await.unwrap_err(),
        DecodeError::Truncated { len: 2 }
    );
    assert_eq!(
        decode(b"{\"sku\":\"x\"}".to_vec()).await.unwrap_err(),
        DecodeError::BadMagicByte { found: b'{' }
    );
    let unknown = decode(frame(1_999_999_999, &[0])).await.unwrap_err();
    assert_eq!(unknown, DecodeError::UnknownSchemaId { id: 1_999_999_999 });
    assert!(!unknown.class().is_retriable());

    // A real schema of a record type this worker does not handle.
    let foreign = r#"{"type":"record","name":"Invoice","namespace":"billing.events","fields":[{"name":"id","type":"string"}]}"#;
    let settings = SrSettings::new(registry.clone());
    let id = post_schema(
        &settings,
        format!("{}-billing.events.Invoice", topics.commands),
        supplied("billing.events.Invoice", foreign),
    )
    .await
    .expect("register foreign schema")
    .id;
    let err = decode(frame(id, &[4, b'i', b'1'])).await.unwrap_err();
    assert!(
        matches!(err, DecodeError::UnhandledRecordType { ref name, .. } if name == "billing.events.Invoice"),
        "{err:?}"
    );
    assert_eq!(err.class(), FailureClass::Schema);

    // Valid Avro that breaks a domain rule: qty 0, then an empty sku.
    for (sku, qty, field) in [("LAMP", 0, "qty"), ("", 3, "sku")] {
        let message: WireMessage = Allocate {
            orderid: "o1".into(),
            sku: sku.into(),
            qty,
        }
        .into();
        let bytes = codec
            .encode(&topics.commands, &message)
            .await
            .expect("encode");
        let headers = HeaderList::new();
        let record = InboundRecord {
            topic: &topics.commands,
            partition: 0,
            offset: 7,
            key: Some(b"LAMP"),
            payload: Some(&bytes),
            headers: &headers,
            timestamp_ms: None,
        };
        let err = codec
            .decode_inbound(&record, chrono::Utc::now())
            .await
            .unwrap_err();
        assert!(
            matches!(err, DecodeError::InvalidValue { record: RecordType::Allocate, field: f, .. } if f == field),
            "{err:?}"
        );
        assert_eq!(err.reason(), "invalid-value");
        assert_eq!(err.class(), FailureClass::Validation);
    }

    // An event on an input topic is not an inbound message.
    let event = examples()
        .into_iter()
        .find(|m| m.record_type() == RecordType::Allocated)
        .unwrap();
    let bytes = codec.encode(&topics.events, &event).await.expect("encode");
    let headers = HeaderList::new();
    let record = InboundRecord {
        topic: &topics.commands,
        partition: 0,
        offset: 8,
        key: None,
        payload: Some(&bytes),
        headers: &headers,
        timestamp_ms: None,
    };
    let err = codec
        .decode_inbound(&record, chrono::Utc::now())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "unexpected-record-type");
}
