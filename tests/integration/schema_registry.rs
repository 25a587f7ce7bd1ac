//! Proves the registry is real: an Avro record registered and encoded through
//! `schema_registry_converter` round-trips through the registry in the Confluent wire format,
//! a backward-compatible second version is accepted, and an incompatible one is refused.

use apache_avro::types::Value;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::{post_schema, SrSettings};
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};

use crate::harness::{infra, set_backward, unique};

const RECORD: &str = "allocation.test.Probe";

fn schema(fields: &str) -> SuppliedSchema {
    SuppliedSchema::new(
        Some(RECORD.to_owned()),
        SchemaType::Avro,
        format!(
            r#"{{"type":"record","name":"Probe","namespace":"allocation.test","fields":[{fields}]}}"#
        ),
    )
}

const V1_FIELDS: &str = r#"{"name":"id","type":"string"},{"name":"qty","type":"int"}"#;

#[tokio::test]
async fn avro_round_trips_and_incompatible_schema_is_refused() {
    let registry = &infra().await.registry_url;
    let settings = SrSettings::new(registry.clone());
    let topic = unique("sr");
    let subject = format!("{topic}-{RECORD}");

    // Register v1 and encode through the registry (topic + record name subject).
    let encoder = AvroEncoder::new(settings.clone());
    let strategy =
        SubjectNameStrategy::TopicRecordNameStrategyWithSchema(topic.clone(), schema(V1_FIELDS));
    let bytes = encoder
        .encode(
            vec![
                ("id", Value::String("line-1".into())),
                ("qty", Value::Int(7)),
            ],
            strategy,
        )
        .await
        .expect("encode with a registered schema");
    assert_eq!(
        bytes[0], 0,
        "Confluent wire format starts with magic byte 0"
    );
    assert!(bytes.len() > 5, "magic byte + 4-byte schema id + payload");

    // Decode: the decoder looks the schema up by the id in the payload.
    let decoded = AvroDecoder::new(settings.clone())
        .decode(Some(&bytes))
        .await
        .expect("decode");
    assert_eq!(
        decoded.value,
        Value::Record(vec![
            ("id".into(), Value::String("line-1".into())),
            ("qty".into(), Value::Int(7)),
        ])
    );
    assert_eq!(
        decoded.name.map(|n| n.fullname(None)),
        Some(RECORD.to_owned())
    );

    set_backward(registry, &subject).await;

    // A new optional field with a default is backward compatible: accepted.
    let v2 = format!(r#"{V1_FIELDS},{{"name":"note","type":["null","string"],"default":null}}"#);
    let accepted = post_schema(&settings, subject.clone(), schema(&v2)).await;
    assert!(accepted.is_ok(), "compatible v2 refused: {accepted:?}");

    // A new required field without a default cannot read v1 data: refused.
    let v3 = format!(r#"{V1_FIELDS},{{"name":"warehouse","type":"string"}}"#);
    let refused = post_schema(&settings, subject.clone(), schema(&v3)).await;
    assert!(
        refused.is_err(),
        "incompatible schema was accepted: {refused:?}"
    );
}
