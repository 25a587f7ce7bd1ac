//! Unit and property tests of the pure codec: framing, every bad-input case, and "the decoder
//! never panics" over arbitrary bytes.

use apache_avro::Schema;
use proptest::prelude::*;

use super::wire::{
    decode_body, decode_body_resolving, decode_with, encode_body, encode_with, frame, unframe,
    writer_shape, SchemaTable, WriterSchemas, WriterShape,
};
use super::{DecodeError, FailureClass};
use crate::adapters::contracts::records::{
    Allocate, BatchState, Deallocated, DeallocationReason, OrderLineState, ProductSnapshot,
};
use crate::adapters::contracts::{RecordType, SchemaCatalogue, WireMessage};

/// Ids 1..=N: the catalogue's schemas in order; 100: a foreign record; 101: not a record.
fn table(catalogue: &SchemaCatalogue) -> SchemaTable {
    let mut table = SchemaTable::new();
    for (i, &record) in RecordType::ALL.iter().enumerate() {
        table.insert(i as u32 + 1, catalogue.schema(record).clone());
    }
    let foreign = r#"{"type":"record","name":"Invoice","namespace":"billing.events",
        "fields":[{"name":"id","type":"string"}]}"#;
    table.insert(100, Schema::parse_str(foreign).unwrap());
    table.insert(101, Schema::String);
    table
}

fn id_of(record: RecordType) -> u32 {
    RecordType::ALL.iter().position(|&r| r == record).unwrap() as u32 + 1
}

fn allocate(sku: &str, qty: i64) -> WireMessage {
    Allocate {
        orderid: "o1".into(),
        sku: sku.into(),
        qty,
    }
    .into()
}

fn fixture() -> (SchemaCatalogue, SchemaTable) {
    let catalogue = SchemaCatalogue::load().unwrap();
    let table = table(&catalogue);
    (catalogue, table)
}

#[test]
fn framing_round_trips() {
    let framed = frame(0x0102_0304, &[9, 8]);
    assert_eq!(framed, vec![0, 1, 2, 3, 4, 9, 8]);
    assert_eq!(unframe(&framed), Ok((0x0102_0304, &[9u8, 8][..])));
    assert_eq!(unframe(&[0, 0, 0, 0, 7]), Ok((7, &[][..])));
}

#[test]
fn every_record_type_round_trips_through_the_wire_format() {
    let (catalogue, table) = fixture();
    for message in crate::adapters::contracts::examples::examples() {
        let id = id_of(message.record_type());
        let bytes = encode_with(&catalogue, id, &message).unwrap();
        let decoded = decode_with(&catalogue, &table, &bytes).unwrap();
        assert_eq!(decoded.schema_id, id);
        assert_eq!(decoded.message, message);
    }
}

/// The direct writer's bytes (header aside) are apache-avro's validating writer's.
fn assert_direct_encoding_is_apache_avros(catalogue: &SchemaCatalogue, message: &WireMessage) {
    let direct = encode_with(catalogue, 7, message).unwrap();
    let reference = encode_body(catalogue, message).unwrap();
    assert_eq!(&direct[..5], &[0, 0, 0, 0, 7]);
    assert_eq!(&direct[5..], &reference[..], "{message:?}");
}

#[test]
fn the_direct_avro_writer_writes_what_apache_avro_writes() {
    let catalogue = SchemaCatalogue::load().unwrap();
    for message in crate::adapters::contracts::examples::examples() {
        assert_direct_encoding_is_apache_avros(&catalogue, &message);
    }
    let deallocated = |reason| -> WireMessage {
        Deallocated {
            orderid: "ö-1".into(),
            sku: String::new(),
            qty: i64::MIN,
            batchref: "b".repeat(300),
            reason,
        }
        .into()
    };
    for reason in [
        DeallocationReason::Requested,
        DeallocationReason::BatchQuantityChanged,
    ] {
        assert_direct_encoding_is_apache_avros(&catalogue, &deallocated(reason));
    }
    assert_direct_encoding_is_apache_avros(&catalogue, &allocate("LAMP", i64::MAX));
}

fn snapshot_strategy() -> impl Strategy<Value = ProductSnapshot> {
    let line = (".{0,12}", ".{0,12}", any::<i64>())
        .prop_map(|(orderid, sku, qty)| OrderLineState { orderid, sku, qty });
    let eta =
        proptest::option::of((-1_000_000i32..1_000_000).prop_map(|days| {
            chrono::NaiveDate::default() + chrono::TimeDelta::days(i64::from(days))
        }));
    let batch = (
        ".{0,12}",
        any::<i64>(),
        eta,
        proptest::collection::vec(line, 0..200),
    )
        .prop_map(
            |(reference, purchased_quantity, eta, allocations)| BatchState {
                reference,
                sku: "S".into(),
                purchased_quantity,
                eta,
                allocations,
            },
        );
    (
        ".{0,20}",
        any::<i64>(),
        proptest::collection::vec(batch, 0..4),
        proptest::collection::vec(".{0,40}", 0..70),
    )
        .prop_map(
            |(sku, version_number, batches, applied_message_ids)| ProductSnapshot {
                sku,
                version_number,
                batches,
                applied_message_ids,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Snapshots of any size (arrays of more than 63 items need a multi-byte block count).
    #[test]
    fn the_direct_avro_writer_writes_any_snapshot_as_apache_avro_does(snapshot in snapshot_strategy()) {
        let catalogue = &fixture_once().0;
        let message: WireMessage = snapshot.into();
        assert_direct_encoding_is_apache_avros(catalogue, &message);
        let bytes = encode_with(catalogue, 1, &message).unwrap();
        let schema = catalogue.schema(RecordType::ProductSnapshot);
        let direct = decode_body(catalogue, 1, schema, &bytes[5..]).unwrap();
        prop_assert_eq!(direct.message, message);
    }
}

/// The direct reader and apache-avro's agree on `body`: the same message, or an error from
/// both — except where apache-avro reads a datum that ends early, at a trailing nullable field,
/// as if that field were null (its reader's leniency at end of input): the direct reader calls
/// a datum that ends early malformed.
fn readers_agree(
    catalogue: &SchemaCatalogue,
    schema: &Schema,
    body: &[u8],
) -> Result<(), TestCaseError> {
    let direct = decode_body(catalogue, 1, schema, body);
    let reference = decode_body_resolving(catalogue, 1, schema, body);
    match (direct, reference) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
        (Err(a), Err(b)) => {
            prop_assert!(!a.class().is_retriable(), "{a:?}");
            prop_assert!(!b.class().is_retriable(), "{b:?}");
        }
        // Both read the same bytes in the same order: where the direct reader ran out of
        // input, apache-avro did too, and substituted a null.
        (Err(DecodeError::MalformedAvro { detail, .. }), Ok(_))
            if detail == crate::adapters::avro::ReadError::Truncated.to_string() => {}
        (a, b) => prop_assert!(false, "direct {a:?} vs apache-avro {b:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    /// The direct reader (writer schema = this worker's) agrees with apache-avro's reader and
    /// the resolution on any bytes: the same message, or an error from both.
    #[test]
    fn the_direct_avro_reader_reads_what_apache_avro_reads(
        index in 0..RecordType::ALL.len(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let catalogue = &fixture_once().0;
        let record = RecordType::ALL[index];
        let schema = catalogue.schema(record);
        readers_agree(catalogue, schema, &body)?;
    }

    /// The same on valid datums with one byte changed and the end cut off somewhere.
    #[test]
    fn the_direct_avro_reader_agrees_on_damaged_datums(
        example in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let catalogue = &fixture_once().0;
        let examples = crate::adapters::contracts::examples::examples();
        let message = &examples[example.index(examples.len())];
        let schema = catalogue.schema(message.record_type());
        let mut body = encode_body(catalogue, message).unwrap();
        let i = at.index(body.len());
        body[i] = byte;
        body.truncate(body.len() - cut.index(3).min(body.len()));
        readers_agree(catalogue, schema, &body)?;
    }
}

#[test]
fn bad_input_yields_typed_errors() {
    let (catalogue, table) = fixture();
    let good = encode_with(
        &catalogue,
        id_of(RecordType::Allocate),
        &allocate("LAMP", 2),
    )
    .unwrap();
    let decode = |bytes: &[u8]| decode_with(&catalogue, &table, bytes);

    assert_eq!(decode(&[]), Err(DecodeError::EmptyPayload));
    assert_eq!(decode(&[0, 0, 1]), Err(DecodeError::Truncated { len: 3 }));
    assert_eq!(
        decode(b"{\"json\":1}"),
        Err(DecodeError::BadMagicByte { found: b'{' })
    );
    assert_eq!(
        decode(&frame(4242, &good[5..])),
        Err(DecodeError::UnknownSchemaId { id: 4242 })
    );
    assert!(matches!(
        decode(&frame(100, &[2, b'x'])),
        Err(DecodeError::UnhandledRecordType { id: 100, ref name }) if name == "billing.events.Invoice"
    ));
    assert!(matches!(
        decode(&frame(101, &[2, b'x'])),
        Err(DecodeError::UnhandledRecordType { id: 101, .. })
    ));
    assert!(matches!(
        decode(&good[..good.len() - 2]),
        Err(DecodeError::MalformedAvro {
            record: RecordType::Allocate,
            ..
        })
    ));
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        decode(&trailing),
        Err(DecodeError::TrailingBytes { count: 1, .. })
    ));
}

#[test]
fn a_writer_schema_that_cannot_be_resolved_is_a_schema_error() {
    let (catalogue, mut table) = fixture();
    // Same full name, but qty is a string: cannot be read as this worker's Allocate.
    let foreign_allocate = r#"{"type":"record","name":"Allocate","namespace":"allocation.commands",
        "fields":[{"name":"orderid","type":"string"},{"name":"sku","type":"string"},
                  {"name":"qty","type":"string"}]}"#;
    table.insert(200, Schema::parse_str(foreign_allocate).unwrap());
    // orderid "o", sku "S", qty "x"
    let body = [2, b'o', 2, b'S', 2, b'x'];
    let err = decode_with(&catalogue, &table, &frame(200, &body)).unwrap_err();
    assert!(
        matches!(err, DecodeError::IncompatibleSchema { id: 200, .. }),
        "{err:?}"
    );
    assert_eq!(err.class(), FailureClass::Schema);
    assert_eq!(err.reason(), "incompatible-schema");
}

#[test]
fn a_writer_shape_names_the_record_and_whether_the_schema_is_ours() {
    let (catalogue, mut table) = fixture();
    // Another version of Allocate: a field more, with a default (readable, resolved).
    let newer_allocate = r#"{"type":"record","name":"Allocate","namespace":"allocation.commands",
        "fields":[{"name":"orderid","type":"string"},{"name":"sku","type":"string"},
                  {"name":"qty","type":"long"},{"name":"note","type":"string","default":""}]}"#;
    table.insert(200, Schema::parse_str(newer_allocate).unwrap());
    let shape = |id: u32| writer_shape(&catalogue, id, table.writer_schema(id).unwrap());
    for &record in RecordType::ALL {
        assert_eq!(
            shape(id_of(record)).unwrap(),
            WriterShape { record, own: true }
        );
    }
    assert_eq!(
        shape(200).unwrap(),
        WriterShape {
            record: RecordType::Allocate,
            own: false
        }
    );
    assert!(matches!(
        shape(100),
        Err(DecodeError::UnhandledRecordType { id: 100, .. })
    ));
    assert!(matches!(
        shape(101),
        Err(DecodeError::UnhandledRecordType { id: 101, .. })
    ));
    // The other version decodes through resolution to the same message.
    let body = [4, b'o', b'1', 2, b'S', 6, 2, b'n'];
    let decoded = decode_with(&catalogue, &table, &frame(200, &body)).unwrap();
    assert_eq!(decoded.message, allocate("S", 3));
}

#[test]
fn every_error_has_a_stable_reason_and_a_non_retriable_class() {
    let (catalogue, table) = fixture();
    for bytes in [&[][..], &[1, 0, 0, 0, 1, 0][..], &[0, 0, 0][..]] {
        let err = decode_with(&catalogue, &table, bytes).unwrap_err();
        assert!(!err.reason().is_empty());
        assert!(!err.class().is_retriable(), "{err:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// Arbitrary bytes, most of them not even wire-framed.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let (catalogue, table) = fixture_once();
        let _ = decode_with(catalogue, table, &bytes);
    }

    /// Correctly framed payloads with a known schema id and an arbitrary body: exercises the
    /// Avro decoder and the schema resolution on garbage.
    #[test]
    fn decoding_arbitrary_avro_bodies_never_panics(
        id in prop_oneof![1u32..=(RecordType::ALL.len() as u32), Just(100u32), Just(101u32)],
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let (catalogue, table) = fixture_once();
        let result = decode_with(catalogue, table, &frame(id, &body));
        if let Err(e) = result {
            prop_assert!(!e.class().is_retriable());
        }
    }
}

fn fixture_once() -> &'static (SchemaCatalogue, SchemaTable) {
    static FIXTURE: std::sync::OnceLock<(SchemaCatalogue, SchemaTable)> =
        std::sync::OnceLock::new();
    FIXTURE.get_or_init(fixture)
}
