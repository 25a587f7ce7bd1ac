//! The seed book's allocation stories, end to end through the worker process: batches
//! created, in-stock batches preferred, earliest eta next, out of stock, a quantity change that
//! deallocates a line which is then reallocated to another batch, a requested deallocation,
//! and the allocations view folded from its topic.

use std::collections::BTreeMap;

use allocation_worker::domain::{DeallocationReason, Event};

use super::checker::assert_exactly_once;
use super::support::cmd::{allocate, change_quantity, create_batch, day, deallocate};
use super::support::PARTITIONS;
use super::{Setup, SHUTDOWN};
use crate::harness::worker::spawn_worker;

fn allocated(e: &Event) -> Option<(String, String)> {
    match e {
        Event::Allocated(a) => Some((a.orderid.to_string(), a.batchref.to_string())),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_book_scenarios_end_to_end_over_kafka() {
    let mut s = Setup::new("scenarios").await;
    let mut worker = spawn_worker(&s.spec(0)).await;
    let p = &mut s.producer;

    // Warehouse stock is preferred to shipments.
    p.command(create_batch("in-stock-batch", "RETRO-CLOCK", 100, None))
        .await;
    p.command(create_batch("shipment-batch", "RETRO-CLOCK", 100, day(2)))
        .await;
    let in_stock = p.command(allocate("o1", "RETRO-CLOCK", 10)).await;
    // Then the earliest eta.
    p.command(create_batch("slow", "MINIMALIST-SPOON", 100, day(9)))
        .await;
    p.command(create_batch("speedy", "MINIMALIST-SPOON", 100, day(1)))
        .await;
    p.command(create_batch("normal", "MINIMALIST-SPOON", 100, day(4)))
        .await;
    let earliest = p.command(allocate("o2", "MINIMALIST-SPOON", 10)).await;
    let second_sku = p.command(allocate("o1", "MINIMALIST-SPOON", 3)).await;
    // Out of stock.
    p.command(create_batch("fork-batch", "SMALL-FORK", 10, None))
        .await;
    let all_of_it = p.command(allocate("o3", "SMALL-FORK", 10)).await;
    let none_left = p.command(allocate("o4", "SMALL-FORK", 1)).await;
    // A quantity change deallocates the most recent line, which is reallocated elsewhere.
    p.command(create_batch("table-now", "INDIFFERENT-TABLE", 50, None))
        .await;
    p.command(create_batch("table-later", "INDIFFERENT-TABLE", 50, day(2)))
        .await;
    p.command(allocate("o5", "INDIFFERENT-TABLE", 20)).await;
    p.command(allocate("o6", "INDIFFERENT-TABLE", 20)).await;
    let shrink = p
        .command(change_quantity("table-now", "INDIFFERENT-TABLE", 25))
        .await;
    // A requested deallocation removes the row and is final.
    p.command(allocate("o7", "RETRO-CLOCK", 5)).await;
    let cancel = p.command(deallocate("o7", "RETRO-CLOCK")).await;
    p.flush().await;

    s.caught_up(&mut [&mut worker]).await;
    let observed = s.observed().await;
    let sent = s.producer.sent().to_vec();
    let expected = assert_exactly_once(&sent, &observed, PARTITIONS);

    // The stories, spelled out (the replay already agrees record for record).
    let one = |id| {
        let events = observed.events_caused_by(id);
        assert_eq!(events.len(), 1, "{events:?}");
        events[0].clone()
    };
    assert_eq!(
        allocated(&one(in_stock)),
        Some(("o1".into(), "in-stock-batch".into()))
    );
    assert_eq!(
        allocated(&one(earliest)),
        Some(("o2".into(), "speedy".into()))
    );
    assert_eq!(
        allocated(&one(second_sku)),
        Some(("o1".into(), "speedy".into()))
    );
    assert_eq!(
        allocated(&one(all_of_it)),
        Some(("o3".into(), "fork-batch".into()))
    );
    assert!(
        matches!(one(none_left), Event::OutOfStock(ref o) if o.orderid.as_str() == "o4"),
        "{:?}",
        one(none_left)
    );
    let cascade = observed.events_caused_by(shrink);
    let types: Vec<&str> = cascade.iter().map(|e| e.type_name()).collect();
    assert_eq!(types, ["BatchQuantityChanged", "Deallocated", "Allocated"]);
    assert!(
        matches!(cascade[1], Event::Deallocated(d) if d.orderid.as_str() == "o6"
            && d.batchref.as_str() == "table-now"
            && d.reason == DeallocationReason::BatchQuantityChanged),
        "{:?}",
        cascade[1]
    );
    assert_eq!(
        allocated(cascade[2]),
        Some(("o6".into(), "table-later".into()))
    );
    assert!(
        matches!(one(cancel), Event::Deallocated(ref d) if d.reason == DeallocationReason::Requested),
        "{:?}",
        one(cancel)
    );

    let row = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let view = observed.view_fold();
    let want: BTreeMap<String, BTreeMap<String, String>> = [
        (
            "o1",
            row(&[
                ("MINIMALIST-SPOON", "speedy"),
                ("RETRO-CLOCK", "in-stock-batch"),
            ]),
        ),
        ("o2", row(&[("MINIMALIST-SPOON", "speedy")])),
        ("o3", row(&[("SMALL-FORK", "fork-batch")])),
        ("o5", row(&[("INDIFFERENT-TABLE", "table-now")])),
        ("o6", row(&[("INDIFFERENT-TABLE", "table-later")])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(
        view, want,
        "folded allocations view (o4 out of stock, o7 deallocated)"
    );

    let table = &expected.products["INDIFFERENT-TABLE"];
    let now = table
        .batches()
        .iter()
        .find(|b| b.reference().as_str() == "table-now")
        .unwrap();
    assert_eq!(
        now.available_quantity(),
        5,
        "25 purchased, o5's 20 allocated"
    );

    let (status, _) = worker.terminate(SHUTDOWN).await;
    assert!(
        status.success(),
        "SIGTERM must end the worker with 0, got {status}"
    );
}
