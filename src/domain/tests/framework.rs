//! A small given/when/then harness for the [`Product`] aggregate, in the spirit of
//! `cqrs-es`'s `TestFramework`: *given* a product built by earlier operations, *when* an
//! operation runs, *then* expect its events, its error (with the state unchanged) or a state.

use chrono::NaiveDate;

use crate::domain::{
    Allocated, BatchCreated, BatchQuantityChanged, BatchRef, Deallocated, DeallocationReason,
    DomainError, Event, MessageId, OrderId, OrderLine, OutOfStock, Product, Quantity, Sku,
};

pub fn sku(value: &str) -> Sku {
    Sku::new(value).expect("test sku")
}

pub fn orderid(value: &str) -> OrderId {
    OrderId::new(value).expect("test orderid")
}

pub fn batchref(value: &str) -> BatchRef {
    BatchRef::new(value).expect("test batch reference")
}

pub fn qty(value: i64) -> Quantity {
    Quantity::new(value).expect("test quantity")
}

pub fn date(day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(2026, 1, day)
}

pub fn message_id(n: u128) -> MessageId {
    MessageId::from_uuid(uuid::Uuid::from_u128(n))
}

pub fn line(order: &str, sku_: &str, n: i64) -> OrderLine {
    OrderLine::new(orderid(order), sku(sku_), qty(n))
}

pub fn allocated(order: &str, sku_: &str, n: i64, batch: &str) -> Event {
    Event::Allocated(Allocated {
        orderid: orderid(order),
        sku: sku(sku_),
        qty: qty(n),
        batchref: batchref(batch),
    })
}

pub fn deallocated(
    order: &str,
    sku_: &str,
    n: i64,
    batch: &str,
    reason: DeallocationReason,
) -> Event {
    Event::Deallocated(Deallocated {
        orderid: orderid(order),
        sku: sku(sku_),
        qty: qty(n),
        batchref: batchref(batch),
        reason,
    })
}

pub fn out_of_stock(sku_: &str, order: &str) -> Event {
    Event::OutOfStock(OutOfStock {
        sku: sku(sku_),
        orderid: orderid(order),
    })
}

pub fn batch_created(reference: &str, sku_: &str, n: i64, eta: Option<NaiveDate>) -> Event {
    Event::BatchCreated(BatchCreated {
        reference: batchref(reference),
        sku: sku(sku_),
        qty: qty(n),
        eta,
    })
}

pub fn quantity_changed(reference: &str, sku_: &str, n: i64) -> Event {
    Event::BatchQuantityChanged(BatchQuantityChanged {
        reference: batchref(reference),
        sku: sku(sku_),
        qty: qty(n),
    })
}

/// Starts a scenario for a product of `sku`.
pub fn given(sku_: &str) -> Given {
    Given {
        product: Product::new(sku(sku_)),
    }
}

pub struct Given {
    product: Product,
}

impl Given {
    /// A batch of the product's sku.
    pub fn batch(mut self, reference: &str, n: i64, eta: Option<NaiveDate>) -> Self {
        let sku_ = self.product.sku().clone();
        self.product
            .add_batch(batchref(reference), sku_, qty(n), eta)
            .expect("given batch");
        self.settle()
    }

    /// A line allocated (wherever the rules put it).
    pub fn allocated(mut self, order: &str, n: i64) -> Self {
        let line = OrderLine::new(orderid(order), self.product.sku().clone(), qty(n));
        self.product.allocate(line).expect("given allocation");
        self.settle()
    }

    fn settle(mut self) -> Self {
        self.product.drain_events().for_each(drop);
        self.product.release_journal();
        self
    }

    /// Runs the operation under test.
    pub fn when<T>(
        mut self,
        action: impl FnOnce(&mut Product) -> Result<T, DomainError>,
    ) -> Then<T> {
        let before = self.product.clone();
        let result = action(&mut self.product);
        let events = self.product.drain_events().collect();
        Then {
            before,
            product: self.product,
            result,
            events,
        }
    }
}

pub struct Then<T> {
    before: Product,
    product: Product,
    result: Result<T, DomainError>,
    events: Vec<Event>,
}

impl<T: std::fmt::Debug + PartialEq> Then<T> {
    /// The operation succeeded and raised exactly `expected`.
    pub fn then_expect_events(self, expected: Vec<Event>) -> Self {
        assert!(
            self.result.is_ok(),
            "expected success, got {:?}",
            self.result
        );
        assert_eq!(self.events, expected);
        self
    }

    /// The operation failed with `expected`, raised nothing and changed nothing.
    pub fn then_expect_error(self, expected: DomainError) -> Self {
        assert_eq!(self.result.as_ref().err(), Some(&expected));
        assert!(
            self.events.is_empty(),
            "no events on error: {:?}",
            self.events
        );
        assert_eq!(
            self.product, self.before,
            "state must be unchanged on error"
        );
        self
    }

    /// The operation returned `expected`.
    pub fn then_expect_result(self, expected: T) -> Self {
        assert_eq!(self.result.as_ref().ok(), Some(&expected));
        self
    }

    /// The state did not change (nothing but possibly events).
    pub fn then_expect_unchanged(self) -> Self {
        assert_eq!(self.product, self.before);
        self
    }

    /// Checks the resulting product.
    pub fn then_product(self, check: impl FnOnce(&Product)) -> Self {
        check(&self.product);
        self
    }
}

/// Available quantity of batch `reference`.
pub fn available(product: &Product, reference: &str) -> i64 {
    product
        .batch(&batchref(reference))
        .expect("batch exists")
        .available_quantity()
}
