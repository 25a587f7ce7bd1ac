//! Example messages: one valid instance of every record type of the contract, used by the
//! tests (unit and integration), and handy for documentation and manual checks.
//!
//! Invariant: covers every [`RecordType`](super::RecordType) (tested), with valid domain values.

use chrono::NaiveDate;

use super::records::*;
use super::WireMessage;

/// One example of every record type, in catalogue order.
pub fn examples() -> Vec<WireMessage> {
    let eta = NaiveDate::from_ymd_opt(2031, 4, 5);
    vec![
        CreateBatch {
            reference: "b1".into(),
            sku: "LAMP".into(),
            qty: 20,
            eta,
        }
        .into(),
        Allocate {
            orderid: "o1".into(),
            sku: "LAMP".into(),
            qty: 2,
        }
        .into(),
        ChangeBatchQuantity {
            reference: "b1".into(),
            sku: "LAMP".into(),
            qty: 5,
        }
        .into(),
        Deallocate {
            orderid: "o1".into(),
            sku: "LAMP".into(),
        }
        .into(),
        BatchCreated {
            reference: "b1".into(),
            sku: "LAMP".into(),
            qty: 20,
            eta: None,
        }
        .into(),
        Allocated {
            orderid: "o1".into(),
            sku: "LAMP".into(),
            qty: 2,
            batchref: "b1".into(),
        }
        .into(),
        Deallocated {
            orderid: "o1".into(),
            sku: "LAMP".into(),
            qty: 2,
            batchref: "b1".into(),
            reason: DeallocationReason::BatchQuantityChanged,
        }
        .into(),
        OutOfStock {
            sku: "LAMP".into(),
            orderid: "o2".into(),
        }
        .into(),
        BatchQuantityChanged {
            reference: "b1".into(),
            sku: "LAMP".into(),
            qty: 5,
        }
        .into(),
        CommandRejected {
            command_id: "6f1c2a4e-8f2b-4c1d-9a3e-2b7c5d9e0f11".into(),
            sku: "LAMP".into(),
            code: "unknown_batch".into(),
            reason: "unknown batch b9 for sku LAMP".into(),
        }
        .into(),
        OrderCancelled {
            orderid: "o1".into(),
            sku: "LAMP".into(),
        }
        .into(),
        PurchaseOrderConfirmed {
            po_reference: "po-7".into(),
            sku: "LAMP".into(),
            qty: 50,
            eta,
        }
        .into(),
        ProductSnapshot {
            sku: "LAMP".into(),
            version_number: 3,
            batches: vec![BatchState {
                reference: "b1".into(),
                sku: "LAMP".into(),
                purchased_quantity: 20,
                eta,
                allocations: vec![OrderLineState {
                    orderid: "o1".into(),
                    sku: "LAMP".into(),
                    qty: 2,
                }],
            }],
            applied_message_ids: vec!["6f1c2a4e-8f2b-4c1d-9a3e-2b7c5d9e0f11".into()],
        }
        .into(),
        AllocationRow {
            orderid: "o1".into(),
            sku: "LAMP".into(),
            batchref: "b1".into(),
        }
        .into(),
    ]
}
