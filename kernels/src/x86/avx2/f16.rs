//! f16-row kernels for AVX2 + FMA + F16C (`*_f16_avx2`): an f32 query against
//! rows stored as f16.
//!
//! Numeric contract: each kernel is its `*_f32_avx2` twin line for line (the same
//! accumulators, unroll, reduction order and scalar tail) with every row load
//! `vmovups ymm` replaced by `vmovdqu xmm` (8 × f16) + `vcvtph2ps ymm`. The widening
//! is exact, so on widened rows the results are bit for bit those of the f32
//! kernels, and the f32 bounds hold. The scalar tail widens one element at a time
//! with the same instruction. `encode_f16_avx2` is `vmulps` + `vcvtps2ph` with
//! round-to-nearest-even in the immediate (MXCSR is not consulted), then
//! `half::f16::from_f32` for the last `n mod 8`: both round the same way.
//!
//! Key instructions: `vcvtph2ps ymm, xmm` (1 per cycle on Zen 3 and Haswell, on a
//! port an FMA does not need at this ratio), `vfmadd231ps`, `vcvtps2ph xmm, ymm, 0`.

use core::arch::x86_64::*;

use half::f16;

use super::reduce::{hsum_avx2, hsum4_avx2};

const LANES: usize = 8;

/// Loads 8 f16 from `p` and widens them exactly to f32.
///
/// # Safety
/// F16C is available and `p..p + 8` is readable.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn load8(p: *const f16) -> __m256 {
    // SAFETY: the caller guarantees 8 readable f16 (16 bytes); the load is unaligned.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(p.cast::<__m128i>()) })
}

/// One f16 widened exactly to f32 with `vcvtph2ps` (no run-time detection branch,
/// unlike `f16::to_f32`; the value is the same).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn widen(x: f16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(x.to_bits()))))
}

/// `Σ qᵢ xᵢ` over the shorter length.
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_f16_avx2(q: &[f32], x: &[f16]) -> f32 {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut acc2 = _mm256_setzero_ps();
    let mut acc3 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 4 * LANES <= n {
        // SAFETY: i + 32 <= n <= len of both slices: every load is in bounds.
        unsafe {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i)), load8(px.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i + 8)), load8(px.add(i + 8)), acc1);
            acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i + 16)), load8(px.add(i + 16)), acc2);
            acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i + 24)), load8(px.add(i + 24)), acc3);
        }
        i += 4 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 8 <= n.
        unsafe {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i)), load8(px.add(i)), acc0);
        }
        i += LANES;
    }
    let acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    // SAFETY: AVX2 available (this function's contract).
    let mut sum = unsafe { hsum_avx2(acc) };
    while i < n {
        sum += q[i] * widen(x[i]);
        i += 1;
    }
    sum
}

/// `Σ (qᵢ - xᵢ)²` over the shorter length.
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn l2sq_f16_avx2(q: &[f32], x: &[f16]) -> f32 {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 4 * LANES <= n {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8u + 8 <= i + 32 <= n.
            let d = unsafe {
                _mm256_sub_ps(
                    _mm256_loadu_ps(pq.add(i + u * LANES)),
                    load8(px.add(i + u * LANES)),
                )
            };
            *acc_u = _mm256_fmadd_ps(d, d, *acc_u);
        }
        i += 4 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 8 <= n.
        let d = unsafe { _mm256_sub_ps(_mm256_loadu_ps(pq.add(i)), load8(px.add(i))) };
        acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
        i += LANES;
    }
    let total = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    // SAFETY: AVX2 available.
    let mut sum = unsafe { hsum_avx2(total) };
    while i < n {
        let d = q[i] - widen(x[i]);
        sum += d * d;
        i += 1;
    }
    sum
}

/// `(Σ qᵢxᵢ, Σ qᵢ², Σ xᵢ²)` in one pass.
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn cos_parts_f16_avx2(q: &[f32], x: &[f16]) -> (f32, f32, f32) {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut dot = [_mm256_setzero_ps(); 2];
    let mut na = [_mm256_setzero_ps(); 2];
    let mut nb = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 2 * LANES <= n {
        for u in 0..2 {
            // SAFETY: i + 8u + 8 <= i + 16 <= n.
            let (va, vb) = unsafe {
                (
                    _mm256_loadu_ps(pq.add(i + u * LANES)),
                    load8(px.add(i + u * LANES)),
                )
            };
            dot[u] = _mm256_fmadd_ps(va, vb, dot[u]);
            na[u] = _mm256_fmadd_ps(va, va, na[u]);
            nb[u] = _mm256_fmadd_ps(vb, vb, nb[u]);
        }
        i += 2 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 8 <= n.
        let (va, vb) = unsafe { (_mm256_loadu_ps(pq.add(i)), load8(px.add(i))) };
        dot[0] = _mm256_fmadd_ps(va, vb, dot[0]);
        na[0] = _mm256_fmadd_ps(va, va, na[0]);
        nb[0] = _mm256_fmadd_ps(vb, vb, nb[0]);
        i += LANES;
    }
    // SAFETY: AVX2 available.
    let sums = unsafe {
        hsum4_avx2(
            _mm256_add_ps(dot[0], dot[1]),
            _mm256_add_ps(na[0], na[1]),
            _mm256_add_ps(nb[0], nb[1]),
            _mm256_setzero_ps(),
        )
    };
    let mut out = [0.0f32; 4];
    // SAFETY: out has room for 4 floats.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), sums) };
    let (mut d, mut sa, mut sb) = (out[0], out[1], out[2]);
    while i < n {
        let b = widen(x[i]);
        d += q[i] * b;
        sa += q[i] * q[i];
        sb += b * b;
        i += 1;
    }
    (d, sa, sb)
}

/// `(Σ qᵢxᵢ, Σ xᵢ²)` in one pass (the query's norm is computed once by the caller).
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_norm_f16_avx2(q: &[f32], x: &[f16]) -> (f32, f32) {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut dot = [_mm256_setzero_ps(); 2];
    let mut nx = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 2 * LANES <= n {
        for u in 0..2 {
            // SAFETY: i + 8u + 8 <= i + 16 <= n.
            let (vq, vx) = unsafe {
                (
                    _mm256_loadu_ps(pq.add(i + u * LANES)),
                    load8(px.add(i + u * LANES)),
                )
            };
            dot[u] = _mm256_fmadd_ps(vq, vx, dot[u]);
            nx[u] = _mm256_fmadd_ps(vx, vx, nx[u]);
        }
        i += 2 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 8 <= n.
        let (vq, vx) = unsafe { (_mm256_loadu_ps(pq.add(i)), load8(px.add(i))) };
        dot[0] = _mm256_fmadd_ps(vq, vx, dot[0]);
        nx[0] = _mm256_fmadd_ps(vx, vx, nx[0]);
        i += LANES;
    }
    // SAFETY: AVX2 available.
    let (mut d, mut s) = unsafe {
        (
            hsum_avx2(_mm256_add_ps(dot[0], dot[1])),
            hsum_avx2(_mm256_add_ps(nx[0], nx[1])),
        )
    };
    while i < n {
        let b = widen(x[i]);
        d += q[i] * b;
        s += b * b;
        i += 1;
    }
    (d, s)
}

/// `dst[i] = f16(src[i] · scale)` over the shorter length, rounded to nearest even
/// (beyond f16's range: ±inf; NaN stays NaN).
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn encode_f16_avx2(src: &[f32], scale: f32, dst: &mut [f16]) {
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

/// `dst[i] = src[i]` widened exactly to f32 (`vcvtph2ps`, 8 per step), over the
/// shorter length.
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn decode_f16_avx2(src: &[f16], dst: &mut [f32]) {
    let n = src.len().min(dst.len());
    let (ps, pd) = (src.as_ptr(), dst.as_mut_ptr());
    let mut i = 0;
    while i + LANES <= n {
        // SAFETY: i + 8 <= n <= len of both slices; loads and stores are unaligned.
        unsafe { _mm256_storeu_ps(pd.add(i), load8(ps.add(i))) };
        i += LANES;
    }
    while i < n {
        dst[i] = widen(src[i]);
        i += 1;
    }
}

crate::family::row_family! {
    #[target_feature(enable = "avx2,fma,f16c")]
    elem = f16,
    dot = dot_f16_avx2,
    l2sq = l2sq_f16_avx2,
    cos_parts = cos_parts_f16_avx2,
    dot_norm = dot_norm_f16_avx2,
    norm_sq = super::f32::norm_sq_f32_avx2,
    encode = encode_f16_avx2,
    decode = decode_f16_avx2,
}
