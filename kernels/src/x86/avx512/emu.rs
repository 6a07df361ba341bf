//! Scalar emulation of the AVX-512 intrinsics the kernels use, with x86 semantics,
//! for hosts without AVX-512 (built only with `--cfg sagevec_avx512_emu`).
//!
//! It lets the AVX-512 kernels' *logic* — loop bounds, masked tails, lane order,
//! blends, compare predicates, NaN operand order — run through the full parity,
//! knn and guard-page suites on an AVX2 machine. It does not test instruction
//! encoding or speed: real AVX-512 hardware still has to run the suite. Semantics
//! follow Intel's pseudo-code: masked loads touch only selected lanes (so the guard
//! test still catches over-reads), `vmaxps`/`vminps` return the second operand when
//! either is NaN or both are zero, `vfmadd` rounds once, `vcvtph2ps` widens exactly
//! and `vcvtps2ph` rounds to nearest even (overflow to ±inf, NaN stays NaN), as
//! `half`'s conversions do.

#![allow(non_camel_case_types, unreachable_pub)]

pub(crate) use core::arch::x86_64::{
    __m128, __m256, __m256d, __m256i, _CMP_EQ_OQ, _CMP_NGT_UQ, _MM_FROUND_NO_EXC,
    _MM_FROUND_TO_NEAREST_INT, _mm_storeu_ps, _mm256_add_ps, _mm256_castpd_ps, _mm256_loadu_si256,
    _mm256_storeu_si256,
};
use core::arch::x86_64::{_mm256_castps_pd, _mm256_loadu_ps};

use half::f16;

const L: usize = 16;

#[derive(Clone, Copy, Debug)]
pub(crate) struct __m512(pub [f32; L]);
#[derive(Clone, Copy, Debug)]
pub(crate) struct __m512d(pub [f32; L]);
#[derive(Clone, Copy, Debug)]
pub(crate) struct __m512i(pub [u32; L]);
pub(crate) type __mmask16 = u16;

fn zip(a: __m512, b: __m512, f: impl Fn(f32, f32) -> f32) -> __m512 {
    __m512(core::array::from_fn(|i| f(a.0[i], b.0[i])))
}

pub(crate) fn _mm512_setzero_ps() -> __m512 {
    __m512([0.0; L])
}
pub(crate) fn _mm512_set1_ps(v: f32) -> __m512 {
    __m512([v; L])
}
pub(crate) fn _mm512_set1_epi32(v: i32) -> __m512i {
    __m512i([v as u32; L])
}
/// # Safety
/// `p..p + 16` is readable.
pub(crate) unsafe fn _mm512_loadu_ps(p: *const f32) -> __m512 {
    __m512(core::array::from_fn(|i| {
        // SAFETY: the caller guarantees 16 readable floats.
        unsafe { p.add(i).read_unaligned() }
    }))
}
/// # Safety
/// Every lane selected by `k` is readable.
pub(crate) unsafe fn _mm512_maskz_loadu_ps(k: __mmask16, p: *const f32) -> __m512 {
    __m512(core::array::from_fn(|i| {
        if (k >> i) & 1 == 1 {
            // SAFETY: only selected lanes are read, and the caller guarantees they exist.
            unsafe { p.wrapping_add(i).read_unaligned() }
        } else {
            0.0
        }
    }))
}
/// # Safety
/// `p..p + 16` is writable.
pub(crate) unsafe fn _mm512_storeu_ps(p: *mut f32, a: __m512) {
    for (i, v) in a.0.iter().enumerate() {
        // SAFETY: the caller guarantees 16 writable floats.
        unsafe { p.add(i).write_unaligned(*v) };
    }
}
pub(crate) fn _mm512_add_ps(a: __m512, b: __m512) -> __m512 {
    zip(a, b, |x, y| x + y)
}
pub(crate) fn _mm512_sub_ps(a: __m512, b: __m512) -> __m512 {
    zip(a, b, |x, y| x - y)
}
pub(crate) fn _mm512_mul_ps(a: __m512, b: __m512) -> __m512 {
    zip(a, b, |x, y| x * y)
}
pub(crate) fn _mm512_fmadd_ps(a: __m512, b: __m512, c: __m512) -> __m512 {
    __m512(core::array::from_fn(|i| a.0[i].mul_add(b.0[i], c.0[i])))
}
pub(crate) fn _mm512_fnmadd_ps(a: __m512, b: __m512, c: __m512) -> __m512 {
    __m512(core::array::from_fn(|i| (-a.0[i]).mul_add(b.0[i], c.0[i])))
}
pub(crate) fn _mm512_max_ps(a: __m512, b: __m512) -> __m512 {
    zip(a, b, |x, y| if x > y { x } else { y })
}
pub(crate) fn _mm512_min_ps(a: __m512, b: __m512) -> __m512 {
    zip(a, b, |x, y| if x < y { x } else { y })
}
pub(crate) fn _mm512_mask_blend_ps(k: __mmask16, a: __m512, b: __m512) -> __m512 {
    __m512(core::array::from_fn(|i| {
        if (k >> i) & 1 == 1 { b.0[i] } else { a.0[i] }
    }))
}
pub(crate) fn _mm512_cmp_ps_mask<const IMM: i32>(a: __m512, b: __m512) -> __mmask16 {
    let mut k = 0u16;
    for i in 0..L {
        let (x, y) = (a.0[i], b.0[i]);
        let hit = match IMM {
            _CMP_EQ_OQ => x == y,
            // not-greater-than, unordered: true when either is NaN.
            #[allow(clippy::neg_cmp_op_on_partial_ord)]
            _CMP_NGT_UQ => !(x > y),
            _ => unimplemented!("predicate {IMM} is not emulated"),
        };
        k |= u16::from(hit) << i;
    }
    k
}
pub(crate) fn _mm512_castps_si512(a: __m512) -> __m512i {
    __m512i(a.0.map(f32::to_bits))
}
pub(crate) fn _mm512_castsi512_ps(a: __m512i) -> __m512 {
    __m512(a.0.map(f32::from_bits))
}
pub(crate) fn _mm512_xor_si512(a: __m512i, b: __m512i) -> __m512i {
    __m512i(core::array::from_fn(|i| a.0[i] ^ b.0[i]))
}
pub(crate) fn _mm512_castps_pd(a: __m512) -> __m512d {
    __m512d(a.0)
}
/// The low 8 lanes (safe to call from the AVX2-featured kernels that use it).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn _mm512_castps512_ps256(a: __m512) -> __m256 {
    // SAFETY: reads the first 8 of the 16 floats in `a`.
    unsafe { _mm256_loadu_ps(a.0.as_ptr()) }
}
/// Lanes `8·I..8·I + 8` (`I` is 0 or 1).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn _mm512_extractf64x4_pd<const I: i32>(a: __m512d) -> __m256d {
    // SAFETY: I is 0 or 1, so 8 floats from 8 * I are inside the 16.
    unsafe { _mm256_castps_pd(_mm256_loadu_ps(a.0.as_ptr().add(8 * I as usize))) }
}

/// The 16 f16 lanes of a 256-bit integer vector.
fn halves(a: __m256i) -> [u16; L] {
    // SAFETY: both types are 32 bytes of plain data; every bit pattern is valid.
    unsafe { core::mem::transmute::<__m256i, [u16; L]>(a) }
}
/// 16 f16 lanes as a 256-bit integer vector.
fn from_halves(h: [u16; L]) -> __m256i {
    // SAFETY: both types are 32 bytes of plain data; every bit pattern is valid.
    unsafe { core::mem::transmute::<[u16; L], __m256i>(h) }
}
/// # Safety
/// Every 16-bit lane selected by `k` is readable.
pub(crate) unsafe fn _mm256_maskz_loadu_epi16(k: __mmask16, p: *const i16) -> __m256i {
    from_halves(core::array::from_fn(|i| {
        if (k >> i) & 1 == 1 {
            // SAFETY: only selected lanes are read, and the caller guarantees they exist.
            unsafe { p.wrapping_add(i).read_unaligned() as u16 }
        } else {
            0
        }
    }))
}
/// # Safety
/// Every 16-bit lane selected by `k` is writable.
pub(crate) unsafe fn _mm256_mask_storeu_epi16(p: *mut i16, k: __mmask16, a: __m256i) {
    for (i, h) in halves(a).into_iter().enumerate() {
        if (k >> i) & 1 == 1 {
            // SAFETY: only selected lanes are written, and the caller guarantees they exist.
            unsafe { p.wrapping_add(i).write_unaligned(h as i16) };
        }
    }
}
pub(crate) fn _mm512_cvtph_ps(a: __m256i) -> __m512 {
    __m512(halves(a).map(|h| f16::from_bits(h).to_f32()))
}
/// Only round-to-nearest-even (with or without `_MM_FROUND_NO_EXC`) is emulated.
pub(crate) fn _mm512_cvtps_ph<const ROUNDING: i32>(a: __m512) -> __m256i {
    assert!(
        ROUNDING == _MM_FROUND_TO_NEAREST_INT
            || ROUNDING == _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
        "rounding {ROUNDING} is not emulated"
    );
    from_halves(a.0.map(|x| f16::from_f32(x).to_bits()))
}
