//! How fast the machine runs one thread at a moment of the run: a fixed amount of CPU work,
//! timed.
//!
//! The machine is a shared virtual one, and the same binaries measure differently on
//! different days: on 1 December the raw passthrough used 42 % of a core for 144k records/s at
//! 06:50 UTC and 55–64 % for 135–143k at 09:22, and the broker's own producer perf tool went
//! from 171k to 72–74k records/s. The ratios of one run stay comparable; absolute figures of
//! two runs need a reference beside them. The perf tools' rows are the broker's; this check is
//! the CPU's, so that a slower core can be told apart from a slower broker or disk. It is taken
//! with the stack idle, at the start of a run and again at its end.
//!
//! The work is integer arithmetic in registers (no memory traffic, no allocation, no system
//! call), repeated [`REPEATS`] times; the median is reported, so one preemption does not
//! decide it.

use std::hint::black_box;
use std::time::Instant;

use serde::Serialize;

/// Iterations of one repeat: ≈ 145 ms on the development machine when it is quiet.
const ITERATIONS: u64 = 50_000_000;
const REPEATS: usize = 5;

/// The timed work of one repeat, in milliseconds (wall clock).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Check {
    pub median_ms: f64,
    pub fastest_ms: f64,
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
        let show = |c: &Check| format!("{:.1} ms (fastest {:.1})", c.median_ms, c.fastest_ms);
        match (&self.start, &self.end) {
            (None, None) => None,
            (start, end) => Some(format!(
                "One-thread speed check (a fixed {} M integer steps, median of {REPEATS}; lower is faster, compare runs by it): {} at the start, {} at the end.",
                ITERATIONS / 1_000_000,
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
    Check {
        median_ms: times[REPEATS / 2],
        fastest_ms: times[0],
    }
}

/// xorshift64*: a dependency chain of multiplies and shifts the compiler cannot shorten.
fn work(iterations: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    for _ in 0..iterations {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
    }
    x
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
        };
        let line = Calibration {
            start: Some(c),
            end: None,
        }
        .describe()
        .unwrap();
        assert!(
            line.contains("52.0 ms (fastest 50.0) at the start, – at the end"),
            "{line}"
        );
    }
}
