//! The process's heap policy: fast allocation on the processing thread, and a long-running
//! worker that gives back the memory it no longer uses.
//!
//! Two allocators share the process. The binary's Rust allocations go to mimalloc
//! ([`Allocator`], installed in `main`): a draining worker's processing thread spent ≈ 30 % of
//! its time in glibc's `malloc`/`free`, and mimalloc made exactly-once drains 10–20 % faster
//! side by side. librdkafka (C) allocates with the C library's `malloc`.
//!
//! Both kept what a restore had freed. mimalloc keeps freed pages for reuse until told to
//! collect. glibc adjusts its mmap threshold as it goes: when a block it served with `mmap` is
//! freed, the threshold rises to that block's size and the trim threshold to twice it (up to
//! 32 / 64 MiB on 64-bit). librdkafka's fetch and decompression buffers are such blocks
//! (megabytes, up to `fetch.max.bytes`), so after the first of them is freed every arena —
//! one per thread that allocates, and librdkafka runs one thread per broker — keeps up to
//! twice that size of freed memory at its top instead of returning it. And a restore leaves a
//! broker thread's arena fragmented: librdkafka allocates every fetched record there, and when
//! the reader falls behind the fetcher (a loaded machine) tens of MiB of them are live at once,
//! then freed around the few blocks that stay. Measured with `malloc_stats()` on a worker that
//! had restored 20 000 aggregates: RSS 47–86 MiB over runs, the broker thread's arena 9–37 MiB
//! mapped for 7–9 KiB in use; steady memory high and different in every run.
//!
//! And mimalloc asks the kernel for transparent huge pages on its arenas (`MADV_HUGEPAGE`,
//! honoured where THP is `madvise` or `always`): every region it touches is then backed by
//! 2 MiB pages, zeroed on the first touch, which it cannot give back in part. The restored
//! worker's RSS then depended on which 2 MiB pages the allocations happened to touch: 1000–1327
//! B per aggregate over six runs of the same binary, an empty worker 31 MiB.
//!
//! So:
//! - [`configure`] fixes glibc's thresholds at [`THRESHOLD_BYTES`], which turns the adjustment
//!   off: blocks from 1 MiB up are mapped and unmapped on their own, and an arena returns its
//!   free top beyond 1 MiB;
//! - it turns transparent huge pages off for the process (`PR_SET_THP_DISABLE`; what mimalloc
//!   does itself with `MIMALLOC_ALLOW_THP=0`, which it reads before `main`): 856–899 B per
//!   aggregate over three runs, an empty worker 24.3 MiB;
//! - [`release_free`] hands the free pages of both allocators back (`mi_collect`,
//!   `malloc_trim`) after a burst of transient allocations — the runtime calls it when a
//!   restore is done.
//!
//! Measured (README, Performance): with glibc alone, the restored worker's RSS went from 47–86
//! MiB to 41.1–41.5 MiB; with mimalloc and both measures, 880–989 B per aggregate in the
//! bench, as with glibc, and exactly-once drains ≈ 15 % faster.
//!
//! Invariants: [`configure`] is called once, first thing in `main`, before any thread starts;
//! an operator's own tuning wins — with `GLIBC_TUNABLES`, `MALLOC_MMAP_THRESHOLD_` or
//! `MALLOC_TRIM_THRESHOLD_` in the environment the thresholds are left alone, and with
//! `MIMALLOC_ALLOW_THP` the huge pages; on any other C library or platform only mimalloc's
//! collection applies.

/// The Rust global allocator of the binary.
pub use mimalloc::MiMalloc as Allocator;

/// The fixed mmap and trim threshold: large enough that the producer's message-set buffers
/// (`batch.size`, 1 MB by default) stay on the heap, small enough that what an arena keeps
/// of a burst is bounded.
pub const THRESHOLD_BYTES: usize = 1 << 20;

/// Environment variables through which an operator tunes glibc's malloc themselves.
pub const OPERATOR_SETTINGS: [&str; 3] = [
    "GLIBC_TUNABLES",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
];

/// The environment variable through which an operator decides on transparent huge pages
/// themselves (mimalloc's own option: `0` turns them off for the process, `1` allows them).
pub const HUGE_PAGES_SETTING: &str = "MIMALLOC_ALLOW_THP";

/// What [`configure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Configured {
    pub thresholds: HeapPolicy,
    pub huge_pages: HugePages,
}

/// Transparent huge pages for the process, as [`configure`] left them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HugePages {
    /// Turned off for this process (`PR_SET_THP_DISABLE`).
    Off,
    /// Left to the operator: [`HUGE_PAGES_SETTING`] is set.
    Operator,
    /// Not Linux with glibc, or the kernel refused: the system's setting applies.
    Default,
}

/// What [`configure`] did to glibc's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeapPolicy {
    /// Both thresholds fixed at [`THRESHOLD_BYTES`].
    Fixed,
    /// Left to the operator: this environment variable is set.
    Operator(&'static str),
    /// Not glibc, or glibc refused a setting: its defaults apply.
    Default,
}

/// The policy for an environment (`is_set` tells whether a variable is set): the operator's
/// own tuning, if any, or the fixed thresholds.
pub fn decide(is_set: impl Fn(&str) -> bool) -> HeapPolicy {
    OPERATOR_SETTINGS
        .iter()
        .find(|name| is_set(name))
        .map_or(HeapPolicy::Fixed, |name| HeapPolicy::Operator(name))
}

/// Applies the policy for this process's environment; see the module doc.
pub fn configure() -> Configured {
    let is_set = |name: &str| std::env::var_os(name).is_some();
    let thresholds = match decide(is_set) {
        HeapPolicy::Fixed => fix_thresholds(),
        other => other,
    };
    let huge_pages = if is_set(HUGE_PAGES_SETTING) {
        HugePages::Operator
    } else {
        disable_huge_pages()
    };
    Configured {
        thresholds,
        huge_pages,
    }
}

/// Turns transparent huge pages off for this process: mimalloc asks for them on its arenas
/// (`MADV_HUGEPAGE`), and then every page it touches costs 2 MiB of RSS (see the module doc).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn disable_huge_pages() -> HugePages {
    // SAFETY: `PR_SET_THP_DISABLE` only sets a flag of this process's memory map; the other
    // arguments must be zero.
    let done = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0 };
    if done {
        HugePages::Off
    } else {
        HugePages::Default
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn disable_huge_pages() -> HugePages {
    HugePages::Default
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_thresholds() -> HeapPolicy {
    let bytes = libc::c_int::try_from(THRESHOLD_BYTES).unwrap_or(libc::c_int::MAX);
    // SAFETY: `mallopt` only changes glibc's allocation parameters; it is called before the
    // process starts any thread, and both values are in the range glibc accepts.
    let applied = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, bytes) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, bytes) == 1
    };
    if applied {
        HeapPolicy::Fixed
    } else {
        HeapPolicy::Default
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_thresholds() -> HeapPolicy {
    HeapPolicy::Default
}

/// Returns free pages to the operating system: mimalloc's (`mi_collect`, when it is the
/// global allocator) and those of every glibc arena (`malloc_trim`); true if glibc returned
/// any. Takes locks in both allocators, so call it after a burst (a restore), not per record.
pub fn release_free() -> bool {
    // SAFETY: `mi_collect` only frees memory mimalloc holds and no live block; with another
    // global allocator it finds nothing to do.
    unsafe { libmimalloc_sys::mi_collect(true) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` is thread-safe (it locks each arena) and only releases pages
        // that hold no allocated block.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_operator_tuning_the_thresholds_are_fixed() {
        assert_eq!(decide(|_| false), HeapPolicy::Fixed);
    }

    #[test]
    fn any_operator_setting_leaves_malloc_alone() {
        for name in OPERATOR_SETTINGS {
            let policy = decide(|asked| asked == name);
            assert_eq!(policy, HeapPolicy::Operator(name));
        }
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn huge_pages_are_turned_off_for_the_process() {
        assert_eq!(disable_huge_pages(), HugePages::Off);
        // SAFETY: reads this process's flag; the other arguments must be zero.
        let flag = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(flag, 1);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_thresholds() {
        assert_eq!(fix_thresholds(), HeapPolicy::Fixed);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_memory_inside_an_arena_is_released() {
        // Many small blocks, all freed but the last: the pages below it are free but not at
        // the arena's top, which only a trim returns.
        let mut blocks: Vec<Option<Vec<u8>>> = (0..20_000).map(|_| Some(vec![1u8; 600])).collect();
        let last = blocks.len() - 1;
        for block in blocks.iter_mut().take(last) {
            *block = None;
        }
        assert!(release_free());
        assert!(blocks[last].as_ref().is_some_and(|b| b.len() == 600));
    }
}
