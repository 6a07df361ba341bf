//! Bit-vector kernels for AVX2 (`*_bits_avx2`): Hamming and Jaccard over packed
//! u64 words.
//!
//! Numeric contract: popcounts are exact integers (u64); Hamming is the count as
//! f32 (exact below 2²⁴ bits), Jaccard `1 - |a∧b|/|a∨b|` in f64 rounded once.
//!
//! Key instructions: the nibble-table popcount (Muła): `vpshufb` looks up the bit
//! count of each nibble in a 16-entry table, two lookups per byte, and `vpsadbw`
//! sums the byte counts into one u64 per 64-bit lane (no overflow: 8 bytes of at
//! most 8 each per lane per step). 4 words per step; the last `n mod 4` words use
//! `popcnt`.

use core::arch::x86_64::*;

use super::reduce::hsum_epi64_avx2;
use crate::elem::Bits64;
use crate::finalize::jaccard_from_counts;
use crate::table::Family;

/// The bits set in each 64-bit lane of `v`, as u64 lanes.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
#[inline]
fn popcnt_lanes(v: __m256i) -> __m256i {
    let table = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    let low = _mm256_set1_epi8(0x0f);
    let lo = _mm256_and_si256(v, low);
    let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
    let bytes = _mm256_add_epi8(
        _mm256_shuffle_epi8(table, lo),
        _mm256_shuffle_epi8(table, hi),
    );
    _mm256_sad_epu8(bytes, _mm256_setzero_si256())
}

/// `(Σ popcount(f(aᵢ, bᵢ)), Σ popcount(g(aᵢ, bᵢ)))` over the shorter length, for
/// word-wise bit operations `f`, `g` (on vectors and on scalars alike).
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
#[inline]
unsafe fn count2(
    a: &[Bits64],
    b: &[Bits64],
    vf: impl Fn(__m256i, __m256i) -> __m256i,
    vg: impl Fn(__m256i, __m256i) -> __m256i,
    sf: impl Fn(u64, u64) -> u64,
    sg: impl Fn(u64, u64) -> u64,
) -> (u64, u64) {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut acc_f, mut acc_g) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: words i..i + 4 are inside both slices; unaligned loads.
        let (va, vb) = unsafe {
            (
                _mm256_loadu_si256(pa.add(i).cast::<__m256i>()),
                _mm256_loadu_si256(pb.add(i).cast::<__m256i>()),
            )
        };
        acc_f = _mm256_add_epi64(acc_f, popcnt_lanes(vf(va, vb)));
        acc_g = _mm256_add_epi64(acc_g, popcnt_lanes(vg(va, vb)));
        i += 4;
    }
    // SAFETY: AVX2 available.
    let (mut cf, mut cg) = unsafe { (hsum_epi64_avx2(acc_f), hsum_epi64_avx2(acc_g)) };
    while i < n {
        cf += u64::from(sf(a[i].0, b[i].0).count_ones());
        cg += u64::from(sg(a[i].0, b[i].0).count_ones());
        i += 1;
    }
    (cf, cg)
}

/// The number of differing bits.
///
/// # Safety
/// AVX2 and POPCNT are available.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn hamming(a: &[Bits64], b: &[Bits64]) -> f32 {
    let zero = |_: __m256i, _: __m256i| _mm256_setzero_si256();
    // The second count is of zeros (constant-folded away).
    // SAFETY: same contract.
    let (diff, _) = unsafe {
        count2(
            a,
            b,
            |x, y| _mm256_xor_si256(x, y),
            zero,
            |x, y| x ^ y,
            |_, _| 0,
        )
    };
    diff as f32
}

/// `1 - |a ∧ b| / |a ∨ b|` (0 for two empty sets).
///
/// # Safety
/// AVX2 and POPCNT are available.
#[target_feature(enable = "avx2,fma,f16c,popcnt")]
pub(crate) unsafe fn jaccard(a: &[Bits64], b: &[Bits64]) -> f32 {
    // SAFETY: same contract.
    let (inter, union) = unsafe {
        count2(
            a,
            b,
            |x, y| _mm256_and_si256(x, y),
            |x, y| _mm256_or_si256(x, y),
            |x, y| x & y,
            |x, y| x | y,
        )
    };
    jaccard_from_counts(inter, union)
}

/// Bit-vector rows and queries: `[-, -, -, hamming, jaccard]`.
pub(crate) const BITS: Family<Bits64> = Family {
    variant: "avx2",
    metrics: [
        None,
        None,
        None,
        Some(crate::family::metric_kernels!(
            [#[target_feature(enable = "avx2,fma,f16c,popcnt")]] Bits64, [Bits64], |q, x| hamming(q, x)
        )),
        Some(crate::family::metric_kernels!(
            [#[target_feature(enable = "avx2,fma,f16c,popcnt")]] Bits64, [Bits64], |q, x| jaccard(q, x)
        )),
    ],
    many_to_many: None,
};
