//! Scalar kernels: the reference, the fallback, and the bench baseline.
//!
//! Plain sequential loops in index order (f32 accumulators for float rows, i64 for
//! integers, u64 popcounts for bits). Do not "optimise" these: their value is that
//! they are obviously right.

pub(crate) mod bits;
pub(crate) mod codec;
pub(crate) mod float;
pub(crate) mod int8;
pub(crate) mod scaled;
