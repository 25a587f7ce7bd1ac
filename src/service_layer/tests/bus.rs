//! Message-bus mechanics: failing event handlers, cascades, wiring and non-domain errors.

use super::support::*;
use crate::bootstrap::{self, Dependencies};
use crate::domain::{Allocated, Deallocate, DomainError, OutOfStock, Product};
use crate::service_layer::{
    BusConfig, BusError, Disposition, HandlerError, InMemoryAllocationsView, InMemoryStore,
    Inbound, MessageBusBuilder, NoViewStore, StateStore, ViewUpdate, WiringError,
};

fn deps() -> Dependencies<InMemoryStore, InMemoryAllocationsView> {
    Dependencies::new(InMemoryStore::new(), InMemoryAllocationsView::new())
}

#[test]
fn a_failing_event_handler_is_undone_logged_and_counted_while_the_others_still_run() {
    let mut builder = bootstrap::builder(deps()).expect("wiring");
    builder
        .handlers()
        .on_event::<Allocated, _>("flaky", |event, ctx| {
            let product = ctx
                .products()
                .get(&event.sku)
                .ok_or_else(|| DomainError::UnknownSku(event.sku.clone()))?;
            product.add_batch(batchref("sneaky"), event.sku.clone(), qty(1), None)?;
            ctx.emit_view_update(ViewUpdate::Delete {
                orderid: event.orderid.clone(),
                sku: event.sku.clone(),
            });
            Err(HandlerError::Other("flaky handler failed".into()))
        })
        .on_event::<Allocated, _>("notify_warehouse", |event, ctx| {
            ctx.emit_derived_command(Deallocate {
                orderid: event.orderid.clone(),
                sku: event.sku.clone(),
            });
            Ok(())
        });
    let mut h = Harness::with_bus(builder.build().expect("valid wiring"));
    h.send(create_batch("b1", "LAMP", 10, None));

    let outcome = h.send(allocate("o1", "LAMP", 2));

    assert_eq!(outcome.disposition, Disposition::Applied);
    assert_eq!(
        event_types(&outcome),
        ["Allocated"],
        "no BatchCreated leaked"
    );
    let views: Vec<_> = outcome
        .view_updates
        .iter()
        .map(|u| u.payload.type_name())
        .collect();
    assert_eq!(
        views,
        ["AllocationViewUpsert"],
        "the flaky emission was discarded"
    );
    assert_eq!(outcome.derived_commands.len(), 1, "later handler still ran");
    assert!(h
        .product("LAMP")
        .and_then(|p| p.batch(&batchref("sneaky")))
        .is_none());
    assert_eq!(h.available("LAMP", "b1"), 8);
    let metrics = h.bus.metrics();
    assert_eq!(metrics.handler_failures("flaky"), 1);
    assert_eq!(metrics.handler_failures("notify_warehouse"), 0);
    assert_eq!(metrics.snapshot().event_handler_failures, 1);
}

#[test]
fn a_runaway_cascade_fails_the_message_and_changes_nothing() {
    let mut d = deps();
    d.config = BusConfig { max_cascade: 50 };
    let mut builder = bootstrap::builder(d).expect("wiring");
    builder
        .handlers()
        .on_event::<OutOfStock, _>("retry_forever", |event, ctx| {
            ctx.dispatch(crate::domain::Allocate {
                orderid: event.orderid.clone(),
                sku: event.sku.clone(),
                qty: qty(1_000),
            });
            Ok(())
        });
    let mut h = Harness::with_bus(builder.build().expect("valid wiring"));
    h.send(create_batch("b1", "LAMP", 1, None));
    let before = h.product("LAMP").cloned();
    let id = h.fresh_id();

    let result = h
        .bus
        .handle(Inbound::command(id, t0(), allocate("o1", "LAMP", 5)));

    assert!(matches!(
        result,
        Err(BusError::CascadeLimit { limit: 50, .. })
    ));
    assert_eq!(h.product("LAMP").cloned(), before);
    assert_eq!(h.bus.metrics().snapshot().messages_failed, 1);
}

#[test]
fn a_non_domain_command_failure_is_returned_and_rolled_back() {
    let mut builder = MessageBusBuilder::new(InMemoryStore::new(), NoViewStore);
    builder
        .handlers()
        .on_command::<crate::domain::CreateBatch, _>("broken_add_batch", |cmd, ctx| {
            ctx.products().add(Product::new(cmd.sku.clone()))?;
            Err(HandlerError::Other("disk on fire".into()))
        })
        .and_then(|r| {
            r.on_command::<crate::domain::Allocate, _>(
                "allocate",
                crate::service_layer::handlers::allocate,
            )
        })
        .and_then(|r| {
            r.on_command::<crate::domain::Deallocate, _>(
                "deallocate",
                crate::service_layer::handlers::deallocate,
            )
        })
        .and_then(|r| {
            r.on_command::<crate::domain::ChangeBatchQuantity, _>(
                "change_batch_quantity",
                crate::service_layer::handlers::change_batch_quantity,
            )
        })
        .expect("distinct handlers");
    let mut bus = builder.build().expect("complete wiring");

    let result = bus.handle(Inbound::command(
        message_id(1),
        t0(),
        create_batch("b1", "LAMP", 1, None),
    ));

    match result {
        Err(BusError::Handler { handler, .. }) => assert_eq!(handler, "broken_add_batch"),
        other => panic!("expected a handler error, got {other:?}"),
    }
    assert!(bus.store().is_empty());
    assert!(!bus.store().has_staged_changes());
}

#[test]
fn a_command_cannot_have_two_handlers() {
    let mut builder = bootstrap::builder(deps()).expect("wiring");
    let error = builder
        .handlers()
        .on_command::<crate::domain::Allocate, _>(
            "second",
            crate::service_layer::handlers::allocate,
        )
        .err();
    assert_eq!(
        error,
        Some(WiringError::DuplicateCommandHandler {
            command: "Allocate",
            existing: "allocate",
            added: "second",
        })
    );
}

#[test]
fn every_command_must_have_a_handler() {
    let builder = MessageBusBuilder::new(InMemoryStore::new(), NoViewStore);
    assert_eq!(
        builder.build().err(),
        Some(WiringError::MissingCommandHandler {
            command: "CreateBatch"
        })
    );
}

#[test]
fn metrics_count_what_happened() {
    let mut h = Harness::new();
    h.send(create_batch("b1", "LAMP", 10, None));
    h.send(allocate("o1", "LAMP", 1));
    h.send(allocate("o2", "NOPE", 1));
    let m = h.bus.metrics().snapshot();
    assert_eq!(m.commands_applied, 2);
    assert_eq!(m.commands_rejected, 1);
    assert_eq!(m.events_handled, 2);
    assert_eq!(
        m.per_handler_failures,
        [
            ("add_allocation_to_read_model", 0),
            ("remove_allocation_from_read_model", 0),
            ("reallocate", 0)
        ]
    );
}

#[test]
fn a_partition_bus_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<crate::bootstrap::WorkerBus>();
    assert_send::<crate::bootstrap::InMemoryBus>();
    assert_send::<crate::service_layer::Outcome>();
}
