//! Scalar kernels: the reference, the fallback, and the bench baseline.
//!
//! Plain sequential loops with an f32 accumulator, in index order. Do not
//! "optimise" these: their value is that they are obviously right.

pub mod f16;
pub mod f32;
