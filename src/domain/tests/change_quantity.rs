//! Rules of `Product::change_batch_quantity`.

use super::framework::*;
use crate::domain::{DeallocationReason, DomainError};

const SHRUNK: DeallocationReason = DeallocationReason::BatchQuantityChanged;

#[test]
fn raising_the_quantity_only_raises_batch_quantity_changed() {
    given("TABLE")
        .batch("b1", 10, None)
        .allocated("o1", 4)
        .when(|p| p.change_batch_quantity(&batchref("b1"), qty(20)))
        .then_expect_events(vec![quantity_changed("b1", "TABLE", 20)])
        .then_product(|p| {
            assert_eq!(available(p, "b1"), 16);
            assert_eq!(p.version_number(), 3);
        });
}

#[test]
fn shrinking_below_the_allocations_deallocates_the_newest_lines_until_it_fits() {
    given("TABLE")
        .batch("b1", 20, None)
        .allocated("o1", 10)
        .allocated("o2", 5)
        .allocated("o3", 5)
        .when(|p| p.change_batch_quantity(&batchref("b1"), qty(11)))
        .then_expect_events(vec![
            quantity_changed("b1", "TABLE", 11),
            deallocated("o3", "TABLE", 5, "b1", SHRUNK),
            deallocated("o2", "TABLE", 5, "b1", SHRUNK),
        ])
        .then_product(|p| {
            assert_eq!(available(p, "b1"), 1);
            assert!(p.allocation_of(&orderid("o1")).is_some());
            assert!(p.allocation_of(&orderid("o2")).is_none());
        });
}

#[test]
fn shrinking_to_exactly_the_allocations_deallocates_nothing() {
    given("TABLE")
        .batch("b1", 20, None)
        .allocated("o1", 10)
        .when(|p| p.change_batch_quantity(&batchref("b1"), qty(10)))
        .then_expect_events(vec![quantity_changed("b1", "TABLE", 10)])
        .then_product(|p| assert_eq!(available(p, "b1"), 0));
}

#[test]
fn the_version_is_bumped_once_per_change() {
    given("TABLE")
        .batch("b1", 20, None)
        .allocated("o1", 10)
        .allocated("o2", 10)
        .when(|p| p.change_batch_quantity(&batchref("b1"), qty(1)))
        .then_product(|p| assert_eq!(p.version_number(), 4));
}

#[test]
fn an_unknown_batch_is_refused() {
    given("TABLE")
        .batch("b1", 20, None)
        .when(|p| p.change_batch_quantity(&batchref("nope"), qty(1)))
        .then_expect_error(DomainError::UnknownBatch {
            reference: batchref("nope"),
            sku: sku("TABLE"),
        });
}
