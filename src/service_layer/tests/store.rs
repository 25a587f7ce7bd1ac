//! The in-memory state store: unit of work and batch-level commit/abort, restore, delete.

use std::collections::BTreeMap;

use super::support::*;
use crate::domain::Product;
use crate::service_layer::{InMemoryStore, ProductRepository, StateStore, StoreError, UnitOfWork};

fn product_with_batch(sku_: &str) -> Product {
    let mut p = Product::new(sku(sku_));
    p.add_batch(batchref("b1"), sku(sku_), qty(10), None)
        .expect("valid batch");
    p
}

fn state(store: &InMemoryStore) -> BTreeMap<String, Product> {
    store
        .products()
        .map(|p| (p.sku().to_string(), p.clone()))
        .collect()
}

fn seeded() -> InMemoryStore {
    let mut store = InMemoryStore::new();
    store.restore(product_with_batch("A")).expect("restore");
    store.restore(product_with_batch("B")).expect("restore");
    store
}

#[test]
fn a_unit_of_work_commits_snapshots_of_changed_products_only() {
    let mut store = seeded();
    store.begin();
    store.get(&sku("B")).expect("B");
    let a = store.get(&sku("A")).expect("A");
    a.allocate(line_of("o1", "A")).expect("allocates");
    store.add(product_with_batch("C")).expect("new");
    let snapshots = store.commit();
    let skus: Vec<_> = snapshots.iter().map(|p| p.sku().to_string()).collect();
    assert_eq!(skus, ["A", "C"]);
    assert!(store.has_staged_changes());
}

fn line_of(order: &str, sku_: &str) -> crate::domain::OrderLine {
    crate::domain::OrderLine::new(orderid(order), sku(sku_), qty(1))
}

#[test]
fn rolling_back_a_unit_of_work_restores_and_removes() {
    let mut store = seeded();
    let before = state(&store);
    store.begin();
    store
        .get(&sku("A"))
        .expect("A")
        .allocate(line_of("o1", "A"))
        .expect("allocates");
    store.add(product_with_batch("C")).expect("new");
    store.rollback();
    assert_eq!(state(&store), before);
    assert!(!store.has_staged_changes());
}

#[test]
fn rolling_back_to_a_savepoint_keeps_earlier_changes() {
    let mut store = seeded();
    store.begin();
    store
        .get(&sku("A"))
        .expect("A")
        .allocate(line_of("o1", "A"))
        .expect("allocates");
    let after_first = state(&store);
    let savepoint = store.savepoint();
    store
        .get(&sku("A"))
        .expect("A")
        .allocate(line_of("o2", "A"))
        .expect("allocates");
    store
        .get(&sku("B"))
        .expect("B")
        .allocate(line_of("o3", "B"))
        .expect("allocates");
    store.add(product_with_batch("C")).expect("new");
    store.rollback_to(savepoint);
    assert_eq!(state(&store), after_first);
}

#[test]
fn abort_batch_restores_the_last_committed_state_across_units_of_work() {
    let mut store = seeded();
    store.begin();
    store.add(product_with_batch("C")).expect("new");
    store.commit();
    store.commit_batch();
    let committed = state(&store);

    for order in ["o1", "o2"] {
        store.begin();
        store
            .get(&sku("A"))
            .expect("A")
            .allocate(line_of(order, "A"))
            .expect("allocates");
        store.commit();
    }
    store.begin();
    store.add(product_with_batch("D")).expect("new");
    store
        .get(&sku("C"))
        .expect("C")
        .change_batch_quantity(&batchref("b1"), qty(3))
        .expect("changes");
    store.commit();
    store.begin();
    store
        .get(&sku("B"))
        .expect("B")
        .record_applied(message_id(1));
    // left open on purpose: abort must discard it too

    store.abort_batch();

    assert_eq!(state(&store), committed);
    assert!(!store.has_staged_changes());
    store.abort_batch();
    assert_eq!(state(&store), committed, "abort is idempotent");
}

#[test]
fn commit_batch_makes_changes_permanent() {
    let mut store = seeded();
    store.begin();
    store
        .get(&sku("A"))
        .expect("A")
        .allocate(line_of("o1", "A"))
        .expect("allocates");
    store.commit();
    store.commit_batch();
    let committed = state(&store);
    store.abort_batch();
    assert_eq!(state(&store), committed);
}

#[test]
fn restore_and_delete_are_refused_while_the_sku_has_staged_changes() {
    let mut store = seeded();
    store.begin();
    store
        .get(&sku("A"))
        .expect("A")
        .record_applied(message_id(1));
    store.commit();
    assert_eq!(
        store.restore(product_with_batch("A")),
        Err(StoreError::StagedChanges(sku("A")))
    );
    assert_eq!(
        store.delete(&sku("A")),
        Err(StoreError::StagedChanges(sku("A")))
    );
    assert_eq!(store.delete(&sku("B")), Ok(()));
    store.commit_batch();
    assert_eq!(store.delete(&sku("A")), Ok(()));
    assert!(store.is_empty());
}

#[test]
fn restore_replaces_state_and_drop_all_forgets_everything() {
    let mut store = seeded();
    let mut replacement = product_with_batch("A");
    replacement.allocate(line_of("o1", "A")).expect("allocates");
    store.restore(replacement.clone()).expect("restore");
    assert_eq!(store.product(&sku("A")), Some(&replacement));
    // The restored state is the new base: an abort does not undo it.
    store.abort_batch();
    assert_eq!(store.product(&sku("A")), Some(&replacement));
    store.drop_all();
    assert!(store.is_empty());
}

#[test]
fn a_snapshot_handed_out_is_never_changed_afterwards() {
    let mut store = seeded();
    store.begin();
    store
        .get(&sku("A"))
        .expect("A")
        .record_applied(message_id(1));
    let snapshots = store.commit();
    let held = snapshots[0].clone();
    let frozen = (*held).clone();

    store.begin();
    store
        .get(&sku("A"))
        .expect("A")
        .allocate(line_of("o1", "A"))
        .expect("allocates");
    store.commit();
    store.abort_batch();

    assert_eq!(*held, frozen);
}
