//! [`InMemoryStore`]: the per-partition state store, a hash map of sku → product that
//! implements [`ProductRepository`], [`UnitOfWork`] and [`StateStore`].
//!
//! How the two commit levels work without copying aggregates: products are mutated in place
//! and every mutation is journaled by the aggregate itself. A unit of work remembers, per
//! product it touched, the savepoint at first touch (or that it created the product);
//! rolling back undoes the journal to there (or removes the product). Committing a unit of
//! work moves the touched skus into the batch's staged/created sets. `commit_batch` releases
//! their journals; `abort_batch` undoes them completely (and removes created products).
//!
//! Invariants: between units of work, the journal of every product holds exactly the changes
//! staged in the open batch; products outside `staged ∪ created` have empty journals.
//! Products are stored as [`Snapshot`]s (`Arc<Product>`): handing one to the runtime is a
//! reference-count increment, and a product is copied on write only while such a snapshot is
//! still alive.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::unit_of_work::{
    ProductRepository, RepositoryError, Snapshot, StateStore, StoreError, UnitOfWork,
};
use crate::domain::{Event, Product, Savepoint, Sku};

/// A product touched by the open unit of work.
#[derive(Debug)]
struct Touch {
    sku: Sku,
    /// The product's savepoint when first touched (meaningless when `created`).
    savepoint: Savepoint,
    /// Whether the unit of work created the product.
    created: bool,
}

/// A point inside a unit of work of an [`InMemoryStore`]: how many products were touched
/// and each one's savepoint (the first inline: a unit of work usually touches one product).
#[derive(Debug, Clone)]
pub struct UowSavepoint {
    touched: usize,
    first: Option<Savepoint>,
    rest: Vec<Savepoint>,
}

/// A map keyed by what the worker's inputs name (skus, order ids, partitions), hashed with
/// foldhash instead of SipHash: hashing the sku several times per command was 3.5 % of an
/// exactly-once worker's instructions (callgrind). foldhash is seeded per process, as SipHash
/// is, so keys from outside cannot be chosen to collide. The store's and the engine's batch
/// maps use it.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
/// A set hashed as [`FastMap`] is.
pub(crate) type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// In-memory, per-partition state store. See the module documentation.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    products: FastMap<Sku, Snapshot>,
    uow_open: bool,
    touched: Vec<Touch>,
    /// Existing products changed in the open batch.
    staged: FastSet<Sku>,
    /// Products created in the open batch.
    created: FastSet<Sku>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A shared handle on `sku`'s current state.
    pub fn snapshot(&self, sku: &Sku) -> Option<Snapshot> {
        self.products.get(sku).cloned()
    }

    fn is_tracked(&self, sku: &Sku) -> bool {
        self.staged.contains(sku)
            || self.created.contains(sku)
            || self.touched.iter().any(|t| &t.sku == sku)
    }

    fn revert(&mut self, touch: Touch) {
        if touch.created {
            self.products.remove(&touch.sku);
        } else if let Some(entry) = self.products.get_mut(&touch.sku) {
            if entry.changed_since(touch.savepoint) || !entry.pending_events().is_empty() {
                Arc::make_mut(entry).rollback_to(touch.savepoint);
            }
        }
    }
}

impl ProductRepository for InMemoryStore {
    fn get(&mut self, sku: &Sku) -> Option<&mut Product> {
        let entry = self.products.get_mut(sku)?;
        if !self.uow_open {
            self.staged.insert(sku.clone());
        } else if !self.touched.iter().any(|t| &t.sku == sku) {
            self.touched.push(Touch {
                sku: sku.clone(),
                savepoint: entry.savepoint(),
                created: false,
            });
        }
        Some(Arc::make_mut(entry))
    }

    fn add(&mut self, product: Product) -> Result<(), RepositoryError> {
        let sku = product.sku().clone();
        if self.products.contains_key(&sku) {
            return Err(RepositoryError::AlreadyExists(sku));
        }
        let savepoint = product.savepoint();
        self.products.insert(sku.clone(), Arc::new(product));
        if self.uow_open {
            self.touched.push(Touch {
                sku,
                savepoint,
                created: true,
            });
        } else {
            self.created.insert(sku);
        }
        Ok(())
    }
}

impl UnitOfWork for InMemoryStore {
    type Savepoint = UowSavepoint;

    fn begin(&mut self) {
        if self.uow_open {
            self.rollback();
        }
        self.uow_open = true;
    }

    fn savepoint(&self) -> UowSavepoint {
        let mut points = self.touched.iter().map(|t| {
            self.products
                .get(&t.sku)
                .map_or(t.savepoint, |p| p.savepoint())
        });
        UowSavepoint {
            touched: self.touched.len(),
            first: points.next(),
            rest: points.collect(),
        }
    }

    fn rollback_to(&mut self, savepoint: UowSavepoint) {
        while self.touched.len() > savepoint.touched {
            if let Some(touch) = self.touched.pop() {
                self.revert(touch);
            }
        }
        let points = savepoint.first.into_iter().chain(savepoint.rest);
        for (touch, point) in self.touched.iter().zip(points) {
            if let Some(entry) = self.products.get_mut(&touch.sku) {
                if entry.changed_since(point) || !entry.pending_events().is_empty() {
                    Arc::make_mut(entry).rollback_to(point);
                }
            }
        }
    }

    fn collect_new_events(&mut self, into: &mut Vec<Event>) {
        for touch in &self.touched {
            if let Some(entry) = self.products.get_mut(&touch.sku) {
                if !entry.pending_events().is_empty() {
                    into.extend(Arc::make_mut(entry).drain_events());
                }
            }
        }
    }

    fn commit(&mut self) -> Vec<Snapshot> {
        let mut snapshots = Vec::with_capacity(self.touched.len());
        for touch in std::mem::take(&mut self.touched) {
            let Some(entry) = self.products.get(&touch.sku) else {
                continue;
            };
            if touch.created {
                snapshots.push(Arc::clone(entry));
                self.created.insert(touch.sku);
            } else if entry.changed_since(touch.savepoint) {
                snapshots.push(Arc::clone(entry));
                self.staged.insert(touch.sku);
            }
        }
        self.uow_open = false;
        snapshots
    }

    fn rollback(&mut self) {
        while let Some(touch) = self.touched.pop() {
            self.revert(touch);
        }
        self.uow_open = false;
    }
}

impl StateStore for InMemoryStore {
    fn product(&self, sku: &Sku) -> Option<&Product> {
        self.products.get(sku).map(|p| &**p)
    }

    fn commit_batch(&mut self) {
        if self.uow_open {
            self.rollback();
        }
        for sku in self.staged.drain().chain(self.created.drain()) {
            if let Some(entry) = self.products.get_mut(&sku) {
                Arc::make_mut(entry).release_journal();
            }
        }
    }

    fn abort_batch(&mut self) {
        if self.uow_open {
            self.rollback();
        }
        for sku in self.staged.drain() {
            if let Some(entry) = self.products.get_mut(&sku) {
                Arc::make_mut(entry).rollback_unreleased();
            }
        }
        for sku in self.created.drain() {
            self.products.remove(&sku);
        }
    }

    fn has_staged_changes(&self) -> bool {
        !self.staged.is_empty() || !self.created.is_empty()
    }

    fn restore(&mut self, mut product: Product) -> Result<(), StoreError> {
        if self.is_tracked(product.sku()) {
            return Err(StoreError::StagedChanges(product.sku().clone()));
        }
        product.release_journal();
        product.drain_events();
        self.products
            .insert(product.sku().clone(), Arc::new(product));
        Ok(())
    }

    fn delete(&mut self, sku: &Sku) -> Result<(), StoreError> {
        if self.is_tracked(sku) {
            return Err(StoreError::StagedChanges(sku.clone()));
        }
        self.products.remove(sku);
        Ok(())
    }

    fn drop_all(&mut self) {
        self.products.clear();
        self.touched.clear();
        self.staged.clear();
        self.created.clear();
        self.uow_open = false;
    }

    fn len(&self) -> usize {
        self.products.len()
    }

    fn products(&self) -> Box<dyn Iterator<Item = &Product> + '_> {
        Box::new(self.products.values().map(|p| &**p))
    }
}
