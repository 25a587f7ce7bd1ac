//! The seed book's allocation service behaviours, through the bus with in-memory fakes.

use super::support::*;
use crate::domain::{Allocated, Deallocated, DeallocationReason, DomainError, Event, OutOfStock};
use crate::service_layer::Disposition;

#[test]
fn creates_a_batch_for_a_new_product() {
    let mut h = Harness::new();
    let outcome = h.send(create_batch("b1", "CRUNCHY-ARMCHAIR", 100, None));
    assert_eq!(outcome.disposition, Disposition::Applied);
    assert_eq!(event_types(&outcome), ["BatchCreated"]);
    assert_eq!(h.available("CRUNCHY-ARMCHAIR", "b1"), 100);
    assert_eq!(outcome.snapshots.len(), 1);
}

#[test]
fn creates_a_batch_for_an_existing_product() {
    let mut h = Harness::new();
    h.send(create_batch("b1", "GARISH-RUG", 100, None));
    h.send(create_batch("b2", "GARISH-RUG", 99, None));
    let product = h.product("GARISH-RUG").expect("product");
    assert_eq!(product.batches().len(), 2);
}

#[test]
fn allocates_and_reports_the_batch() {
    let mut h = Harness::new();
    h.send(create_batch("batch1", "COMPLICATED-LAMP", 100, None));
    let outcome = h.send(allocate("o1", "COMPLICATED-LAMP", 10));
    assert_eq!(
        events(&outcome),
        [Event::Allocated(Allocated {
            orderid: orderid("o1"),
            sku: sku("COMPLICATED-LAMP"),
            qty: qty(10),
            batchref: batchref("batch1"),
        })]
    );
    assert_eq!(h.available("COMPLICATED-LAMP", "batch1"), 90);
}

#[test]
fn an_unknown_sku_is_rejected_with_command_rejected_and_nothing_changes() {
    let mut h = Harness::new();
    h.send(create_batch("b1", "AREALSKU", 100, None));
    let before = h.product("AREALSKU").cloned();
    let id = h.fresh_id();
    let outcome = h.send_with_id(id, allocate("o1", "NONEXISTENTSKU", 10));

    assert_eq!(
        outcome.disposition,
        Disposition::Rejected(DomainError::UnknownSku(sku("NONEXISTENTSKU")))
    );
    match events(&outcome).as_slice() {
        [Event::CommandRejected(rejected)] => {
            assert_eq!(rejected.command_id, id);
            assert_eq!(rejected.sku, sku("NONEXISTENTSKU"));
            assert_eq!(rejected.code, "unknown_sku");
            assert!(rejected.reason.contains("NONEXISTENTSKU"));
        }
        other => panic!("expected one CommandRejected, got {other:?}"),
    }
    assert!(outcome.snapshots.is_empty() && outcome.view_updates.is_empty());
    assert_eq!(h.product("AREALSKU").cloned(), before);
    assert!(h.product("NONEXISTENTSKU").is_none());
    assert_eq!(h.bus.metrics().snapshot().commands_rejected, 1);
}

#[test]
fn out_of_stock_is_raised_when_no_batch_can_allocate() {
    let mut h = Harness::new();
    h.send(create_batch("b1", "POPULAR-CURTAINS", 9, None));
    let outcome = h.send(allocate("o1", "POPULAR-CURTAINS", 10));
    assert_eq!(outcome.disposition, Disposition::Applied);
    assert_eq!(
        events(&outcome),
        [Event::OutOfStock(OutOfStock {
            sku: sku("POPULAR-CURTAINS"),
            orderid: orderid("o1"),
        })]
    );
    assert_eq!(h.available("POPULAR-CURTAINS", "b1"), 9);
}

#[test]
fn prefers_warehouse_stock() {
    let mut h = Harness::new();
    h.send(create_batch("shipment", "RETRO-CLOCK", 100, date(5)));
    h.send(create_batch("warehouse", "RETRO-CLOCK", 100, None));
    h.send(allocate("o1", "RETRO-CLOCK", 10));
    assert_eq!(
        h.batch_of("RETRO-CLOCK", "o1").as_deref(),
        Some("warehouse")
    );
    assert_eq!(h.available("RETRO-CLOCK", "shipment"), 100);
}

#[test]
fn changing_a_batch_quantity_reallocates_within_the_same_unit_of_work() {
    let mut h = Harness::new();
    h.send(create_batch("batch1", "INDIFFERENT-TABLE", 50, None));
    h.send(create_batch("batch2", "INDIFFERENT-TABLE", 50, date(2)));
    h.send(allocate("order1", "INDIFFERENT-TABLE", 20));
    h.send(allocate("order2", "INDIFFERENT-TABLE", 20));
    assert_eq!(h.available("INDIFFERENT-TABLE", "batch1"), 10);

    let outcome = h.send(change_quantity("batch1", "INDIFFERENT-TABLE", 25));

    assert_eq!(
        event_types(&outcome),
        ["BatchQuantityChanged", "Deallocated", "Allocated"]
    );
    assert_eq!(
        events(&outcome)[1],
        Event::Deallocated(Deallocated {
            orderid: orderid("order2"),
            sku: sku("INDIFFERENT-TABLE"),
            qty: qty(20),
            batchref: batchref("batch1"),
            reason: DeallocationReason::BatchQuantityChanged,
        })
    );
    assert_eq!(h.available("INDIFFERENT-TABLE", "batch1"), 5);
    assert_eq!(h.available("INDIFFERENT-TABLE", "batch2"), 30);
    assert_eq!(
        h.batch_of("INDIFFERENT-TABLE", "order2").as_deref(),
        Some("batch2")
    );
    // One snapshot of the one aggregate, whatever the cascade did.
    assert_eq!(outcome.snapshots.len(), 1);
}

#[test]
fn a_displaced_line_that_fits_nowhere_goes_out_of_stock() {
    let mut h = Harness::new();
    h.send(create_batch("b1", "TABLE", 10, None));
    h.send(allocate("o1", "TABLE", 6));
    let outcome = h.send(change_quantity("b1", "TABLE", 5));
    assert_eq!(
        event_types(&outcome),
        ["BatchQuantityChanged", "Deallocated", "OutOfStock"]
    );
    assert_eq!(h.batch_of("TABLE", "o1"), None);
    assert_eq!(h.available("TABLE", "b1"), 5);
}

#[test]
fn a_requested_deallocation_is_not_reallocated() {
    let mut h = Harness::new();
    h.send(create_batch("b1", "TABLE", 10, None));
    h.send(create_batch("b2", "TABLE", 10, None));
    h.send(allocate("o1", "TABLE", 6));
    let outcome = h.send(deallocate("o1", "TABLE"));
    assert_eq!(event_types(&outcome), ["Deallocated"]);
    assert_eq!(h.batch_of("TABLE", "o1"), None);
    assert_eq!(h.available("TABLE", "b1"), 10);
    assert_eq!(h.available("TABLE", "b2"), 10);
}

#[test]
fn business_rule_errors_become_command_rejected() {
    let mut h = Harness::new();
    h.send(create_batch("b1", "TABLE", 10, None));
    let cases = [
        (create_batch("b1", "TABLE", 3, None), "duplicate_batch"),
        (change_quantity("nope", "TABLE", 3), "unknown_batch"),
        (deallocate("o1", "TABLE"), "not_allocated"),
        (deallocate("o1", "CHAIR"), "unknown_sku"),
    ];
    for (command, code) in cases {
        let before = h.product("TABLE").cloned();
        let outcome = h.send(command);
        match events(&outcome).as_slice() {
            [Event::CommandRejected(rejected)] => assert_eq!(rejected.code, code),
            other => panic!("expected CommandRejected({code}), got {other:?}"),
        }
        assert_eq!(h.product("TABLE").cloned(), before);
    }
}

#[test]
fn a_command_that_failed_validation_at_decode_is_rejected_the_same_way() {
    let mut h = Harness::new();
    h.send(create_batch("b1", "TABLE", 10, None));
    let before = h.product("TABLE").cloned();
    let meta = crate::service_layer::InboundMetadata::new(message_id(900), t0());
    let error = DomainError::from(crate::domain::Quantity::new(0).expect_err("invalid"));

    let outcome = h.bus.reject(&meta, sku("TABLE"), error.clone());

    assert_eq!(outcome.disposition, Disposition::Rejected(error));
    match events(&outcome).as_slice() {
        [Event::CommandRejected(rejected)] => {
            assert_eq!(rejected.code, "invalid_value");
            assert_eq!(rejected.command_id, message_id(900));
        }
        other => panic!("expected one CommandRejected, got {other:?}"),
    }
    assert_eq!(outcome.record_count(), 1);
    assert_eq!(h.product("TABLE").cloned(), before);
}
