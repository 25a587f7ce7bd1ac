//! Property tests over random sequences of commands, redeliveries, batch commits and aborts.
//!
//! Checked after every step: no batch is over-allocated and `allocated + available ==
//! purchased`; every snapshot re-loads (all invariants hold); every `Allocate` ends in exactly
//! one `Allocated`/`OutOfStock`/`CommandRejected` (none when the identical line was already
//! allocated); every displaced line is reallocated or out of stock; redelivering an applied
//! message id changes nothing. At an abort: the state is exactly that of the last commit, and
//! replaying the aborted messages yields equal outcomes (deterministic output). At a commit:
//! the view store agrees with the aggregates.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::support::*;
use crate::domain::{Command, DeallocationReason, Event, Product};
use crate::service_layer::{
    AllocationRow, AllocationsQuery, Disposition, Inbound, Outcome, StateStore,
};

const SKUS: [&str; 3] = ["A", "B", "C"];
const REFS: [&str; 4] = ["b1", "b2", "b3", "b4"];
const ORDERS: [&str; 6] = ["o1", "o2", "o3", "o4", "o5", "o6"];

#[derive(Debug, Clone)]
enum Op {
    Send(Command),
    Redeliver(usize),
    Commit,
    Abort,
}

fn command() -> impl Strategy<Value = Command> {
    let sku_ = prop::sample::select(SKUS.to_vec());
    let reference = prop::sample::select(REFS.to_vec());
    let order = prop::sample::select(ORDERS.to_vec());
    let eta = prop::option::of(1u32..6).prop_map(|d| d.and_then(date));
    prop_oneof![
        2 => (reference.clone(), sku_.clone(), 1i64..30, eta)
            .prop_map(|(r, s, n, e)| create_batch(r, s, n, e)),
        6 => (order.clone(), sku_.clone(), 1i64..10).prop_map(|(o, s, n)| allocate(o, s, n)),
        2 => (reference, sku_.clone(), 1i64..30).prop_map(|(r, s, n)| change_quantity(r, s, n)),
        1 => (order, sku_).prop_map(|(o, s)| deallocate(o, s)),
    ]
}

/// Random operations; the weights say how often redeliveries, commits and aborts occur
/// relative to 10 fresh commands.
fn ops(redeliver: u32, commit: u32, abort: u32) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        10 => command().prop_map(Op::Send),
        redeliver => any::<usize>().prop_map(Op::Redeliver),
        commit => Just(Op::Commit),
        abort => Just(Op::Abort),
    ];
    prop::collection::vec(op, 1..60)
}

type State = BTreeMap<String, Product>;

fn state(h: &Harness) -> State {
    h.bus
        .store()
        .products()
        .map(|p| (p.sku().to_string(), p.clone()))
        .collect()
}

fn check_invariants(h: &Harness) {
    for product in h.bus.store().products() {
        for batch in product.batches() {
            let allocated: i64 = batch
                .allocations()
                .iter()
                .map(|l| i64::from(l.qty.get()))
                .sum();
            assert!(batch.available_quantity() >= 0, "over-allocated {batch:?}");
            assert_eq!(
                allocated + batch.available_quantity(),
                i64::from(batch.purchased_quantity().get())
            );
        }
        let json = serde_json::to_string(product).expect("serializable");
        let reloaded: Product = serde_json::from_str(&json).expect("snapshot re-loads");
        assert_eq!(&reloaded, product);
    }
}

fn check_allocate_outcome(
    before: &State,
    command: &Command,
    id: crate::domain::MessageId,
    outcome: &Outcome,
) {
    let Command::Allocate(cmd) = command else {
        return;
    };
    let existing = before
        .get(cmd.sku.as_str())
        .and_then(|p| p.allocation_of(&cmd.orderid).map(|(_, l)| l.qty));
    let events = events(outcome);
    match &outcome.disposition {
        Disposition::Duplicate => assert!(events.is_empty()),
        Disposition::Applied if existing == Some(cmd.qty) => assert!(events.is_empty()),
        Disposition::Applied => {
            assert_eq!(existing, None);
            match events.as_slice() {
                [Event::Allocated(e)] => assert_eq!(e.orderid, cmd.orderid),
                [Event::OutOfStock(e)] => assert_eq!(e.orderid, cmd.orderid),
                other => panic!("Allocate must end in one Allocated or OutOfStock: {other:?}"),
            }
        }
        Disposition::Rejected(_) => match events.as_slice() {
            [Event::CommandRejected(e)] => assert_eq!(e.command_id, id),
            other => panic!("a rejection emits one CommandRejected: {other:?}"),
        },
        Disposition::Translated => panic!("commands are not translated"),
    }
}

fn check_reallocations(outcome: &Outcome) {
    let events = events(outcome);
    let displaced = events
        .iter()
        .filter(|e| {
            matches!(e, Event::Deallocated(d) if d.reason == DeallocationReason::BatchQuantityChanged)
        })
        .count();
    let settled = events
        .iter()
        .filter(|e| matches!(e, Event::Allocated(_) | Event::OutOfStock(_)))
        .count();
    if matches!(events.first(), Some(Event::BatchQuantityChanged(_))) {
        assert_eq!(
            displaced, settled,
            "every displaced line is settled: {events:?}"
        );
    }
}

fn check_view(h: &Harness) {
    for order in ORDERS {
        let mut expected: Vec<AllocationRow> = h
            .bus
            .store()
            .products()
            .filter_map(|p| {
                p.allocation_of(&orderid(order))
                    .map(|(batch, _)| AllocationRow {
                        sku: p.sku().clone(),
                        batchref: batch.reference().clone(),
                    })
            })
            .collect();
        expected.sort();
        assert_eq!(
            h.bus.views().allocations(&orderid(order)),
            expected,
            "view of {order}"
        );
    }
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("serializable")
}

/// Every record of an outcome (metadata and payload) as JSON text.
fn render(outcome: &Outcome) -> String {
    let mut out = String::new();
    for e in &outcome.events {
        out += &json(&(&e.metadata, &e.payload));
    }
    for u in &outcome.view_updates {
        out += &json(&(&u.metadata, &u.payload));
    }
    for c in &outcome.derived_commands {
        out += &json(&(&c.metadata, &c.payload));
    }
    for s in &outcome.snapshots {
        out += &json(&(&s.metadata, &*s.payload));
    }
    out
}

fn run(ops: Vec<Op>) {
    let mut h = Harness::new();
    let mut sent: Vec<Inbound> = Vec::new();
    let mut committed = state(&h);
    let mut batch_log: Vec<(Inbound, Outcome)> = Vec::new();

    for op in ops {
        match op {
            Op::Send(command) => {
                let id = h.fresh_id();
                let inbound = Inbound::command(id, t0(), command.clone());
                let before = state(&h);
                let outcome = h.bus.handle(inbound.clone()).expect("no bus error");
                check_allocate_outcome(&before, &command, id, &outcome);
                check_reallocations(&outcome);
                batch_log.push((inbound.clone(), outcome.clone()));
                if outcome.disposition == Disposition::Applied {
                    let after = state(&h);
                    let again = h.bus.handle(inbound.clone()).expect("no bus error");
                    assert_eq!(again.disposition, Disposition::Duplicate);
                    assert!(again.is_empty());
                    assert_eq!(state(&h), after, "a redelivery changes nothing");
                    batch_log.push((inbound.clone(), again));
                }
                sent.push(inbound);
            }
            Op::Redeliver(n) => {
                let Some(inbound) = sent.get(n % sent.len().max(1)).cloned() else {
                    continue;
                };
                let Some(sku_) = (match &inbound.message {
                    crate::service_layer::InboundMessage::Command(c) => Some(c.sku().clone()),
                    crate::service_layer::InboundMessage::External(_) => None,
                }) else {
                    continue;
                };
                let applied = h
                    .bus
                    .store()
                    .product(&sku_)
                    .is_some_and(|p| p.has_applied(inbound.metadata.message_id));
                let before = state(&h);
                let outcome = h.bus.handle(inbound.clone()).expect("no bus error");
                if applied {
                    assert_eq!(outcome.disposition, Disposition::Duplicate);
                    assert_eq!(state(&h), before);
                }
                batch_log.push((inbound, outcome));
            }
            Op::Commit => {
                h.bus.commit_batch();
                committed = state(&h);
                batch_log.clear();
                check_view(&h);
            }
            Op::Abort => {
                let staged = state(&h);
                h.bus.abort_batch();
                assert_eq!(state(&h), committed, "abort restores the last commit");
                for (inbound, original) in std::mem::take(&mut batch_log) {
                    let replayed = h.bus.handle(inbound.clone()).expect("no bus error");
                    assert_eq!(replayed, original, "reprocessing is deterministic");
                    assert_eq!(
                        render(&replayed),
                        render(&original),
                        "byte-identical records"
                    );
                    batch_log.push((inbound, replayed));
                }
                assert_eq!(state(&h), staged, "replay reaches the same state");
            }
        }
        check_invariants(&h);
    }
    h.bus.commit_batch();
    check_view(&h);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// No batch is ever over-allocated, `allocated + available == purchased`, every
    /// `Allocate` and every displaced line is settled exactly once.
    #[test]
    fn batches_stay_consistent_and_every_allocate_is_settled(ops in ops(0, 2, 0)) {
        run(ops);
    }

    /// Redelivering an applied message id changes nothing and emits nothing.
    #[test]
    fn redelivering_an_applied_command_changes_nothing(ops in ops(4, 2, 0)) {
        run(ops);
    }

    /// `abort_batch` restores exactly the last committed state, and reprocessing the aborted
    /// messages writes byte-identical records.
    #[test]
    fn abort_batch_restores_state_and_reprocessing_is_deterministic(ops in ops(1, 2, 2)) {
        run(ops);
    }
}
