//! Typed errors of the allocation domain.
//!
//! [`DomainError`] is a business-rule rejection: the command that caused it is rejected and
//! the aggregate is left unchanged (every aggregate operation validates before it mutates).
//! [`SnapshotError`] says why a serialized aggregate could not be turned back into a valid
//! one (changelog restore never builds an aggregate that breaks an invariant).

use super::values::{BatchRef, OrderId, Quantity, Sku, ValueError};

/// A command broke a business rule; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field of the command is not a valid value (e.g. a non-positive quantity); raised
    /// where the command is decoded, since an invalid command cannot be built.
    #[error("invalid command: {0}")]
    InvalidValue(#[from] ValueError),
    /// No product (aggregate) exists for this sku.
    #[error("unknown sku {0}")]
    UnknownSku(Sku),
    /// The product has no batch with this reference.
    #[error("unknown batch {reference} for sku {sku}")]
    UnknownBatch { reference: BatchRef, sku: Sku },
    /// A batch with this reference already exists for the product.
    #[error("batch {reference} already exists for sku {sku}")]
    DuplicateBatch { reference: BatchRef, sku: Sku },
    /// A message about one sku was sent to the aggregate of another.
    #[error("sku mismatch: aggregate {expected} was given {actual}")]
    SkuMismatch { expected: Sku, actual: Sku },
    /// Deallocation was requested for a line that is not allocated.
    #[error("order {orderid} has no allocated line for sku {sku}")]
    NotAllocated { orderid: OrderId, sku: Sku },
    /// The order already has a line for this sku, with another quantity.
    #[error(
        "order {orderid} already has {existing} of sku {sku} allocated, cannot allocate {requested}"
    )]
    ConflictingLine {
        orderid: OrderId,
        sku: Sku,
        existing: Quantity,
        requested: Quantity,
    },
}

impl DomainError {
    /// A stable, machine-readable code for the rejection (for clients and metrics labels).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidValue(_) => "invalid_value",
            Self::UnknownSku(_) => "unknown_sku",
            Self::UnknownBatch { .. } => "unknown_batch",
            Self::DuplicateBatch { .. } => "duplicate_batch",
            Self::SkuMismatch { .. } => "sku_mismatch",
            Self::NotAllocated { .. } => "not_allocated",
            Self::ConflictingLine { .. } => "conflicting_line",
        }
    }
}

/// A serialized aggregate broke an invariant and was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("batch {reference} has sku {actual}, expected {expected}")]
    BatchSkuMismatch {
        reference: BatchRef,
        expected: Sku,
        actual: Sku,
    },
    #[error(
        "batch {reference} holds a line of order {orderid} for sku {actual}, expected {expected}"
    )]
    LineSkuMismatch {
        reference: BatchRef,
        orderid: OrderId,
        expected: Sku,
        actual: Sku,
    },
    #[error("batch {0} appears more than once")]
    DuplicateBatch(BatchRef),
    #[error("order {orderid} is allocated more than once for sku {sku}")]
    DuplicateLine { orderid: OrderId, sku: Sku },
    #[error("batch {reference} allocates {allocated} units but only {purchased} were purchased")]
    OverAllocated {
        reference: BatchRef,
        allocated: u64,
        purchased: u32,
    },
}
