//! [`AppliedMessages`]: the bounded record of message ids a product has applied, used to
//! recognise duplicate deliveries.
//!
//! Invariants: holds at most [`APPLIED_MESSAGE_CAPACITY`] ids, oldest first, without
//! duplicates; when full, recording a new id evicts the oldest. It is part of the product's
//! snapshot, so de-duplication survives restarts and rebalances.

use std::collections::VecDeque;

use serde::Serialize;

use crate::domain::values::MessageId;

/// How many applied message ids a product remembers: the duplicate-detection window, per sku.
///
/// Upstream redeliveries (producer retries, replays of a failed batch) arrive within seconds,
/// far inside 128 commands of the same sku. The window travels in every changelog snapshot, so
/// it is kept small: 128 ids are ~4.6 KiB of Avro per snapshot and ~2 KiB of memory per sku.
pub const APPLIED_MESSAGE_CAPACITY: usize = 128;

/// The most recent message ids applied to a product, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AppliedMessages {
    ids: VecDeque<MessageId>,
}

impl AppliedMessages {
    /// Keeps the newest [`APPLIED_MESSAGE_CAPACITY`] distinct ids of `ids` (oldest first).
    ///
    /// The window holds exactly what it needs (a restored product's window is usually far
    /// from full; growing it push by push would leave up to half of it unused).
    pub(super) fn from_ids(ids: Vec<MessageId>) -> Self {
        let mut applied = Self {
            ids: VecDeque::with_capacity(ids.len().min(APPLIED_MESSAGE_CAPACITY)),
        };
        for id in ids {
            applied.record(id);
        }
        applied.ids.shrink_to_fit();
        applied
    }

    /// Whether `id` is remembered. Scans newest first: a redelivery is usually recent.
    pub fn contains(&self, id: MessageId) -> bool {
        self.ids.iter().rev().any(|known| *known == id)
    }

    /// Number of remembered ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Remembered ids, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &MessageId> {
        self.ids.iter()
    }

    /// Records `id`. Returns `None` when it was already known (nothing changed), otherwise
    /// `Some(evicted)` where `evicted` is the id dropped to make room, if any.
    pub(super) fn record(&mut self, id: MessageId) -> Option<Option<MessageId>> {
        if self.contains(id) {
            return None;
        }
        let evicted = if self.ids.len() >= APPLIED_MESSAGE_CAPACITY {
            self.ids.pop_front()
        } else {
            None
        };
        self.ids.push_back(id);
        Some(evicted)
    }

    /// Reverts the latest [`record`](Self::record) that returned `Some(evicted)`.
    pub(super) fn unrecord(&mut self, evicted: Option<MessageId>) {
        self.ids.pop_back();
        if let Some(id) = evicted {
            self.ids.push_front(id);
        }
    }
}
