//! The atomics of [`generational`](crate::generational), in one place:
//! `tests/loom_pool.rs` compiles that module against loom's instead (under
//! `--cfg sagevec_loom`), so the model checks the very code the pools run.

pub(crate) use std::sync::atomic::{AtomicPtr, Ordering};
