//! External events are translated at the edge into derived commands, not executed here.

use super::support::*;
use crate::domain::{Command, CreateBatch, Deallocate, ValueError};
use crate::service_layer::{
    anti_corruption::translate, BusError, Disposition, ExternalEvent, Inbound, OrderCancelled,
    PurchaseOrderConfirmed, StateStore, TranslationError,
};

fn cancelled(order: &str, sku_: &str) -> OrderCancelled {
    OrderCancelled {
        orderid: order.into(),
        sku: sku_.into(),
    }
}

#[test]
fn order_cancelled_becomes_a_deallocate_for_the_command_topic() {
    let mut h = Harness::new();
    let id = h.fresh_id();
    let outcome = h
        .bus
        .handle(Inbound::external(id, t0(), cancelled("o1", "LAMP")))
        .expect("translated");

    assert_eq!(outcome.disposition, Disposition::Translated);
    assert!(outcome.events.is_empty() && outcome.snapshots.is_empty());
    let derived: Vec<_> = outcome
        .derived_commands
        .iter()
        .map(|c| &c.payload)
        .collect();
    assert_eq!(
        derived,
        [&Command::Deallocate(Deallocate {
            orderid: orderid("o1"),
            sku: sku("LAMP"),
        })]
    );
    assert_eq!(outcome.derived_commands[0].metadata.causation_id, id);
    assert!(h.bus.store().is_empty(), "nothing executed locally");
}

#[test]
fn purchase_order_confirmed_becomes_a_create_batch() {
    let event = ExternalEvent::PurchaseOrderConfirmed(PurchaseOrderConfirmed {
        po_reference: "PO-17".into(),
        sku: "LAMP".into(),
        qty: 40,
        eta: date(9),
    });
    assert_eq!(
        translate(&event),
        Ok(vec![Command::CreateBatch(CreateBatch {
            reference: batchref("PO-17"),
            sku: sku("LAMP"),
            qty: qty(40),
            eta: date(9),
        })])
    );
}

#[test]
fn invalid_external_data_is_refused_with_the_field_at_fault() {
    let event = ExternalEvent::PurchaseOrderConfirmed(PurchaseOrderConfirmed {
        po_reference: "PO-17".into(),
        sku: "LAMP".into(),
        qty: 0,
        eta: None,
    });
    assert_eq!(
        translate(&event),
        Err(TranslationError {
            event: "PurchaseOrderConfirmed",
            field: "qty",
            source: ValueError::NonPositiveQuantity(0),
        })
    );
    let mut h = Harness::new();
    let result = h.bus.handle(Inbound::external(
        message_id(9),
        t0(),
        cancelled("", "LAMP"),
    ));
    assert!(matches!(result, Err(BusError::Untranslatable { .. })));
}

#[test]
fn a_redelivered_external_event_derives_a_command_that_is_applied_once() {
    let mut h = Harness::new();
    h.send(create_batch("b1", "LAMP", 10, None));
    h.send(allocate("o1", "LAMP", 4));
    let external = Inbound::external(message_id(500), t0(), cancelled("o1", "LAMP"));
    let first = h.bus.handle(external.clone()).expect("translated");
    let second = h.bus.handle(external).expect("translated");
    assert_eq!(first, second, "translation is deterministic");

    for outcome in [first, second] {
        let derived = &outcome.derived_commands[0];
        let routed = Inbound::command(derived.metadata.message_id, t0(), derived.payload.clone());
        h.bus.handle(routed).expect("handled");
    }
    assert_eq!(h.available("LAMP", "b1"), 10);
    assert_eq!(h.bus.metrics().snapshot().duplicates_skipped, 1);
    assert_eq!(h.bus.metrics().snapshot().commands_rejected, 0);
}
