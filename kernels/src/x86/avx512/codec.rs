//! f32 → f16 / bf16 conversions for AVX-512 F/BW/VL (`encode_*_avx512`), 16 per
//! step, the tail through a masked load and a masked `vmovdqu16` store: nothing
//! outside either slice is touched.
//!
//! - f16: `vmulps` + `vcvtps2ph` with round-to-nearest-even in the immediate.
//! - bf16: `vmulps`, round-to-nearest-even in integer arithmetic
//!   (`x + 0x7fff + ((x >> 16) & 1)`, high half), NaN kept and quieted
//!   (`(x >> 16) | 0x40`, selected by an unsigned compare into a mask register),
//!   narrowed with `vpmovdw`. `vcvtneps2bf16` (AVX-512 BF16) is not used: it
//!   flushes denormals, and `half`'s `from_f32` (the reference) keeps them.
//!
//! Decoding is a load-convert-store stream, no faster with 16 lanes: it is the AVX2
//! kernel (AVX-512 hosts have AVX2 and F16C; the avx512 level requires them).

use super::arch::*;

use half::{bf16, f16};

use super::float::tail_mask;
use crate::stored::Codec;
use crate::x86::avx2::codec::decode_avx2;

const LANES: usize = 16;

/// `dst[i] = conv(src[i] · scale)` over the shorter length, 16 lanes per step, for
/// a `conv` from 16 f32 lanes to 16 × 16-bit lanes.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
unsafe fn encode16<T>(src: &[f32], scale: f32, dst: &mut [T], conv: impl Fn(__m512) -> __m256i) {
    debug_assert_eq!(size_of::<T>(), 2);
    let n = src.len().min(dst.len());
    let (ps, pd) = (src.as_ptr(), dst.as_mut_ptr());
    let vs = _mm512_set1_ps(scale);
    let mut i = 0;
    while i + LANES <= n {
        // SAFETY: i + 16 <= n <= len of both slices; loads and stores are unaligned.
        unsafe {
            let h = conv(_mm512_mul_ps(_mm512_loadu_ps(ps.add(i)), vs));
            _mm256_storeu_si256(pd.add(i).cast::<__m256i>(), h);
        }
        i += LANES;
    }
    if i < n {
        let k = tail_mask(n - i);
        // SAFETY: lanes i..n are inside both slices; the masked load reads and the
        // masked store writes only those lanes (masked-off lanes cannot fault).
        unsafe {
            let h = conv(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, ps.add(i)), vs));
            _mm256_mask_storeu_epi16(pd.add(i).cast::<i16>(), k, h);
        }
    }
}

/// `dst[i] = f16(src[i] · scale)`, rounded to nearest even (beyond f16's range:
/// ±inf; NaN stays NaN).
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
unsafe fn encode_f16_avx512(src: &[f32], scale: f32, dst: &mut [f16]) {
    // SAFETY: same contract.
    unsafe {
        encode16(src, scale, dst, |v| {
            _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v)
        })
    }
}

/// `dst[i] = bf16(src[i] · scale)`, rounded to nearest even (overflow gives ±inf;
/// NaN stays NaN, quieted).
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
unsafe fn encode_bf16_avx512(src: &[f32], scale: f32, dst: &mut [bf16]) {
    let (bias, one) = (_mm512_set1_epi32(0x7fff), _mm512_set1_epi32(1));
    let (abs_mask, inf) = (
        _mm512_set1_epi32(0x7fff_ffff),
        _mm512_set1_epi32(0x7f80_0000),
    );
    let quiet = _mm512_set1_epi32(0x40);
    // SAFETY: same contract.
    unsafe {
        encode16(src, scale, dst, |v| {
            let x = _mm512_castps_si512(v);
            let hi = _mm512_srli_epi32::<16>(x);
            let lsb = _mm512_and_si512(hi, one);
            let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(x, _mm512_add_epi32(bias, lsb)));
            let is_nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, abs_mask), inf);
            let r = _mm512_mask_blend_epi32(is_nan, rounded, _mm512_or_si512(hi, quiet));
            _mm512_cvtepi32_epi16(r)
        })
    }
}

/// f16 rows.
pub(crate) const F16: Codec<f16> = Codec {
    encode: encode_f16_avx512,
    decode: decode_avx2::<f16>,
};

/// bf16 rows.
pub(crate) const BF16: Codec<bf16> = Codec {
    encode: encode_bf16_avx512,
    decode: decode_avx2::<bf16>,
};
