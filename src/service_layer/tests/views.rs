//! CQRS read side: view updates emitted on allocation and deallocation, and the in-memory
//! view store that applies them once their batch commits.

use super::support::*;
use crate::service_layer::{
    AllocationRow, AllocationsQuery, InMemoryAllocationsView, ViewStore, ViewUpdate,
};

fn rows(h: &Harness, order: &str) -> Vec<AllocationRow> {
    h.bus.views().allocations(&orderid(order))
}

fn row(sku_: &str, batch: &str) -> AllocationRow {
    AllocationRow {
        sku: sku(sku_),
        batchref: batchref(batch),
    }
}

#[test]
fn allocation_upserts_a_row() {
    let mut h = Harness::new();
    h.send_committed(create_batch("sku1batch", "sku1", 50, None));
    h.send_committed(create_batch("sku2batch", "sku2", 50, date(1)));
    let outcome = h.send_committed(allocate("order1", "sku1", 20));
    h.send_committed(allocate("order1", "sku2", 20));
    h.send_committed(allocate("otherorder", "sku1", 30));

    let updates: Vec<_> = outcome.view_updates.iter().map(|u| &u.payload).collect();
    assert_eq!(
        updates,
        [&ViewUpdate::Upsert {
            orderid: orderid("order1"),
            sku: sku("sku1"),
            batchref: batchref("sku1batch"),
        }]
    );
    assert_eq!(
        rows(&h, "order1"),
        [row("sku1", "sku1batch"), row("sku2", "sku2batch")]
    );
}

#[test]
fn deallocation_deletes_the_row() {
    let mut h = Harness::new();
    h.send_committed(create_batch("b1", "sku1", 50, None));
    h.send_committed(allocate("o1", "sku1", 40));
    let outcome = h.send_committed(deallocate("o1", "sku1"));
    let updates: Vec<_> = outcome.view_updates.iter().map(|u| &u.payload).collect();
    assert_eq!(
        updates,
        [&ViewUpdate::Delete {
            orderid: orderid("o1"),
            sku: sku("sku1"),
        }]
    );
    assert!(rows(&h, "o1").is_empty());
}

#[test]
fn reallocation_moves_the_row_to_the_new_batch() {
    let mut h = Harness::new();
    h.send_committed(create_batch("b1", "sku1", 50, None));
    h.send_committed(create_batch("b2", "sku1", 50, date(2)));
    h.send_committed(allocate("o1", "sku1", 40));
    assert_eq!(rows(&h, "o1"), [row("sku1", "b1")]);

    let outcome = h.send_committed(change_quantity("b1", "sku1", 10));

    let types: Vec<_> = outcome
        .view_updates
        .iter()
        .map(|u| u.payload.type_name())
        .collect();
    assert_eq!(types, ["AllocationViewDelete", "AllocationViewUpsert"]);
    assert_eq!(rows(&h, "o1"), [row("sku1", "b2")]);
}

#[test]
fn the_view_store_only_sees_committed_batches() {
    let mut h = Harness::new();
    h.send_committed(create_batch("b1", "sku1", 50, None));
    h.send(allocate("o1", "sku1", 5));
    assert!(rows(&h, "o1").is_empty(), "not visible before commit_batch");
    h.bus.abort_batch();
    h.bus.commit_batch();
    assert!(rows(&h, "o1").is_empty(), "aborted updates are dropped");
    h.send_committed(allocate("o1", "sku1", 5));
    assert_eq!(rows(&h, "o1"), [row("sku1", "b1")]);
}

#[test]
fn updates_are_idempotent() {
    let mut view = InMemoryAllocationsView::new();
    let upsert = ViewUpdate::Upsert {
        orderid: orderid("o1"),
        sku: sku("s"),
        batchref: batchref("b"),
    };
    let delete = ViewUpdate::Delete {
        orderid: orderid("o1"),
        sku: sku("s"),
    };
    view.apply(&upsert);
    view.apply(&upsert);
    assert_eq!(view.allocations(&orderid("o1")).len(), 1);
    view.apply(&delete);
    view.apply(&delete);
    assert!(view.allocations(&orderid("o1")).is_empty());
    assert_eq!(view.order_count(), 0);
}

#[test]
fn view_updates_serialize_as_rows() {
    let upsert = ViewUpdate::Upsert {
        orderid: orderid("o1"),
        sku: sku("s"),
        batchref: batchref("b"),
    };
    assert_eq!(
        serde_json::to_value(&upsert).expect("serializable"),
        serde_json::json!({"op": "Upsert", "orderid": "o1", "sku": "s", "batchref": "b"})
    );
}
