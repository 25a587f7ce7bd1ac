//! The checker without Kafka (fast): a perfect run passes, and every kind of defect — a
//! duplicated outcome, a lost one, a reordering, a stale changelog, a wrong view, an
//! unanswered poison record, a wrongly dead-lettered invalid command — is reported.

use std::collections::HashMap;

use allocation_worker::adapters::mapping::default_partition;
use allocation_worker::domain::{Command, Event, MessageId, Product};
use allocation_worker::service_layer::{InboundMetadata, ViewUpdate};
use uuid::Uuid;

use super::checker::problems;
use super::replay::{replay, Expected};
use super::support::observed::{ObservedRow, ObservedSnapshot};
use super::support::{
    now_ms, Observed, ObservedDlq, ObservedEvent, Position, Sent, SentKind, PARTITIONS,
};
use super::workload::Workload;

/// Sent records as a producer would have placed them (murmur2 partition, offsets in order).
fn sent_list(commands: Vec<Command>) -> Vec<Sent> {
    let mut offsets: HashMap<i32, i64> = HashMap::new();
    let mut place = |key: &str| {
        let partition = default_partition(key.as_bytes(), PARTITIONS);
        let offset = offsets.entry(partition).or_default();
        *offset += 1;
        (partition, *offset - 1)
    };
    let mut sent = Vec::new();
    for command in commands {
        let id = MessageId::from_uuid(Uuid::new_v4());
        let key = command.sku().to_string();
        let (partition, offset) = place(&key);
        sent.push(Sent {
            id: Some(id),
            key,
            partition,
            offset,
            kind: SentKind::Command {
                command,
                meta: InboundMetadata::new(id, now_ms()),
            },
        });
    }
    for (i, kind) in [
        SentKind::Invalid {
            sku: "SKU-01".into(),
        },
        SentKind::Poison {
            reason: "bad-magic-byte".into(),
        },
    ]
    .into_iter()
    .enumerate()
    {
        let (partition, offset) = place("SKU-01");
        sent.push(Sent {
            id: Some(MessageId::from_uuid(Uuid::from_u128(i as u128 + 1))),
            key: "SKU-01".into(),
            partition,
            offset,
            kind,
        });
    }
    sent
}

/// What a perfect worker commits for `sent`: the replay's outcomes on the right partitions,
/// one CommandRejected per invalid command, one DLQ record per poison record.
fn perfect(sent: &[Sent], expected: &Expected) -> Observed {
    let mut out = Observed::default();
    let mut offsets: HashMap<(u8, i32), i64> = HashMap::new();
    let mut at = |topic: u8, key: &str, partition: Option<i32>, id: MessageId, cause: MessageId| {
        let partition = partition.unwrap_or_else(|| default_partition(key.as_bytes(), PARTITIONS));
        let offset = offsets.entry((topic, partition)).or_default();
        *offset += 1;
        Position {
            partition,
            offset: *offset,
            key: key.to_owned(),
            message_id: Some(id),
            causation_id: Some(cause),
        }
    };
    for (_, outcome) in &expected.outcomes {
        for e in &outcome.events {
            let m = &e.metadata;
            out.events.push(ObservedEvent {
                at: at(
                    0,
                    e.payload.sku().as_str(),
                    None,
                    m.message_id,
                    m.causation_id,
                ),
                event: e.payload.clone(),
            });
        }
        for u in &outcome.view_updates {
            let m = &u.metadata;
            let (orderid, sku, batchref) = match &u.payload {
                ViewUpdate::Upsert {
                    orderid,
                    sku,
                    batchref,
                } => (orderid, sku, Some(batchref.to_string())),
                ViewUpdate::Delete { orderid, sku } => (orderid, sku, None),
            };
            let partition = default_partition(orderid.as_str().as_bytes(), PARTITIONS);
            out.view.push(ObservedRow {
                at: at(1, "row", Some(partition), m.message_id, m.causation_id),
                orderid: orderid.to_string(),
                sku: sku.to_string(),
                batchref,
            });
        }
        for s in &outcome.snapshots {
            let m = &s.metadata;
            out.snapshots.push(ObservedSnapshot {
                at: at(
                    2,
                    s.payload.sku().as_str(),
                    None,
                    m.message_id,
                    m.causation_id,
                ),
                product: Some((*s.payload).clone()),
            });
        }
    }
    for s in sent {
        let id = s.id.expect("id");
        match &s.kind {
            SentKind::Invalid { sku } => out.events.push(ObservedEvent {
                at: at(0, sku, None, MessageId::from_uuid(Uuid::new_v4()), id),
                event: Event::CommandRejected(allocation_worker::domain::CommandRejected {
                    command_id: id,
                    sku: allocation_worker::domain::Sku::new(sku).unwrap(),
                    code: "invalid_value".into(),
                    reason: "qty".into(),
                }),
            }),
            SentKind::Poison { reason } => out.dlq.push(ObservedDlq {
                at: Position {
                    partition: s.partition,
                    offset: s.offset,
                    key: s.key.clone(),
                    message_id: Some(id),
                    causation_id: None,
                },
                reason: Some(reason.clone()),
                source_topic: Some("commands".into()),
                source_partition: Some(s.partition),
                source_offset: Some(s.offset),
                payload: None,
            }),
            SentKind::Command { .. } => {}
        }
    }
    out
}

fn run() -> (Vec<Sent>, Expected, Observed) {
    let mut work = Workload::new(42, 5);
    let mut commands = work.setup();
    commands.extend((0..400).map(|_| work.next_command()));
    let sent = sent_list(commands);
    let expected = replay(&sent);
    let observed = perfect(&sent, &expected);
    (sent, expected, observed)
}

/// The index of an event of `kind` caused by an `Allocate` command.
fn outcome_of_an_allocate(sent: &[Sent], observed: &Observed, kind: &str) -> usize {
    observed
        .events
        .iter()
        .position(|e| {
            e.event.type_name() == kind
                && sent.iter().any(|s| {
                    s.id == e.at.causation_id && matches!(s.command(), Some(Command::Allocate(_)))
                })
        })
        .unwrap_or_else(|| panic!("no {kind} caused by an Allocate"))
}

fn check(sent: &[Sent], expected: &Expected, observed: &Observed) -> Vec<String> {
    problems(sent, expected, observed, PARTITIONS)
}

fn assert_reports(found: &[String], needle: &str) {
    assert!(
        found.iter().any(|p| p.contains(needle)),
        "expected a problem containing {needle:?}, got {found:#?}"
    );
}

#[test]
fn a_perfect_run_passes_and_the_workload_covers_every_outcome() {
    let (sent, expected, observed) = run();
    assert_eq!(check(&sent, &expected, &observed), Vec::<String>::new());
    let kinds: std::collections::BTreeSet<&str> = observed
        .events
        .iter()
        .map(|e| e.event.type_name())
        .collect();
    for kind in [
        "BatchCreated",
        "Allocated",
        "OutOfStock",
        "Deallocated",
        "BatchQuantityChanged",
        "CommandRejected",
    ] {
        assert!(
            kinds.contains(kind),
            "the workload never yields {kind}: {kinds:?}"
        );
    }
}

#[test]
fn a_duplicated_outcome_is_reported() {
    let (sent, expected, mut observed) = run();
    let i = outcome_of_an_allocate(&sent, &observed, "Allocated");
    let mut copy = observed.events[i].clone();
    copy.at.offset += 10_000;
    observed.events.push(copy);
    let found = check(&sent, &expected, &observed);
    assert_reports(&found, "duplicated event");
    assert_reports(
        &found,
        "expected exactly one Allocated/OutOfStock/CommandRejected",
    );
}

#[test]
fn a_duplicate_with_a_fresh_message_id_is_still_reported() {
    let (sent, expected, mut observed) = run();
    let i = outcome_of_an_allocate(&sent, &observed, "OutOfStock");
    let mut copy = observed.events[i].clone();
    copy.at.message_id = Some(MessageId::from_uuid(Uuid::new_v4()));
    observed.events.push(copy);
    let found = check(&sent, &expected, &observed);
    assert_reports(&found, "unexpected event");
    assert_reports(&found, "outputs by kind");
}

#[test]
fn a_lost_outcome_and_a_lost_snapshot_are_reported() {
    let (sent, expected, mut observed) = run();
    let i = outcome_of_an_allocate(&sent, &observed, "Allocated");
    observed.events.remove(i);
    let last = observed.snapshots.len() - 1;
    observed.snapshots.remove(last);
    let found = check(&sent, &expected, &observed);
    assert_reports(&found, "missing event");
    assert_reports(&found, "has 0 outcomes");
    assert_reports(&found, "final changelog of");
}

#[test]
fn reordered_events_are_reported() {
    let (sent, expected, mut observed) = run();
    let sku = observed.events[0].event.sku().clone();
    let idx: Vec<usize> = observed
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.event.sku() == &sku)
        .map(|(i, _)| i)
        .collect();
    let (a, b) = (idx[3], idx[4]);
    let (pa, pb) = (observed.events[a].at.offset, observed.events[b].at.offset);
    observed.events[a].at.offset = pb;
    observed.events[b].at.offset = pa;
    assert_reports(&check(&sent, &expected, &observed), "out of order");
}

#[test]
fn a_stale_changelog_and_a_wrong_view_are_reported() {
    let (sent, expected, mut observed) = run();
    // The last snapshot of some sku replaced by an older state of it.
    let last = observed.snapshots.len() - 1;
    let sku = observed.snapshots[last].at.key.clone();
    let older: Product = observed
        .snapshots
        .iter()
        .find(|s| s.at.key == sku)
        .and_then(|s| s.product.clone())
        .expect("an older snapshot");
    observed.snapshots[last].product = Some(older);
    let upsert = observed
        .view
        .iter_mut()
        .rev()
        .find(|r| r.batchref.is_some())
        .expect("an upsert");
    upsert.batchref = Some("elsewhere".into());
    let found = check(&sent, &expected, &observed);
    assert_reports(&found, "final changelog of");
    assert_reports(&found, "differs from the replay");
    assert_reports(&found, "folded view differs");
}

#[test]
fn unanswered_poison_and_dead_lettered_invalid_commands_are_reported() {
    let (sent, expected, mut observed) = run();
    let poison = observed.dlq.pop().expect("the poison's DLQ record");
    let invalid = sent
        .iter()
        .find(|s| matches!(s.kind, SentKind::Invalid { .. }))
        .expect("an invalid command");
    observed.dlq.push(ObservedDlq {
        source_partition: Some(invalid.partition),
        source_offset: Some(invalid.offset),
        ..poison.clone()
    });
    let found = check(&sent, &expected, &observed);
    assert_reports(
        &found,
        "expected one DLQ record with dlq-reason bad-magic-byte",
    );
    assert_reports(&found, "was dead-lettered instead of rejected");

    // Two DLQ records for one poison record: a duplicate.
    let (sent, expected, mut observed) = run();
    let copy = observed.dlq[0].clone();
    observed.dlq.push(copy);
    assert_reports(
        &check(&sent, &expected, &observed),
        "expected one DLQ record with dlq-reason",
    );
}

#[test]
fn snapshots_and_rows_may_be_compacted_but_not_duplicated_or_reordered() {
    let (sent, expected, mut observed) = run();
    // Compacted within a batch: an intermediate snapshot and row are not written. Fine.
    let first_of_sku = observed.snapshots[0].at.key.clone();
    let i = observed
        .snapshots
        .iter()
        .position(|s| s.at.key == first_of_sku)
        .unwrap();
    observed.snapshots.remove(i);
    let upsert_later_deleted = observed
        .view
        .iter()
        .position(|r| {
            r.batchref.is_some()
                && observed
                    .view
                    .iter()
                    .any(|d| d.batchref.is_none() && (&d.orderid, &d.sku) == (&r.orderid, &r.sku))
        })
        .expect("a row upserted then deleted");
    observed.view.remove(upsert_later_deleted);
    assert_eq!(check(&sent, &expected, &observed), Vec::<String>::new());

    // A snapshot committed twice is a duplicate.
    let mut twice = observed.clone();
    let mut copy = twice.snapshots[3].clone();
    copy.at.offset += 10_000;
    twice.snapshots.push(copy);
    assert_reports(&check(&sent, &expected, &twice), "duplicated snapshot");

    // An older snapshot of a sku committed after a newer one (the last one still right).
    let mut stale = observed.clone();
    let sku = stale.snapshots.last().unwrap().at.key.clone();
    let of_sku: Vec<usize> = stale
        .snapshots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.at.key == sku)
        .map(|(i, _)| i)
        .collect();
    let (older, newer) = (of_sku[of_sku.len() - 3], of_sku[of_sku.len() - 2]);
    let (po, pn) = (
        stale.snapshots[older].at.offset,
        stale.snapshots[newer].at.offset,
    );
    stale.snapshots[older].at.offset = pn;
    stale.snapshots[newer].at.offset = po;
    assert_reports(&check(&sent, &expected, &stale), "is out of order");
}
