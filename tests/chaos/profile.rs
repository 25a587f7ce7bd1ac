//! What a chaos run does, decided before it starts and free of any I/O: the profile's sizes,
//! the kinds of fault, and the schedule (which fault when). Everything here is a pure function
//! of the profile and the seed, so a failing run can be repeated with `CHAOS_SEED`.
//!
//! Invariants: a schedule never has two faults closer than [`Profile::min_gap`]; every kind
//! the profile requires appears at least [`Profile::per_kind`] times; the short profile has at
//! least six different kinds, and always a worker kill -9 (the fault that exposes offsets
//! committed outside the transaction).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::workload::Rng;

/// Every kind of fault the runner injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL a worker replica; it is restarted with the same transactional id.
    WorkerKill,
    /// SIGTERM a worker replica (clean shutdown, exit 0 expected); restarted.
    WorkerTerm,
    /// SIGSTOP a replica past its session timeout (but within its transaction timeout) while
    /// another replica runs: the group moves its partitions, the zombie is fenced on resume.
    WorkerFreeze,
    /// SIGSTOP a replica longer than its transaction timeout: the coordinator aborts its
    /// transaction and bumps the producer epoch.
    WorkerStall,
    /// kill -9 a broker, restart it a few seconds later.
    BrokerKill,
    /// SIGTERM a broker (controlled shutdown), restart it a few seconds later.
    BrokerStop,
    /// Add a replica to the group (a rebalance mid-transaction).
    ScaleOut,
    /// Remove a replica from the group (SIGTERM, not restarted; a rebalance).
    ScaleIn,
    /// Stop the schema registry, start it again a few seconds later.
    RegistryRestart,
    /// A burst of poison pills and invalid commands among the load.
    PoisonBurst,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::WorkerKill,
        FaultKind::WorkerTerm,
        FaultKind::WorkerFreeze,
        FaultKind::WorkerStall,
        FaultKind::BrokerKill,
        FaultKind::BrokerStop,
        FaultKind::ScaleOut,
        FaultKind::ScaleIn,
        FaultKind::RegistryRestart,
        FaultKind::PoisonBurst,
    ];

    /// The kebab-case name used in the report.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::WorkerKill => "worker-kill",
            FaultKind::WorkerTerm => "worker-term",
            FaultKind::WorkerFreeze => "worker-freeze",
            FaultKind::WorkerStall => "worker-stall",
            FaultKind::BrokerKill => "broker-kill",
            FaultKind::BrokerStop => "broker-stop",
            FaultKind::ScaleOut => "scale-out",
            FaultKind::ScaleIn => "scale-in",
            FaultKind::RegistryRestart => "registry-restart",
            FaultKind::PoisonBurst => "poison-burst",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The size and pace of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub name: String,
    /// Commands the seed producer sends (at least; it keeps going until the faults are done).
    pub commands: usize,
    /// Commands per second of the seed producer.
    pub rate: usize,
    /// How many faults.
    pub faults: usize,
    /// Each kind of the schedule at least this often (1 for short, several for long).
    pub per_kind: usize,
    /// Random interval between two faults, inclusive bounds, seconds.
    pub gap_secs: (u64, u64),
    /// Bad-input corpus records (spread over every input topic).
    pub corpus: usize,
    /// Worker replicas at the start.
    pub replicas: usize,
    /// Partitions of every topic.
    pub partitions: i32,
    /// Distinct skus of the workload.
    pub skus: usize,
    /// One poison pill or invalid command in the load every this many commands.
    pub poison_every: usize,
}

impl Profile {
    /// `short` (CI: a few minutes) or `long` (by hand: every kind, many times).
    pub fn named(name: &str) -> Option<Self> {
        let base = Profile {
            name: name.to_owned(),
            commands: 20_000,
            rate: 200,
            faults: 7,
            per_kind: 1,
            gap_secs: (5, 20),
            corpus: 10_000,
            replicas: 3,
            partitions: 6,
            skus: 60,
            poison_every: 400,
        };
        match name {
            "short" => Some(base),
            "long" => Some(Profile {
                commands: 100_000,
                rate: 100,
                faults: 50,
                per_kind: 5,
                corpus: 20_000,
                // Many skus keep every product small: with 60, 100 000 commands grow each
                // snapshot to thousands of allocations and the check (which decodes every
                // committed snapshot and the replay's) to gigabytes.
                skus: 2_000,
                ..base
            }),
            _ => None,
        }
    }

    /// The shortest interval between two faults.
    pub fn min_gap(&self) -> Duration {
        Duration::from_secs(self.gap_secs.0)
    }
}

/// One planned fault: wait `after`, then inject `kind`.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub after: Duration,
    pub kind: FaultKind,
}

/// The fault schedule of `profile` for `seed` (see the module docs).
pub fn schedule(profile: &Profile, seed: u64) -> Vec<Planned> {
    let mut rng = Rng::new(seed ^ 0xC4A0_5EED);
    let mut kinds: Vec<FaultKind> = Vec::new();
    if profile.per_kind <= 1 {
        // Short: distinct kinds, a worker kill first among them, the rest shuffled.
        let mut rest: Vec<FaultKind> = FaultKind::ALL
            .into_iter()
            .filter(|k| *k != FaultKind::WorkerKill)
            .collect();
        shuffle(&mut rest, &mut rng);
        kinds.push(FaultKind::WorkerKill);
        kinds.extend(rest);
        kinds.truncate(profile.faults.max(6));
        shuffle(&mut kinds, &mut rng);
    } else {
        // Long: rounds of every kind, shuffled per round, until enough faults.
        while kinds.len() < profile.faults.max(profile.per_kind * FaultKind::ALL.len()) {
            let mut round = FaultKind::ALL.to_vec();
            shuffle(&mut round, &mut rng);
            kinds.extend(round);
        }
    }
    let (lo, hi) = profile.gap_secs;
    kinds
        .into_iter()
        .map(|kind| Planned {
            after: Duration::from_secs(rng.range(lo, hi)),
            kind,
        })
        .collect()
}

fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// How many faults of each kind a list holds.
pub fn count_by_kind(kinds: impl IntoIterator<Item = FaultKind>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for k in kinds {
        *out.entry(k.name().to_owned()).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_schedule_has_six_distinct_kinds_and_a_worker_kill() {
        let p = Profile::named("short").unwrap();
        for seed in 0..200 {
            let s = schedule(&p, seed);
            assert!(s.len() >= 6, "{s:?}");
            let kinds = count_by_kind(s.iter().map(|f| f.kind));
            assert_eq!(kinds.len(), s.len(), "kinds are distinct: {kinds:?}");
            assert!(kinds.contains_key("worker-kill"), "{kinds:?}");
        }
    }

    #[test]
    fn the_long_schedule_has_every_kind_several_times_and_at_least_fifty_faults() {
        let p = Profile::named("long").unwrap();
        let s = schedule(&p, 42);
        assert!(s.len() >= 50);
        let kinds = count_by_kind(s.iter().map(|f| f.kind));
        assert_eq!(kinds.len(), FaultKind::ALL.len());
        assert!(kinds.values().all(|&n| n >= p.per_kind), "{kinds:?}");
        assert!(p.skus >= 1_000, "small aggregates keep the check bounded");
    }

    #[test]
    fn intervals_stay_within_the_profile_bounds_and_the_schedule_is_reproducible() {
        let p = Profile::named("long").unwrap();
        let s = schedule(&p, 7);
        assert!(s
            .iter()
            .all(|f| (5..=20).contains(&f.after.as_secs()) && f.after >= p.min_gap()));
        assert_eq!(s, schedule(&p, 7));
        assert_ne!(s, schedule(&p, 8));
        assert!(Profile::named("medium").is_none());
    }
}
