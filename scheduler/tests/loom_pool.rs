//! Loom model of the pools' pointer swap (`src/generational.rs`, compiled here
//! against loom's atomics): every interleaving of two threads that race to rebuild
//! after a fork, or read without one, and of the drop that follows.
//!
//! Checked in every interleaving: each reader gets the value of the current
//! generation, fully built (the payload is a loom `UnsafeCell` written by its
//! builder, so a missing Release/Acquire edge is a causality error); both readers
//! get the same one; every losing rebuild is freed, the winner is freed by `Drop`,
//! and the parent generation's value is never dropped (leaked, for fork safety).
//!
//! Run: `RUSTFLAGS="--cfg sagevec_loom" cargo test -p sagevec-scheduler --release --test loom_pool`
//! (scripts/test.sh does, in its own target directory).

#![cfg(sagevec_loom)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

/// The atomics `generational.rs` imports as `crate::primitive`: loom's.
mod primitive {
    pub(crate) use loom::sync::atomic::{AtomicPtr, Ordering};
}

#[path = "../src/generational.rs"]
mod generational;

use generational::Generational;

/// The fork generation the cell reads. Set only while no model thread runs (a
/// fork bumps it in a child with one thread), so a plain atomic will do.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Payloads built by rebuilds, and payloads dropped, in the current execution.
static BUILT: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);
/// Held by each test for its whole model: the statics above are shared by the
/// tests, which the harness runs on parallel threads, and one test's writes in
/// another's execution make loom's replay nondeterministic ("Reached unexpected
/// exploration state") as well as its assertions wrong.
static ONE_MODEL_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` under `loom::model`, with no other test's model running.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let _only = ONE_MODEL_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    loom::model(f);
}

fn generation() -> u64 {
    GENERATION.load(SeqCst)
}

/// A value whose contents loom tracks: written when built, read by readers.
struct Payload {
    /// Which build this is (0: the parent's).
    id: UnsafeCell<usize>,
}

// SAFETY: `id` is written only in `new`, before the payload is shared; afterwards
// it is only read (loom checks that every read happens after that write).
unsafe impl Sync for Payload {}

impl Payload {
    fn new(id: usize) -> Payload {
        Payload {
            id: UnsafeCell::new(id),
        }
    }

    fn id(&self) -> usize {
        // SAFETY: a shared read of a value no one writes after `new`.
        self.id.with(|p| unsafe { *p })
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, SeqCst);
    }
}

fn rebuild() -> Payload {
    Payload::new(BUILT.fetch_add(1, SeqCst) + 1)
}

/// A cell built in generation 0 (the parent's payload, id 0), for a model run.
fn parent_cell() -> Arc<Generational<Payload>> {
    GENERATION.store(0, SeqCst);
    BUILT.store(0, SeqCst);
    DROPPED.store(0, SeqCst);
    Arc::new(Generational::new(Payload::new(0), generation))
}

#[test]
fn racing_rebuilds_after_a_fork_agree_on_one_value_and_leak_the_parents() {
    model(|| {
        let cell = parent_cell();
        GENERATION.store(1, SeqCst); // the fork
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let cell = Arc::clone(&cell);
                thread::spawn(move || cell.get(rebuild).id())
            })
            .collect();
        let ids: Vec<usize> = readers.into_iter().map(|t| t.join().unwrap()).collect();
        let built = BUILT.load(SeqCst);
        assert!(ids[0] >= 1 && ids[0] <= built, "{ids:?} of {built} builds");
        assert_eq!(ids[0], ids[1], "readers disagree");
        // Every losing build was freed; the winner and the parent's are not.
        assert_eq!(DROPPED.load(SeqCst), built - 1);
        // A later reader takes the fast path to the same value.
        assert_eq!(cell.get(|| unreachable!("no second rebuild")).id(), ids[0]);
        drop(cell);
        // Drop frees the current generation's value, never the parent's.
        assert_eq!(DROPPED.load(SeqCst), built);
    });
}

#[test]
fn readers_without_a_fork_share_the_value_and_never_rebuild() {
    model(|| {
        let cell = parent_cell();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let cell = Arc::clone(&cell);
                thread::spawn(move || cell.get(|| unreachable!("no fork, no rebuild")).id())
            })
            .collect();
        for reader in readers {
            assert_eq!(reader.join().unwrap(), 0);
        }
        drop(cell);
        assert_eq!(
            DROPPED.load(SeqCst),
            1,
            "the value of this generation is freed"
        );
    });
}

#[test]
fn a_cell_dropped_after_a_fork_without_use_leaks_its_value() {
    model(|| {
        let cell = parent_cell();
        GENERATION.store(1, SeqCst);
        drop(cell);
        assert_eq!(
            DROPPED.load(SeqCst),
            0,
            "the parent's value must not be dropped"
        );
    });
}
