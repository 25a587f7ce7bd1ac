//! The batch being built: its input positions (what to commit, where an abort rewinds to),
//! the keys whose snapshot or view row it has sent, and the partitions it changed.
//!
//! Invariant: [`Batch::reset`] clears every field (it destructures the batch), keeping the
//! maps' capacity for the next batch.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::adapters::envelope::TraceParent;
use crate::domain::{OrderId, Sku};
use crate::service_layer::{Envelope, Metadata, ViewUpdate};

/// A view row's change kept to be sent at commit, with the trace it continues.
pub(super) type LaterViewChange = (Envelope<ViewUpdate>, TraceParent);

/// The batch being built (and, in exactly-once mode, the open transaction).
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub(super) started: Option<Instant>,
    pub(super) records: usize,
    /// Next offset to commit per input partition (last processed + 1).
    pub(super) next: BTreeMap<(String, i32), i64>,
    /// First offset of the batch per input partition: where to rewind on abort.
    pub(super) first: BTreeMap<(String, i32), i64>,
    /// Aggregates changed in the batch, by (command partition, sku): their first snapshot was
    /// sent when they changed; `Some` holds the envelope of a later change, whose snapshot is
    /// encoded once, from the store, at commit.
    pub(super) snapshots: HashMap<(i32, Sku), Option<(Metadata, TraceParent)>>,
    /// View rows (orderid, sku) changed in the batch: the first change was sent; `Some` holds
    /// a later one, sent at commit.
    pub(super) views: HashMap<(OrderId, Sku), Option<LaterViewChange>>,
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
            next,
            first,
            snapshots,
            views,
            touched,
        } = self;
        *started = None;
        *records = 0;
        next.clear();
        first.clear();
        snapshots.clear();
        views.clear();
        touched.clear();
    }
}
