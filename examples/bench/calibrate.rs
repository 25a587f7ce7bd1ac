//! How fast the machine runs one thread at a moment of the run: a fixed amount of CPU work,
//! timed.
//!
//! The machine is a shared virtual one, and the same binaries measure differently on
//! different days: on 1 December the raw passthrough used 42 % of a core for 144k records/s at
//! 06:50 UTC and 55–64 % for 135–143k at 09:22, and the broker's own producer perf tool went
//! from 171k to 72–81k records/s. The ratios of one run stay comparable; absolute figures of
//! two runs need a reference beside them. The perf tools' rows are the broker's; this check is
//! the CPU's, so that a slower core can be told apart from a slower broker or disk. It is taken
//! with the stack idle, at the start of a run and again at its end.
//!
//! Two kinds of work, each repeated [`REPEATS`] times, the median reported (so one preemption
//! does not decide it):
//! - integer arithmetic in registers (no memory traffic, no allocation, no system call): the
//!   core's own speed;
//! - dependent reads in random order through [`CHASE_BYTES`], a table that fits the L3 cache
//!   of the processor (32 MiB on the development machine's EPYC) but not its L2: how much of
//!   the shared cache and memory the other tenants leave. The broker, librdkafka and the worker
//!   live in that cache; on 1 December at 09:45 UTC the core check gave the same time as ever
//!   while a read took 164 ns (18 ns through 4 MiB, 249 ns through 256 MiB).

use std::hint::black_box;
use std::time::Instant;

use serde::Serialize;

/// Iterations of one repeat: ≈ 145 ms on the development machine when it is quiet.
const ITERATIONS: u64 = 50_000_000;
const REPEATS: usize = 5;

/// Size of the table of the memory check.
const CHASE_BYTES: usize = 16 << 20;
/// Reads of one repeat of the memory check.
const CHASE_READS: usize = 1_000_000;

/// One check: the core's, in milliseconds (wall clock), and the memory's, in nanoseconds per
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Check {
    pub median_ms: f64,
    pub fastest_ms: f64,
    pub memory_read_ns: f64,
}

/// The run's two checks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Calibration {
    pub start: Option<Check>,
    pub end: Option<Check>,
}

impl Calibration {
    /// One line for the report's header, or nothing when no check ran.
    pub fn describe(&self) -> Option<String> {
        let show = |c: &Check| {
            format!(
                "{:.1} ms (fastest {:.1}), {:.0} ns per read",
                c.median_ms, c.fastest_ms, c.memory_read_ns
            )
        };
        match (&self.start, &self.end) {
            (None, None) => None,
            (start, end) => Some(format!(
                "Speed check (one thread: {} M integer steps, and dependent random reads through {} MiB; medians of {REPEATS}; lower is faster, compare runs by it): {} at the start, {} at the end.",
                ITERATIONS / 1_000_000,
                CHASE_BYTES >> 20,
                start.as_ref().map_or_else(|| "–".to_owned(), show),
                end.as_ref().map_or_else(|| "–".to_owned(), show),
            )),
        }
    }
}

/// Times the fixed work [`REPEATS`] times.
pub fn check() -> Check {
    let mut times: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let started = Instant::now();
            black_box(work(black_box(ITERATIONS)));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let table = cycle(CHASE_BYTES / 8);
    let mut reads: Vec<f64> = (0..REPEATS).map(|_| chase(&table, CHASE_READS)).collect();
    reads.sort_by(f64::total_cmp);
    Check {
        median_ms: times[REPEATS / 2],
        fastest_ms: times[0],
        memory_read_ns: reads[REPEATS / 2],
    }
}

/// A table whose entries, followed from any one, visit every slot once before returning
/// (Sattolo's shuffle of the identity): the reads of [`chase`] cannot be predicted or skipped.
fn cycle(slots: usize) -> Vec<usize> {
    let mut next: Vec<usize> = (0..slots).collect();
    let mut x = 0x2545_F491_4F6C_DD1D_u64;
    for i in (1..slots).rev() {
        x = step(x);
        next.swap(i, (x % i as u64) as usize);
    }
    next
}

/// Nanoseconds per read, following `table` for `reads` reads.
fn chase(table: &[usize], reads: usize) -> f64 {
    let started = Instant::now();
    let mut at = 0;
    for _ in 0..reads {
        at = table[at];
    }
    black_box(at);
    started.elapsed().as_secs_f64() * 1e9 / reads as f64
}

/// xorshift64*: a dependency chain of multiplies and shifts the compiler cannot shorten.
fn work(iterations: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    for _ in 0..iterations {
        x = step(x);
    }
    x
}

fn step(mut x: u64) -> u64 {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_is_deterministic_and_not_trivial() {
        assert_eq!(work(1000), work(1000));
        assert_ne!(work(1000), work(1001));
    }

    #[test]
    fn the_header_line_shows_both_checks_or_what_is_missing() {
        assert_eq!(Calibration::default().describe(), None);
        let c = Check {
            median_ms: 52.04,
            fastest_ms: 50.0,
            memory_read_ns: 163.6,
        };
        let line = Calibration {
            start: Some(c),
            end: None,
        }
        .describe()
        .unwrap();
        assert!(
            line.contains("52.0 ms (fastest 50.0), 164 ns per read at the start, – at the end"),
            "{line}"
        );
    }

    #[test]
    fn the_table_is_one_cycle_through_every_slot() {
        let table = cycle(1000);
        let (mut at, mut seen) = (0, vec![false; 1000]);
        for _ in 0..1000 {
            assert!(!seen[at], "slot {at} visited twice");
            seen[at] = true;
            at = table[at];
        }
        assert_eq!(at, 0);
        assert!(seen.iter().all(|s| *s));
    }
}
