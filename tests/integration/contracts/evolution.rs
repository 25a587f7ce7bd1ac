//! BACKWARD evolution of a command schema against the real registry: v2 (a new optional field
//! with a default) is accepted and interoperates with v1 both ways; an incompatible change is
//! refused.

use super::*;

#[tokio::test]
async fn allocate_v2_is_backward_compatible_and_v1_v2_interoperate() {
    let registry = &infra().await.registry_url;
    let settings = SrSettings::new(registry.clone());
    let topics = topics();
    let subject = subject_name(&topics.commands, RecordType::Allocate);
    let codec = codec(Registration::AutoRegister).await;

    // v1 (this worker's schema) is registered by the codec; then BACKWARD is enforced.
    let v1_message: WireMessage = Allocate {
        orderid: "o1".into(),
        sku: "LAMP".into(),
        qty: 4,
    }
    .into();
    let v1_bytes = codec
        .encode(&topics.commands, &v1_message)
        .await
        .expect("encode v1");
    set_backward(registry, &subject).await;

    let v2_id = post_schema(
        &settings,
        subject.clone(),
        supplied(RecordType::Allocate.full_name(), V2),
    )
    .await
    .expect("v2 adds an optional field with a default: accepted under BACKWARD")
    .id;
    let refused = post_schema(
        &settings,
        subject.clone(),
        supplied(RecordType::Allocate.full_name(), INCOMPATIBLE),
    )
    .await;
    let error = refused.expect_err("a new required field is refused under BACKWARD");
    assert!(
        error.error.contains("409"),
        "expected HTTP 409, got {error:?}"
    );

    // v2 writer -> v1 reader (this worker): the new field is ignored.
    let v2 = Schema::parse_str(V2).unwrap();
    let v2_value = Value::Record(vec![
        ("orderid".into(), Value::String("o2".into())),
        ("sku".into(), Value::String("LAMP".into())),
        ("qty".into(), Value::Long(9)),
        (
            "channel".into(),
            Value::Union(1, Box::new(Value::String("web".into()))),
        ),
    ]);
    let body = GenericDatumWriter::builder(&v2)
        .build()
        .unwrap()
        .write_value_to_vec(v2_value)
        .unwrap();
    let decoded = codec
        .decode(Some(&frame(v2_id, &body)))
        .await
        .expect("v1 reader reads v2 data");
    assert_eq!(
        decoded.message,
        Allocate {
            orderid: "o2".into(),
            sku: "LAMP".into(),
            qty: 9
        }
        .into()
    );

    // v1 writer -> v2 reader: the writer schema comes from the registry by id; the new field
    // takes its default.
    let v1_id = u32::from_be_bytes([v1_bytes[1], v1_bytes[2], v1_bytes[3], v1_bytes[4]]);
    let writer = codec
        .registry()
        .writer_schema(v1_id)
        .await
        .expect("v1 schema by id");
    let value = GenericDatumReader::builder(&writer.parsed)
        .reader_schema(&v2)
        .build()
        .unwrap()
        .read_value(&mut &v1_bytes[5..])
        .expect("v2 reader reads v1 data");
    let Value::Record(fields) = value else {
        panic!("record expected")
    };
    assert_eq!(
        fields.iter().find(|(n, _)| n == "qty").map(|(_, v)| v),
        Some(&Value::Long(4))
    );
    assert_eq!(
        fields.iter().find(|(n, _)| n == "channel").map(|(_, v)| v),
        Some(&Value::Union(0, Box::new(Value::Null)))
    );
}
