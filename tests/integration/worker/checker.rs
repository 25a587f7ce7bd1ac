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
//! It must be able to fail: see the tests at the end, which feed it duplicated, missing,
//! reordered and altered outputs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use allocation_worker::adapters::mapping::default_partition;
use allocation_worker::domain::{Command, Event, MessageId, Product};
use allocation_worker::service_layer::{Disposition, ViewUpdate};

use super::replay::{replay, Expected};
use super::support::{Observed, ObservedEvent, Position, Sent, SentKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Channel {
    Events,
    View,
    Changelog,
    Commands,
}

impl Channel {
    /// A compacted topic: only the latest value per key matters.
    fn compacted(self) -> bool {
        matches!(self, Channel::View | Channel::Changelog)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Events => "event",
            Channel::View => "view row",
            Channel::Changelog => "snapshot",
            Channel::Commands => "derived command",
        })
    }
}

/// The content of one output record, comparable across replay and Kafka.
#[derive(Debug, Clone, PartialEq)]
enum Content {
    Event(Event),
    /// (orderid, sku, batchref; `None` = tombstone)
    Row(String, String, Option<String>),
    Snapshot(Option<Product>),
    Command(Command),
}

impl Content {
    /// A short kind label (`Allocated`, `view upsert`, `snapshot`, ...).
    fn kind(&self) -> String {
        match self {
            Content::Event(e) => e.type_name().to_owned(),
            Content::Row(_, _, Some(_)) => "view upsert".into(),
            Content::Row(_, _, None) => "view delete".into(),
            Content::Snapshot(_) => "snapshot".into(),
            Content::Command(c) => format!("derived {}", c.type_name()),
        }
    }

    fn short(&self) -> String {
        match self {
            Content::Event(e) => format!("{e:?}"),
            Content::Row(o, s, b) => format!("row [{o}, {s}] -> {b:?}"),
            Content::Snapshot(Some(p)) => {
                format!("snapshot of {} v{}", p.sku(), p.version_number())
            }
            Content::Snapshot(None) => "changelog tombstone".into(),
            Content::Command(c) => format!("{c:?}"),
        }
    }
}

struct Record {
    channel: Channel,
    message_id: Option<MessageId>,
    causation: Option<MessageId>,
    at: Option<Position>,
    content: Content,
}

/// The replay's records and the committed ones with one message id.
type WantGot<'a> = (Vec<&'a Record>, Vec<&'a Record>);

fn expected_records(expected: &Expected) -> Vec<Record> {
    let mut out = Vec::new();
    for (_, outcome) in &expected.outcomes {
        let mut push = |channel, meta: &allocation_worker::service_layer::Metadata, content| {
            out.push(Record {
                channel,
                message_id: Some(meta.message_id),
                causation: Some(meta.causation_id),
                at: None,
                content,
            })
        };
        for e in &outcome.events {
            push(
                Channel::Events,
                &e.metadata,
                Content::Event(e.payload.clone()),
            );
        }
        for u in &outcome.view_updates {
            let content = match &u.payload {
                ViewUpdate::Upsert {
                    orderid,
                    sku,
                    batchref,
                } => Content::Row(
                    orderid.to_string(),
                    sku.to_string(),
                    Some(batchref.to_string()),
                ),
                ViewUpdate::Delete { orderid, sku } => {
                    Content::Row(orderid.to_string(), sku.to_string(), None)
                }
            };
            push(Channel::View, &u.metadata, content);
        }
        for c in &outcome.derived_commands {
            push(
                Channel::Commands,
                &c.metadata,
                Content::Command(c.payload.clone()),
            );
        }
        for s in &outcome.snapshots {
            push(
                Channel::Changelog,
                &s.metadata,
                Content::Snapshot(Some((*s.payload).clone())),
            );
        }
    }
    out
}

fn observed_records(observed: &Observed) -> Vec<Record> {
    let mut out = Vec::new();
    let mut push = |channel, at: &Position, content| {
        out.push(Record {
            channel,
            message_id: at.message_id,
            causation: at.causation_id,
            at: Some(at.clone()),
            content,
        })
    };
    for e in &observed.events {
        push(Channel::Events, &e.at, Content::Event(e.event.clone()));
    }
    for r in &observed.view {
        push(
            Channel::View,
            &r.at,
            Content::Row(r.orderid.clone(), r.sku.clone(), r.batchref.clone()),
        );
    }
    for c in &observed.derived {
        push(
            Channel::Commands,
            &c.at,
            Content::Command(c.command.clone()),
        );
    }
    for s in &observed.snapshots {
        push(
            Channel::Changelog,
            &s.at,
            Content::Snapshot(s.product.clone()),
        );
    }
    out
}

fn at(p: &Option<Position>) -> String {
    match p {
        Some(p) => format!("p{}@{}", p.partition, p.offset),
        None => "-".into(),
    }
}

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

    // 1–2. Record for record, by message id.
    let exp = expected_records(expected);
    let obs = observed_records(observed);
    let mut by_id: BTreeMap<(Channel, MessageId), WantGot> = BTreeMap::new();
    for r in &exp {
        let id = r.message_id.expect("replay ids");
        by_id.entry((r.channel, id)).or_default().0.push(r);
    }
    for r in &obs {
        let Some(id) = r.message_id else {
            problems.push(format!(
                "{} at {} has no (UUID) message-id header: {}",
                r.channel,
                at(&r.at),
                r.content.short()
            ));
            continue;
        };
        if r.causation.is_some_and(|c| others.contains_key(&c)) {
            continue; // checked by rules 6 and 7
        }
        by_id.entry((r.channel, id)).or_default().1.push(r);
    }
    for ((channel, id), (want, got)) in &by_id {
        let Some(model) = want.first() else {
            let r = got[0];
            let why = match r.causation {
                Some(c) if commands.contains(&c) => "the replay has no such output for its cause",
                Some(_) => "caused by a message the test never sent",
                None => "without causation-id",
            };
            problems.push(format!(
                "unexpected {channel} {id} ({why}) x{} at {}: {}",
                got.len(),
                got.iter().map(|r| at(&r.at)).collect::<Vec<_>>().join(","),
                r.content.short()
            ));
            continue;
        };
        if got.len() > want.len() {
            problems.push(format!(
                "duplicated {channel} {id}: {} committed copies, expected {} (at {}): {}",
                got.len(),
                want.len(),
                got.iter().map(|r| at(&r.at)).collect::<Vec<_>>().join(","),
                model.content.short()
            ));
        } else if got.len() < want.len() && !channel.compacted() {
            problems.push(format!(
                "missing {channel} {id}: {} committed, expected {}: {} (caused by {:?})",
                got.len(),
                want.len(),
                model.content.short(),
                model.causation
            ));
        }
        for r in got {
            if r.causation != model.causation {
                problems.push(format!(
                    "{channel} {id} at {} has causation-id {:?}, expected {:?}",
                    at(&r.at),
                    r.causation,
                    model.causation
                ));
            }
            if r.content != model.content {
                problems.push(format!(
                    "{channel} {id} at {} differs from the replay:\n  got      {:?}\n  expected {:?}",
                    at(&r.at),
                    r.content,
                    model.content
                ));
            }
        }
    }

    // 3. Outputs per inbound message and kind; one outcome per Allocate.
    let mut exp_kinds: HashMap<MessageId, BTreeMap<String, usize>> = HashMap::new();
    for r in exp.iter().filter(|r| !r.channel.compacted()) {
        *exp_kinds
            .entry(r.causation.expect("replay causation"))
            .or_default()
            .entry(r.content.kind())
            .or_default() += 1;
    }
    let mut obs_kinds: HashMap<MessageId, BTreeMap<String, usize>> = HashMap::new();
    for r in obs.iter().filter(|r| !r.channel.compacted()) {
        if let Some(c) = r.causation {
            *obs_kinds
                .entry(c)
                .or_default()
                .entry(r.content.kind())
                .or_default() += 1;
        }
    }
    let mut reported = HashSet::new();
    let mut reported_allocates = HashSet::new();
    // Indexes (the chaos runner checks tens of thousands of inputs).
    let mut first_outcome = HashMap::new();
    for (id, outcome) in &expected.outcomes {
        first_outcome.entry(*id).or_insert(outcome);
    }
    let mut events_by_cause: HashMap<MessageId, Vec<&ObservedEvent>> = HashMap::new();
    for e in &observed.events {
        if let Some(c) = e.at.causation_id {
            events_by_cause.entry(c).or_default().push(e);
        }
    }
    for s in sent {
        let (Some(id), SentKind::Command { command, .. }) = (s.id, &s.kind) else {
            continue;
        };
        let empty = BTreeMap::new();
        let want = exp_kinds.get(&id).unwrap_or(&empty);
        let got = obs_kinds.get(&id).unwrap_or(&empty);
        if want != got && reported.insert(id) {
            problems.push(format!(
                "{} {id}: outputs by kind {got:?}, the replay has {want:?}",
                command.type_name()
            ));
        }
        if let Command::Allocate(a) = command {
            let first_delivery = first_outcome.get(&id);
            if first_delivery.is_some_and(|o| o.disposition != Disposition::Duplicate) {
                let outcomes: Vec<String> = events_by_cause
                    .get(&id)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter(|e| {
                        matches!(
                            &e.event,
                            Event::Allocated(x) if x.orderid == a.orderid
                        ) || matches!(&e.event, Event::OutOfStock(_) | Event::CommandRejected(_))
                    })
                    .map(|e| format!("{}@{}", e.event.type_name(), at(&Some(e.at.clone()))))
                    .collect();
                if outcomes.len() != 1 && reported_allocates.insert(id) {
                    problems.push(format!(
                        "Allocate {id} ({} {} x{}) has {} outcomes {outcomes:?}; \
                         expected exactly one Allocated/OutOfStock/CommandRejected",
                        a.orderid,
                        a.sku,
                        a.qty,
                        outcomes.len()
                    ));
                }
            }
        }
    }

    // 4. Per sku: one partition, the replay's order.
    let mut exp_order: BTreeMap<String, Vec<MessageId>> = BTreeMap::new();
    for r in exp.iter().filter(|r| r.channel == Channel::Events) {
        if let Content::Event(e) = &r.content {
            exp_order
                .entry(e.sku().to_string())
                .or_default()
                .push(r.message_id.expect("replay ids"));
        }
    }
    let mut events: Vec<_> = observed
        .events
        .iter()
        .filter(|e| e.at.causation_id.is_some_and(|c| commands.contains(&c)))
        .collect();
    events.sort_by_key(|e| (e.at.partition, e.at.offset));
    let mut obs_order: BTreeMap<String, (HashSet<i32>, Vec<MessageId>)> = BTreeMap::new();
    for e in events {
        let entry = obs_order.entry(e.event.sku().to_string()).or_default();
        entry.0.insert(e.at.partition);
        if let Some(id) = e.at.message_id {
            entry.1.push(id);
        }
    }
    for (sku, (parts, order)) in &obs_order {
        if parts.len() > 1 {
            problems.push(format!(
                "events of sku {sku} are spread over partitions {parts:?}"
            ));
        }
        let want = exp_order.get(sku).cloned().unwrap_or_default();
        let mut dedup = order.clone();
        dedup.dedup();
        let set_equal = {
            let (mut a, mut b) = (dedup.clone(), want.clone());
            a.sort();
            b.sort();
            a == b
        };
        if set_equal && dedup != want {
            let first = dedup
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            problems.push(format!(
                "events of sku {sku} are out of order from position {first}: got {:?}, expected {:?}",
                &dedup[first..(first + 3).min(dedup.len())],
                &want[first..(first + 3).min(want.len())]
            ));
        }
    }

    // 2b. Compacted topics: per key, committed values in the replay's order.
    let key_of = |r: &Record| -> Option<String> {
        match &r.content {
            Content::Snapshot(Some(p)) => Some(format!("snapshot {}", p.sku())),
            Content::Row(o, s, _) => Some(format!("row [{o}, {s}]")),
            _ => None,
        }
    };
    let mut rank: HashMap<(Channel, MessageId), usize> = HashMap::new();
    for (i, r) in exp
        .iter()
        .enumerate()
        .filter(|(_, r)| r.channel.compacted())
    {
        rank.entry((r.channel, r.message_id.expect("replay ids")))
            .or_insert(i);
    }
    let mut compacted: Vec<&Record> = obs.iter().filter(|r| r.channel.compacted()).collect();
    compacted.sort_by_key(|r| r.at.as_ref().map(|p| (p.partition, p.offset)));
    let mut last: HashMap<String, (usize, String)> = HashMap::new();
    for r in compacted {
        let (Some(key), Some(id)) = (key_of(r), r.message_id) else {
            continue;
        };
        let Some(&i) = rank.get(&(r.channel, id)) else {
            continue; // reported above
        };
        if let Some((prev, prev_at)) = last.get(&key) {
            if i <= *prev {
                problems.push(format!(
                    "{key}: {id} at {} is out of order (not newer than the value at {prev_at})",
                    at(&r.at)
                ));
            }
        }
        last.insert(key, (i, at(&r.at)));
    }

    // 5. Final changelog and view.
    let latest = observed.latest_products();
    for (sku, product) in &expected.products {
        match latest.get(sku) {
            None => problems.push(format!("changelog has no snapshot of sku {sku}")),
            Some((_, None)) => problems.push(format!("changelog ends with a tombstone for {sku}")),
            Some((partition, Some(p))) => {
                if p != product {
                    problems.push(format!(
                        "final changelog of {sku} differs from the replay:\n  got      {p:?}\n  expected {product:?}"
                    ));
                }
                let want = default_partition(sku.as_bytes(), partitions);
                if *partition != want {
                    problems.push(format!(
                        "snapshot of {sku} is on changelog partition {partition}, its commands on {want}"
                    ));
                }
            }
        }
    }
    for sku in latest
        .keys()
        .filter(|k| !expected.products.contains_key(*k))
    {
        problems.push(format!(
            "changelog has sku {sku}, which the replay never created"
        ));
    }
    let view = observed.view_fold();
    if view != expected.view {
        let orders: HashSet<&String> = view.keys().chain(expected.view.keys()).collect();
        let mut diffs: Vec<String> = orders
            .into_iter()
            .filter(|o| view.get(*o) != expected.view.get(*o))
            .map(|o| {
                format!(
                    "{o}: got {:?}, expected {:?}",
                    view.get(o),
                    expected.view.get(o)
                )
            })
            .collect();
        diffs.sort();
        diffs.truncate(5);
        problems.push(format!(
            "folded view differs from the replay: {}",
            diffs.join("; ")
        ));
    }

    // 6–7. Invalid commands and poison records.
    let mut dlq_used = vec![false; observed.dlq.len()];
    let mut obs_by_cause: HashMap<MessageId, Vec<&Record>> = HashMap::new();
    for r in &obs {
        if let Some(c) = r.causation {
            obs_by_cause.entry(c).or_default().push(r);
        }
    }
    let mut dlq_by_source: HashMap<(Option<i32>, Option<i64>), Vec<usize>> = HashMap::new();
    for (i, d) in observed.dlq.iter().enumerate() {
        dlq_by_source
            .entry((d.source_partition, d.source_offset))
            .or_default()
            .push(i);
    }
    for (&id, s) in &others {
        let caused: Vec<&Record> = obs_by_cause.get(&id).cloned().unwrap_or_default();
        let from_source: Vec<usize> = dlq_by_source
            .get(&(Some(s.partition), Some(s.offset)))
            .cloned()
            .unwrap_or_default();
        for &i in &from_source {
            dlq_used[i] = true;
        }
        match &s.kind {
            SentKind::Invalid { sku } => {
                let rejected = caused
                    .iter()
                    .filter(|r| {
                        matches!(&r.content, Content::Event(Event::CommandRejected(c))
                            if c.command_id == id && c.sku.as_str() == sku)
                    })
                    .count();
                if rejected != 1 || caused.len() != 1 {
                    problems.push(format!(
                        "invalid command {id} (p{}@{}): expected exactly one CommandRejected, got {:?}",
                        s.partition,
                        s.offset,
                        caused.iter().map(|r| r.content.short()).collect::<Vec<_>>()
                    ));
                }
                if !from_source.is_empty() {
                    problems.push(format!(
                        "invalid command {id} (p{}@{}) was dead-lettered instead of rejected",
                        s.partition, s.offset
                    ));
                }
            }
            SentKind::Poison { reason } => {
                if !caused.is_empty() {
                    problems.push(format!(
                        "poison record {id} caused outputs: {:?}",
                        caused.iter().map(|r| r.content.short()).collect::<Vec<_>>()
                    ));
                }
                let reasons: Vec<Option<&str>> = from_source
                    .iter()
                    .map(|&i| observed.dlq[i].reason.as_deref())
                    .collect();
                if reasons != [Some(reason.as_str())] {
                    problems.push(format!(
                        "poison record p{}@{}: expected one DLQ record with dlq-reason {reason}, got {reasons:?}",
                        s.partition, s.offset
                    ));
                }
            }
            SentKind::Command { .. } => {}
        }
    }
    for (d, used) in observed.dlq.iter().zip(&dlq_used) {
        if !used {
            problems.push(format!(
                "unexpected DLQ record at {} (reason {:?}, source {:?}[{:?}]@{:?})",
                at(&Some(d.at.clone())),
                d.reason,
                d.source_topic,
                d.source_partition,
                d.source_offset
            ));
        }
    }
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
