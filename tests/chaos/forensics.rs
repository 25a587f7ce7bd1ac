//! What a failed run leaves behind to be explained: every finding (the report keeps only the
//! first few of each kind) and, for every sku a finding names, its history side by side — each
//! command in partition order with the replay's events and the committed ones, and the
//! snapshots it caused (version and allocations) — so the first command whose outcome differs
//! can be found without the cluster, which `scripts/chaos` stops and removes.
//!
//! Written under `target/chaos/forensics/` only when there are findings; never read back.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use allocation_worker::domain::{Event, MessageId, Product};

use crate::replay::Expected;
use crate::support::{Observed, Sent, SentKind};

/// Writes `problems.txt` and one `sku-<SKU>.txt` per sku named in `findings` into `dir`.
pub fn write(
    dir: &Path,
    sent: &[Sent],
    expected: &Expected,
    observed: &Observed,
    findings: &[String],
) {
    if findings.is_empty() {
        return;
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("forensics: cannot create {}: {e}", dir.display());
        return;
    }
    let save = |name: &str, text: String| {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("forensics: cannot write {}: {e}", path.display());
        }
    };
    save("problems.txt", findings.join("\n\n"));
    let outcomes: HashMap<MessageId, Vec<&Event>> = expected
        .outcomes
        .iter()
        .map(|(id, outcome)| (*id, outcome.events.iter().map(|e| &e.payload).collect()))
        .collect();
    for sku in skus_named(findings) {
        save(
            &format!("sku-{sku}.txt"),
            history(&sku, sent, &outcomes, observed),
        );
    }
    eprintln!("forensics: written to {}", dir.display());
}

/// The skus (`SKU-<n>`) mentioned in the findings.
fn skus_named(findings: &[String]) -> BTreeSet<String> {
    let mut skus = BTreeSet::new();
    for finding in findings {
        let mut rest = finding.as_str();
        while let Some(at) = rest.find("SKU-") {
            let tail = &rest[at + 4..];
            let digits = tail.chars().take_while(char::is_ascii_digit).count();
            if digits > 0 {
                skus.insert(format!("SKU-{}", &tail[..digits]));
            }
            rest = &tail[digits..];
        }
    }
    skus
}

/// One sku's commands in partition order, each with the replay's and the committed events
/// and the snapshots it caused.
fn history(
    sku: &str,
    sent: &[Sent],
    expected: &HashMap<MessageId, Vec<&Event>>,
    observed: &Observed,
) -> String {
    let mut committed: HashMap<MessageId, Vec<String>> = HashMap::new();
    for e in &observed.events {
        if let Some(cause) = e.at.causation_id {
            committed
                .entry(cause)
                .or_default()
                .push(format!("p{}@{} {:?}", e.at.partition, e.at.offset, e.event));
        }
    }
    let mut snapshots: BTreeMap<MessageId, Vec<String>> = BTreeMap::new();
    for s in observed.snapshots.iter().filter(|s| s.at.key == sku) {
        if let Some(cause) = s.at.causation_id {
            snapshots.entry(cause).or_default().push(format!(
                "p{}@{} {}",
                s.at.partition,
                s.at.offset,
                s.product.as_ref().map_or("tombstone".into(), summary)
            ));
        }
    }
    let mut ordered: Vec<&Sent> = sent.iter().filter(|s| s.key == sku).collect();
    ordered.sort_by_key(|s| (s.partition, s.offset));
    let mut out = format!("history of {sku}: {} record(s) sent\n", ordered.len());
    let mut first_difference = None;
    for s in ordered {
        let SentKind::Command { command, .. } = &s.kind else {
            let _ = writeln!(out, "\np{}@{} {:?}", s.partition, s.offset, s.kind);
            continue;
        };
        let Some(id) = s.id else {
            continue;
        };
        let want: Vec<String> = expected
            .get(&id)
            .map(|events| events.iter().map(|e| format!("{e:?}")).collect())
            .unwrap_or_default();
        let got = committed.get(&id).cloned().unwrap_or_default();
        let same = want.len() == got.len()
            && want
                .iter()
                .zip(&got)
                .all(|(w, g)| g.split_once(' ').is_some_and(|(_, event)| event == w));
        if !same && first_difference.is_none() {
            first_difference = Some((s.partition, s.offset));
        }
        let _ = writeln!(
            out,
            "\np{}@{} {id} {command:?}{}",
            s.partition,
            s.offset,
            if same { "" } else { "   <-- DIFFERS" }
        );
        if !same {
            for w in &want {
                let _ = writeln!(out, "  replay:    {w}");
            }
        }
        for g in &got {
            let _ = writeln!(out, "  committed: {g}");
        }
        for snapshot in snapshots.get(&id).into_iter().flatten() {
            let _ = writeln!(out, "  snapshot:  {snapshot}");
        }
    }
    if let Some((p, o)) = first_difference {
        out.insert_str(0, &format!("first difference at command p{p}@{o}\n"));
    }
    out
}

/// A snapshot in one line: version, then each batch's purchased quantity, eta and allocated
/// orders in allocation order.
fn summary(product: &Product) -> String {
    let mut line = format!("v{}", product.version_number());
    for batch in product.batches() {
        let orders: Vec<String> = batch
            .allocations()
            .iter()
            .map(|l| format!("{}x{}", l.orderid, l.qty.get()))
            .collect();
        let _ = write!(
            line,
            " | {} q{} eta {:?}: {}",
            batch.reference(),
            batch.purchased_quantity().get(),
            batch.eta(),
            orders.join(",")
        );
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_found_in_findings() {
        let findings = vec![
            "final changelog of SKU-34 differs".to_string(),
            "missing event x: Allocated { sku: Sku(\"SKU-38\") } and SKU-38 again; SKU-x".into(),
        ];
        let skus: Vec<String> = skus_named(&findings).into_iter().collect();
        assert_eq!(skus, ["SKU-34", "SKU-38"]);
    }
}
