//! The changelog value (`allocation.state.ProductSnapshot`) written straight from a
//! [`Product`] and turned straight back into one: the hot paths of every commit and of every
//! restore.
//!
//! Invariants:
//! - [`write_snapshot`] appends exactly the bytes of the DTO's Avro writer
//!   (`from_product(p)?.write_avro(out)`, itself equal to apache-avro's), without building the
//!   DTO: no `String` per sku, batch, line or applied id (the tests compare the two on
//!   generated products);
//! - [`to_product`] checks every value and every aggregate invariant, as the domain's serde
//!   form does (the tests compare the two on valid and invalid snapshots), without the JSON
//!   round trip that form needs.

use crate::adapters::avro::{write_array, write_long, write_str, write_utf8, AvroField};
use crate::adapters::codec::{DecodeError, EncodeError};
use crate::adapters::contracts::domain::{check, message_id};
use crate::adapters::contracts::{records as wire, RecordType};
use crate::domain::{Batch, BatchRef, OrderId, OrderLine, Product, Quantity, Sku};

const RECORD: RecordType = RecordType::ProductSnapshot;

/// Appends the Avro datum of `product`'s snapshot (field order of `ProductSnapshot`: sku,
/// version_number, batches[reference, sku, purchased_quantity, eta, allocations[orderid, sku,
/// qty]], applied_message_ids).
pub fn write_snapshot(product: &Product, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let version_number =
        i64::try_from(product.version_number()).map_err(|e| EncodeError::OutOfRange {
            record: RECORD,
            field: "version_number",
            detail: e.to_string(),
        })?;
    out.reserve(size_hint(product));
    write_utf8(out, product.sku().as_bytes());
    write_long(out, version_number);
    write_array(out, product.batches(), |out, batch| {
        let sku = batch.sku().as_bytes();
        write_utf8(out, batch.reference().as_bytes());
        write_utf8(out, sku);
        write_long(out, i64::from(batch.purchased_quantity().get()));
        batch.eta().write_avro(out);
        write_array(out, batch.allocations(), |out, line| {
            write_utf8(out, line.orderid.as_bytes());
            write_utf8(out, sku);
            write_long(out, i64::from(line.qty.get()));
        });
    });
    let ids = product.applied_message_ids();
    if !ids.is_empty() {
        // One block of all the ids, then the end marker: `write_array`'s layout.
        write_long(out, ids.len() as i64);
        let mut text = uuid::Uuid::encode_buffer();
        for id in ids.iter() {
            write_str(out, id.as_uuid().hyphenated().encode_lower(&mut text));
        }
    }
    write_long(out, 0);
    Ok(())
}

/// Bytes the datum will take, roughly (one reservation instead of a doubling per overflow).
fn size_hint(product: &Product) -> usize {
    const ID: usize = 37;
    let sku = product.sku().as_bytes().len() + 1;
    let batches: usize = product
        .batches()
        .iter()
        .map(|b| {
            b.reference().as_bytes().len()
                + sku
                + 16
                + b.allocations()
                    .iter()
                    .map(|l| l.orderid.as_bytes().len() + sku + 6)
                    .sum::<usize>()
        })
        .sum();
    sku + 12 + batches + product.applied_message_ids().len() * ID
}

/// A product from its changelog value, with every value and aggregate invariant checked.
pub fn to_product(snapshot: wire::ProductSnapshot) -> Result<Product, DecodeError> {
    let invalid = |field: &'static str, detail: String| DecodeError::InvalidValue {
        record: RECORD,
        field,
        detail,
    };
    let sku = check(RECORD, "sku", Sku::new(&snapshot.sku))?;
    let version_number = u64::try_from(snapshot.version_number)
        .map_err(|e| invalid("version_number", e.to_string()))?;
    let batches = snapshot
        .batches
        .into_iter()
        .map(|batch| {
            let lines = batch
                .allocations
                .into_iter()
                .map(|line| {
                    Ok(OrderLine::new(
                        check(RECORD, "orderid", OrderId::new(&line.orderid))?,
                        check(RECORD, "sku", Sku::new(&line.sku))?,
                        check(RECORD, "qty", Quantity::new(line.qty))?,
                    ))
                })
                .collect::<Result<Vec<_>, DecodeError>>()?;
            Batch::from_snapshot(
                check(RECORD, "reference", BatchRef::new(&batch.reference))?,
                check(RECORD, "sku", Sku::new(&batch.sku))?,
                check(
                    RECORD,
                    "purchased_quantity",
                    Quantity::new(batch.purchased_quantity),
                )?,
                batch.eta,
                lines,
            )
            .map_err(|e| invalid("(snapshot)", e.to_string()))
        })
        .collect::<Result<Vec<_>, DecodeError>>()?;
    let ids = snapshot
        .applied_message_ids
        .iter()
        .map(|id| message_id(RECORD, "applied_message_ids", id))
        .collect::<Result<Vec<_>, DecodeError>>()?;
    Product::from_snapshot(sku, version_number, batches, ids)
        .map_err(|e| invalid("(snapshot)", e.to_string()))
}
