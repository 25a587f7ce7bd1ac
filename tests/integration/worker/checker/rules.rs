//! The checker's rules, one function each (numbered as in the module docs of `checker`): each
//! appends a sentence per problem it finds and never stops at the first.

use std::collections::{BTreeMap, HashMap, HashSet};

use allocation_worker::domain::{Command, Event, MessageId};
use allocation_worker::service_layer::Disposition;

use super::super::replay::Expected;
use super::super::support::{Observed, ObservedEvent, Sent, SentKind};
use super::records::{at, Channel, Content, Record, WantGot};

/// 1–2. Record for record, by message id.
pub(super) fn by_message_id(
    exp: &[Record],
    obs: &[Record],
    commands: &HashSet<MessageId>,
    others: &HashMap<MessageId, &Sent>,
    problems: &mut Vec<String>,
) {
    let mut by_id: BTreeMap<(Channel, MessageId), WantGot> = BTreeMap::new();
    for r in exp {
        let id = r.message_id.expect("replay ids");
        by_id.entry((r.channel, id)).or_default().0.push(r);
    }
    for r in obs {
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
}

/// 3. Outputs per inbound message and kind; one outcome per Allocate.
pub(super) fn per_input(
    sent: &[Sent],
    expected: &Expected,
    observed: &Observed,
    exp: &[Record],
    obs: &[Record],
    problems: &mut Vec<String>,
) {
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
}

/// 4. Per sku: one partition, the replay's order.
pub(super) fn per_sku_order(
    exp: &[Record],
    observed: &Observed,
    commands: &HashSet<MessageId>,
    problems: &mut Vec<String>,
) {
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
}

/// 2b. Compacted topics: per key, committed values in the replay's order.
pub(super) fn compacted_order(exp: &[Record], obs: &[Record], problems: &mut Vec<String>) {
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
}
