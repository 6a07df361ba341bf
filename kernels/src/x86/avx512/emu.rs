//! Scalar emulation of the AVX-512 intrinsics the kernels use, with x86 semantics,
//! for hosts without AVX-512 (built only with `--cfg sagevec_avx512_emu`).
//!
//! It lets the AVX-512 kernels' *logic* — loop bounds, masked tails, lane order,
//! blends, compare predicates, NaN operand order, integer widening and packing, and
//! the VNNI (`vpdpbusd`) and VPOPCNTDQ (`vpopcntq`) arithmetic of the
//! extension paths — run through the full parity, knn and guard-page suites on an
//! AVX2 machine without those features. It does not test instruction
//! encoding or speed: real AVX-512 hardware still has to run the suite. Semantics
//! follow Intel's pseudo-code: masked loads touch only selected lanes (so the guard
//! test still catches over-reads), `vmaxps`/`vminps` return the second operand when
//! either is NaN or both are zero, `vfmadd` rounds once, `vcvtph2ps` widens exactly
//! and `vcvtps2ph` rounds to nearest even (overflow to ±inf, NaN stays NaN), as
//! `half`'s conversions do.

#![allow(non_camel_case_types, unreachable_pub)]

pub(crate) use core::arch::x86_64::{
    __m128, __m128i, __m256, __m256d, __m256i, _CMP_EQ_OQ, _CMP_NGT_UQ, _MM_FROUND_NO_EXC,
    _MM_FROUND_TO_NEAREST_INT, _mm_add_epi32, _mm_loadu_si128, _mm_setr_epi8, _mm_storeu_ps,
    _mm_storeu_si128, _mm256_add_epi32, _mm256_add_ps, _mm256_castpd_ps, _mm256_castsi256_si128,
    _mm256_extracti128_si256, _mm256_hadd_epi32, _mm256_loadu_si256, _mm256_storeu_si256,
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
#[derive(Clone, Copy, Debug)]
pub(crate) struct __m512bh(pub [u32; L]);
pub(crate) type __mmask8 = u8;
pub(crate) type __mmask16 = u16;
pub(crate) type __mmask32 = u32;
pub(crate) type __mmask64 = u64;

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

// ---- Integer lanes: the 512 bits of an `__m512i` viewed as bytes, words, dwords
// or qwords (plain data, every bit pattern valid).

fn bytes(a: __m512i) -> [u8; 64] {
    // SAFETY: both are 64 bytes of plain data.
    unsafe { core::mem::transmute::<[u32; L], [u8; 64]>(a.0) }
}
fn from_bytes(b: [u8; 64]) -> __m512i {
    // SAFETY: both are 64 bytes of plain data.
    __m512i(unsafe { core::mem::transmute::<[u8; 64], [u32; L]>(b) })
}
fn words(a: __m512i) -> [i16; 32] {
    // SAFETY: both are 64 bytes of plain data.
    unsafe { core::mem::transmute::<[u32; L], [i16; 32]>(a.0) }
}
fn from_words(w: [i16; 32]) -> __m512i {
    // SAFETY: both are 64 bytes of plain data.
    __m512i(unsafe { core::mem::transmute::<[i16; 32], [u32; L]>(w) })
}
fn qwords(a: __m512i) -> [u64; 8] {
    // SAFETY: both are 64 bytes of plain data.
    unsafe { core::mem::transmute::<[u32; L], [u64; 8]>(a.0) }
}
fn from_qwords(q: [u64; 8]) -> __m512i {
    // SAFETY: both are 64 bytes of plain data.
    __m512i(unsafe { core::mem::transmute::<[u64; 8], [u32; L]>(q) })
}
fn m256_bytes(a: __m256i) -> [u8; 32] {
    // SAFETY: both are 32 bytes of plain data.
    unsafe { core::mem::transmute::<__m256i, [u8; 32]>(a) }
}
fn m128_bytes(a: __m128i) -> [u8; 16] {
    // SAFETY: both are 16 bytes of plain data.
    unsafe { core::mem::transmute::<__m128i, [u8; 16]>(a) }
}
fn zip32(a: __m512i, b: __m512i, f: impl Fn(u32, u32) -> u32) -> __m512i {
    __m512i(core::array::from_fn(|i| f(a.0[i], b.0[i])))
}

pub(crate) fn _mm512_setzero_si512() -> __m512i {
    __m512i([0; L])
}
pub(crate) fn _mm512_set1_epi8(v: i8) -> __m512i {
    from_bytes([v as u8; 64])
}
/// # Safety
/// `p..p + 64 bytes` is readable.
pub(crate) unsafe fn _mm512_loadu_si512(p: *const __m512i) -> __m512i {
    // SAFETY: the caller guarantees 64 readable bytes.
    from_bytes(unsafe { p.cast::<[u8; 64]>().read_unaligned() })
}
/// # Safety
/// Every byte selected by `k` is readable.
pub(crate) unsafe fn _mm512_maskz_loadu_epi8(k: __mmask64, p: *const i8) -> __m512i {
    from_bytes(core::array::from_fn(|i| {
        if (k >> i) & 1 == 1 {
            // SAFETY: only selected lanes are read, and the caller guarantees they exist.
            unsafe { p.wrapping_add(i).read() as u8 }
        } else {
            0
        }
    }))
}
/// # Safety
/// Every qword selected by `k` is readable.
pub(crate) unsafe fn _mm512_maskz_loadu_epi64(k: __mmask8, p: *const i64) -> __m512i {
    from_qwords(core::array::from_fn(|i| {
        if (k >> i) & 1 == 1 {
            // SAFETY: only selected lanes are read, and the caller guarantees they exist.
            unsafe { p.wrapping_add(i).read_unaligned() as u64 }
        } else {
            0
        }
    }))
}
/// # Safety
/// Every byte selected by `k` is readable.
pub(crate) unsafe fn _mm256_maskz_loadu_epi8(k: __mmask32, p: *const i8) -> __m256i {
    let b: [u8; 32] = core::array::from_fn(|i| {
        if (k >> i) & 1 == 1 {
            // SAFETY: only selected lanes are read, and the caller guarantees they exist.
            unsafe { p.wrapping_add(i).read() as u8 }
        } else {
            0
        }
    });
    // SAFETY: both are 32 bytes of plain data.
    unsafe { core::mem::transmute::<[u8; 32], __m256i>(b) }
}
/// # Safety
/// Every byte selected by `k` is readable.
pub(crate) unsafe fn _mm_maskz_loadu_epi8(k: __mmask16, p: *const i8) -> __m128i {
    let b: [u8; 16] = core::array::from_fn(|i| {
        if (k >> i) & 1 == 1 {
            // SAFETY: only selected lanes are read, and the caller guarantees they exist.
            unsafe { p.wrapping_add(i).read() as u8 }
        } else {
            0
        }
    });
    // SAFETY: both are 16 bytes of plain data.
    unsafe { core::mem::transmute::<[u8; 16], __m128i>(b) }
}
pub(crate) fn _mm512_cvtepi8_epi16(a: __m256i) -> __m512i {
    let b = m256_bytes(a);
    from_words(core::array::from_fn(|i| i16::from(b[i] as i8)))
}
pub(crate) fn _mm512_cvtepu8_epi16(a: __m256i) -> __m512i {
    let b = m256_bytes(a);
    from_words(core::array::from_fn(|i| i16::from(b[i])))
}
pub(crate) fn _mm512_cvtepi8_epi32(a: __m128i) -> __m512i {
    let b = m128_bytes(a);
    __m512i(core::array::from_fn(|i| i32::from(b[i] as i8) as u32))
}
pub(crate) fn _mm512_cvtepu8_epi32(a: __m128i) -> __m512i {
    let b = m128_bytes(a);
    __m512i(core::array::from_fn(|i| u32::from(b[i])))
}
pub(crate) fn _mm512_cvtepu16_epi32(a: __m256i) -> __m512i {
    let h = halves(a);
    __m512i(core::array::from_fn(|i| u32::from(h[i])))
}
pub(crate) fn _mm512_cvtepi32_ps(a: __m512i) -> __m512 {
    __m512(a.0.map(|x| x as i32 as f32))
}
/// `vpmovdw`: each dword truncated to its low 16 bits.
pub(crate) fn _mm512_cvtepi32_epi16(a: __m512i) -> __m256i {
    from_halves(a.0.map(|x| x as u16))
}
pub(crate) fn _mm512_add_epi8(a: __m512i, b: __m512i) -> __m512i {
    let (x, y) = (bytes(a), bytes(b));
    from_bytes(core::array::from_fn(|i| x[i].wrapping_add(y[i])))
}
pub(crate) fn _mm512_sub_epi16(a: __m512i, b: __m512i) -> __m512i {
    let (x, y) = (words(a), words(b));
    from_words(core::array::from_fn(|i| x[i].wrapping_sub(y[i])))
}
pub(crate) fn _mm512_add_epi32(a: __m512i, b: __m512i) -> __m512i {
    zip32(a, b, u32::wrapping_add)
}
pub(crate) fn _mm512_sub_epi32(a: __m512i, b: __m512i) -> __m512i {
    zip32(a, b, u32::wrapping_sub)
}
pub(crate) fn _mm512_add_epi64(a: __m512i, b: __m512i) -> __m512i {
    let (x, y) = (qwords(a), qwords(b));
    from_qwords(core::array::from_fn(|i| x[i].wrapping_add(y[i])))
}
pub(crate) fn _mm512_and_si512(a: __m512i, b: __m512i) -> __m512i {
    zip32(a, b, |x, y| x & y)
}
pub(crate) fn _mm512_or_si512(a: __m512i, b: __m512i) -> __m512i {
    zip32(a, b, |x, y| x | y)
}
pub(crate) fn _mm512_slli_epi32<const IMM: u32>(a: __m512i) -> __m512i {
    __m512i(a.0.map(|x| if IMM > 31 { 0 } else { x << IMM }))
}
pub(crate) fn _mm512_srli_epi32<const IMM: u32>(a: __m512i) -> __m512i {
    __m512i(a.0.map(|x| if IMM > 31 { 0 } else { x >> IMM }))
}
pub(crate) fn _mm512_srli_epi16<const IMM: u32>(a: __m512i) -> __m512i {
    let w = words(a);
    from_words(w.map(|x| {
        if IMM > 15 {
            0
        } else {
            ((x as u16) >> IMM) as i16
        }
    }))
}
/// `vpmaddwd`: adjacent i16 products summed into i32 (wrapping, as the hardware's
/// only overflow case, two (-2^15)^2 products, wraps).
pub(crate) fn _mm512_madd_epi16(a: __m512i, b: __m512i) -> __m512i {
    let (x, y) = (words(a), words(b));
    __m512i(core::array::from_fn(|i| {
        let p0 = i32::from(x[2 * i]) * i32::from(y[2 * i]);
        let p1 = i32::from(x[2 * i + 1]) * i32::from(y[2 * i + 1]);
        p0.wrapping_add(p1) as u32
    }))
}
/// `vpdpbusd`: `src + Σ` of four u8 × i8 products per dword, wrapping (no saturation).
pub(crate) fn _mm512_dpbusd_epi32(src: __m512i, a: __m512i, b: __m512i) -> __m512i {
    let (x, y) = (bytes(a), bytes(b));
    __m512i(core::array::from_fn(|i| {
        let mut s = src.0[i] as i32;
        for j in 4 * i..4 * i + 4 {
            s = s.wrapping_add(i32::from(x[j]) * i32::from(y[j] as i8));
        }
        s as u32
    }))
}
pub(crate) fn _mm512_cmpgt_epu32_mask(a: __m512i, b: __m512i) -> __mmask16 {
    let mut k = 0u16;
    for i in 0..L {
        k |= u16::from(a.0[i] > b.0[i]) << i;
    }
    k
}
pub(crate) fn _mm512_mask_blend_epi32(k: __mmask16, a: __m512i, b: __m512i) -> __m512i {
    __m512i(core::array::from_fn(|i| {
        if (k >> i) & 1 == 1 { b.0[i] } else { a.0[i] }
    }))
}
pub(crate) fn _mm512_broadcast_i32x4(a: __m128i) -> __m512i {
    let b = m128_bytes(a);
    from_bytes(core::array::from_fn(|i| b[i % 16]))
}
/// `vpshufb`: within each 128-bit lane, byte `i` is `a[lane][b[i] & 15]`, or 0 when
/// `b[i]`'s top bit is set.
pub(crate) fn _mm512_shuffle_epi8(a: __m512i, b: __m512i) -> __m512i {
    let (x, y) = (bytes(a), bytes(b));
    from_bytes(core::array::from_fn(|i| {
        if y[i] & 0x80 != 0 {
            0
        } else {
            x[(i / 16) * 16 + usize::from(y[i] & 0x0f)]
        }
    }))
}
/// `vpsadbw`: per qword, the sum of the 8 absolute byte differences.
pub(crate) fn _mm512_sad_epu8(a: __m512i, b: __m512i) -> __m512i {
    let (x, y) = (bytes(a), bytes(b));
    from_qwords(core::array::from_fn(|q| {
        (8 * q..8 * q + 8)
            .map(|i| u64::from(x[i].abs_diff(y[i])))
            .sum()
    }))
}
pub(crate) fn _mm512_popcnt_epi64(a: __m512i) -> __m512i {
    from_qwords(qwords(a).map(|x| u64::from(x.count_ones())))
}
pub(crate) fn _mm512_reduce_add_epi32(a: __m512i) -> i32 {
    a.0.iter().fold(0i32, |s, &x| s.wrapping_add(x as i32))
}
pub(crate) fn _mm512_reduce_add_epi64(a: __m512i) -> i64 {
    qwords(a)
        .iter()
        .fold(0i64, |s, &x| s.wrapping_add(x as i64))
}
/// The low 256 bits.
pub(crate) fn _mm512_castsi512_si256(a: __m512i) -> __m256i {
    let b = bytes(a);
    // SAFETY: the first 32 of 64 plain bytes, as a 32-byte plain vector.
    unsafe { core::mem::transmute::<[u8; 32], __m256i>(core::array::from_fn(|i| b[i])) }
}
/// Bits `256·I..256·I + 256` (`I` is 0 or 1).
pub(crate) fn _mm512_extracti64x4_epi64<const I: i32>(a: __m512i) -> __m256i {
    let b = bytes(a);
    let at = 32 * I as usize;
    // SAFETY: 32 of 64 plain bytes, as a 32-byte plain vector.
    unsafe { core::mem::transmute::<[u8; 32], __m256i>(core::array::from_fn(|i| b[at + i])) }
}
/// # Safety
/// Every 16-bit lane selected by `k` is readable.
pub(crate) unsafe fn _mm512_maskz_loadu_epi16(k: __mmask32, p: *const i16) -> __m512i {
    from_words(core::array::from_fn(|i| {
        if (k >> i) & 1 == 1 {
            // SAFETY: only selected lanes are read, and the caller guarantees they exist.
            unsafe { p.wrapping_add(i).read_unaligned() }
        } else {
            0
        }
    }))
}
/// `vdpbf16ps` as Intel specifies it: per f32 lane, the odd then the even pair's
/// product (exact in f32) added with round-to-nearest-even; bf16 inputs that are
/// denormal read as zero and denormal sums are flushed to (signed) zero.
pub(crate) fn _mm512_dpbf16_ps(src: __m512, a: __m512bh, b: __m512bh) -> __m512 {
    let wa = words(__m512i(a.0));
    let wb = words(__m512i(b.0));
    let daz = |h: i16| {
        let bits = u32::from(h as u16) << 16;
        let x = f32::from_bits(bits);
        if x.is_subnormal() {
            0.0f32.copysign(x)
        } else {
            x
        }
    };
    let ftz = |x: f32| {
        if x.is_subnormal() {
            0.0f32.copysign(x)
        } else {
            x
        }
    };
    __m512(core::array::from_fn(|j| {
        let mut t = src.0[j];
        t = ftz(t + daz(wa[2 * j + 1]) * daz(wb[2 * j + 1]));
        ftz(t + daz(wa[2 * j]) * daz(wb[2 * j]))
    }))
}
