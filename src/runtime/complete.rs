//! Driving the codec's async calls from the blocking threads of the runtime (the processing
//! thread, the restore's decoders).
//!
//! Those calls are async because a schema may have to be fetched from the registry, but almost
//! every one completes at once: the codec serves schemas from its cache. `Handle::block_on`
//! enters the runtime for each call — a scheduler seed drawn under a lock, a thread-local
//! park — which cost the processing thread ≈ 4 % when paid for several calls per record.
//! [`complete`] polls the future once in the runtime's context and hands only a future that is
//! still pending (a registry round trip) to `block_on`, which goes on polling the same future.
//!
//! Invariant: the future is polled to completion exactly as `block_on` would — the first poll
//! sees the runtime's handle (so it may start I/O or timers), and a pending future is polled
//! again with a real waker.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use tokio::runtime::Handle;

/// Runs `future` to completion on the calling thread, which must not be a runtime worker
/// thread (as for `Handle::block_on`).
pub(crate) fn complete<F: Future>(rt: &Handle, future: F) -> F::Output {
    let mut future = pin!(future);
    let first = {
        let _context = rt.enter();
        future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    };
    match first {
        Poll::Ready(output) => output,
        Poll::Pending => rt.block_on(future),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_ready_future_gives_its_output() {
        let rt = runtime();
        assert_eq!(complete(rt.handle(), async { 7 }), 7);
    }

    #[test]
    fn a_pending_future_is_driven_to_completion() {
        let rt = runtime();
        let (tx, rx) = tokio::sync::oneshot::channel();
        rt.spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send("late");
        });
        assert_eq!(complete(rt.handle(), rx), Ok("late"));
    }

    #[test]
    fn the_first_poll_runs_in_the_runtimes_context() {
        let rt = runtime();
        // A timer (like the registry client's I/O) needs the runtime's handle when it is
        // first polled; outside the context this would panic.
        let slept = complete(rt.handle(), async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            "slept"
        });
        assert_eq!(slept, "slept");
    }
}
