//! Duplicate delivery: a command whose message id its aggregate already applied changes
//! nothing and emits nothing, even across a snapshot/restore.

use super::support::*;
use crate::domain::{Product, APPLIED_MESSAGE_CAPACITY};
use crate::service_layer::{Disposition, StateStore};

#[test]
fn a_redelivered_command_is_skipped() {
    let mut h = Harness::new();
    h.send(create_batch("b1", "LAMP", 10, None));
    let id = h.fresh_id();
    let first = h.send_with_id(id, allocate("o1", "LAMP", 3));
    assert_eq!(first.disposition, Disposition::Applied);
    let state = h.product("LAMP").cloned();

    let second = h.send_with_id(id, allocate("o1", "LAMP", 3));

    assert_eq!(second.disposition, Disposition::Duplicate);
    assert!(second.is_empty());
    assert_eq!(h.product("LAMP").cloned(), state);
    assert_eq!(h.bus.metrics().snapshot().duplicates_skipped, 1);
}

#[test]
fn duplicates_are_recognised_even_when_the_command_ended_out_of_stock() {
    let mut h = Harness::new();
    h.send(create_batch("b1", "LAMP", 1, None));
    let id = h.fresh_id();
    let first = h.send_with_id(id, allocate("o1", "LAMP", 3));
    assert_eq!(event_types(&first), ["OutOfStock"]);
    assert_eq!(first.snapshots.len(), 1, "the applied id is state");
    let second = h.send_with_id(id, allocate("o1", "LAMP", 3));
    assert_eq!(second.disposition, Disposition::Duplicate);
}

#[test]
fn de_duplication_survives_snapshot_and_restore() {
    let mut h = Harness::new();
    let id = h.fresh_id();
    let outcome = h.send_with_id(id, create_batch("b1", "LAMP", 10, None));
    h.bus.commit_batch();
    let json = serde_json::to_string(&*outcome.snapshots[0].payload).expect("serializable");
    drop(outcome);

    let mut restored = Harness::new();
    let product: Product = serde_json::from_str(&json).expect("valid snapshot");
    restored.bus.restore(product).expect("restore");
    let again = restored.send_with_id(id, create_batch("b1", "LAMP", 10, None));
    assert_eq!(again.disposition, Disposition::Duplicate);
}

#[test]
fn rejected_commands_are_not_recorded_and_reject_identically_again() {
    let mut h = Harness::new();
    h.send(create_batch("b1", "LAMP", 10, None));
    let id = h.fresh_id();
    let first = h.send_with_id(id, change_quantity("nope", "LAMP", 1));
    let second = h.send_with_id(id, change_quantity("nope", "LAMP", 1));
    assert!(first.rejection().is_some());
    assert_eq!(first, second, "same id, same CommandRejected record");
    let product = h.product("LAMP").expect("product");
    assert!(!product.has_applied(id));
}

#[test]
fn only_the_most_recent_ids_are_remembered() {
    let mut h = Harness::new();
    let first = h.fresh_id();
    h.send_with_id(first, create_batch("b1", "LAMP", 100_000, None));
    for n in 0..APPLIED_MESSAGE_CAPACITY {
        h.send(allocate(&format!("o{n}"), "LAMP", 1));
    }
    assert_eq!(
        h.product("LAMP").map(|p| p.applied_message_ids().len()),
        Some(APPLIED_MESSAGE_CAPACITY)
    );
    // The first id fell out of the window: the command runs again (and is refused).
    let outcome = h.send_with_id(first, create_batch("b1", "LAMP", 100_000, None));
    assert_eq!(
        outcome.rejection().map(|e| e.code()),
        Some("duplicate_batch")
    );
    assert!(h.bus.store().product(&sku("LAMP")).is_some());
}
