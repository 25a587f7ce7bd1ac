//! Process measurements from `/proc`: CPU time (user + system), current and peak resident
//! memory; and the whole machine's busy CPU time (`/proc/stat`), which shows how much of the
//! shared cores the worker, the broker and the driver leave. Linux only; the parsers are pure
//! and unit-tested.

use std::time::Instant;

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on every Linux ABI we run on).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (utime + stime) from the text of `/proc/<pid>/stat`.
pub fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    // The command name (field 2) may contain spaces: fields are counted after its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': field 3 (state) is index 0, so utime (14) is index 11 and stime (15) 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// A `kB` field (`VmRSS`, `VmHWM`) of `/proc/<pid>/status`, in bytes.
pub fn status_kib_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// One sample of a process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
}

pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(Sample {
        at: Instant::now(),
        cpu_seconds: cpu_seconds_from_stat(&stat)?,
        rss_bytes: status_kib_field(&status, "VmRSS")?,
        peak_rss_bytes: status_kib_field(&status, "VmHWM")?,
    })
}

/// CPU use between two samples, in percent of one core.
pub fn cpu_percent(from: &Sample, to: &Sample) -> f64 {
    let wall = to.at.duration_since(from.at).as_secs_f64();
    if wall <= 0.0 {
        return 0.0;
    }
    100.0 * (to.cpu_seconds - from.cpu_seconds) / wall
}

/// Busy and total CPU seconds of all cores, from the `cpu` line of `/proc/stat` (busy: user,
/// nice, system, irq, softirq, steal; idle and iowait are not).
pub fn machine_cpu_from_stat(stat: &str) -> Option<(f64, f64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = ticks[..] else {
        return None;
    };
    let busy = user + nice + system + irq + softirq + steal;
    Some((
        busy / TICKS_PER_SECOND,
        (busy + idle + iowait) / TICKS_PER_SECOND,
    ))
}

/// One sample of the whole machine's CPU time.
#[derive(Debug, Clone, Copy)]
pub struct MachineSample {
    busy_seconds: f64,
    total_seconds: f64,
    cores: usize,
}

pub fn machine_sample() -> Option<MachineSample> {
    let (busy_seconds, total_seconds) =
        machine_cpu_from_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
    Some(MachineSample {
        busy_seconds,
        total_seconds,
        cores: cores(),
    })
}

/// The cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The machine's CPU use between two samples, in percent of one core (of `cores × 100`).
pub fn machine_busy_percent(from: &MachineSample, to: &MachineSample) -> f64 {
    let total = to.total_seconds - from.total_seconds;
    if total <= 0.0 {
        return 0.0;
    }
    100.0 * to.cores as f64 * (to.busy_seconds - from.busy_seconds) / total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_counts_fields_after_the_command_name() {
        let stat =
            "4242 (allocation (w)) S 1 4242 4242 0 -1 4194560 2013 0 0 0 250 50 0 0 20 0 9 0 1 2 3";
        assert_eq!(cpu_seconds_from_stat(stat), Some(3.0));
        assert_eq!(cpu_seconds_from_stat("garbage"), None);
    }

    #[test]
    fn status_fields_are_read_in_bytes() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nVmRSSX:\t1 kB\n";
        assert_eq!(status_kib_field(status, "VmRSS"), Some(1024 * 1024));
        assert_eq!(status_kib_field(status, "VmHWM"), Some(2048 * 1024));
        assert_eq!(status_kib_field(status, "VmSwap"), None);
    }

    #[test]
    fn machine_cpu_counts_busy_ticks_apart_from_idle_and_iowait() {
        let stat = "cpu  600 0 200 1000 100 50 50 0 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(machine_cpu_from_stat(stat), Some((9.0, 20.0)));
        assert_eq!(machine_cpu_from_stat("cpu  1 2\n"), None);
        assert_eq!(machine_cpu_from_stat("intr 1\n"), None);
    }

    #[test]
    fn the_own_process_can_be_sampled() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss_bytes > 0 && s.peak_rss_bytes >= s.rss_bytes);
    }
}
