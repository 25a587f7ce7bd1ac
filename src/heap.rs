//! The process's heap policy: one fast allocator for the whole process, and a long-running
//! worker that gives back the memory it no longer uses.
//!
//! mimalloc serves every allocation. The binary's Rust allocations go to it as the global
//! allocator ([`Allocator`], installed in `main`), and `libmimalloc-sys`'s `override` feature
//! makes the binary define and export the C library's `malloc` family, so librdkafka, OpenSSL
//! and the C library's own internal calls allocate from mimalloc too ([`c_malloc`] checks it).
//!
//! Why: librdkafka allocates several blocks per record — each header of each output, the
//! message, the parsed headers of each input — on its broker thread and the processing thread,
//! and frees many of them on another thread. With glibc's `malloc` that was ≈ 12 % of an
//! exactly-once worker's instructions (callgrind, 40 000-command drain); mimalloc took the
//! allocator's share from ≈ 520 to ≈ 300 M instructions, and on the shared machine, where
//! memory is slow, exactly-once 100 ms drains went from 28.6k / 25.4k / 29.9k to 45.6k / 38.1k
//! / 36.5k records/s (three pairs, interleaved). With the Rust side alone on mimalloc, the
//! processing thread had spent ≈ 30 % in glibc's `malloc`/`free` before, and drains were
//! 10–20 % faster. It also ends glibc's per-thread arenas, which kept tens of MiB that
//! librdkafka's threads had freed (its threshold for returning memory grows with the largest
//! block freed, and fetch buffers are megabytes).
//!
//! mimalloc asks the kernel for transparent huge pages on its arenas (`MADV_HUGEPAGE`,
//! honoured where THP is `madvise` or `always`): every region it touches is then backed by
//! 2 MiB pages, zeroed on the first touch, which it cannot give back in part. The restored
//! worker's RSS then depended on which 2 MiB pages the allocations happened to touch: 1000–1327
//! B per aggregate over six runs of the same binary, an empty worker 31 MiB.
//!
//! So:
//! - [`configure`] turns transparent huge pages off for the process (`PR_SET_THP_DISABLE`; what
//!   mimalloc does itself with `MIMALLOC_ALLOW_THP=0`, which it reads before `main`): 856–899 B
//!   per aggregate over three runs, an empty worker 24.3 MiB;
//! - a restore runs as a [`Burst`]: mimalloc 3 keeps freed memory for a second (its purge
//!   delay) before it returns it, and what librdkafka's reader threads had filled during a
//!   restore then stayed resident — the restored worker's RSS 883 / 1046 / 1057 B per aggregate
//!   (glibc: 865–879 B). Returned at once: 832–861 B over six runs. Not always at once: that
//!   cost drains CPU (freed buffers faulted back in: 3.0–4.9 % of a core per thousand
//!   records/s, median 4.1 over seven exactly-once 100 ms drains, against 2.7–3.7, median 3.6
//!   over six), so the delay is back when the restore ends; after it the free pages are
//!   collected (`mi_collect`).
//!
//! Invariants: [`configure`] is called once, first thing in `main`, before any thread starts;
//! an operator's own choice wins — with `MIMALLOC_ALLOW_THP` in the environment the huge pages
//! are left alone, with `MIMALLOC_PURGE_DELAY` the purge delay, also during a restore;
//! mimalloc's other options (`MIMALLOC_*`) apply as mimalloc documents them.

/// The Rust global allocator of the binary.
pub use mimalloc::MiMalloc as Allocator;

/// The environment variable through which an operator decides on transparent huge pages
/// themselves (mimalloc's own option: `0` turns them off for the process, `1` allows them).
pub const HUGE_PAGES_SETTING: &str = "MIMALLOC_ALLOW_THP";

/// The environment variable through which an operator sets mimalloc's purge delay themselves
/// (milliseconds before freed memory is returned to the system).
pub const PURGE_DELAY_SETTING: &str = "MIMALLOC_PURGE_DELAY";

/// mimalloc's `mi_option_purge_delay`: `libmimalloc-sys` exports no constant for it, so this is
/// its place in mimalloc's option enum (after `eager_commit_delay`, 14); a test checks it by
/// its default value.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// What [`configure`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Configured {
    pub c_malloc: CMalloc,
    pub huge_pages: HugePages,
}

/// Who serves the C library's `malloc` (librdkafka's allocations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CMalloc {
    /// mimalloc, through the `override` feature.
    Mimalloc,
    /// The C library's own allocator: the override did not take (a platform without it).
    System,
    /// Not checked (not Linux with glibc).
    Unchecked,
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

/// Applies the policy for this process's environment; see the module doc.
pub fn configure() -> Configured {
    let huge_pages = if std::env::var_os(HUGE_PAGES_SETTING).is_some() {
        HugePages::Operator
    } else {
        disable_huge_pages()
    };
    Configured {
        c_malloc: c_malloc(),
        huge_pages,
    }
}

/// Whether a block from the C library's `malloc` comes from mimalloc's heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn c_malloc() -> CMalloc {
    // SAFETY: a plain `malloc`/`free` pair of one byte; the pointer is only compared with
    // mimalloc's regions in between, never dereferenced.
    let ours = unsafe {
        let block = libc::malloc(1);
        let ours = !block.is_null() && libmimalloc_sys::mi_is_in_heap_region(block.cast());
        libc::free(block);
        ours
    };
    if ours {
        CMalloc::Mimalloc
    } else {
        CMalloc::System
    }
}

/// Whether a block from the C library's `malloc` comes from mimalloc's heap.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn c_malloc() -> CMalloc {
    CMalloc::Unchecked
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

/// A burst of transient allocations on several threads (a restore: librdkafka's reader
/// threads fill pages with fetched records that the processing thread frees): while it lasts,
/// freed memory goes back to the system at once; when it ends, mimalloc's free pages are
/// collected and its purge delay is what it was. Leaves the delay alone when the operator set
/// [`PURGE_DELAY_SETTING`].
#[must_use = "the burst ends when the guard is dropped"]
pub struct Burst {
    delay: Option<std::os::raw::c_long>,
}

/// Starts a [`Burst`].
pub fn burst() -> Burst {
    let delay = (std::env::var_os(PURGE_DELAY_SETTING).is_none()).then(|| {
        // SAFETY: reads and sets one of mimalloc's options; any delay is valid.
        unsafe {
            let delay = libmimalloc_sys::mi_option_get(PURGE_DELAY);
            libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
            delay
        }
    });
    Burst { delay }
}

impl Drop for Burst {
    fn drop(&mut self) {
        // SAFETY: `mi_collect` only frees memory mimalloc holds and no live block; setting the
        // delay back is an option write.
        unsafe {
            libmimalloc_sys::mi_collect(true);
            if let Some(delay) = self.delay {
                libmimalloc_sys::mi_option_set(PURGE_DELAY, delay);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_c_librarys_malloc_is_mimalloc() {
        // librdkafka allocates with `malloc`: without the override it would fall back to
        // glibc's, which costs the worker a third of its drain rate (see the module doc).
        assert_eq!(c_malloc(), CMalloc::Mimalloc);
        // The C library's own allocations too (`strdup` calls `malloc` inside glibc).
        // SAFETY: a NUL-terminated literal; the copy is freed once, by the same allocator.
        unsafe {
            let copy = libc::strdup(c"librdkafka".as_ptr());
            assert!(libmimalloc_sys::mi_is_in_heap_region(copy.cast()));
            libc::free(copy.cast());
        }
    }

    #[test]
    fn a_burst_purges_at_once_and_then_restores_the_delay() {
        // mimalloc 3's default purge delay is 1000 ms (the options next to it default to 1 and
        // 0): this checks that `PURGE_DELAY` is that option.
        // SAFETY: reads one of mimalloc's options.
        let delay = || unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(delay(), 1000);
        let burst = burst();
        assert_eq!(delay(), 0);
        drop(burst);
        assert_eq!(delay(), 1000);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn huge_pages_are_turned_off_for_the_process() {
        assert_eq!(disable_huge_pages(), HugePages::Off);
        // SAFETY: reads this process's flag; the other arguments must be zero.
        let flag = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(flag, 1);
    }
}
