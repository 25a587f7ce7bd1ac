//! The serialized form of a [`Product`]: the changelog value (latest state of an aggregate).
//!
//! Stable field names: `sku`, `version_number`, `batches[{reference, sku, purchased_quantity,
//! eta, allocations[{orderid, sku, qty}]}]`, `applied_message_ids` (oldest first).
//! Serializing borrows the aggregate (no copy); deserializing validates every invariant
//! (see [`SnapshotError`]) so a corrupt changelog record cannot produce an invalid aggregate.
//! Pending events and the change journal are not part of the snapshot.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::{AppliedMessages, Product};
use crate::domain::errors::SnapshotError;
use crate::domain::model::Batch;
use crate::domain::values::{BatchRef, MessageId, OrderId, Sku};

#[derive(Serialize)]
struct ProductView<'a> {
    sku: &'a Sku,
    version_number: u64,
    batches: &'a [Batch],
    applied_message_ids: &'a AppliedMessages,
}

impl Serialize for Product {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ProductView {
            sku: &self.sku,
            version_number: self.version_number,
            batches: &self.batches,
            applied_message_ids: &self.applied,
        }
        .serialize(serializer)
    }
}

#[derive(Deserialize)]
struct ProductRecord {
    sku: Sku,
    version_number: u64,
    #[serde(default)]
    batches: Vec<Batch>,
    #[serde(default)]
    applied_message_ids: Vec<MessageId>,
}

impl TryFrom<ProductRecord> for Product {
    type Error = SnapshotError;

    fn try_from(record: ProductRecord) -> Result<Self, Self::Error> {
        Product::from_snapshot(
            record.sku,
            record.version_number,
            record.batches,
            record.applied_message_ids,
        )
    }
}

impl Product {
    /// A product from its serialized parts (a snapshot), every invariant checked: each batch
    /// has the product's sku, no batch reference twice, no order line in two batches. The
    /// applied-id window keeps the newest ids (see [`AppliedMessages`]).
    pub fn from_snapshot(
        sku: Sku,
        version_number: u64,
        batches: Vec<Batch>,
        applied_message_ids: Vec<MessageId>,
    ) -> Result<Self, SnapshotError> {
        for batch in &batches {
            if batch.sku() != &sku {
                return Err(SnapshotError::BatchSkuMismatch {
                    reference: batch.reference().clone(),
                    expected: sku.clone(),
                    actual: batch.sku().clone(),
                });
            }
        }
        // Duplicates found by sorting references, not by hashing them: a restore checks every
        // snapshot, and a handful of short keys sorts in less time than it takes to build
        // the sets (growing them was a quarter of the checks).
        let mut references: Vec<&BatchRef> = batches.iter().map(Batch::reference).collect();
        if let Some(reference) = first_repeated(&mut references) {
            return Err(SnapshotError::DuplicateBatch(reference.clone()));
        }
        let mut orders: Vec<&OrderId> = batches
            .iter()
            .flat_map(|batch| batch.allocations().iter().map(|line| &line.orderid))
            .collect();
        if let Some(orderid) = first_repeated(&mut orders) {
            return Err(SnapshotError::DuplicateLine {
                orderid: orderid.clone(),
                sku: sku.clone(),
            });
        }
        let mut batches = batches;
        for batch in &mut batches {
            batch.share_sku(&sku);
        }
        let mut product = Product::new(sku);
        product.version_number = version_number;
        product.batches = batches;
        product.applied = AppliedMessages::from_ids(applied_message_ids);
        Ok(product)
    }
}

/// The least value that occurs more than once in `values` (which it sorts), if any.
fn first_repeated<'a, T: Ord>(values: &mut [&'a T]) -> Option<&'a T> {
    values.sort_unstable();
    values.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

impl<'de> Deserialize<'de> for Product {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let record = ProductRecord::deserialize(deserializer)?;
        Product::try_from(record).map_err(de::Error::custom)
    }
}
