//! The write-side handlers of the allocation service: one per command, plus the
//! reallocation policy on `Deallocated`.
//!
//! Invariants: a command handler changes at most the product of its command's sku and
//! returns a [`DomainError`] (via [`HandlerError`]) without changing anything when a rule
//! refuses it. Only deallocations caused by a batch quantity change are reallocated; a
//! deallocation the user requested is final.

use super::bus::{HandlerContext, HandlerError};
use crate::domain::{
    Allocate, ChangeBatchQuantity, CreateBatch, Deallocate, Deallocated, DeallocationReason,
    DomainError, OrderLine, Product, Sku,
};

fn product<'c>(ctx: &'c mut HandlerContext<'_>, sku: &Sku) -> Result<&'c mut Product, DomainError> {
    ctx.products()
        .get(sku)
        .ok_or_else(|| DomainError::UnknownSku(sku.clone()))
}

/// `CreateBatch`: adds the batch, creating the product on its first batch.
pub fn add_batch(cmd: &CreateBatch, ctx: &mut HandlerContext<'_>) -> Result<(), HandlerError> {
    let products = ctx.products();
    if let Some(product) = products.get(&cmd.sku) {
        product.add_batch(cmd.reference.clone(), cmd.sku.clone(), cmd.qty, cmd.eta)?;
        return Ok(());
    }
    let mut product = Product::new(cmd.sku.clone());
    product.add_batch(cmd.reference.clone(), cmd.sku.clone(), cmd.qty, cmd.eta)?;
    products.add(product)?;
    Ok(())
}

/// `Allocate`: allocates the line (or raises `OutOfStock`).
pub fn allocate(cmd: &Allocate, ctx: &mut HandlerContext<'_>) -> Result<(), HandlerError> {
    let line = OrderLine::new(cmd.orderid.clone(), cmd.sku.clone(), cmd.qty);
    product(ctx, &cmd.sku)?.allocate(line)?;
    Ok(())
}

/// `ChangeBatchQuantity`: sets the quantity; lines that no longer fit are deallocated.
pub fn change_batch_quantity(
    cmd: &ChangeBatchQuantity,
    ctx: &mut HandlerContext<'_>,
) -> Result<(), HandlerError> {
    product(ctx, &cmd.sku)?.change_batch_quantity(&cmd.reference, cmd.qty)?;
    Ok(())
}

/// `Deallocate`: releases the order's line for the sku.
pub fn deallocate(cmd: &Deallocate, ctx: &mut HandlerContext<'_>) -> Result<(), HandlerError> {
    product(ctx, &cmd.sku)?.deallocate(&cmd.orderid)?;
    Ok(())
}

/// Policy on `Deallocated`: a line displaced by a quantity change is allocated again, in
/// the same unit of work.
pub fn reallocate(event: &Deallocated, ctx: &mut HandlerContext<'_>) -> Result<(), HandlerError> {
    if event.reason == DeallocationReason::BatchQuantityChanged {
        ctx.dispatch(Allocate {
            orderid: event.orderid.clone(),
            sku: event.sku.clone(),
            qty: event.qty,
        });
    }
    Ok(())
}
