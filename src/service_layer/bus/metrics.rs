//! Counters of the message bus, shareable with a metrics exporter (`Arc<BusMetrics>`).
//!
//! Invariants: counters only increase; each event handler has its own failure counter,
//! created when the bus is built.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters (relaxed atomics).
#[derive(Debug, Default)]
pub struct BusMetrics {
    commands_applied: AtomicU64,
    commands_rejected: AtomicU64,
    duplicates_skipped: AtomicU64,
    external_translated: AtomicU64,
    messages_failed: AtomicU64,
    events_handled: AtomicU64,
    event_handler_failures: AtomicU64,
    per_handler_failures: Vec<(&'static str, AtomicU64)>,
}

/// A point-in-time copy of [`BusMetrics`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Inbound commands applied (including those that ended out of stock).
    pub commands_applied: u64,
    /// Inbound commands rejected by a business rule (`CommandRejected` emitted).
    pub commands_rejected: u64,
    /// Inbound commands ignored because their message id was already applied.
    pub duplicates_skipped: u64,
    /// External events translated into derived commands.
    pub external_translated: u64,
    /// Inbound messages that failed for another reason (returned as `BusError`).
    pub messages_failed: u64,
    /// Events dispatched to their handlers.
    pub events_handled: u64,
    /// Event handler invocations that failed (sum over handlers).
    pub event_handler_failures: u64,
    /// Failures per event handler name, in registration order.
    pub per_handler_failures: Vec<(&'static str, u64)>,
}

impl BusMetrics {
    pub(crate) fn new(event_handler_names: Vec<&'static str>) -> Self {
        Self {
            per_handler_failures: event_handler_names
                .into_iter()
                .map(|name| (name, AtomicU64::new(0)))
                .collect(),
            ..Self::default()
        }
    }

    /// Copies the counters.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            commands_applied: get(&self.commands_applied),
            commands_rejected: get(&self.commands_rejected),
            duplicates_skipped: get(&self.duplicates_skipped),
            external_translated: get(&self.external_translated),
            messages_failed: get(&self.messages_failed),
            events_handled: get(&self.events_handled),
            event_handler_failures: get(&self.event_handler_failures),
            per_handler_failures: self
                .per_handler_failures
                .iter()
                .map(|(name, c)| (*name, get(c)))
                .collect(),
        }
    }

    /// Failures of the event handler(s) registered under `name`.
    pub fn handler_failures(&self, name: &str) -> u64 {
        self.per_handler_failures
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn command_applied(&self) {
        self.commands_applied.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn command_rejected(&self) {
        self.commands_rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn duplicate_skipped(&self) {
        self.duplicates_skipped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn external_translated(&self) {
        self.external_translated.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn message_failed(&self) {
        self.messages_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn event_handled(&self) {
        self.events_handled.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn handler_failed(&self, handler_index: usize) {
        self.event_handler_failures.fetch_add(1, Ordering::Relaxed);
        if let Some((_, c)) = self.per_handler_failures.get(handler_index) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}
