//! Bit-vector kernels for AVX-512 (`*_bits_avx512`, `*_bits_avx512vpopcntdq`):
//! Hamming and Jaccard over packed u64 words, 8 words per step, the last `n mod 8`
//! words one zero-masked load (masked-off words are 0 in both operands and count
//! nothing under xor, and, or).
//!
//! Numeric contract: popcounts are exact integers (u64); Hamming is the count as
//! f32 (exact below 2²⁴ bits), Jaccard `1 - |a∧b|/|a∨b|` in f64 rounded once
//! (the same function on every ISA, so the results are identical).
//!
//! Key instructions: with VPOPCNTDQ, `vpopcntq zmm` (one u64 count per lane) and
//! `vpaddq`; without it, the nibble-table popcount (`vpshufb zmm` twice per byte,
//! `vpsadbw` to sum each lane's 8 byte counts).

use super::arch::*;

use crate::elem::Bits64;
use crate::finalize::jaccard_from_counts;
use crate::table::Family;

/// The bits set in each u64 lane of `v` by the nibble table (AVX-512 BW).
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
fn popcnt_table(v: __m512i) -> __m512i {
    let table = _mm512_broadcast_i32x4(_mm_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
    ));
    let low = _mm512_set1_epi8(0x0f);
    let lo = _mm512_and_si512(v, low);
    let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(v), low);
    let bytes = _mm512_add_epi8(
        _mm512_shuffle_epi8(table, lo),
        _mm512_shuffle_epi8(table, hi),
    );
    _mm512_sad_epu8(bytes, _mm512_setzero_si512())
}

/// The bits set in each u64 lane of `v` (`vpopcntq`).
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vpopcntdq")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
fn popcnt_native(v: __m512i) -> __m512i {
    _mm512_popcnt_epi64(v)
}

/// Hamming and Jaccard from a lane popcount, with that popcount's features.
macro_rules! bit_kernels {
    ($hamming:ident, $jaccard:ident, $count2:ident, $count:ident, [$($feat:tt)*]) => {
        /// `(Σ popcount(f(aᵢ, bᵢ)), Σ popcount(g(aᵢ, bᵢ)))` over the shorter length,
        /// with the lane popcount `$count` (generated per popcount, with its features, so
        /// `f`, `g` and the popcount inline into the loop).
        $($feat)*
        #[inline]
        unsafe fn $count2(
            a: &[Bits64],
            b: &[Bits64],
            f: impl Fn(__m512i, __m512i) -> __m512i,
            g: impl Fn(__m512i, __m512i) -> __m512i,
        ) -> (u64, u64) {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr().cast::<i64>(), b.as_ptr().cast::<i64>());
            let (mut acc_f, mut acc_g) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            let mut i = 0;
            while i < n {
                let rem = (n - i).min(8);
                // SAFETY: words i..i + rem are inside both slices; a masked load touches
                // only its selected lanes.
                let (va, vb) = unsafe {
                    if rem == 8 {
                        (
                            _mm512_loadu_si512(pa.add(i).cast()),
                            _mm512_loadu_si512(pb.add(i).cast()),
                        )
                    } else {
                        let k = ((1u32 << rem) - 1) as __mmask8;
                        (
                            _mm512_maskz_loadu_epi64(k, pa.add(i)),
                            _mm512_maskz_loadu_epi64(k, pb.add(i)),
                        )
                    }
                };
                acc_f = _mm512_add_epi64(acc_f, $count(f(va, vb)));
                acc_g = _mm512_add_epi64(acc_g, $count(g(va, vb)));
                i += rem;
            }
            (
                _mm512_reduce_add_epi64(acc_f) as u64,
                _mm512_reduce_add_epi64(acc_g) as u64,
            )
        }

        /// The number of differing bits.
        ///
        /// # Safety
        /// The features this function enables are available.
        $($feat)*
        pub(crate) unsafe fn $hamming(a: &[Bits64], b: &[Bits64]) -> f32 {
            let zero = |_: __m512i, _: __m512i| _mm512_setzero_si512();
            // The second count is of zeros (constant-folded away).
            // SAFETY: same contract.
            let (diff, _) = unsafe { $count2(a, b, |x, y| _mm512_xor_si512(x, y), zero) };
            diff as f32
        }

        /// `1 - |a ∧ b| / |a ∨ b|` (0 for two empty sets).
        ///
        /// # Safety
        /// The features this function enables are available.
        $($feat)*
        pub(crate) unsafe fn $jaccard(a: &[Bits64], b: &[Bits64]) -> f32 {
            // SAFETY: same contract.
            let (inter, union) = unsafe {
                $count2(
                    a,
                    b,
                    |x, y| _mm512_and_si512(x, y),
                    |x, y| _mm512_or_si512(x, y),
                )
            };
            jaccard_from_counts(inter, union)
        }
    };
}

bit_kernels!(hamming, jaccard, count2, popcnt_table, [
    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
]);

bit_kernels!(hamming_vpopcntdq, jaccard_vpopcntdq, count2_vpopcntdq, popcnt_native, [
    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vpopcntdq")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
]);

/// Bit-vector rows and queries: `[-, -, -, hamming, jaccard]`.
macro_rules! bits_family {
    ($variant:literal, $hamming:ident, $jaccard:ident, [$($feat:tt)*]) => {
        Family {
            variant: $variant,
            metrics: [
                None,
                None,
                None,
                Some(crate::family::metric_kernels!([$($feat)*] Bits64, [Bits64], |q, x| $hamming(q, x))),
                Some(crate::family::metric_kernels!([$($feat)*] Bits64, [Bits64], |q, x| $jaccard(q, x))),
            ],
            many_to_many: None,
        }
    };
}

/// AVX-512 BW (nibble table).
pub(crate) const BITS: Family<Bits64> = bits_family!("avx512", hamming, jaccard, [
    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
]);

/// AVX-512 VPOPCNTDQ.
pub(crate) const BITS_VPOPCNTDQ: Family<Bits64> = bits_family!("avx512vpopcntdq", hamming_vpopcntdq, jaccard_vpopcntdq, [
    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vpopcntdq")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
]);
