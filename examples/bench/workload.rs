//! The benchmark's command workload: deterministic (seeded), valid commands over `skus`
//! aggregates. First one `CreateBatch` per sku (stock in the warehouse), then a mix of
//! `Allocate` (80 %), `CreateBatch` with an eta (10 %) and `ChangeBatchQuantity` of the sku's
//! first batch (10 %, which may deallocate lines and re-allocate them: the cascade).
//!
//! Pure: no Kafka, no registry. Commands are produced in their JSON form and parsed by the
//! product's own `produce` parser, so every one is valid by the contract's rules.

use allocation_worker::domain::Command;
use allocation_worker::entrypoints::produce::parse_command;

/// SplitMix64: small, fast, deterministic — the workload must be the same in every run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// What kind of command a position of the mix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Allocate,
    CreateBatch,
    ChangeBatchQuantity,
}

/// The command kind for a draw in `0..100`.
pub fn kind_of(draw: u64) -> Kind {
    match draw {
        0..=79 => Kind::Allocate,
        80..=89 => Kind::CreateBatch,
        _ => Kind::ChangeBatchQuantity,
    }
}

/// Generates the workload's commands as JSON lines.
#[derive(Debug, Clone)]
pub struct Workload {
    skus: u64,
    rng: Rng,
    batches: Vec<u32>,
    orders: u64,
}

pub fn sku_name(i: u64) -> String {
    format!("SKU-{i:06}")
}

impl Workload {
    pub fn new(skus: u64, seed: u64) -> Self {
        Workload {
            skus: skus.max(1),
            rng: Rng::new(seed),
            batches: vec![1; skus.max(1) as usize],
            orders: 0,
        }
    }

    /// The initial stock: one `CreateBatch` per sku.
    pub fn setup(&self) -> Vec<String> {
        (0..self.skus)
            .map(|i| {
                format!(
                    r#"{{"type":"allocation.commands.CreateBatch","reference":"b-{i}-0","sku":"{}","qty":1000,"eta":null}}"#,
                    sku_name(i)
                )
            })
            .collect()
    }

    /// The next command of the mix.
    pub fn next_json(&mut self) -> String {
        let sku = self.rng.below(self.skus);
        let name = sku_name(sku);
        match kind_of(self.rng.below(100)) {
            Kind::Allocate => {
                self.orders += 1;
                let qty = 1 + self.rng.below(10);
                format!(
                    r#"{{"type":"allocation.commands.Allocate","orderid":"o-{}","sku":"{name}","qty":{qty}}}"#,
                    self.orders
                )
            }
            Kind::CreateBatch => {
                let n = &mut self.batches[sku as usize];
                let reference = format!("b-{sku}-{n}");
                *n += 1;
                let day = 1 + self.rng.below(28);
                format!(
                    r#"{{"type":"allocation.commands.CreateBatch","reference":"{reference}","sku":"{name}","qty":500,"eta":"2027-01-{day:02}"}}"#
                )
            }
            Kind::ChangeBatchQuantity => {
                let qty = 50 + self.rng.below(950);
                format!(
                    r#"{{"type":"allocation.commands.ChangeBatchQuantity","reference":"b-{sku}-0","sku":"{name}","qty":{qty}}}"#
                )
            }
        }
    }

    /// `n` commands of the mix, parsed.
    pub fn commands(&mut self, n: usize) -> Result<Vec<Command>, String> {
        (0..n).map(|_| parse_command(&self.next_json())).collect()
    }
}

/// The setup plus `mix` commands of the mix, parsed (the drain workload).
pub fn drain_workload(skus: u64, mix: usize, seed: u64) -> Result<Vec<Command>, String> {
    let mut w = Workload::new(skus, seed);
    let mut all: Vec<Command> = w
        .setup()
        .iter()
        .map(|j| parse_command(j))
        .collect::<Result<_, _>>()?;
    all.extend(w.commands(mix)?);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_is_deterministic_and_valid() {
        let a = drain_workload(50, 2_000, 7).unwrap();
        let b = drain_workload(50, 2_000, 7).unwrap();
        assert_eq!(a.len(), 2_050);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let c = drain_workload(50, 2_000, 8).unwrap();
        assert_ne!(format!("{a:?}"), format!("{c:?}"));
    }

    #[test]
    fn the_mix_is_80_10_10() {
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            match kind_of(rng.below(100)) {
                Kind::Allocate => counts[0] += 1,
                Kind::CreateBatch => counts[1] += 1,
                Kind::ChangeBatchQuantity => counts[2] += 1,
            }
        }
        assert!((79_000..81_000).contains(&counts[0]), "{counts:?}");
        assert!((9_500..10_500).contains(&counts[1]), "{counts:?}");
        assert!((9_500..10_500).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn every_sku_is_created_first_and_batch_references_are_unique() {
        let mut w = Workload::new(3, 1);
        let setup = w.setup();
        assert_eq!(setup.len(), 3);
        assert!(setup[2].contains("SKU-000002"));
        let refs: Vec<String> = (0..5_000)
            .map(|_| w.next_json())
            .filter(|j| j.contains("CreateBatch"))
            .collect();
        let mut unique = refs.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), refs.len());
    }
}
