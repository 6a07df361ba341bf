//! Fork detection: a `pthread_atfork` child handler bumps a generation counter, so a
//! pool built before `fork()` knows in the child that its worker threads are gone.
//!
//! A rayon pool copied by `fork()` has no threads in the child: installing work
//! there would wait forever. `NumaPool` compares the generation it was built in with
//! the current one on every use and rebuilds lazily on a mismatch.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// Number of `fork()`s between the first process that registered the handler and
/// this one (0 in that process).
static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

/// Runs in the child right after `fork()`, on its only thread. One atomic add:
/// async-signal-safe, as atfork child handlers must be.
extern "C" fn on_fork_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Registers the child handler once per process image (children inherit it).
pub(crate) fn register() {
    REGISTER.call_once(|| {
        #[cfg(unix)]
        {
            // SAFETY: the handler is a plain `extern "C" fn` with no captured state that
            // stays valid for the process's life; null prepare/parent handlers are allowed.
            let rc = unsafe { libc::pthread_atfork(None, None, Some(on_fork_child)) };
            // ENOMEM is the only failure; without the handler we cannot detect forks.
            assert_eq!(rc, 0, "pthread_atfork failed ({rc})");
        }
    });
}

/// The current fork generation. In the child, the handler ran before `fork()`
/// returned, on the one thread there is, so a relaxed load sees it.
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}
