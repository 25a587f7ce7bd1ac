//! Rules of `Product::deallocate`.

use super::framework::*;
use crate::domain::{DeallocationReason, DomainError};

#[test]
fn deallocating_releases_the_line_and_raises_a_requested_deallocation() {
    given("CHAIR")
        .batch("b1", 10, None)
        .allocated("o1", 3)
        .allocated("o2", 2)
        .when(|p| p.deallocate(&orderid("o1")))
        .then_expect_events(vec![deallocated(
            "o1",
            "CHAIR",
            3,
            "b1",
            DeallocationReason::Requested,
        )])
        .then_expect_result(line("o1", "CHAIR", 3))
        .then_product(|p| {
            assert_eq!(available(p, "b1"), 8);
            assert_eq!(p.version_number(), 4);
            assert!(p.allocation_of(&orderid("o2")).is_some());
        });
}

#[test]
fn deallocating_a_line_that_is_not_allocated_is_refused() {
    given("CHAIR")
        .batch("b1", 10, None)
        .when(|p| p.deallocate(&orderid("o1")))
        .then_expect_error(DomainError::NotAllocated {
            orderid: orderid("o1"),
            sku: sku("CHAIR"),
        });
}
