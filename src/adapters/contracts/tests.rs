//! Drift tests: the Rust DTOs against the `.avsc` files, and the catalogue against `schemas/`.

use std::collections::BTreeSet;

use apache_avro::Schema;

use super::examples::examples;
use super::{RecordType, SchemaCatalogue, WireMessage};
use crate::adapters::avro::Shape;

#[test]
fn every_dto_mirrors_its_avsc_field_by_field() {
    let catalogue = SchemaCatalogue::load().expect("embedded schemas parse");
    for &record in RecordType::ALL {
        let from_file = Shape::of_schema(catalogue.schema(record));
        let from_rust = record.dto_shape();
        assert_eq!(
            from_rust,
            from_file,
            "{record}: the Rust DTO and schemas/{} have drifted apart",
            record.file_name()
        );
        assert_eq!(record.dto_full_name(), record.full_name());
    }
}

#[test]
fn the_drift_check_notices_a_changed_field() {
    // A schema with one field renamed, retyped or reordered must not match its DTO.
    let text = RecordType::Allocate.schema_text();
    for (from, to) in [
        (r#""orderid""#, r#""order_id""#),
        (r#""type": "long""#, r#""type": "int""#),
    ] {
        let changed = text.replacen(from, to, 1);
        assert_ne!(changed, text, "the mutation {from} -> {to} must apply");
        let schema = Schema::parse_str(&changed).expect("mutated schema parses");
        assert_ne!(Shape::of_schema(&schema), RecordType::Allocate.dto_shape());
    }
}

#[test]
fn every_avsc_file_in_schemas_is_in_the_catalogue() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas");
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
        .expect("schemas/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".avsc"))
        .collect();
    let known: BTreeSet<String> = RecordType::ALL.iter().map(|r| r.file_name()).collect();
    assert_eq!(on_disk, known, "schemas/*.avsc and RecordType::ALL differ");
}

#[test]
fn every_schema_documents_its_record_and_fields() {
    for &record in RecordType::ALL {
        let json: serde_json::Value =
            serde_json::from_str(record.schema_text()).expect("valid JSON");
        assert!(json["namespace"].is_string(), "{record}: no namespace");
        assert!(json["doc"].is_string(), "{record}: no doc");
        for field in json["fields"].as_array().expect("fields") {
            assert!(
                field["doc"].is_string(),
                "{record}: field {field} has no doc"
            );
        }
    }
}

#[test]
fn samples_cover_every_record_type() {
    let covered: BTreeSet<RecordType> = examples().iter().map(|m| m.record_type()).collect();
    assert_eq!(covered.len(), RecordType::ALL.len());
}

#[test]
fn every_dto_round_trips_through_avro_bytes_with_its_schema() {
    let catalogue = SchemaCatalogue::load().expect("schemas");
    for message in examples() {
        let record = message.record_type();
        let schema = catalogue.schema(record);
        let bytes = apache_avro::writer::datum::GenericDatumWriter::builder(schema)
            .build()
            .and_then(|w| w.write_value_to_vec(message.to_value()))
            .unwrap_or_else(|e| panic!("{record}: {e}"));
        let value = apache_avro::reader::datum::GenericDatumReader::builder(schema)
            .build()
            .and_then(|r| r.read_value(&mut bytes.as_slice()))
            .unwrap_or_else(|e| panic!("{record}: {e}"));
        assert_eq!(WireMessage::from_value(record, value), Ok(message));
    }
}

#[test]
fn json_form_is_tagged_with_the_full_name_and_round_trips() {
    for message in examples() {
        let json = message.to_json();
        assert_eq!(json["type"], message.record_type().full_name());
        let back = WireMessage::from_json(&json.to_string()).expect("parses back");
        assert_eq!(back, message);
    }
    let allocate = WireMessage::from_json(
        r#"{"type":"allocation.commands.Allocate","orderid":"o1","sku":"S","qty":1}"#,
    );
    assert!(matches!(allocate, Ok(WireMessage::Allocate(_))));
    assert!(WireMessage::from_json(r#"{"type":"nope","x":1}"#).is_err());
}

mod domain_conversions {
    use super::super::domain::*;
    use super::super::records;
    use super::*;
    use crate::adapters::codec::DecodeError;

    #[test]
    fn commands_events_snapshots_and_rows_round_trip_through_the_domain() {
        for message in examples() {
            let record = message.record_type();
            let back = match record.kind() {
                super::super::RecordKind::Command => {
                    from_command(&to_command(message.clone()).unwrap().unwrap())
                }
                super::super::RecordKind::Event => {
                    from_event(&to_event(message.clone()).unwrap().unwrap())
                }
                super::super::RecordKind::Snapshot => {
                    let WireMessage::ProductSnapshot(s) = message.clone() else {
                        unreachable!()
                    };
                    from_product(&to_product(s).unwrap()).unwrap()
                }
                super::super::RecordKind::View => {
                    let WireMessage::AllocationRow(r) = message.clone() else {
                        unreachable!()
                    };
                    from_view_update(&to_view_update(r).unwrap()).unwrap()
                }
                super::super::RecordKind::ExternalEvent => {
                    assert!(to_inbound(message.clone(), "t").is_ok());
                    message.clone()
                }
            };
            assert_eq!(back, message, "{record}");
        }
    }

    #[test]
    fn the_direct_snapshot_mapping_equals_the_serde_snapshot_form() {
        use crate::domain::{MessageId, OrderLine, Product};
        let sku = |t: &str| t.parse::<crate::domain::Sku>().unwrap();
        let mut products = vec![Product::new(sku("EMPTY"))];
        let mut p = Product::new(sku("LAMP"));
        let eta = chrono::NaiveDate::from_ymd_opt(2031, 2, 3);
        for (i, eta) in [None, eta, None].into_iter().enumerate() {
            let reference = format!("b{i}").parse().unwrap();
            let qty = crate::domain::Quantity::new(10 + i as i64).unwrap();
            p.add_batch(reference, sku("LAMP"), qty, eta).unwrap();
        }
        for i in 0..20u32 {
            let orderid = format!("o{i}").parse().unwrap();
            let qty = crate::domain::Quantity::new(1 + i64::from(i % 3)).unwrap();
            let _ = p.allocate(OrderLine::new(orderid, sku("LAMP"), qty));
            p.record_applied(MessageId::from_uuid(uuid::Uuid::from_u128(
                0x6f1c_2a4e_8f2b_4c1d_9a3e_2b7c_5d9e_0f11 + u128::from(i),
            )));
        }
        products.push(p);
        for example in examples() {
            if let WireMessage::ProductSnapshot(s) = example {
                products.push(to_product(s).unwrap());
            }
        }
        for product in &products {
            assert_eq!(
                from_product(product).unwrap(),
                from_product_via_serde(product).unwrap()
            );
        }
    }

    fn invalid_field(result: Result<impl std::fmt::Debug, DecodeError>) -> &'static str {
        match result {
            Err(DecodeError::InvalidValue { field, .. }) => field,
            other => panic!("expected InvalidValue, got {other:?}"),
        }
    }

    #[test]
    fn values_that_break_domain_rules_are_typed_errors() {
        let allocate = |sku: &str, qty| -> WireMessage {
            records::Allocate {
                orderid: "o1".into(),
                sku: sku.into(),
                qty,
            }
            .into()
        };
        assert_eq!(invalid_field(to_command(allocate("S", 0))), "qty");
        assert_eq!(invalid_field(to_command(allocate("S", -5))), "qty");
        assert_eq!(invalid_field(to_command(allocate("S", 1 << 40))), "qty");
        assert_eq!(invalid_field(to_command(allocate("", 1))), "sku");
        assert_eq!(invalid_field(to_command(allocate(" S", 1))), "sku");
        let rejected: WireMessage = records::CommandRejected {
            command_id: "not-a-uuid".into(),
            sku: "S".into(),
            code: "c".into(),
            reason: "r".into(),
        }
        .into();
        assert_eq!(invalid_field(to_event(rejected)), "command_id");
        let cancelled: WireMessage = records::OrderCancelled {
            orderid: "o1".into(),
            sku: "".into(),
        }
        .into();
        assert_eq!(invalid_field(to_inbound(cancelled, "orders.events")), "sku");
        let over_allocated = records::ProductSnapshot {
            sku: "S".into(),
            version_number: 1,
            batches: vec![records::BatchState {
                reference: "b".into(),
                sku: "S".into(),
                purchased_quantity: 1,
                eta: None,
                allocations: vec![records::OrderLineState {
                    orderid: "o".into(),
                    sku: "S".into(),
                    qty: 2,
                }],
            }],
            applied_message_ids: vec![],
        };
        assert!(matches!(
            to_product(over_allocated),
            Err(DecodeError::InvalidValue { .. })
        ));
    }

    #[test]
    fn only_commands_and_external_events_are_inbound() {
        for message in examples() {
            let record = message.record_type();
            let result = to_inbound(message, "allocation.commands");
            match record.kind() {
                super::super::RecordKind::Command | super::super::RecordKind::ExternalEvent => {
                    assert!(result.is_ok(), "{record}: {result:?}")
                }
                _ => assert!(
                    matches!(result, Err(DecodeError::UnexpectedRecordType { .. })),
                    "{record}"
                ),
            }
        }
    }
}
