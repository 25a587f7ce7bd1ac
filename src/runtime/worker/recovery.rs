//! In-process recovery: which worker errors a fresh producer and a fresh group membership cure,
//! and how often the worker may try before it gives up and exits.
//!
//! A transactional producer that the coordinator fenced (its transaction outlived
//! `transaction.timeout.ms`, or messages timed out and the epoch bump failed —
//! `INVALID_TXN_STATE`, librdkafka#3297) is unusable, but the process is not: like Kafka
//! Streams, the worker then drops every uncommitted change and all partition state, leaves the
//! group, creates a new producer with the same `transactional.id` (`init_transactions` aborts
//! whatever the old one left open) and a new consumer, and restores its partitions from the
//! changelog on the new assignment. That is what a process restart does, without the
//! orchestrator's restart back-off (a crash-looping pod waits up to five minutes) and without
//! losing the HTTP endpoints meanwhile.
//!
//! Invariants:
//! - only errors a restart could cure are recovered: configuration, authorization and
//!   programming errors (a corrupt store, an invalid bus wiring) end the process as before;
//! - recoveries back off exponentially and give up after [`MAX_RECOVERIES`] in a row without a
//!   committed batch between them: a replica that cannot make progress (e.g. another process
//!   holds its `transactional.id`) exits non-zero and is seen.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::WorkerError;
use crate::runtime::transaction::TxnError;

/// Recoveries in a row (no batch committed in between) before the worker gives up.
pub const MAX_RECOVERIES: u32 = 8;

/// Delay before the first recovery; doubled per further attempt.
const FIRST_DELAY: Duration = Duration::from_millis(500);

/// Upper bound of the delay between recoveries.
const MAX_DELAY: Duration = Duration::from_secs(30);

impl WorkerError {
    /// True when a new producer and a new group membership may cure this error.
    pub fn is_recoverable(&self) -> bool {
        match self {
            WorkerError::Kafka(e) => kafka_recoverable(e),
            WorkerError::Transaction(TxnError::Abort { source, .. })
            | WorkerError::Transaction(TxnError::Fatal { source, .. }) => kafka_recoverable(source),
            WorkerError::Rewind(e) => kafka_recoverable(e),
            WorkerError::Transaction(TxnError::Stuck { .. })
            | WorkerError::Restore(_)
            | WorkerError::NotRestored(_)
            | WorkerError::Outbox(_) => true,
            WorkerError::Store(_)
            | WorkerError::Wiring(_)
            | WorkerError::MissingTopic(_)
            | WorkerError::NotCoPartitioned { .. } => false,
        }
    }
}

/// Kafka errors a new client does not cure: refused credentials or permissions, and settings
/// librdkafka rejects.
fn kafka_recoverable(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    match error {
        KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_) | KafkaError::Nul(_) => false,
        other => !matches!(
            other.rdkafka_error_code(),
            Some(
                C::SaslAuthenticationFailed
                    | C::Authentication
                    | C::SSL
                    | C::TopicAuthorizationFailed
                    | C::GroupAuthorizationFailed
                    | C::ClusterAuthorizationFailed
                    | C::TransactionalIdAuthorizationFailed
                    | C::InvalidConfig
                    | C::UnsupportedVersion
            )
        ),
    }
}

/// Counts recoveries since the last committed batch and says how long to wait before the next.
#[derive(Debug, Default)]
pub struct RecoveryBudget {
    in_a_row: u32,
    committed_at_last: u64,
}

impl RecoveryBudget {
    /// The delay before recovering from `error`, or `None` when the worker must give up.
    /// `committed` is the number of batches committed so far (a progress mark: any commit since
    /// the last recovery starts the count afresh).
    pub fn next(&mut self, error: &WorkerError, committed: u64) -> Option<Duration> {
        if !error.is_recoverable() {
            return None;
        }
        if committed != self.committed_at_last {
            self.in_a_row = 0;
            self.committed_at_last = committed;
        }
        if self.in_a_row >= MAX_RECOVERIES {
            return None;
        }
        let delay = FIRST_DELAY
            .saturating_mul(2u32.saturating_pow(self.in_a_row))
            .min(MAX_DELAY);
        self.in_a_row += 1;
        Some(delay)
    }

    /// Recoveries since the last committed batch.
    pub fn in_a_row(&self) -> u32 {
        self.in_a_row
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::RDKafkaErrorCode as C;

    fn fenced() -> WorkerError {
        WorkerError::Transaction(TxnError::Fatal {
            step: "abort_transaction",
            source: KafkaError::MessageProduction(C::InvalidTransactionalState),
        })
    }

    #[test]
    fn a_fenced_or_broken_producer_is_recovered() {
        assert!(fenced().is_recoverable());
        let epoch = WorkerError::Transaction(TxnError::Fatal {
            step: "commit_transaction",
            source: KafkaError::MessageProduction(C::ProducerFenced),
        });
        assert!(epoch.is_recoverable());
        assert!(WorkerError::NotRestored(3).is_recoverable());
    }

    #[test]
    fn configuration_permissions_and_bugs_are_not() {
        let denied = WorkerError::Transaction(TxnError::Fatal {
            step: "init_transactions",
            source: KafkaError::MessageProduction(C::TransactionalIdAuthorizationFailed),
        });
        assert!(!denied.is_recoverable());
        assert!(!WorkerError::Kafka(KafkaError::ClientCreation("bad".into())).is_recoverable());
        assert!(!WorkerError::MissingTopic("t".into()).is_recoverable());
        assert!(!WorkerError::NotCoPartitioned {
            commands: 8,
            changelog: 4
        }
        .is_recoverable());
    }

    #[test]
    fn delays_grow_and_the_budget_runs_out_without_progress() {
        let mut budget = RecoveryBudget::default();
        let delays: Vec<_> = (0..MAX_RECOVERIES)
            .map(|_| budget.next(&fenced(), 0))
            .collect();
        assert_eq!(delays[0], Some(FIRST_DELAY));
        assert_eq!(delays[1], Some(FIRST_DELAY * 2));
        assert!(delays.iter().all(|d| d.is_some_and(|d| d <= MAX_DELAY)));
        assert_eq!(budget.next(&fenced(), 0), None, "gives up");
    }

    #[test]
    fn a_committed_batch_renews_the_budget() {
        let mut budget = RecoveryBudget::default();
        for _ in 0..MAX_RECOVERIES {
            assert!(budget.next(&fenced(), 0).is_some());
        }
        assert_eq!(budget.next(&fenced(), 5), Some(FIRST_DELAY));
        assert_eq!(budget.in_a_row(), 1);
    }

    #[test]
    fn an_unrecoverable_error_is_never_retried() {
        let mut budget = RecoveryBudget::default();
        assert_eq!(budget.next(&WorkerError::MissingTopic("t".into()), 0), None);
    }
}
