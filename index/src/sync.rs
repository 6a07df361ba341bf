//! The synchronisation primitives of the graph's link protocol, from `std` or, under
//! `--cfg sagevec_loom`, from loom, so the loom model (`live::loom_model`) checks the
//! very code that runs in production (crossbeam's `primitive` pattern).

#[cfg(sagevec_loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU32, AtomicU64};
#[cfg(sagevec_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(not(sagevec_loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64};
#[cfg(not(sagevec_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};
