//! The change journal: rolling an aggregate back restores exactly its earlier state.

use super::framework::*;
use crate::domain::{Product, APPLIED_MESSAGE_CAPACITY};

fn busy_product() -> Product {
    let mut p = Product::new(sku("DESK"));
    p.add_batch(batchref("b1"), sku("DESK"), qty(10), None)
        .unwrap();
    p.allocate(line("o1", "DESK", 4)).unwrap();
    p.allocate(line("o2", "DESK", 4)).unwrap();
    p.record_applied(message_id(1));
    p.drain_events().for_each(drop);
    p
}

#[test]
fn rollback_to_a_savepoint_undoes_every_later_change_and_event() {
    let mut p = busy_product();
    let before = p.clone();
    let savepoint = p.savepoint();

    p.add_batch(batchref("b2"), sku("DESK"), qty(5), date(3))
        .unwrap();
    p.change_batch_quantity(&batchref("b1"), qty(3)).unwrap();
    p.allocate(line("o9", "DESK", 1)).unwrap();
    p.deallocate(&orderid("o9")).unwrap();
    p.record_applied(message_id(2));
    assert!(p.changed_since(savepoint));
    assert_ne!(p, before);

    p.rollback_to(savepoint);

    assert_eq!(p, before);
    assert!(p.pending_events().is_empty());
    assert!(!p.changed_since(savepoint));
    // Line order inside the batch is restored too.
    assert_eq!(
        p.batches()[0].allocations(),
        before.batches()[0].allocations()
    );
}

#[test]
fn rollback_unreleased_returns_to_the_last_release() {
    let mut p = busy_product();
    p.release_journal();
    let released = p.clone();
    p.allocate(line("o3", "DESK", 1)).unwrap();
    p.release_journal();
    let second_base = p.clone();
    p.change_batch_quantity(&batchref("b1"), qty(1)).unwrap();

    p.rollback_unreleased();

    assert_eq!(p, second_base);
    assert_ne!(p, released);
}

#[test]
fn recording_beyond_capacity_evicts_the_oldest_and_rolls_back_exactly() {
    let mut p = Product::new(sku("DESK"));
    for n in 0..APPLIED_MESSAGE_CAPACITY as u128 {
        p.record_applied(message_id(n));
    }
    p.release_journal();
    let full = p.clone();

    p.record_applied(message_id(5_000));
    assert_eq!(p.applied_message_ids().len(), APPLIED_MESSAGE_CAPACITY);
    assert!(!p.has_applied(message_id(0)));
    assert!(p.has_applied(message_id(5_000)));

    p.rollback_unreleased();
    assert_eq!(p, full);
    assert!(p.has_applied(message_id(0)));
}

#[test]
fn recording_a_known_id_changes_nothing() {
    let mut p = busy_product();
    let savepoint = p.savepoint();
    p.record_applied(message_id(1));
    assert!(!p.changed_since(savepoint));
}

#[test]
fn rolling_back_a_deallocation_puts_the_line_back_in_its_place() {
    let mut p = busy_product();
    p.allocate(line("o3", "DESK", 1)).unwrap();
    p.release_journal();
    let before = p.clone();
    let savepoint = p.savepoint();
    p.deallocate(&orderid("o2")).unwrap();
    p.rollback_to(savepoint);
    let orders: Vec<_> = p.batches()[0]
        .allocations()
        .iter()
        .map(|l| l.orderid.to_string())
        .collect();
    assert_eq!(orders, ["o1", "o2", "o3"]);
    assert_eq!(p, before);
}
