//! Horizontal reductions for 256-bit registers.
//!
//! | function | instructions | use |
//! |---|---|---|
//! | `hsum_avx2` | vextractf128, vaddps, vmovhlps, vaddps, vshufps, vaddss | one sum at the end of a 1×1 kernel |
//! | `hsum_acc4_avx2` | 3 × vaddps, then `hsum_avx2` | the four accumulators of a 1×1 kernel, in a fixed order |
//! | `hsum4_avx2` | 3 × vhaddps, vextractf128, vaddps | four sums at once at the end of a tile row (1.75 ops per sum) |
//! | `hsum_epi32_avx2`, `hsum_epi64_avx2` | vextracti128, vpaddd/q, vpunpckhqdq (+ vpshufd) | integer sums at the end of an i8 or bits kernel |

use core::arch::x86_64::*;

/// The sum of the 8 lanes of `v`.
///
/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn hsum_avx2(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s4 = _mm_add_ps(lo, hi);
    let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<0b01>(s2, s2));
    _mm_cvtss_f32(s1)
}

/// The sum of all lanes of four accumulators, combined as `(a₀ + a₁) + (a₂ + a₃)`
/// (the fixed order every 1×1 kernel finishes in).
///
/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn hsum_acc4_avx2(acc: [__m256; 4]) -> f32 {
    let total = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    // SAFETY: AVX2 available (this function's contract).
    unsafe { hsum_avx2(total) }
}

/// `[Σa, Σb, Σc, Σd]`: four horizontal sums at once.
///
/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn hsum4_avx2(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
    let ab = _mm256_hadd_ps(a, b); // a01 a23 b01 b23 | a45 a67 b45 b67
    let cd = _mm256_hadd_ps(c, d);
    let abcd = _mm256_hadd_ps(ab, cd); // a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7
    _mm_add_ps(
        _mm256_castps256_ps128(abcd),
        _mm256_extractf128_ps::<1>(abcd),
    )
}

/// The wrapping sum of the 8 i32 lanes of `v`.
///
/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn hsum_epi32_avx2(v: __m256i) -> i32 {
    let s4 = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    let s1 = _mm_add_epi32(s2, _mm_shuffle_epi32::<0b01>(s2));
    _mm_cvtsi128_si32(s1)
}

/// The sum of the 4 u64 lanes of `v`.
///
/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn hsum_epi64_avx2(v: __m256i) -> u64 {
    let s2 = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s1 = _mm_add_epi64(s2, _mm_unpackhi_epi64(s2, s2));
    _mm_cvtsi128_si64(s1) as u64
}
