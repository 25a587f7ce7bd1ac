//! Output metadata: deterministic ids, correlation and causation, event time, type names.

use chrono::Duration;

use super::support::*;
use crate::bootstrap::{self, Dependencies};
use crate::domain::MessageId;
use crate::service_layer::{
    DeterministicIds, FixedClock, IdGenerator, InMemoryAllocationsView, InMemoryStore, Inbound,
};

#[test]
fn outputs_are_stamped_in_order_with_ids_derived_from_the_inbound_message() {
    let mut h = Harness::new();
    h.send(create_batch("b1", "LAMP", 10, None));
    let id = message_id(42);
    let mut inbound = Inbound::command(id, t0() + Duration::seconds(5), allocate("o1", "LAMP", 1));
    let correlation = message_id(7);
    inbound.metadata.correlation_id = Some(correlation);

    let outcome = h.bus.handle(inbound).expect("handled");

    let all: Vec<_> = outcome
        .events
        .iter()
        .map(|e| &e.metadata)
        .chain(outcome.view_updates.iter().map(|u| &u.metadata))
        .chain(outcome.snapshots.iter().map(|s| &s.metadata))
        .collect();
    let types: Vec<_> = all.iter().map(|m| m.message_type).collect();
    assert_eq!(types, ["Allocated", "AllocationViewUpsert", "Product"]);
    for (n, metadata) in all.iter().enumerate() {
        assert_eq!(metadata.message_id, DeterministicIds.derive(id, n as u32));
        assert_eq!(metadata.correlation_id, correlation);
        assert_eq!(metadata.causation_id, id);
        assert_eq!(metadata.event_time, t0() + Duration::seconds(5));
    }
}

#[test]
fn deterministic_ids_are_uuid_v5_of_cause_and_sequence() {
    let cause = message_id(1);
    let expected = uuid::Uuid::new_v5(cause.as_uuid(), &3u32.to_be_bytes());
    assert_eq!(
        DeterministicIds.derive(cause, 3),
        MessageId::from_uuid(expected)
    );
    assert_ne!(
        DeterministicIds.derive(cause, 3),
        DeterministicIds.derive(cause, 4)
    );
}

proptest::proptest! {
    /// The ids are a contract (a redelivered input's outputs keep theirs, across versions):
    /// the fast SHA-1 must give exactly `uuid`'s version-5 value, for any namespace and name.
    #[test]
    fn name_based_ids_are_uuid_v5(namespace: u128, name in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let namespace = uuid::Uuid::from_u128(namespace);
        proptest::prop_assert_eq!(
            crate::service_layer::clock::name_based(&namespace, &name),
            uuid::Uuid::new_v5(&namespace, &name)
        );
    }
}

#[test]
fn a_new_conversation_is_correlated_to_its_first_message() {
    let mut h = Harness::new();
    let id = h.fresh_id();
    let outcome = h.send_with_id(id, create_batch("b1", "LAMP", 10, None));
    assert_eq!(outcome.events[0].metadata.correlation_id, id);
}

#[test]
fn the_clock_gives_the_event_time() {
    let instant = t0() + Duration::days(3);
    let mut deps = Dependencies::new(InMemoryStore::new(), InMemoryAllocationsView::new());
    deps.clock = Box::new(FixedClock(instant));
    let mut h = Harness::with_bus(bootstrap::bootstrap(deps).expect("wiring"));
    let outcome = h.send(create_batch("b1", "LAMP", 10, None));
    assert!(outcome
        .events
        .iter()
        .all(|e| e.metadata.event_time == instant));
    assert!(outcome
        .snapshots
        .iter()
        .all(|e| e.metadata.event_time == instant));
}

#[test]
fn a_rejection_is_stamped_like_any_event() {
    let mut h = Harness::new();
    let id = h.fresh_id();
    let outcome = h.send_with_id(id, allocate("o1", "NOPE", 1));
    let metadata = &outcome.events[0].metadata;
    assert_eq!(metadata.message_type, "CommandRejected");
    assert_eq!(metadata.message_id, DeterministicIds.derive(id, 0));
    assert_eq!(metadata.causation_id, id);
}
