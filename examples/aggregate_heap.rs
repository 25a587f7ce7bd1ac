//! `cargo run --release --example aggregate_heap`: the live heap of the aggregates that
//! `scripts/bench`'s memory figure restores, measured exactly, without Kafka.
//!
//! Runs `scripts/bench`'s drain workload (the same seeded commands: `BENCH_SKUS` skus,
//! `BENCH_RECORDS` commands) through the worker's bus in process, then restores every product
//! the way the worker does after a rebalance — the changelog value's Avro bytes
//! (`write_snapshot`) → its record → aggregate (`snapshot::to_product`, the worker's restore
//! path) → a fresh per-partition store (`BENCH_PARTITIONS` of them) — and prints the
//! heap bytes and allocations the restored stores hold, per aggregate, counted by a global
//! allocator. The bench's RSS figure is this plus what the allocator keeps of the restore's
//! transient buffers (and librdkafka's); this one has no such noise, so it shows what a change
//! to the aggregates' representation is worth.

#[path = "bench/workload.rs"]
#[allow(dead_code)]
mod workload;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use allocation_worker::adapters::avro::AvroField;
use allocation_worker::adapters::contracts::records::ProductSnapshot;
use allocation_worker::adapters::contracts::snapshot::{to_product, write_snapshot};
use allocation_worker::bootstrap::{self, WorkerBus};
use allocation_worker::domain::{MessageId, Product};
use allocation_worker::service_layer::{Inbound, StateStore};

/// Counts live bytes (as requested, not as the allocator rounds them) and live allocations.
struct Counting;

static BYTES: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        BLOCKS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> (isize, isize) {
    (
        BYTES.load(Ordering::Relaxed),
        BLOCKS.load(Ordering::Relaxed),
    )
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn restored(product: &Product) -> Product {
    let mut bytes = Vec::new();
    write_snapshot(product, &mut bytes).expect("a valid product encodes");
    let record = ProductSnapshot::read_avro(&mut bytes.as_slice()).expect("its own bytes decode");
    to_product(record).expect("a snapshot of a valid product decodes")
}

fn main() {
    let skus = env_or("BENCH_SKUS", 20_000);
    let records = env_or("BENCH_RECORDS", 200_000);
    let partitions = env_or("BENCH_PARTITIONS", 8).max(1) as usize;
    let commands = workload::drain_workload(skus, records.saturating_sub(skus) as usize, 42)
        .expect("the bench workload is valid");
    let mut bus = bootstrap::worker().expect("standard wiring");
    let now = chrono::Utc::now();
    for (n, command) in commands.into_iter().enumerate() {
        let id = MessageId::from_uuid(uuid::Uuid::from_u128(n as u128 + 1));
        bus.handle(Inbound::command(id, now, command))
            .expect("no bus error");
        if n % 1000 == 999 {
            bus.commit_batch();
        }
    }
    bus.commit_batch();
    let products: Vec<&Product> = bus.store().products().collect();
    let lines: usize = products
        .iter()
        .flat_map(|p| p.batches())
        .map(|b| b.allocations().len())
        .sum();
    let batches: usize = products.iter().map(|p| p.batches().len()).sum();
    let applied: usize = products.iter().map(|p| p.applied_message_ids().len()).sum();

    let (bytes0, blocks0) = live();
    let mut stores: Vec<WorkerBus> = (0..partitions)
        .map(|_| bootstrap::worker().expect("standard wiring"))
        .collect();
    for (n, product) in products.iter().enumerate() {
        stores[n % partitions]
            .restore(restored(product))
            .expect("restore");
    }
    for store in &mut stores {
        store.commit_batch();
    }
    let (bytes1, blocks1) = live();
    let n = products.len().max(1) as f64;
    println!(
        "{} aggregates ({:.2} batches, {:.2} lines, {:.2} applied ids each), {partitions} stores",
        products.len(),
        batches as f64 / n,
        lines as f64 / n,
        applied as f64 / n
    );
    println!(
        "live heap of the restored stores: {} B = {:.0} B per aggregate in {:.1} allocations each",
        bytes1 - bytes0,
        (bytes1 - bytes0) as f64 / n,
        (blocks1 - blocks0) as f64 / n
    );
    println!(
        "size_of: Product {} B, Batch {} B, AllocatedLine {} B",
        std::mem::size_of::<Product>(),
        std::mem::size_of::<allocation_worker::domain::Batch>(),
        std::mem::size_of::<allocation_worker::domain::AllocatedLine>()
    );
    drop(stores);
}
