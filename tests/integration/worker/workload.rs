//! A deterministic stream of commands for the chaos tests: batches for a few skus, then a mix
//! of allocations (each with a new orderid, so every `Allocate` has exactly one outcome),
//! quantity changes (deallocation and reallocation cascades), deallocations (some of orders
//! that are not allocated: rejected), new batches, and allocations of unknown skus
//! (rejected). Stock runs out now and then.

use allocation_worker::domain::{
    Allocate, BatchRef, ChangeBatchQuantity, Command, CreateBatch, Deallocate, OrderId, Quantity,
    Sku,
};
use chrono::NaiveDate;

/// xorshift64*: deterministic, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

fn sku(s: &str) -> Sku {
    Sku::new(s).expect("sku")
}

fn qty(n: u64) -> Quantity {
    Quantity::new(n as i64).expect("qty")
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Workload {
    rng: Rng,
    skus: Vec<String>,
    batches: Vec<Vec<String>>,
    orders: Vec<Vec<String>>,
    next: u64,
}

impl Workload {
    pub fn new(seed: u64, sku_count: usize) -> Self {
        Self {
            rng: Rng::new(seed),
            skus: (0..sku_count).map(|i| format!("SKU-{i:02}")).collect(),
            batches: vec![Vec::new(); sku_count],
            orders: vec![Vec::new(); sku_count],
            next: 0,
        }
    }

    fn fresh(&mut self, what: &str) -> String {
        self.next += 1;
        format!("{what}-{}", self.next)
    }

    fn create_batch(&mut self, i: usize, eta_days: Option<u32>) -> Command {
        let reference = self.fresh("batch");
        self.batches[i].push(reference.clone());
        let n = self.rng.range(20, 60);
        Command::CreateBatch(CreateBatch {
            reference: BatchRef::new(&reference).expect("ref"),
            sku: sku(&self.skus[i]),
            qty: qty(n),
            eta: eta_days.and_then(|d| NaiveDate::from_ymd_opt(2026, 3, d)),
        })
    }

    /// Two batches per sku: one in the warehouse, one shipping.
    pub fn setup(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        for i in 0..self.skus.len() {
            out.push(self.create_batch(i, None));
            let day = self.rng.range(1, 28) as u32;
            out.push(self.create_batch(i, Some(day)));
        }
        out
    }

    /// The next command of the mix.
    pub fn next_command(&mut self) -> Command {
        let i = (self.rng.next() % self.skus.len() as u64) as usize;
        let roll = self.rng.range(1, 100);
        match roll {
            1..=68 => {
                let orderid = self.fresh("order");
                self.orders[i].push(orderid.clone());
                let n = self.rng.range(1, 6);
                Command::Allocate(Allocate {
                    orderid: OrderId::new(&orderid).expect("orderid"),
                    sku: sku(&self.skus[i]),
                    qty: qty(n),
                })
            }
            69..=80 => {
                let reference = self.rng.pick(&self.batches[i]).clone();
                let n = self.rng.range(5, 60);
                Command::ChangeBatchQuantity(ChangeBatchQuantity {
                    reference: BatchRef::new(&reference).expect("ref"),
                    sku: sku(&self.skus[i]),
                    qty: qty(n),
                })
            }
            81..=88 if !self.orders[i].is_empty() => {
                let orderid = self.rng.pick(&self.orders[i]).clone();
                Command::Deallocate(Deallocate {
                    orderid: OrderId::new(&orderid).expect("orderid"),
                    sku: sku(&self.skus[i]),
                })
            }
            89..=95 => {
                let eta = if self.rng.next() % 2 == 0 {
                    None
                } else {
                    Some(self.rng.range(1, 28) as u32)
                };
                self.create_batch(i, eta)
            }
            _ => {
                let orderid = self.fresh("order");
                let unknown = format!("NOSUCH-{}", self.rng.range(0, 3));
                Command::Allocate(Allocate {
                    orderid: OrderId::new(&orderid).expect("orderid"),
                    sku: sku(&unknown),
                    qty: qty(1),
                })
            }
        }
    }
}
