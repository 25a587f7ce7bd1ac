//! Rules of `Product::allocate`.

use super::framework::*;
use crate::domain::{Allocation, DomainError};

#[test]
fn allocating_reduces_the_available_quantity_and_raises_allocated() {
    given("SMALL-TABLE")
        .batch("b1", 20, None)
        .when(|p| p.allocate(line("o1", "SMALL-TABLE", 2)))
        .then_expect_events(vec![allocated("o1", "SMALL-TABLE", 2, "b1")])
        .then_expect_result(Allocation::Allocated(batchref("b1")))
        .then_product(|p| {
            assert_eq!(available(p, "b1"), 18);
            assert_eq!(p.version_number(), 2);
        });
}

#[test]
fn prefers_warehouse_stock_to_shipments() {
    given("RETRO-CLOCK")
        .batch("shipment", 100, date(2))
        .batch("in-stock", 100, None)
        .when(|p| p.allocate(line("o1", "RETRO-CLOCK", 10)))
        .then_expect_events(vec![allocated("o1", "RETRO-CLOCK", 10, "in-stock")])
        .then_product(|p| {
            assert_eq!(available(p, "in-stock"), 90);
            assert_eq!(available(p, "shipment"), 100);
        });
}

#[test]
fn prefers_earlier_shipments() {
    given("MINIMALIST-SPOON")
        .batch("slow", 100, date(20))
        .batch("speedy", 100, date(1))
        .batch("normal", 100, date(10))
        .when(|p| p.allocate(line("o1", "MINIMALIST-SPOON", 10)))
        .then_expect_events(vec![allocated("o1", "MINIMALIST-SPOON", 10, "speedy")]);
}

#[test]
fn equal_etas_go_to_the_batch_added_first() {
    given("LAMP")
        .batch("first", 5, date(3))
        .batch("second", 5, date(3))
        .when(|p| p.allocate(line("o1", "LAMP", 1)))
        .then_expect_events(vec![allocated("o1", "LAMP", 1, "first")]);
}

#[test]
fn skips_a_preferred_batch_that_cannot_take_the_line() {
    given("LAMP")
        .batch("in-stock", 5, None)
        .batch("shipment", 50, date(4))
        .when(|p| p.allocate(line("o1", "LAMP", 6)))
        .then_expect_events(vec![allocated("o1", "LAMP", 6, "shipment")]);
}

#[test]
fn can_allocate_exactly_the_available_quantity() {
    given("ELEGANT-LAMP")
        .batch("b1", 2, None)
        .when(|p| p.allocate(line("o1", "ELEGANT-LAMP", 2)))
        .then_expect_events(vec![allocated("o1", "ELEGANT-LAMP", 2, "b1")])
        .then_product(|p| assert_eq!(available(p, "b1"), 0));
}

#[test]
fn cannot_allocate_more_than_available_raises_out_of_stock() {
    given("SMALL-FORK")
        .batch("b1", 10, None)
        .allocated("o1", 10)
        .when(|p| p.allocate(line("o2", "SMALL-FORK", 1)))
        .then_expect_events(vec![out_of_stock("SMALL-FORK", "o2")])
        .then_expect_result(Allocation::OutOfStock)
        .then_expect_unchanged();
}

#[test]
fn out_of_stock_does_not_bump_the_version() {
    given("SMALL-FORK")
        .when(|p| p.allocate(line("o1", "SMALL-FORK", 1)))
        .then_expect_events(vec![out_of_stock("SMALL-FORK", "o1")])
        .then_product(|p| assert_eq!(p.version_number(), 0));
}

#[test]
fn each_allocation_increments_the_version_number() {
    given("SCANDI-PEN")
        .batch("b1", 10, None)
        .allocated("o1", 1)
        .when(|p| p.allocate(line("o2", "SCANDI-PEN", 1)))
        .then_product(|p| assert_eq!(p.version_number(), 3));
}

#[test]
fn a_line_of_another_sku_is_refused() {
    given("UNCOMFORTABLE-CHAIR")
        .batch("b1", 100, None)
        .when(|p| p.allocate(line("o1", "EXPENSIVE-TOASTER", 10)))
        .then_expect_error(DomainError::SkuMismatch {
            expected: sku("UNCOMFORTABLE-CHAIR"),
            actual: sku("EXPENSIVE-TOASTER"),
        });
}

#[test]
fn allocating_the_same_line_twice_is_a_no_op() {
    given("ANGULAR-DESK")
        .batch("b1", 20, None)
        .allocated("o1", 2)
        .when(|p| p.allocate(line("o1", "ANGULAR-DESK", 2)))
        .then_expect_events(vec![])
        .then_expect_result(Allocation::AlreadyAllocated(batchref("b1")))
        .then_expect_unchanged()
        .then_product(|p| assert_eq!(available(p, "b1"), 18));
}

#[test]
fn another_quantity_for_an_allocated_line_is_refused() {
    given("ANGULAR-DESK")
        .batch("b1", 20, None)
        .allocated("o1", 2)
        .when(|p| p.allocate(line("o1", "ANGULAR-DESK", 3)))
        .then_expect_error(DomainError::ConflictingLine {
            orderid: orderid("o1"),
            sku: sku("ANGULAR-DESK"),
            existing: qty(2),
            requested: qty(3),
        });
}
