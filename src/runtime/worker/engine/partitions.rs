//! The partitions' state: restored from the changelog when command partitions are assigned,
//! dropped when they are revoked.
//!
//! Invariant: a partition's state is in the engine only once fully restored (a failed restore
//! leaves it out, and its records are refused with `NotRestored`).

use std::time::Duration;

use super::Engine;
use crate::bootstrap;
use crate::runtime::restore::restore_partitions;
use crate::runtime::worker::WorkerError;

impl Engine {
    /// Restores command partitions from the changelog (called on assignment), all of them
    /// with one reader.
    pub(crate) fn restore(&mut self, partitions: &[i32]) -> Result<(), WorkerError> {
        if partitions.is_empty() {
            return Ok(());
        }
        self.refusals.rebalanced();
        // The reader's records are allocated by librdkafka around the aggregates: their pages
        // go back to the system as they are freed, and what is left free when the restore ends
        // (see `heap`).
        let _burst = crate::heap::burst();
        let base = self.settings.client_base();
        let timeout = self.settings.transaction_timeout * 2 + Duration::from_secs(30);
        let restored = restore_partitions(
            &base,
            &self.settings.topics.changelog,
            partitions,
            &self.codec,
            &self.rt,
            timeout,
        )?;
        let mut aggregates = 0;
        for (p, products) in restored.partitions {
            let mut bus = bootstrap::worker()?;
            aggregates += products.len();
            for product in products {
                bus.restore(product)?;
            }
            bus.commit_batch();
            self.states.insert(p, bus);
        }
        self.metrics.restored(restored.records, restored.elapsed);
        tracing::info!(
            ?partitions,
            aggregates,
            records = restored.records,
            elapsed_ms = restored.elapsed.as_millis() as u64,
            "partitions restored from the changelog"
        );
        Ok(())
    }

    /// Drops the state of revoked command partitions.
    pub(crate) fn drop_partitions(&mut self, partitions: &[i32]) {
        self.refusals.rebalanced();
        for p in partitions {
            self.states.remove(p);
        }
    }

    pub(crate) fn restored_partitions(&self) -> usize {
        self.states.len()
    }
}
