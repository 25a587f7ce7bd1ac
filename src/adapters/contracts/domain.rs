//! Validating conversions between the wire DTOs and the domain / service-layer types.
//!
//! Inbound (wire → domain) every raw value goes through the domain's constructors, so an
//! empty sku, a quantity ≤ 0 or a malformed id becomes a typed
//! [`DecodeError::InvalidValue`] naming the record and the field. Outbound (domain → wire)
//! cannot fail except for values the wire cannot carry (a version above `i64::MAX`).

use super::records as wire;
pub use super::snapshot::{to_product, write_snapshot};
use super::{RecordType, WireMessage};
use crate::adapters::codec::{DecodeError, EncodeError};
use crate::domain::{self, BatchRef, MessageId, OrderId, Product, Quantity, Sku, ValueError};
use crate::service_layer::anti_corruption::{self, ExternalEvent};
use crate::service_layer::messages::InboundMessage;
use crate::service_layer::views::ViewUpdate;

/// Builds a domain value or names the offending field.
pub(super) fn check<T>(
    record: RecordType,
    field: &'static str,
    value: Result<T, ValueError>,
) -> Result<T, DecodeError> {
    value.map_err(|e| DecodeError::InvalidValue {
        record,
        field,
        detail: e.to_string(),
    })
}

pub(super) fn message_id(
    record: RecordType,
    field: &'static str,
    raw: &str,
) -> Result<MessageId, DecodeError> {
    uuid::Uuid::parse_str(raw)
        .map(MessageId::from_uuid)
        .map_err(|e| DecodeError::InvalidValue {
            record,
            field,
            detail: format!("not a UUID: {e}"),
        })
}

/// For a command that is well-formed on the wire but breaks a value rule (e.g. `qty` 0, an
/// empty orderid) while its sku is valid: the sku and the first rule broken. Such a command is
/// answered with `CommandRejected` (DESIGN §2), not dead-lettered. `None` for anything else.
pub fn command_value_error(message: &WireMessage) -> Option<(Sku, ValueError)> {
    let first_error =
        |checks: [Result<(), ValueError>; 2]| checks.into_iter().find_map(Result::err);
    let (sku, error) = match message {
        WireMessage::CreateBatch(m) => (
            &m.sku,
            first_error([
                BatchRef::new(&m.reference).map(drop),
                Quantity::new(m.qty).map(drop),
            ]),
        ),
        WireMessage::Allocate(m) => (
            &m.sku,
            first_error([
                OrderId::new(&m.orderid).map(drop),
                Quantity::new(m.qty).map(drop),
            ]),
        ),
        WireMessage::ChangeBatchQuantity(m) => (
            &m.sku,
            first_error([
                BatchRef::new(&m.reference).map(drop),
                Quantity::new(m.qty).map(drop),
            ]),
        ),
        WireMessage::Deallocate(m) => (
            &m.sku,
            first_error([OrderId::new(&m.orderid).map(drop), Ok(())]),
        ),
        _ => return None,
    };
    Some((Sku::new(sku).ok()?, error?))
}

/// A decoded inbound message as the bus takes it: a command, or an external event (validated
/// by translating it). Any other record type is not accepted on an input topic.
pub fn to_inbound(message: WireMessage, topic: &str) -> Result<InboundMessage, DecodeError> {
    let record = message.record_type();
    match message {
        WireMessage::OrderCancelled(e) => external(
            record,
            anti_corruption::OrderCancelled {
                orderid: e.orderid,
                sku: e.sku,
            },
        ),
        WireMessage::PurchaseOrderConfirmed(e) => external(
            record,
            anti_corruption::PurchaseOrderConfirmed {
                po_reference: e.po_reference,
                sku: e.sku,
                qty: e.qty,
                eta: e.eta,
            },
        ),
        other => match to_command(other)? {
            Some(command) => Ok(InboundMessage::Command(command)),
            None => Err(DecodeError::UnexpectedRecordType {
                record,
                topic: topic.to_owned(),
            }),
        },
    }
}

fn external(
    record: RecordType,
    event: impl Into<ExternalEvent>,
) -> Result<InboundMessage, DecodeError> {
    let event = event.into();
    anti_corruption::translate(&event).map_err(|e| DecodeError::InvalidValue {
        record,
        field: e.field,
        detail: e.source.to_string(),
    })?;
    Ok(InboundMessage::External(event))
}

/// A command DTO as a validated domain command; `Ok(None)` for a non-command.
pub fn to_command(message: WireMessage) -> Result<Option<domain::Command>, DecodeError> {
    let r = message.record_type();
    Ok(Some(match message {
        WireMessage::CreateBatch(c) => domain::Command::CreateBatch(domain::CreateBatch {
            reference: check(r, "reference", BatchRef::new(&c.reference))?,
            sku: check(r, "sku", Sku::new(&c.sku))?,
            qty: check(r, "qty", Quantity::new(c.qty))?,
            eta: c.eta,
        }),
        WireMessage::Allocate(c) => domain::Command::Allocate(domain::Allocate {
            orderid: check(r, "orderid", OrderId::new(&c.orderid))?,
            sku: check(r, "sku", Sku::new(&c.sku))?,
            qty: check(r, "qty", Quantity::new(c.qty))?,
        }),
        WireMessage::ChangeBatchQuantity(c) => {
            domain::Command::ChangeBatchQuantity(domain::ChangeBatchQuantity {
                reference: check(r, "reference", BatchRef::new(&c.reference))?,
                sku: check(r, "sku", Sku::new(&c.sku))?,
                qty: check(r, "qty", Quantity::new(c.qty))?,
            })
        }
        WireMessage::Deallocate(c) => domain::Command::Deallocate(domain::Deallocate {
            orderid: check(r, "orderid", OrderId::new(&c.orderid))?,
            sku: check(r, "sku", Sku::new(&c.sku))?,
        }),
        _ => return Ok(None),
    }))
}

/// An event DTO as a validated domain event; `Ok(None)` for a non-event.
pub fn to_event(message: WireMessage) -> Result<Option<domain::Event>, DecodeError> {
    use domain::Event as E;
    let r = message.record_type();
    Ok(Some(match message {
        WireMessage::BatchCreated(e) => E::BatchCreated(domain::BatchCreated {
            reference: check(r, "reference", BatchRef::new(&e.reference))?,
            sku: check(r, "sku", Sku::new(&e.sku))?,
            qty: check(r, "qty", Quantity::new(e.qty))?,
            eta: e.eta,
        }),
        WireMessage::Allocated(e) => E::Allocated(domain::Allocated {
            orderid: check(r, "orderid", OrderId::new(&e.orderid))?,
            sku: check(r, "sku", Sku::new(&e.sku))?,
            qty: check(r, "qty", Quantity::new(e.qty))?,
            batchref: check(r, "batchref", BatchRef::new(&e.batchref))?,
        }),
        WireMessage::Deallocated(e) => E::Deallocated(domain::Deallocated {
            orderid: check(r, "orderid", OrderId::new(&e.orderid))?,
            sku: check(r, "sku", Sku::new(&e.sku))?,
            qty: check(r, "qty", Quantity::new(e.qty))?,
            batchref: check(r, "batchref", BatchRef::new(&e.batchref))?,
            reason: match e.reason {
                wire::DeallocationReason::BatchQuantityChanged => {
                    domain::DeallocationReason::BatchQuantityChanged
                }
                wire::DeallocationReason::Requested => domain::DeallocationReason::Requested,
            },
        }),
        WireMessage::OutOfStock(e) => E::OutOfStock(domain::OutOfStock {
            sku: check(r, "sku", Sku::new(&e.sku))?,
            orderid: check(r, "orderid", OrderId::new(&e.orderid))?,
        }),
        WireMessage::BatchQuantityChanged(e) => {
            E::BatchQuantityChanged(domain::BatchQuantityChanged {
                reference: check(r, "reference", BatchRef::new(&e.reference))?,
                sku: check(r, "sku", Sku::new(&e.sku))?,
                qty: check(r, "qty", Quantity::new(e.qty))?,
            })
        }
        WireMessage::CommandRejected(e) => E::CommandRejected(domain::CommandRejected {
            command_id: message_id(r, "command_id", &e.command_id)?,
            sku: check(r, "sku", Sku::new(&e.sku))?,
            code: e.code,
            reason: e.reason,
        }),
        _ => return Ok(None),
    }))
}

fn qty(q: Quantity) -> i64 {
    i64::from(q.get())
}

fn s(v: &impl AsRef<str>) -> String {
    v.as_ref().to_owned()
}

/// A domain command as its DTO.
pub fn from_command(command: &domain::Command) -> WireMessage {
    use domain::Command as C;
    match command {
        C::CreateBatch(c) => wire::CreateBatch {
            reference: s(&c.reference),
            sku: s(&c.sku),
            qty: qty(c.qty),
            eta: c.eta,
        }
        .into(),
        C::Allocate(c) => wire::Allocate {
            orderid: s(&c.orderid),
            sku: s(&c.sku),
            qty: qty(c.qty),
        }
        .into(),
        C::ChangeBatchQuantity(c) => wire::ChangeBatchQuantity {
            reference: s(&c.reference),
            sku: s(&c.sku),
            qty: qty(c.qty),
        }
        .into(),
        C::Deallocate(c) => wire::Deallocate {
            orderid: s(&c.orderid),
            sku: s(&c.sku),
        }
        .into(),
    }
}

/// A domain event as its DTO.
pub fn from_event(event: &domain::Event) -> WireMessage {
    use domain::Event as E;
    match event {
        E::BatchCreated(e) => wire::BatchCreated {
            reference: s(&e.reference),
            sku: s(&e.sku),
            qty: qty(e.qty),
            eta: e.eta,
        }
        .into(),
        E::Allocated(e) => wire::Allocated {
            orderid: s(&e.orderid),
            sku: s(&e.sku),
            qty: qty(e.qty),
            batchref: s(&e.batchref),
        }
        .into(),
        E::Deallocated(e) => wire::Deallocated {
            orderid: s(&e.orderid),
            sku: s(&e.sku),
            qty: qty(e.qty),
            batchref: s(&e.batchref),
            reason: match e.reason {
                domain::DeallocationReason::BatchQuantityChanged => {
                    wire::DeallocationReason::BatchQuantityChanged
                }
                domain::DeallocationReason::Requested => wire::DeallocationReason::Requested,
            },
        }
        .into(),
        E::OutOfStock(e) => wire::OutOfStock {
            sku: s(&e.sku),
            orderid: s(&e.orderid),
        }
        .into(),
        E::BatchQuantityChanged(e) => wire::BatchQuantityChanged {
            reference: s(&e.reference),
            sku: s(&e.sku),
            qty: qty(e.qty),
        }
        .into(),
        E::CommandRejected(e) => wire::CommandRejected {
            command_id: e.command_id.to_string(),
            sku: s(&e.sku),
            code: e.code.clone(),
            reason: e.reason.clone(),
        }
        .into(),
    }
}

/// The changelog value of a product as its DTO, built field by field from the aggregate (the
/// same value as the domain's serde snapshot form — a unit test checks both agree). The worker
/// writes the value straight from the aggregate instead ([`write_snapshot`]).
pub fn from_product(product: &Product) -> Result<WireMessage, EncodeError> {
    let version_number =
        i64::try_from(product.version_number()).map_err(|e| EncodeError::OutOfRange {
            record: RecordType::ProductSnapshot,
            field: "version_number",
            detail: e.to_string(),
        })?;
    let batches = product
        .batches()
        .iter()
        .map(|b| wire::BatchState {
            reference: s(b.reference()),
            sku: s(b.sku()),
            purchased_quantity: qty(b.purchased_quantity()),
            eta: b.eta(),
            allocations: b
                .allocations()
                .iter()
                .map(|line| wire::OrderLineState {
                    orderid: s(&line.orderid),
                    sku: s(b.sku()),
                    qty: qty(line.qty),
                })
                .collect(),
        })
        .collect();
    let applied_message_ids = product
        .applied_message_ids()
        .iter()
        .map(|id| id.as_uuid().hyphenated().to_string())
        .collect();
    Ok(wire::ProductSnapshot {
        sku: s(product.sku()),
        version_number,
        batches,
        applied_message_ids,
    }
    .into())
}

/// The changelog value of a product through the domain's serde snapshot form (the reference
/// [`from_product`] is checked against).
#[cfg(test)]
pub(crate) fn from_product_via_serde(product: &Product) -> Result<WireMessage, EncodeError> {
    let out_of_range = |e: serde_json::Error| EncodeError::OutOfRange {
        record: RecordType::ProductSnapshot,
        field: "version_number",
        detail: e.to_string(),
    };
    let json = serde_json::to_value(product).map_err(out_of_range)?;
    serde_json::from_value::<wire::ProductSnapshot>(json)
        .map(WireMessage::ProductSnapshot)
        .map_err(out_of_range)
}

/// A product from its changelog value through the domain's serde snapshot form (the reference
/// [`to_product`] is checked against).
#[cfg(test)]
pub(crate) fn to_product_via_serde(
    snapshot: wire::ProductSnapshot,
) -> Result<Product, DecodeError> {
    let invalid = |e: serde_json::Error| DecodeError::InvalidValue {
        record: RecordType::ProductSnapshot,
        field: "(snapshot)",
        detail: e.to_string(),
    };
    let json = serde_json::to_value(&snapshot).map_err(invalid)?;
    serde_json::from_value(json).map_err(invalid)
}

/// The view record of a row change: `Some(row)` for an upsert, `None` (a tombstone) for a
/// delete.
pub fn from_view_update(update: &ViewUpdate) -> Option<WireMessage> {
    match update {
        ViewUpdate::Upsert {
            orderid,
            sku,
            batchref,
        } => Some(
            wire::AllocationRow {
                orderid: s(orderid),
                sku: s(sku),
                batchref: s(batchref),
            }
            .into(),
        ),
        ViewUpdate::Delete { .. } => None,
    }
}

/// A view row as the upsert it records.
pub fn to_view_update(row: wire::AllocationRow) -> Result<ViewUpdate, DecodeError> {
    let r = RecordType::AllocationRow;
    Ok(ViewUpdate::Upsert {
        orderid: check(r, "orderid", OrderId::new(&row.orderid))?,
        sku: check(r, "sku", Sku::new(&row.sku))?,
        batchref: check(r, "batchref", BatchRef::new(&row.batchref))?,
    })
}
