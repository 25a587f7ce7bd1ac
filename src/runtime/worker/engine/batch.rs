//! The batch being built: its input positions (what to commit, where an abort rewinds to),
//! the keys whose snapshot or view row it has sent, and the partitions it changed.
//!
//! Invariant: [`Batch::reset`] clears every field (it destructures the batch), keeping the
//! maps' capacity for the next batch.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::adapters::envelope::TraceParent;
use crate::domain::{OrderId, Sku};
use crate::service_layer::in_memory_store::FastMap;
use crate::service_layer::{Envelope, Metadata, ViewUpdate};

/// A view row's change kept to be sent at commit, with the trace it continues.
pub(super) type LaterViewChange = (Envelope<ViewUpdate>, TraceParent);

/// The batch being built (and, in exactly-once mode, the open transaction).
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub(super) started: Option<Instant>,
    pub(super) records: usize,
    /// The batch's input positions per topic and partition.
    pub(super) inputs: Inputs,
    /// Aggregates changed in the batch, by (command partition, sku): their first snapshot was
    /// sent when they changed; `Some` holds the envelope of a later change, whose snapshot is
    /// encoded once, from the store, at commit.
    pub(super) snapshots: FastMap<(i32, Sku), Option<(Metadata, TraceParent)>>,
    /// View rows (orderid, sku) changed in the batch: the first change was sent; `Some` holds
    /// a later one, sent at commit.
    pub(super) views: FastMap<(OrderId, Sku), Option<LaterViewChange>>,
    /// Command partitions whose state changed in this batch.
    pub(super) touched: Vec<i32>,
}

impl Batch {
    /// Closes the batch, keeping the maps' capacity: the next batch is about as large, and
    /// growing them again record by record cost the processing thread about 5 % (rehashing
    /// into freshly faulted pages). Destructured so that a new field cannot be forgotten here.
    pub(super) fn reset(&mut self) {
        let Batch {
            started,
            records,
            inputs,
            snapshots,
            views,
            touched,
        } = self;
        *started = None;
        *records = 0;
        inputs.0.clear();
        snapshots.clear();
        views.clear();
        touched.clear();
    }
}

/// Where the batch's input partitions begin and how far they were processed, by topic (in the
/// order first seen; a worker reads a handful), then partition: looked up with the consumed
/// record's borrowed topic, so no allocation per record.
#[derive(Debug, Default)]
pub(super) struct Inputs(Vec<(String, BTreeMap<i32, InputRange>)>);

/// One input partition's part of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InputRange {
    /// The batch's first offset: where an abort rewinds to.
    pub(super) first: i64,
    /// The next offset to commit (last processed + 1); `None` until one record is processed.
    pub(super) next: Option<i64>,
}

impl Inputs {
    fn range(&mut self, topic: &str, partition: i32, offset: i64) -> &mut InputRange {
        let at = match self.0.iter().position(|(t, _)| t == topic) {
            Some(at) => at,
            None => {
                self.0.push((topic.to_owned(), BTreeMap::new()));
                self.0.len() - 1
            }
        };
        self.0[at].1.entry(partition).or_insert(InputRange {
            first: offset,
            next: None,
        })
    }

    /// Records that the batch reached `offset` (before handling it: when this very record
    /// interrupts the batch and is its partition's first, the rewind must still bring it back).
    pub(super) fn reached(&mut self, topic: &str, partition: i32, offset: i64) {
        self.range(topic, partition, offset);
    }

    /// Records that `offset` was processed.
    pub(super) fn processed(&mut self, topic: &str, partition: i32, offset: i64) {
        self.range(topic, partition, offset).next = Some(offset + 1);
    }

    /// Every input partition of the batch: (topic, partition, range).
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, i32, InputRange)> + '_ {
        self.0.iter().flat_map(|(topic, partitions)| {
            partitions
                .iter()
                .map(move |(partition, range)| (topic.as_str(), *partition, *range))
        })
    }

    /// The next offset to commit per processed partition: (topic, partition, next).
    pub(super) fn next(&self) -> impl Iterator<Item = (&str, i32, i64)> + '_ {
        self.iter()
            .filter_map(|(topic, partition, range)| Some((topic, partition, range.next?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_keep_the_first_offset_and_the_next_after_the_last_processed() {
        let mut inputs = Inputs::default();
        inputs.reached("b", 1, 10);
        inputs.processed("b", 1, 10);
        inputs.reached("b", 1, 11);
        inputs.processed("b", 1, 11);
        inputs.reached("a", 0, 5); // interrupted before it was processed
        let all: Vec<_> = inputs.iter().collect();
        assert_eq!(
            all,
            vec![
                (
                    "b",
                    1,
                    InputRange {
                        first: 10,
                        next: Some(12)
                    }
                ),
                (
                    "a",
                    0,
                    InputRange {
                        first: 5,
                        next: None
                    }
                ),
            ]
        );
        assert_eq!(inputs.next().collect::<Vec<_>>(), vec![("b", 1, 12)]);
    }
}
