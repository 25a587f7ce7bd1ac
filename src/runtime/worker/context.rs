//! The consumer context: rebalance callbacks, which librdkafka runs inside `poll` on the
//! processing thread.
//!
//! - Before partitions are revoked, the open batch is committed (or aborted when the
//!   assignment was lost: our writes would be fenced anyway) and the revoked partitions' state
//!   is dropped — the next owner restores it from the changelog.
//! - Before partitions are added, the open batch is committed, so a long restore never holds a
//!   transaction open; after they are added, the new command partitions are restored before
//!   `poll` can return any of their records.
//!
//! Callbacks cannot return errors: a failure is parked in `Engine::fatal` and the processing
//! loop stops on it.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::TopicPartitionList;

use super::engine::Engine;

pub(crate) struct WorkerContext {
    pub(crate) engine: Arc<Mutex<Engine>>,
    pub(crate) commands_topic: String,
}

impl ClientContext for WorkerContext {}

impl WorkerContext {
    fn command_partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements()
            .iter()
            .filter(|e| e.topic() == self.commands_topic)
            .map(|e| e.partition())
            .collect()
    }
}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Ok(mut engine) = self.engine.lock() else {
            return;
        };
        engine.metrics.rebalances.fetch_add(1, Relaxed);
        let result = match rebalance {
            Rebalance::Revoke(_) if consumer.assignment_lost() => {
                tracing::warn!("assignment lost: aborting the open batch");
                engine.abort(consumer)
            }
            Rebalance::Revoke(_) | Rebalance::Assign(_) => engine.commit(consumer),
            Rebalance::Error(e) => {
                tracing::warn!(error = %e, "rebalance error");
                Ok(())
            }
        };
        if let Err(e) = result {
            engine.fatal.get_or_insert(e);
        }
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked = self.command_partitions(tpl);
            tracing::info!(?revoked, "partitions revoked");
            engine.drop_partitions(&revoked);
            engine.metrics.ready.store(false, Relaxed);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Ok(mut engine) = self.engine.lock() else {
            return;
        };
        if let Rebalance::Assign(tpl) = rebalance {
            let added = self.command_partitions(tpl);
            tracing::info!(?added, "partitions assigned; restoring");
            if let Err(e) = engine.restore(&added) {
                engine.fatal.get_or_insert(e);
            }
        }
        let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        engine
            .metrics
            .assigned_partitions
            .store(assigned as u64, Relaxed);
        let ready = engine.fatal.is_none() && assigned > 0;
        engine.metrics.ready.store(ready, Relaxed);
        if ready && matches!(rebalance, Rebalance::Assign(_)) {
            tracing::info!(
                assigned,
                restored = engine.restored_partitions(),
                "worker ready"
            );
        }
    }
}
