//! [`Generational`]: a value rebuilt once per process generation (fork count),
//! read with one atomic load and swapped without a lock.
//!
//! A `NumaPool`'s rayon pools have no threads in a forked child. The first use in
//! the child builds fresh ones and swaps them in; the parent's copies are leaked,
//! never dropped, because dropping them would wake their (absent) threads through
//! locks that may have been held at the moment of the fork.
//!
//! Invariants (checked by the loom model `tests/loom_pool.rs`, which compiles this
//! file against loom's atomics):
//! - `current` is never null and points to a `Slot` from `Box::into_raw`;
//! - a slot that was ever `current` is freed only by `Drop` (which has `&mut
//!   self`), and only if it belongs to the generation of the dropping process;
//!   a replaced slot is leaked. So a `&T` handed out through `&self` lives as long
//!   as `&self`;
//! - a slot is published with `Release` (the CAS) and read with `Acquire`, so a
//!   reader sees the value fully built;
//! - racing rebuilders: exactly one CAS wins; the losers free their own unshared
//!   slot and return the winner's value.
//!
//! The generation only changes in a forked child before it has any other thread
//! (the atfork child handler), so it never changes while readers race here.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::primitive::{AtomicPtr, Ordering};

/// A value tagged with the generation it was built in.
struct Slot<T> {
    generation: u64,
    value: T,
}

/// A `T` for the current process generation; see the module docs.
pub(crate) struct Generational<T> {
    current: AtomicPtr<Slot<T>>,
    /// The current generation (`fork::generation` for the pools).
    generation: fn() -> u64,
    /// Shared ownership across threads, like an `Arc<T>`: `Send` and `Sync` only
    /// when `T` is both (a `&T` goes to every reader; any thread may drop it).
    _owns: PhantomData<Arc<T>>,
}

impl<T> Generational<T> {
    /// `value`, built in the current generation.
    pub(crate) fn new(value: T, generation: fn() -> u64) -> Self {
        let slot = Slot {
            generation: generation(),
            value,
        };
        Generational {
            current: AtomicPtr::new(Box::into_raw(Box::new(slot))),
            generation,
            _owns: PhantomData,
        }
    }

    /// The value of the current generation: the stored one, or (first use after a
    /// fork) one built by `rebuild` and swapped in.
    #[inline]
    pub(crate) fn get(&self, rebuild: impl FnMut() -> T) -> &T {
        let generation = (self.generation)();
        let ptr = self.current.load(Ordering::Acquire);
        // SAFETY: `current` is never null, points to a slot from `Box::into_raw`
        // published with Release, and a slot that was ever current is freed only
        // in `Drop`, which needs `&mut self` (see the module docs).
        let slot = unsafe { &*ptr };
        if slot.generation == generation {
            &slot.value
        } else {
            self.swap_in(ptr, generation, rebuild)
        }
    }

    #[cold]
    fn swap_in(
        &self,
        mut seen: *mut Slot<T>,
        generation: u64,
        mut rebuild: impl FnMut() -> T,
    ) -> &T {
        loop {
            let fresh = Box::into_raw(Box::new(Slot {
                generation,
                value: rebuild(),
            }));
            match self
                .current
                .compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                // The replaced slot is from before the fork: leaked on purpose (see
                // the module docs).
                // SAFETY: `fresh` came from `Box::into_raw` and is now current, so it
                // lives until `Drop`.
                Ok(_) => return unsafe { &(*fresh).value },
                Err(other) => {
                    // SAFETY: the exchange failed, so `fresh` was never shared.
                    drop(unsafe { Box::from_raw(fresh) });
                    // SAFETY: as in `get`: `other` is the current slot, read with
                    // Acquire by the failed exchange.
                    let slot = unsafe { &*other };
                    if slot.generation == generation {
                        return &slot.value;
                    }
                    seen = other;
                }
            }
        }
    }
}

impl<T> Drop for Generational<T> {
    fn drop(&mut self) {
        // `&mut self`: no `&T` from `get` is alive and nobody else touches
        // `current`; the Acquire load is what loom's atomics allow here.
        let ptr = self.current.load(Ordering::Acquire);
        // SAFETY: `ptr` came from `Box::into_raw` and, with `&mut self`, is
        // referenced by nothing else.
        let slot = unsafe { Box::from_raw(ptr) };
        if slot.generation != (self.generation)() {
            // From before a fork: leaked, as in `swap_in`.
            std::mem::forget(slot);
        }
    }
}
