//! The run's verdict, written to `target/chaos/report.json`: what was injected, what was
//! acknowledged, and every violation found, by kind. Pure: built from the checker's findings
//! and the runner's counts; [`Report::passed`] is the only place that decides pass/fail.
//!
//! Invariant: a report passes only when every violation count is zero, no problem sentence is
//! left unclassified, and the run injected at least the faults its profile asks for.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::profile::Profile;

/// One fault as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    /// Seconds since the load started.
    pub at_s: f64,
    pub kind: String,
    /// What it hit (replica label, broker id, ...).
    pub target: String,
    pub detail: String,
}

/// One worker process that ended.
#[derive(Debug, Clone, Serialize)]
pub struct ExitRecord {
    pub at_s: f64,
    pub replica: String,
    /// The exit code, or `signal N`.
    pub status: String,
    /// Whether an injected fault explains it (kill, stop, fencing after a freeze, ...), or it is
    /// the worker's documented exit on a fenced producer (see `fenced`).
    pub expected: bool,
    /// Exit 1 on a fatal transactional-producer error (fenced: another instance with the same
    /// transactional id, or the coordinator aborted a transaction that outlived
    /// `transaction.timeout.ms`, e.g. on a CPU-starved machine). The worker's contract is to
    /// exit and be restarted; the data checks decide whether anything went wrong.
    pub fenced: bool,
    pub log: String,
}

/// The full report (see the module docs).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub profile: String,
    pub seed: u64,
    pub duration_s: f64,
    pub faults: BTreeMap<String, usize>,
    pub faults_total: usize,
    /// Acknowledged records of the seed producer (commands, invalid commands, poison pills).
    pub acked: usize,
    pub acked_commands: usize,
    /// Acknowledged inputs with an effect missing.
    pub lost: usize,
    /// Output records committed more than once (final read and read-throughout consumer).
    pub duplicated: usize,
    /// DLQ records read at the end, and how many were expected (pills + corpus).
    pub dlq: usize,
    pub dlq_expected: usize,
    pub dlq_violations: usize,
    pub order_violations: usize,
    pub state_mismatches: usize,
    pub hanging_transactions: usize,
    /// Other checker findings (content, causation, undecodable output, ...).
    pub other_violations: usize,
    pub corpus_sent: usize,
    /// Worker exits no fault explains and that are not a fenced producer's exit (a crash).
    pub crashes: usize,
    /// Exits on a fenced producer (expected or not; they are never counted as crashes).
    pub fenced_exits: usize,
    /// In-process recoveries of the replicas (new producer and consumer after a fenced one).
    pub recoveries: usize,
    pub read_throughout_records: usize,
    pub worker_exits: Vec<ExitRecord>,
    pub fault_log: Vec<FaultRecord>,
    /// The first problems found, as sentences.
    pub problems: Vec<String>,
    pub pass: bool,
}

/// Which count a checker sentence belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    Lost,
    Duplicated,
    Order,
    State,
    Dlq,
    Other,
}

/// Sorts one checker sentence into its count.
pub fn classify(problem: &str) -> Violation {
    let p = problem.trim_start();
    if p.starts_with("missing ") || p.contains("has 0 outcomes") || p.starts_with("lost ") {
        Violation::Lost
    } else if p.starts_with("duplicated ") || p.contains("outcomes [") && !p.contains("has 0") {
        Violation::Duplicated
    } else if p.contains("out of order") || p.contains("spread over partitions") {
        Violation::Order
    } else if p.starts_with("final changelog")
        || p.starts_with("changelog ")
        || p.starts_with("folded view")
        || p.starts_with("snapshot of")
    {
        Violation::State
    } else if p.contains("DLQ")
        || p.starts_with("poison record")
        || p.starts_with("invalid command")
        || p.starts_with("corpus ")
    {
        Violation::Dlq
    } else {
        Violation::Other
    }
}

impl Report {
    /// Counts `problems` into the violation fields and keeps the first `per_kind` sentences of
    /// each kind (so that a flood of one kind does not hide the others).
    pub fn add_problems(&mut self, problems: &[String], per_kind: usize) {
        for p in problems {
            let count = match classify(p) {
                Violation::Lost => &mut self.lost,
                Violation::Duplicated => &mut self.duplicated,
                Violation::Order => &mut self.order_violations,
                Violation::State => &mut self.state_mismatches,
                Violation::Dlq => &mut self.dlq_violations,
                Violation::Other => &mut self.other_violations,
            };
            *count += 1;
            if *count <= per_kind {
                self.problems.push(p.chars().take(600).collect());
            }
        }
    }

    /// Decides pass/fail (see the module docs); returns why it failed.
    pub fn decide(&mut self, profile: &Profile) -> Vec<String> {
        let mut why = Vec::new();
        let counts = [
            ("lost", self.lost),
            ("duplicated", self.duplicated),
            ("order_violations", self.order_violations),
            ("state_mismatches", self.state_mismatches),
            ("dlq_violations", self.dlq_violations),
            ("hanging_transactions", self.hanging_transactions),
            ("other_violations", self.other_violations),
            ("crashes", self.crashes),
        ];
        for (name, n) in counts {
            if n > 0 {
                why.push(format!("{name} = {n}"));
            }
        }
        let min_faults = if profile.per_kind > 1 { 50 } else { 6 };
        if self.faults_total < min_faults || self.faults.len() < 6 {
            why.push(format!(
                "only {} faults of {} kinds were injected (at least {min_faults} of 6 kinds)",
                self.faults_total,
                self.faults.len()
            ));
        }
        if profile.per_kind > 1 && self.faults.values().any(|&n| n < profile.per_kind) {
            why.push(format!(
                "not every kind {} times: {:?}",
                profile.per_kind, self.faults
            ));
        }
        if self.acked_commands == 0 {
            why.push("no command was acknowledged".into());
        }
        self.pass = why.is_empty();
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checker_sentences_land_in_their_counts() {
        let cases = [
            (
                "missing event 1: 0 committed, expected 1: x",
                Violation::Lost,
            ),
            (
                "Allocate 1 (o s x1) has 0 outcomes []; expected",
                Violation::Lost,
            ),
            (
                "duplicated event 1: 2 committed copies",
                Violation::Duplicated,
            ),
            (
                "Allocate 1 (o s x1) has 2 outcomes [a, b]; expected",
                Violation::Duplicated,
            ),
            (
                "events of sku A are out of order from position 3",
                Violation::Order,
            ),
            (
                "snapshot A: x at p1@2 is out of order (not newer",
                Violation::Order,
            ),
            (
                "final changelog of A differs from the replay",
                Violation::State,
            ),
            ("folded view differs from the replay: o1", Violation::State),
            ("unexpected DLQ record at p1@2", Violation::Dlq),
            (
                "poison record p1@2: expected one DLQ record",
                Violation::Dlq,
            ),
            ("event 1 at p1@2 differs from the replay", Violation::Other),
        ];
        for (sentence, want) in cases {
            assert_eq!(classify(sentence), want, "{sentence}");
        }
    }

    fn passing() -> Report {
        let mut r = Report {
            acked_commands: 10,
            faults_total: 6,
            ..Report::default()
        };
        for k in ["a", "b", "c", "d", "e", "f"] {
            r.faults.insert(k.into(), 1);
        }
        r
    }

    #[test]
    fn a_clean_run_with_enough_faults_passes_and_any_violation_fails_it() {
        let short = Profile::named("short").unwrap();
        let mut r = passing();
        assert!(r.decide(&short).is_empty() && r.pass);

        let mut r = passing();
        r.add_problems(&["duplicated event x: 2 committed copies".into()], 10);
        assert!(!r.decide(&short).is_empty() && !r.pass);
        assert_eq!((r.duplicated, r.problems.len()), (1, 1));

        let mut r = passing();
        r.hanging_transactions = 1;
        assert!(!r.decide(&short).is_empty());

        let mut r = passing();
        r.faults.remove("f");
        r.faults_total = 5;
        assert!(!r.decide(&short).is_empty(), "too few faults");

        let long = Profile::named("long").unwrap();
        let mut r = passing();
        assert!(
            !r.decide(&long).is_empty(),
            "the long profile needs 50 faults"
        );
    }

    #[test]
    fn the_report_serialises_with_the_fields_the_issue_names() {
        let json = serde_json::to_value(passing()).unwrap();
        for field in [
            "faults",
            "acked",
            "lost",
            "duplicated",
            "dlq",
            "order_violations",
            "state_mismatches",
            "hanging_transactions",
            "pass",
        ] {
            assert!(json.get(field).is_some(), "{field}");
        }
    }
}
