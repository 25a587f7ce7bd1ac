//! The serialized form of a product: stable field names, round trip, validation on load.

use serde_json::json;

use super::framework::*;
use crate::domain::{Product, APPLIED_MESSAGE_CAPACITY};

fn product() -> Product {
    let mut p = Product::new(sku("LAMP"));
    p.add_batch(batchref("b1"), sku("LAMP"), qty(10), date(2))
        .unwrap();
    p.allocate(line("o1", "LAMP", 3)).unwrap();
    p.record_applied(message_id(7));
    p
}

#[test]
fn serializes_with_stable_field_names() {
    let value = serde_json::to_value(product()).unwrap();
    assert_eq!(
        value,
        json!({
            "sku": "LAMP",
            "version_number": 2,
            "batches": [{
                "reference": "b1",
                "sku": "LAMP",
                "purchased_quantity": 10,
                "eta": "2026-01-02",
                "allocations": [{"orderid": "o1", "sku": "LAMP", "qty": 3}],
            }],
            "applied_message_ids": ["00000000-0000-0000-0000-000000000007"],
        })
    );
}

#[test]
fn round_trips_to_an_equal_product_without_journal_or_events() {
    let original = product();
    let text = serde_json::to_string(&original).unwrap();
    let restored: Product = serde_json::from_str(&text).unwrap();
    assert_eq!(restored, original);
    assert!(restored.pending_events().is_empty());
    assert_eq!(restored.batches()[0].available_quantity(), 7);
    assert_eq!(serde_json::to_string(&restored).unwrap(), text);
}

fn load(value: serde_json::Value) -> Result<Product, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn snapshot_with(batch: serde_json::Value) -> serde_json::Value {
    json!({"sku": "LAMP", "version_number": 1, "batches": [batch]})
}

#[test]
fn refuses_invalid_snapshots() {
    let cases = [
        (
            snapshot_with(
                json!({"reference": "b1", "sku": "SOFA", "purchased_quantity": 1, "eta": null}),
            ),
            "has sku SOFA",
        ),
        (
            snapshot_with(
                json!({"reference": "b1", "sku": "LAMP", "purchased_quantity": 1, "eta": null,
                "allocations": [{"orderid": "o1", "sku": "LAMP", "qty": 2}]}),
            ),
            "allocates 2 units",
        ),
        (
            snapshot_with(
                json!({"reference": "b1", "sku": "LAMP", "purchased_quantity": 9, "eta": null,
                "allocations": [{"orderid": "o1", "sku": "LAMP", "qty": 2}, {"orderid": "o1", "sku": "LAMP", "qty": 1}]}),
            ),
            "more than once",
        ),
        (
            snapshot_with(
                json!({"reference": "b1", "sku": "LAMP", "purchased_quantity": 0, "eta": null}),
            ),
            "quantity must be positive",
        ),
        (
            json!({"sku": "", "version_number": 0}),
            "sku must not be empty",
        ),
        (
            json!({"sku": "LAMP", "version_number": 0, "batches": [
                {"reference": "b1", "sku": "LAMP", "purchased_quantity": 1, "eta": null},
                {"reference": "b1", "sku": "LAMP", "purchased_quantity": 2, "eta": null}]}),
            "appears more than once",
        ),
    ];
    for (value, expected) in cases {
        let error = load(value.clone()).expect_err(&format!("must refuse {value}"));
        assert!(
            error.contains(expected),
            "{error:?} should mention {expected:?}"
        );
    }
}

#[test]
fn an_order_allocated_in_two_batches_is_refused() {
    let value = json!({"sku": "LAMP", "version_number": 0, "batches": [
        {"reference": "b1", "sku": "LAMP", "purchased_quantity": 5, "eta": null,
         "allocations": [{"orderid": "o1", "sku": "LAMP", "qty": 1}]},
        {"reference": "b2", "sku": "LAMP", "purchased_quantity": 5, "eta": null,
         "allocations": [{"orderid": "o1", "sku": "LAMP", "qty": 1}]}]});
    assert!(load(value).is_err());
}

#[test]
fn keeps_only_the_newest_applied_ids() {
    let ids: Vec<String> = (0..APPLIED_MESSAGE_CAPACITY as u128 + 10)
        .map(|n| message_id(n).to_string())
        .collect();
    let p = load(json!({"sku": "LAMP", "version_number": 0, "applied_message_ids": ids})).unwrap();
    assert_eq!(p.applied_message_ids().len(), APPLIED_MESSAGE_CAPACITY);
    assert!(!p.has_applied(message_id(9)));
    assert!(p.has_applied(message_id(10)));
}
