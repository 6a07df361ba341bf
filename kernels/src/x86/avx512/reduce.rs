//! Horizontal reductions for 512-bit registers.
//!
//! | function | instructions | use |
//! |---|---|---|
//! | `hsum_avx512` | vextractf64x4, vaddps, then the AVX2 sequence | one sum at the end of a 1×1 kernel |
//! | `hsum_acc4_avx512` | 3 × vaddps, then `hsum_avx512` | the four accumulators of a 1×1 kernel, in a fixed order |
//! | `hsum4_avx512` | 4 × (vextractf64x4, vaddps), then `hsum4_avx2` | four sums at the end of a tile row |
//! | `hsum4_epi32_avx512` | 4 × (vextracti64x4, vpaddd), 3 × vphaddd, vpaddd | four exact i32 sums at the end of an integer tile row |

use super::arch::*;

use crate::x86::avx2::reduce::{hsum_avx2, hsum4_avx2};

/// The low and high 256-bit halves of `v`, added.
///
/// # Safety
/// AVX-512F is available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
pub(crate) unsafe fn fold_to_256(v: __m512) -> __m256 {
    let lo = _mm512_castps512_ps256(v);
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    _mm256_add_ps(lo, hi)
}

/// The sum of the 16 lanes of `v`.
///
/// # Safety
/// AVX-512F is available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
pub(crate) unsafe fn hsum_avx512(v: __m512) -> f32 {
    // SAFETY: AVX-512F implies AVX2 here (the ISA level requires both).
    unsafe { hsum_avx2(fold_to_256(v)) }
}

/// The sum of all lanes of four accumulators, combined as `(a₀ + a₁) + (a₂ + a₃)`
/// (the fixed order every 1×1 kernel finishes in).
///
/// # Safety
/// AVX-512F is available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
pub(crate) unsafe fn hsum_acc4_avx512(acc: [__m512; 4]) -> f32 {
    let total = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    // SAFETY: AVX-512F available (this function's contract).
    unsafe { hsum_avx512(total) }
}

/// `[Σa, Σb, Σc, Σd]`.
///
/// # Safety
/// AVX-512F is available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
pub(crate) unsafe fn hsum4_avx512(a: __m512, b: __m512, c: __m512, d: __m512) -> __m128 {
    // SAFETY: AVX-512F and AVX2 available (the ISA level requires both).
    unsafe {
        hsum4_avx2(
            fold_to_256(a),
            fold_to_256(b),
            fold_to_256(c),
            fold_to_256(d),
        )
    }
}

/// `[Σa, Σb, Σc, Σd]` of i32 lanes, wrapping (the integer tiles' row finish).
///
/// # Safety
/// AVX-512F is available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
pub(crate) unsafe fn hsum4_epi32_avx512(
    a: __m512i,
    b: __m512i,
    c: __m512i,
    d: __m512i,
) -> [i32; 4] {
    let fold =
        |v: __m512i| _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v));
    let ab = _mm256_hadd_epi32(fold(a), fold(b)); // a01 a23 b01 b23 | a45 a67 b45 b67
    let cd = _mm256_hadd_epi32(fold(c), fold(d));
    let abcd = _mm256_hadd_epi32(ab, cd); // a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7
    let sum = _mm_add_epi32(
        _mm256_castsi256_si128(abcd),
        _mm256_extracti128_si256::<1>(abcd),
    );
    let mut out = [0i32; 4];
    // SAFETY: `out` holds 4 i32 (16 bytes); the store is unaligned.
    unsafe { _mm_storeu_si128(out.as_mut_ptr().cast::<__m128i>(), sum) };
    out
}
