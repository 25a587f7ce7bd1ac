//! The materialised allocations view held by `serve`: orderid → sku → batchref, the position
//! read per partition of `allocation.view`, and the ids of the messages whose effects it has
//! folded in (for `?wait_for=`).
//!
//! Invariants: rows are folded in partition order (one thread writes; readers take a read
//! lock); an upsert replaces the row `(orderid, sku)`, a tombstone deletes it, so folding the
//! compacted topic from the beginning yields the same view as folding every record; the set of
//! seen ids is bounded ([`SEEN_CAPACITY`], oldest forgotten first); every fold bumps a
//! `watch` version so waiters wake without polling.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, RwLock};

use uuid::Uuid;

/// How many message ids the view remembers for `wait_for`.
pub const SEEN_CAPACITY: usize = 100_000;

/// One change read from the view topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowChange {
    pub orderid: String,
    pub sku: String,
    /// `None`: the row is deleted (a tombstone).
    pub batchref: Option<String>,
}

/// What `GET /allocations/{orderid}` answers from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderView {
    /// `(sku, batchref)`, sorted by sku.
    pub allocations: Vec<(String, String)>,
    /// Next offset to read per partition.
    pub position: BTreeMap<i32, i64>,
}

#[derive(Debug, Default)]
struct State {
    orders: HashMap<String, BTreeMap<String, String>>,
    position: BTreeMap<i32, i64>,
    seen: HashSet<Uuid>,
    seen_order: VecDeque<Uuid>,
}

/// The view, shared between the materialiser thread and the HTTP handlers.
#[derive(Debug)]
pub struct View {
    state: RwLock<State>,
    version: tokio::sync::watch::Sender<u64>,
    /// True once every partition was read up to its end (at start).
    pub caught_up: AtomicBool,
    pub records: AtomicU64,
    pub skipped: AtomicU64,
    lag: Mutex<BTreeMap<i32, i64>>,
}

impl Default for View {
    fn default() -> Self {
        Self {
            state: RwLock::default(),
            version: tokio::sync::watch::channel(0).0,
            caught_up: AtomicBool::new(false),
            records: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            lag: Mutex::default(),
        }
    }
}

impl View {
    /// Folds one record at `(partition, offset)`; `ids` are its envelope's message ids
    /// (correlation-id, causation-id) to remember.
    pub fn apply(&self, partition: i32, offset: i64, change: Option<RowChange>, ids: &[Uuid]) {
        {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            if let Some(change) = change {
                match change.batchref {
                    Some(batchref) => {
                        state
                            .orders
                            .entry(change.orderid)
                            .or_default()
                            .insert(change.sku, batchref);
                    }
                    None => {
                        if let Some(rows) = state.orders.get_mut(&change.orderid) {
                            rows.remove(&change.sku);
                            if rows.is_empty() {
                                state.orders.remove(&change.orderid);
                            }
                        }
                    }
                }
                self.records.fetch_add(1, Relaxed);
            } else {
                self.skipped.fetch_add(1, Relaxed);
            }
            for id in ids {
                if state.seen.insert(*id) {
                    state.seen_order.push_back(*id);
                }
            }
            while state.seen_order.len() > SEEN_CAPACITY {
                if let Some(old) = state.seen_order.pop_front() {
                    state.seen.remove(&old);
                }
            }
            state.position.insert(partition, offset + 1);
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// Records the read position of a partition (e.g. at its end, past transaction markers).
    pub fn set_position(&self, partition: i32, next: i64) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        let entry = state.position.entry(partition).or_insert(next);
        *entry = (*entry).max(next);
    }

    pub fn order(&self, orderid: &str) -> OrderView {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        OrderView {
            allocations: state
                .orders
                .get(orderid)
                .map(|rows| rows.iter().map(|(s, b)| (s.clone(), b.clone())).collect())
                .unwrap_or_default(),
            position: state.position.clone(),
        }
    }

    /// Whether a folded record carried `id` as its correlation or causation id.
    pub fn has_seen(&self, id: &Uuid) -> bool {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.seen.contains(id)
    }

    /// Number of orders with at least one allocation.
    pub fn orders(&self) -> usize {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.orders.len()
    }

    /// Changes whenever a record is folded.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    pub fn set_lag(&self, lag: BTreeMap<i32, i64>) {
        if let Ok(mut l) = self.lag.lock() {
            *l = lag;
        }
    }

    /// Records not yet read per partition (high watermark − position).
    pub fn lag(&self) -> BTreeMap<i32, i64> {
        self.lag.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(o: &str, s: &str, b: Option<&str>) -> Option<RowChange> {
        Some(RowChange {
            orderid: o.into(),
            sku: s.into(),
            batchref: b.map(Into::into),
        })
    }

    #[test]
    fn upserts_and_tombstones_fold_into_the_view() {
        let v = View::default();
        let id = Uuid::new_v4();
        v.apply(0, 4, row("o1", "LAMP", Some("b1")), &[id]);
        v.apply(0, 5, row("o1", "CHAIR", Some("b2")), &[]);
        v.apply(1, 0, row("o1", "LAMP", Some("b3")), &[]);
        let o = v.order("o1");
        assert_eq!(
            o.allocations,
            vec![("CHAIR".into(), "b2".into()), ("LAMP".into(), "b3".into())]
        );
        assert_eq!(o.position, BTreeMap::from([(0, 6), (1, 1)]));
        v.apply(1, 1, row("o1", "LAMP", None), &[]);
        v.apply(1, 2, row("o1", "CHAIR", None), &[]);
        assert!(v.order("o1").allocations.is_empty());
        assert_eq!(v.orders(), 0);
        assert!(v.has_seen(&id));
        assert!(!v.has_seen(&Uuid::new_v4()));
        v.set_position(1, 9);
        v.set_position(1, 2);
        assert_eq!(v.order("x").position[&1], 9);
    }

    #[test]
    fn waiters_see_the_version_move() {
        let v = View::default();
        let rx = v.subscribe();
        v.apply(0, 0, None, &[]);
        assert!(rx.has_changed().unwrap());
        assert_eq!(v.skipped.load(Relaxed), 1);
    }
}
