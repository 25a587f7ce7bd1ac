//! The exactly-once checker: compares what the worker committed ([`Observed`]) with what was
//! sent ([`Sent`]) and the sequential replay ([`Expected`]). It reports problems as sentences;
//! an empty list means every input had exactly its effects:
//!
//! 1. every output record decodes and carries a `message-id`;
//! 2. events and worker-written commands equal the replay's, record for record by `message-id`
//!    (same count: more is a duplicate, fewer is a loss; same `causation-id`; same content).
//!    Changelog snapshots and view rows go to compacted topics, and the worker may write only
//!    the latest value per key of a batch: each one committed must be one of the replay's
//!    (same id, cause and content — an intermediate snapshot too), at most as often, and per
//!    key in the replay's order (no stale value after a newer one);
//! 3. every `Allocate` has exactly one outcome (`Allocated`, `OutOfStock` or `CommandRejected`)
//!    caused by it, and per inbound message the events and derived commands of each kind are
//!    as many as in the replay;
//! 4. per sku, events are on one partition, in the replay's order;
//! 5. the latest changelog value of every sku equals the replay's product and sits on the
//!    co-partitioned partition; the folded view equals the replay's view;
//! 6. an invalid command yields exactly one `CommandRejected` naming it, and nothing else;
//! 7. a poison record yields exactly one DLQ record pointing at its source offset with the
//!    expected `dlq-reason`, and nothing else; there is no other DLQ record.
//!
//! It must be able to fail: see `checker_tests`, which feed it duplicated, missing,
//! reordered and altered outputs.

mod finals;
mod records;
mod rules;

use std::collections::{HashMap, HashSet};

use allocation_worker::domain::MessageId;

use super::replay::{replay, Expected};
use super::support::{Observed, Sent, SentKind};
use records::{expected_records, observed_records};

/// Every problem found (see the module docs); empty when the run was exactly-once.
pub fn problems(
    sent: &[Sent],
    expected: &Expected,
    observed: &Observed,
    partitions: i32,
) -> Vec<String> {
    let mut problems: Vec<String> = observed
        .undecodable
        .iter()
        .map(|u| format!("undecodable output: {u}"))
        .collect();

    let commands: HashSet<MessageId> = sent
        .iter()
        .filter(|s| matches!(s.kind, SentKind::Command { .. }))
        .filter_map(|s| s.id)
        .collect();
    let others: HashMap<MessageId, &Sent> = sent
        .iter()
        .filter(|s| !matches!(s.kind, SentKind::Command { .. }))
        .filter_map(|s| s.id.map(|id| (id, s)))
        .collect();

    let exp = expected_records(expected);
    let obs = observed_records(observed);
    rules::by_message_id(&exp, &obs, &commands, &others, &mut problems);
    rules::per_input(sent, expected, observed, &exp, &obs, &mut problems);
    rules::per_sku_order(&exp, observed, &commands, &mut problems);
    rules::compacted_order(&exp, &obs, &mut problems);
    finals::final_state(expected, observed, partitions, &mut problems);
    finals::rejected_and_poison(observed, &obs, &others, &mut problems);
    problems
}

/// Replays `sent`, checks `observed` against it, and panics listing the problems. Returns
/// the replay for further, test-specific assertions.
pub fn assert_exactly_once(sent: &[Sent], observed: &Observed, partitions: i32) -> Expected {
    let expected = replay(sent);
    let found = problems(sent, &expected, observed, partitions);
    if !found.is_empty() {
        let shown: Vec<&String> = found.iter().take(40).collect();
        panic!(
            "exactly-once check failed: {} problem(s) over {} sent records, {} events, {} snapshots, \
             {} view rows, {} DLQ records:\n- {}",
            found.len(),
            sent.len(),
            observed.events.len(),
            observed.snapshots.len(),
            observed.view.len(),
            observed.dlq.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n- ")
        );
    }
    eprintln!(
        "checker: exactly-once OK: {} sent, {} events, {} snapshots, {} view rows, {} DLQ records",
        sent.len(),
        observed.events.len(),
        observed.snapshots.len(),
        observed.view.len(),
        observed.dlq.len()
    );
    expected
}
