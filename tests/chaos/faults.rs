//! Injecting one fault of the schedule into the running system: the worker replicas (through
//! the [`Pool`]), the brokers and the registry (through `scripts/stack`), or the input (a
//! burst of poison pills through the [`Load`]). Each injection returns what it did as a
//! [`FaultRecord`]; one that could not be injected (e.g. a single-broker stack) says so and is
//! not counted.

use std::time::{Duration, Instant};

use crate::cluster;
use crate::load::Load;
use crate::profile::FaultKind;
use crate::replicas::{Pool, SESSION_TIMEOUT_MS, TRANSACTION_TIMEOUT_MS};
use crate::report::FaultRecord;
use crate::workload::Rng;

/// One injected fault: its record, and whether it counts (it was really injected).
pub struct Injected {
    pub record: FaultRecord,
    pub counted: bool,
}

/// Injects `kind`; returns once the system was put back (process restarted or resumed,
/// broker or registry started again).
pub async fn inject(
    kind: FaultKind,
    pool: &mut Pool,
    load: &Load,
    rng: &mut Rng,
    started: Instant,
) -> Injected {
    let at_s = started.elapsed().as_secs_f64();
    let mut counted = true;
    let (target, detail) = match kind {
        FaultKind::WorkerKill => match pool.pick(rng, 1) {
            Some(i) => {
                pool.kill(i);
                (
                    format!("w{i}"),
                    "SIGKILL; restarted with the same transactional id".into(),
                )
            }
            None => none(&mut counted),
        },
        FaultKind::WorkerTerm => match pool.pick(rng, 1) {
            Some(i) => {
                let status = pool.terminate(i, false).await;
                (format!("w{i}"), format!("SIGTERM: {status}; restarted"))
            }
            None => none(&mut counted),
        },
        FaultKind::WorkerFreeze | FaultKind::WorkerStall => {
            let (how_long, what) = if kind == FaultKind::WorkerFreeze {
                (SESSION_TIMEOUT_MS + 2_000, "session timeout")
            } else {
                (TRANSACTION_TIMEOUT_MS + 3_000, "transaction timeout")
            };
            if pool.pick(rng, 2).is_none() {
                pool.add().await;
                pool.sleep(Duration::from_secs(5)).await;
            }
            match pool.pick(rng, 2) {
                Some(i) => {
                    pool.freeze(i, Duration::from_millis(how_long)).await;
                    (
                        format!("w{i}"),
                        format!("SIGSTOP for {how_long} ms (past its {what}) while others ran, then SIGCONT"),
                    )
                }
                None => none(&mut counted),
            }
        }
        FaultKind::BrokerKill | FaultKind::BrokerStop => {
            let brokers = cluster::brokers();
            if brokers < 3 {
                counted = false;
                ("-".into(), format!("skipped: {brokers} broker(s), needs 3"))
            } else {
                let id = rng.range(1, u64::from(brokers)) as u32;
                let hard = kind == FaultKind::BrokerKill;
                let down = Duration::from_secs(rng.range(3, 8));
                pool.cluster_fault();
                let verb = if hard { "kill-broker" } else { "stop-broker" };
                let result = match cluster::stack(&[verb, &id.to_string()]).await {
                    Ok(()) => {
                        pool.sleep(down).await;
                        cluster::stack(&["start-broker", &id.to_string()]).await
                    }
                    Err(e) => Err(e),
                };
                pool.cluster_fault();
                // Let it rejoin before the next fault can take another broker down.
                pool.sleep(Duration::from_secs(5)).await;
                match result {
                    Ok(()) => (
                        format!("broker {id}"),
                        format!("{verb}, down {} s, restarted", down.as_secs()),
                    ),
                    Err(e) => {
                        counted = false;
                        (format!("broker {id}"), format!("failed: {e}"))
                    }
                }
            }
        }
        FaultKind::ScaleOut => {
            let label = pool.add().await;
            (label, format!("added; {} replicas", pool.size()))
        }
        FaultKind::ScaleIn => {
            if pool.size() <= 2 {
                pool.add().await;
                pool.sleep(Duration::from_secs(5)).await;
            }
            match pool.pick(rng, 1) {
                Some(i) => {
                    let status = pool.terminate(i, true).await;
                    (
                        format!("w{i}"),
                        format!("removed (SIGTERM: {status}); {} replicas", pool.size()),
                    )
                }
                None => none(&mut counted),
            }
        }
        FaultKind::RegistryRestart => {
            let down = Duration::from_secs(rng.range(5, 10));
            pool.cluster_fault();
            let result = match cluster::stack(&["stop-registry"]).await {
                Ok(()) => {
                    pool.sleep(down).await;
                    cluster::stack(&["start-registry"]).await
                }
                Err(e) => Err(e),
            };
            pool.cluster_fault();
            match result {
                Ok(()) => (
                    "registry".into(),
                    format!("stopped for {} s, restarted", down.as_secs()),
                ),
                Err(e) => {
                    counted = false;
                    ("registry".into(), format!("failed: {e}"))
                }
            }
        }
        FaultKind::PoisonBurst => {
            let n = rng.range(10, 40) as usize;
            load.burst(n);
            (
                "commands".into(),
                format!("{n} poison pills and invalid commands"),
            )
        }
    };
    Injected {
        record: FaultRecord {
            at_s,
            kind: kind.name().to_owned(),
            target,
            detail,
        },
        counted,
    }
}

fn none(counted: &mut bool) -> (String, String) {
    *counted = false;
    ("-".into(), "skipped: no running replica to hit".into())
}
