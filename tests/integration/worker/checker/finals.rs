//! The checker's rules on where a run ends up (numbered as in the module docs of `checker`):
//! the final changelog and view, and what became of invalid commands and poison records.

use std::collections::{HashMap, HashSet};

use allocation_worker::adapters::mapping::default_partition;
use allocation_worker::domain::{Event, MessageId};

use super::super::replay::Expected;
use super::super::support::{Observed, Sent, SentKind};
use super::records::{at, Content, Record};

/// 5. Final changelog and view.
pub(super) fn final_state(
    expected: &Expected,
    observed: &Observed,
    partitions: i32,
    problems: &mut Vec<String>,
) {
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
}

/// 6–7. Invalid commands and poison records.
pub(super) fn rejected_and_poison(
    observed: &Observed,
    obs: &[Record],
    others: &HashMap<MessageId, &Sent>,
    problems: &mut Vec<String>,
) {
    let mut dlq_used = vec![false; observed.dlq.len()];
    let mut obs_by_cause: HashMap<MessageId, Vec<&Record>> = HashMap::new();
    for r in obs {
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
    for (&id, s) in others {
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
}
