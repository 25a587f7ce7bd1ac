//! Throughput of the message bus, in process: commands per second for an allocate-heavy mix
//! over 100k skus, with the worker's wiring (in-memory state, view materialised downstream)
//! and a batch commit every 500 messages, as the exactly-once runtime does per transaction.
//!
//! Mix: 80% `Allocate` (qty 1–5, random sku), 10% `Deallocate` of a recent allocation,
//! 5% `ChangeBatchQuantity` of a warehouse batch (may displace and reallocate lines),
//! 5% `CreateBatch`. Message generation is excluded from the measurement.

use std::hint::black_box;
use std::time::Duration;

use allocation_worker::bootstrap::{self, WorkerBus};
use allocation_worker::domain::{
    Allocate, BatchRef, ChangeBatchQuantity, Command, CreateBatch, Deallocate, MessageId, OrderId,
    Quantity, Sku,
};
use allocation_worker::service_layer::{Inbound, StateStore};
use chrono::{DateTime, NaiveDate, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const SKUS: usize = 100_000;
const BATCH: usize = 500;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Generator {
    rng: Rng,
    skus: Vec<Sku>,
    warehouse: BatchRef,
    recent: Vec<(OrderId, Sku)>,
    sequence: u64,
    now: DateTime<Utc>,
}

fn quantity(n: usize) -> Quantity {
    Quantity::new(n as i64).expect("positive benchmark quantity")
}

impl Generator {
    fn new() -> Self {
        Self {
            rng: Rng(0x9E37_79B9_7F4A_7C15),
            skus: (0..SKUS)
                .map(|n| Sku::new(format!("SKU-{n:06}")).expect("valid sku"))
                .collect(),
            warehouse: BatchRef::new("WAREHOUSE").expect("valid reference"),
            recent: Vec::with_capacity(4096),
            sequence: 0,
            now: Utc::now(),
        }
    }

    fn inbound(&mut self, command: Command) -> Inbound {
        self.sequence += 1;
        let id = MessageId::from_uuid(uuid::Uuid::from_u128(u128::from(self.sequence)));
        Inbound::command(id, self.now, command)
    }

    fn eta(&mut self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(2026, 1 + self.rng.below(12) as u32, 1)
    }

    /// The initial stock: per sku a warehouse batch and two shipments.
    fn setup(&mut self) -> Vec<Inbound> {
        let mut messages = Vec::with_capacity(SKUS * 3);
        for n in 0..SKUS {
            let sku = self.skus[n].clone();
            let batches = [
                (self.warehouse.clone(), None),
                (BatchRef::new("SHIP-1").expect("valid"), self.eta()),
                (BatchRef::new("SHIP-2").expect("valid"), self.eta()),
            ];
            for (reference, eta) in batches {
                let command = Command::CreateBatch(CreateBatch {
                    reference,
                    sku: sku.clone(),
                    qty: quantity(1_000),
                    eta,
                });
                messages.push(self.inbound(command));
            }
        }
        messages
    }

    fn next(&mut self) -> Inbound {
        let sku = self.skus[self.rng.below(SKUS)].clone();
        let roll = self.rng.below(100);
        let command = if roll < 80 || self.recent.is_empty() {
            let orderid = OrderId::new(format!("order-{}", self.sequence)).expect("valid");
            if self.recent.len() < 4096 {
                self.recent.push((orderid.clone(), sku.clone()));
            } else {
                let slot = self.rng.below(self.recent.len());
                self.recent[slot] = (orderid.clone(), sku.clone());
            }
            let qty = quantity(1 + self.rng.below(5));
            Command::Allocate(Allocate { orderid, sku, qty })
        } else if roll < 90 {
            let (orderid, sku) = self.recent.swap_remove(self.rng.below(self.recent.len()));
            Command::Deallocate(Deallocate { orderid, sku })
        } else if roll < 95 {
            let qty = quantity(100 + self.rng.below(900));
            let reference = self.warehouse.clone();
            Command::ChangeBatchQuantity(ChangeBatchQuantity {
                reference,
                sku,
                qty,
            })
        } else {
            let reference = BatchRef::new(format!("PO-{}", self.sequence)).expect("valid");
            let eta = self.eta();
            Command::CreateBatch(CreateBatch {
                reference,
                sku,
                qty: quantity(500),
                eta,
            })
        };
        self.inbound(command)
    }
}

fn run_batch(bus: &mut WorkerBus, messages: Vec<Inbound>) {
    for message in messages {
        let outcome = bus.handle(message).expect("no bus error");
        black_box(outcome.record_count());
    }
    bus.commit_batch();
}

fn bus_throughput(c: &mut Criterion) {
    let mut generator = Generator::new();
    let mut bus = bootstrap::worker().expect("standard wiring");
    for chunk in generator.setup().chunks(BATCH) {
        run_batch(&mut bus, chunk.to_vec());
    }

    let mut group = c.benchmark_group("bus");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("allocate_heavy_mix_100k_skus", |b| {
        b.iter_batched(
            || (0..BATCH).map(|_| generator.next()).collect::<Vec<_>>(),
            |messages| run_batch(&mut bus, messages),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let metrics = bus.metrics().snapshot();
    eprintln!(
        "after the run: {} products, {} commands applied, {} rejected, {} events handled",
        bus.store().len(),
        metrics.commands_applied,
        metrics.commands_rejected,
        metrics.events_handled
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = bus_throughput
}
criterion_main!(benches);
