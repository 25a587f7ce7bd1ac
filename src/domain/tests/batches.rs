//! Rules of `Product::add_batch` and of batch quantities.

use super::framework::*;
use crate::domain::DomainError;

#[test]
fn adding_a_batch_raises_batch_created_and_bumps_the_version() {
    given("SOFA")
        .when(|p| p.add_batch(batchref("b1"), sku("SOFA"), qty(10), date(5)))
        .then_expect_events(vec![batch_created("b1", "SOFA", 10, date(5))])
        .then_product(|p| {
            assert_eq!(p.version_number(), 1);
            assert_eq!(available(p, "b1"), 10);
        });
}

#[test]
fn a_duplicate_batch_reference_is_refused() {
    given("SOFA")
        .batch("b1", 10, None)
        .when(|p| p.add_batch(batchref("b1"), sku("SOFA"), qty(3), None))
        .then_expect_error(DomainError::DuplicateBatch {
            reference: batchref("b1"),
            sku: sku("SOFA"),
        });
}

#[test]
fn a_batch_of_another_sku_is_refused() {
    given("SOFA")
        .when(|p| p.add_batch(batchref("b1"), sku("CHAIR"), qty(3), None))
        .then_expect_error(DomainError::SkuMismatch {
            expected: sku("SOFA"),
            actual: sku("CHAIR"),
        });
}

#[test]
fn allocated_plus_available_is_purchased() {
    given("SOFA")
        .batch("b1", 10, None)
        .allocated("o1", 3)
        .allocated("o2", 4)
        .when(|p| Ok::<_, DomainError>(p.batches().to_vec()))
        .then_product(|p| {
            let batch = &p.batches()[0];
            assert_eq!(batch.allocated_quantity(), 7);
            assert_eq!(batch.available_quantity(), 3);
            let sum: u64 = batch
                .allocations()
                .iter()
                .map(|l| u64::from(l.qty.get()))
                .sum();
            assert_eq!(sum as i64 + batch.available_quantity(), 10);
        });
}

#[test]
fn can_allocate_requires_matching_sku_and_enough_stock() {
    given("SOFA")
        .batch("b1", 5, None)
        .when(|_| Ok::<_, DomainError>(()))
        .then_product(|p| {
            let batch = &p.batches()[0];
            assert!(batch.can_allocate(&line("o1", "SOFA", 5)));
            assert!(!batch.can_allocate(&line("o1", "SOFA", 6)));
            assert!(!batch.can_allocate(&line("o1", "CHAIR", 1)));
        });
}
