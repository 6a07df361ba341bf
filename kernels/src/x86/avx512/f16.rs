//! f16-row kernels for AVX-512 F/BW/VL (`*_f16_avx512`): an f32 query against
//! rows stored as f16.
//!
//! Numeric contract: each kernel is its `*_f32_avx512` twin line for line (the
//! same accumulators, unroll, masked tail and reduction order) with every row load
//! `vmovups zmm` replaced by `vmovdqu ymm` (16 × f16) + `vcvtph2ps zmm`, and the
//! masked tail `vmovups zmm{k}{z}` by `vmovdqu16 ymm{k}{z}` + `vcvtph2ps`
//! (masked-off lanes load 0, which widens to +0.0 as the f32 tail's do). The
//! widening is exact, so on widened rows the results are bit for bit those of the
//! f32 kernels. `encode_f16_avx512` is `vmulps` + `vcvtps2ph` with
//! round-to-nearest-even in the immediate, the tail through a masked load and a
//! masked `vmovdqu16` store: nothing outside either slice is touched.

#[cfg(sagevec_avx512_emu)]
use super::emu::*;
#[cfg(not(sagevec_avx512_emu))]
use core::arch::x86_64::*;

use half::f16;

use super::reduce::{hsum_avx512, hsum4_avx512};

const LANES: usize = 16;

/// The mask selecting the first `rem` lanes, `rem < 16`.
#[inline(always)]
fn tail_mask(rem: usize) -> __mmask16 {
    debug_assert!(rem < LANES);
    ((1u32 << rem) - 1) as __mmask16
}

/// Loads lanes `[i, i + rem)` of the f32 slice at `p`, zero elsewhere.
///
/// # Safety
/// AVX-512F is available and `p + i .. p + i + rem` is readable.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
unsafe fn load_tail(p: *const f32, i: usize, rem: usize) -> __m512 {
    // SAFETY: the masked load touches only the `rem` selected lanes, which the
    // caller guarantees are readable; masked-off lanes cannot fault.
    unsafe { _mm512_maskz_loadu_ps(tail_mask(rem), p.add(i)) }
}

/// Loads 16 f16 from `p + i` and widens them exactly to f32.
///
/// # Safety
/// AVX-512F is available and `p + i .. p + i + 16` is readable.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
unsafe fn load16(p: *const f16, i: usize) -> __m512 {
    // SAFETY: the caller guarantees 16 readable f16 (32 bytes); the load is unaligned.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(p.add(i).cast::<__m256i>()) })
}

/// Loads f16 lanes `[i, i + rem)` of `p` widened to f32, +0.0 elsewhere.
///
/// # Safety
/// AVX-512 F/BW/VL are available and `p + i .. p + i + rem` is readable.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
unsafe fn load16_tail(p: *const f16, i: usize, rem: usize) -> __m512 {
    // SAFETY: the masked load touches only the `rem` selected 16-bit lanes, which
    // the caller guarantees are readable; masked-off lanes cannot fault.
    _mm512_cvtph_ps(unsafe { _mm256_maskz_loadu_epi16(tail_mask(rem), p.add(i).cast::<i16>()) })
}

/// `Σ qᵢ xᵢ` over the shorter length.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn dot_f16_avx512(q: &[f32], x: &[f16]) -> f32 {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 4 * LANES <= n {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            // SAFETY: i + 16u + 16 <= i + 64 <= n.
            let (vq, vx) = unsafe {
                (
                    _mm512_loadu_ps(pq.add(i + u * LANES)),
                    load16(px, i + u * LANES),
                )
            };
            *acc_u = _mm512_fmadd_ps(vq, vx, *acc_u);
        }
        i += 4 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 16 <= n.
        let (vq, vx) = unsafe { (_mm512_loadu_ps(pq.add(i)), load16(px, i)) };
        acc[0] = _mm512_fmadd_ps(vq, vx, acc[0]);
        i += LANES;
    }
    if i < n {
        // SAFETY: lanes i..n are inside both slices.
        let (vq, vx) = unsafe { (load_tail(pq, i, n - i), load16_tail(px, i, n - i)) };
        acc[1] = _mm512_fmadd_ps(vq, vx, acc[1]);
    }
    let total = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    // SAFETY: AVX-512 available.
    unsafe { hsum_avx512(total) }
}

/// `Σ (qᵢ - xᵢ)²` over the shorter length.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn l2sq_f16_avx512(q: &[f32], x: &[f16]) -> f32 {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 4 * LANES <= n {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            // SAFETY: i + 16u + 16 <= i + 64 <= n.
            let d = unsafe {
                _mm512_sub_ps(
                    _mm512_loadu_ps(pq.add(i + u * LANES)),
                    load16(px, i + u * LANES),
                )
            };
            *acc_u = _mm512_fmadd_ps(d, d, *acc_u);
        }
        i += 4 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 16 <= n.
        let d = unsafe { _mm512_sub_ps(_mm512_loadu_ps(pq.add(i)), load16(px, i)) };
        acc[0] = _mm512_fmadd_ps(d, d, acc[0]);
        i += LANES;
    }
    if i < n {
        // SAFETY: lanes i..n are inside both slices; masked-off lanes are 0 - 0 = 0.
        let d = unsafe { _mm512_sub_ps(load_tail(pq, i, n - i), load16_tail(px, i, n - i)) };
        acc[1] = _mm512_fmadd_ps(d, d, acc[1]);
    }
    let total = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    // SAFETY: AVX-512 available.
    unsafe { hsum_avx512(total) }
}

/// `(Σ qᵢxᵢ, Σ qᵢ², Σ xᵢ²)` in one pass.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn cos_parts_f16_avx512(q: &[f32], x: &[f16]) -> (f32, f32, f32) {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut dot = [_mm512_setzero_ps(); 2];
    let mut na = [_mm512_setzero_ps(); 2];
    let mut nb = [_mm512_setzero_ps(); 2];
    let mut i = 0;
    while i + 2 * LANES <= n {
        for u in 0..2 {
            // SAFETY: i + 16u + 16 <= i + 32 <= n.
            let (va, vb) = unsafe {
                (
                    _mm512_loadu_ps(pq.add(i + u * LANES)),
                    load16(px, i + u * LANES),
                )
            };
            dot[u] = _mm512_fmadd_ps(va, vb, dot[u]);
            na[u] = _mm512_fmadd_ps(va, va, na[u]);
            nb[u] = _mm512_fmadd_ps(vb, vb, nb[u]);
        }
        i += 2 * LANES;
    }
    while i < n {
        let rem = (n - i).min(LANES);
        // SAFETY: lanes i..i + rem are inside both slices.
        let (va, vb) = unsafe {
            if rem == LANES {
                (_mm512_loadu_ps(pq.add(i)), load16(px, i))
            } else {
                (load_tail(pq, i, rem), load16_tail(px, i, rem))
            }
        };
        dot[0] = _mm512_fmadd_ps(va, vb, dot[0]);
        na[0] = _mm512_fmadd_ps(va, va, na[0]);
        nb[0] = _mm512_fmadd_ps(vb, vb, nb[0]);
        i += rem;
    }
    let mut out = [0.0f32; 4];
    // SAFETY: AVX-512 available; `out` holds 4 floats.
    unsafe {
        _mm_storeu_ps(
            out.as_mut_ptr(),
            hsum4_avx512(
                _mm512_add_ps(dot[0], dot[1]),
                _mm512_add_ps(na[0], na[1]),
                _mm512_add_ps(nb[0], nb[1]),
                _mm512_setzero_ps(),
            ),
        );
    }
    (out[0], out[1], out[2])
}

/// `(Σ qᵢxᵢ, Σ xᵢ²)` in one pass.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn dot_norm_f16_avx512(q: &[f32], x: &[f16]) -> (f32, f32) {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut dot = [_mm512_setzero_ps(); 2];
    let mut nx = [_mm512_setzero_ps(); 2];
    let mut i = 0;
    while i + 2 * LANES <= n {
        for u in 0..2 {
            // SAFETY: i + 16u + 16 <= i + 32 <= n.
            let (vq, vx) = unsafe {
                (
                    _mm512_loadu_ps(pq.add(i + u * LANES)),
                    load16(px, i + u * LANES),
                )
            };
            dot[u] = _mm512_fmadd_ps(vq, vx, dot[u]);
            nx[u] = _mm512_fmadd_ps(vx, vx, nx[u]);
        }
        i += 2 * LANES;
    }
    while i < n {
        let rem = (n - i).min(LANES);
        // SAFETY: lanes i..i + rem are inside both slices.
        let (vq, vx) = unsafe {
            if rem == LANES {
                (_mm512_loadu_ps(pq.add(i)), load16(px, i))
            } else {
                (load_tail(pq, i, rem), load16_tail(px, i, rem))
            }
        };
        dot[0] = _mm512_fmadd_ps(vq, vx, dot[0]);
        nx[0] = _mm512_fmadd_ps(vx, vx, nx[0]);
        i += rem;
    }
    // SAFETY: AVX-512 available.
    unsafe {
        (
            hsum_avx512(_mm512_add_ps(dot[0], dot[1])),
            hsum_avx512(_mm512_add_ps(nx[0], nx[1])),
        )
    }
}

/// `dst[i] = f16(src[i] · scale)` over the shorter length, rounded to nearest even
/// (beyond f16's range: ±inf; NaN stays NaN).
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn encode_f16_avx512(src: &[f32], scale: f32, dst: &mut [f16]) {
    let n = src.len().min(dst.len());
    let (ps, pd) = (src.as_ptr(), dst.as_mut_ptr());
    let vs = _mm512_set1_ps(scale);
    let mut i = 0;
    while i + LANES <= n {
        // SAFETY: i + 16 <= n <= len of both slices; loads and stores are unaligned.
        unsafe {
            let v = _mm512_mul_ps(_mm512_loadu_ps(ps.add(i)), vs);
            let h = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v);
            _mm256_storeu_si256(pd.add(i).cast::<__m256i>(), h);
        }
        i += LANES;
    }
    if i < n {
        let k = tail_mask(n - i);
        // SAFETY: lanes i..n are inside both slices; the masked load reads and the
        // masked store writes only those lanes (masked-off lanes cannot fault).
        unsafe {
            let v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, ps.add(i)), vs);
            let h = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v);
            _mm256_mask_storeu_epi16(pd.add(i).cast::<i16>(), k, h);
        }
    }
}

crate::family::row_family! {
    #[cfg_attr(not(sagevec_avx512_emu), target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma"))]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    elem = f16,
    dot = dot_f16_avx512,
    l2sq = l2sq_f16_avx512,
    cos_parts = cos_parts_f16_avx512,
    dot_norm = dot_norm_f16_avx512,
    norm_sq = super::f32::norm_sq_f32_avx512,
    encode = encode_f16_avx512,
    // Widening is a load-convert-store stream, no faster with 16 lanes; AVX-512
    // hosts have AVX2 and F16C (the avx512 level requires them).
    decode = crate::x86::avx2::f16::decode_f16_avx2,
}
