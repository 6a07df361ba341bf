//! f32 ↔ f16 / bf16 conversions for AVX2 + FMA + F16C (`encode_*_avx2`,
//! `decode_*_avx2`).
//!
//! - f16: `vmulps` + `vcvtps2ph` with round-to-nearest-even in the immediate (MXCSR
//!   is not consulted), 8 per step; decode `vcvtph2ps`.
//! - bf16: `vmulps`, then round-to-nearest-even in integer arithmetic
//!   (`x + 0x7fff + ((x >> 16) & 1)`, high half), NaN kept and quieted
//!   (`(x >> 16) | 0x40`), packed with `vpackusdw` + `vpermq`; decode is a
//!   zero-extend and a shift. Both round exactly as `half`'s `from_f32`.
//!
//! The last `n mod 8` elements go through `half`'s scalar conversions, which round
//! the same way, so no load or store touches anything outside either slice.

use core::arch::x86_64::*;

use half::{bf16, f16};

use super::float::Widen8;
use crate::stored::Codec;

const LANES: usize = 8;

/// `dst[i] = f16(src[i] · scale)` over the shorter length, rounded to nearest even
/// (beyond f16's range: ±inf; NaN stays NaN).
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn encode_f16_avx2(src: &[f32], scale: f32, dst: &mut [f16]) {
    let n = src.len().min(dst.len());
    let (ps, pd) = (src.as_ptr(), dst.as_mut_ptr());
    let vs = _mm256_set1_ps(scale);
    let mut i = 0;
    while i + LANES <= n {
        // SAFETY: i + 8 <= n <= len of both slices; loads and stores are unaligned.
        unsafe {
            let v = _mm256_mul_ps(_mm256_loadu_ps(ps.add(i)), vs);
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
            _mm_storeu_si128(pd.add(i).cast::<__m128i>(), h);
        }
        i += LANES;
    }
    while i < n {
        dst[i] = f16::from_f32(src[i] * scale);
        i += 1;
    }
}

/// `dst[i] = bf16(src[i] · scale)` over the shorter length, rounded to nearest even
/// (overflow gives ±inf; NaN stays NaN, quieted).
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn encode_bf16_avx2(src: &[f32], scale: f32, dst: &mut [bf16]) {
    let n = src.len().min(dst.len());
    let (ps, pd) = (src.as_ptr(), dst.as_mut_ptr());
    let vs = _mm256_set1_ps(scale);
    let (bias, one) = (_mm256_set1_epi32(0x7fff), _mm256_set1_epi32(1));
    let (abs_mask, inf) = (
        _mm256_set1_epi32(0x7fff_ffff),
        _mm256_set1_epi32(0x7f80_0000),
    );
    let quiet = _mm256_set1_epi32(0x40);
    let mut i = 0;
    while i + LANES <= n {
        // SAFETY: i + 8 <= n <= len of both slices; loads and stores are unaligned.
        unsafe {
            let x = _mm256_castps_si256(_mm256_mul_ps(_mm256_loadu_ps(ps.add(i)), vs));
            let hi = _mm256_srli_epi32::<16>(x);
            let lsb = _mm256_and_si256(hi, one);
            let rounded = _mm256_srli_epi32::<16>(_mm256_add_epi32(x, _mm256_add_epi32(bias, lsb)));
            let is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, abs_mask), inf);
            let nan = _mm256_or_si256(hi, quiet);
            let r = _mm256_blendv_epi8(rounded, nan, is_nan);
            // Each lane is < 2^16: pack to u16 (in-lane order), then join the halves.
            let packed = _mm256_permute4x64_epi64::<0b1000>(_mm256_packus_epi32(r, r));
            _mm_storeu_si128(pd.add(i).cast::<__m128i>(), _mm256_castsi256_si128(packed));
        }
        i += LANES;
    }
    while i < n {
        dst[i] = bf16::from_f32(src[i] * scale);
        i += 1;
    }
}

/// `dst[i] = src[i]` widened exactly to f32, 8 per step, over the shorter length.
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn decode_avx2<T: Widen8>(src: &[T], dst: &mut [f32]) {
    let n = src.len().min(dst.len());
    let (ps, pd) = (src.as_ptr(), dst.as_mut_ptr());
    let mut i = 0;
    while i + LANES <= n {
        // SAFETY: i + 8 <= n <= len of both slices; loads and stores are unaligned.
        unsafe { _mm256_storeu_ps(pd.add(i), T::load8(ps.add(i))) };
        i += LANES;
    }
    while i < n {
        // SAFETY: F16C available.
        dst[i] = unsafe { src[i].widen1() };
        i += 1;
    }
}

/// f16 rows.
pub(crate) const F16: Codec<f16> = Codec {
    encode: encode_f16_avx2,
    decode: decode_avx2::<f16>,
};

/// bf16 rows.
pub(crate) const BF16: Codec<bf16> = Codec {
    encode: encode_bf16_avx2,
    decode: decode_avx2::<bf16>,
};
