//! Scalar bit-vector kernels: Hamming and Jaccard by `count_ones` per word.

use crate::elem::Bits64;
use crate::finalize::jaccard_from_counts;
use crate::table::Family;

/// The number of differing bits.
pub(crate) fn hamming(a: &[Bits64], b: &[Bits64]) -> f32 {
    let mut n = 0u64;
    for (x, y) in a.iter().zip(b) {
        n += u64::from((x.0 ^ y.0).count_ones());
    }
    n as f32
}

/// `1 - |a ∧ b| / |a ∨ b|` (0 for two empty sets).
pub(crate) fn jaccard(a: &[Bits64], b: &[Bits64]) -> f32 {
    let (mut inter, mut union) = (0u64, 0u64);
    for (x, y) in a.iter().zip(b) {
        inter += u64::from((x.0 & y.0).count_ones());
        union += u64::from((x.0 | y.0).count_ones());
    }
    jaccard_from_counts(inter, union)
}

/// Bit-vector rows and queries: `[-, -, -, hamming, jaccard]`.
pub(crate) const BITS: Family<Bits64> = Family {
    variant: "scalar",
    metrics: [
        None,
        None,
        None,
        Some(crate::family::metric_kernels!([] Bits64, [Bits64], |q, x| hamming(q, x))),
        Some(crate::family::metric_kernels!([] Bits64, [Bits64], |q, x| jaccard(q, x))),
    ],
    many_to_many: None,
};
