//! f32 kernels for AVX2 + FMA (`*_f32_avx2`).
//!
//! Numeric contract:
//!
//! | input | accumulator | output | notes |
//! |---|---|---|---|
//! | f32 | f32 (4 × 8 lanes, FMA) | f32 | error ≤ γₙ Σ\|aᵢbᵢ\| for dot (Higham), cosine finished in f64 |
//!
//! Key instructions: `vfmadd231ps` (2 per cycle on Haswell/Zen 3, latency 4–5, so
//! 4 independent accumulators in the 1×1 kernels and 12 in the 3×4 tile keep both
//! FMA ports busy), unaligned `vmovups` loads (no alignment is assumed: any start
//! offset and stride work), and a scalar tail for the last `n mod 8` elements so no
//! load ever reads past a slice (no masked loads, which valgrind and older CPUs
//! handle poorly).

// Register tiles index accumulators as acc[r][c]; index loops say that most plainly.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use super::reduce::{hsum_avx2, hsum4_avx2};
use crate::rows::Rows;

const LANES: usize = 8;

/// `Σ aᵢ bᵢ` over the shorter length.
///
/// # Safety
/// AVX2 and FMA are available.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut acc2 = _mm256_setzero_ps();
    let mut acc3 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 4 * LANES <= n {
        // SAFETY: i + 32 <= n <= len of both slices: every load is in bounds.
        unsafe {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
                acc1,
            );
            acc2 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 16)),
                _mm256_loadu_ps(pb.add(i + 16)),
                acc2,
            );
            acc3 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 24)),
                _mm256_loadu_ps(pb.add(i + 24)),
                acc3,
            );
        }
        i += 4 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 8 <= n.
        unsafe {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
        }
        i += LANES;
    }
    let acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    // SAFETY: AVX2 available (this function's contract).
    let mut sum = unsafe { hsum_avx2(acc) };
    while i < n {
        sum += a[i] * b[i];
        i += 1;
    }
    sum
}

/// `Σ (aᵢ - bᵢ)²` over the shorter length.
///
/// # Safety
/// AVX2 and FMA are available.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn l2sq_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 4 * LANES <= n {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8u + 8 <= i + 32 <= n.
            let d = unsafe {
                _mm256_sub_ps(
                    _mm256_loadu_ps(pa.add(i + u * LANES)),
                    _mm256_loadu_ps(pb.add(i + u * LANES)),
                )
            };
            *acc_u = _mm256_fmadd_ps(d, d, *acc_u);
        }
        i += 4 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 8 <= n.
        let d = unsafe { _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
        i += LANES;
    }
    let total = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    // SAFETY: AVX2 available.
    let mut sum = unsafe { hsum_avx2(total) };
    while i < n {
        let d = a[i] - b[i];
        sum += d * d;
        i += 1;
    }
    sum
}

/// `(Σ aᵢbᵢ, Σ aᵢ², Σ bᵢ²)` in one pass.
///
/// # Safety
/// AVX2 and FMA are available.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn cos_parts_f32_avx2(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut dot = [_mm256_setzero_ps(); 2];
    let mut na = [_mm256_setzero_ps(); 2];
    let mut nb = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 2 * LANES <= n {
        for u in 0..2 {
            // SAFETY: i + 8u + 8 <= i + 16 <= n.
            let (va, vb) = unsafe {
                (
                    _mm256_loadu_ps(pa.add(i + u * LANES)),
                    _mm256_loadu_ps(pb.add(i + u * LANES)),
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
        let (va, vb) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
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
        d += a[i] * b[i];
        sa += a[i] * a[i];
        sb += b[i] * b[i];
        i += 1;
    }
    (d, sa, sb)
}

/// `(Σ qᵢxᵢ, Σ xᵢ²)` in one pass (the query's norm is computed once by the caller).
///
/// # Safety
/// AVX2 and FMA are available.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dot_norm_f32_avx2(q: &[f32], x: &[f32]) -> (f32, f32) {
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
                    _mm256_loadu_ps(px.add(i + u * LANES)),
                )
            };
            dot[u] = _mm256_fmadd_ps(vq, vx, dot[u]);
            nx[u] = _mm256_fmadd_ps(vx, vx, nx[u]);
        }
        i += 2 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 8 <= n.
        let (vq, vx) = unsafe { (_mm256_loadu_ps(pq.add(i)), _mm256_loadu_ps(px.add(i))) };
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
        d += q[i] * x[i];
        s += x[i] * x[i];
        i += 1;
    }
    (d, s)
}

/// `Σ aᵢ²`.
///
/// # Safety
/// AVX2 and FMA are available.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn norm_sq_f32_avx2(a: &[f32]) -> f32 {
    // SAFETY: same contract.
    unsafe { dot_f32_avx2(a, a) }
}

/// Queries per register tile.
const MR: usize = 3;
/// Rows per register tile (4, so one `hsum4` finishes a tile row).
const NR: usize = 4;

/// `out[i * n_x + j] = q_i · x_j` for all pairs, by a 3×4 register tile: per
/// 8-lane step it loads 3 query and 4 row vectors and issues 12 FMAs into 12
/// accumulators (12 + 3 + 1 = 16 ymm registers). Edge rows/columns use the 1×1 kernel.
///
/// # Safety
/// AVX2 and FMA are available. (Memory-safe for any shapes: it writes only
/// `out[..n_q * n_x]` that exist and reads only inside the rows.)
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dot_tile_f32_avx2(q: Rows<'_, f32>, x: Rows<'_, f32>, out: &mut [f32]) {
    let (n_q, n_x) = (q.n_rows(), x.n_rows());
    let d = q.dim().min(x.dim());
    // Checked: a wrapped product would let the stores below run past `out`.
    match n_q.checked_mul(n_x) {
        Some(total) if total <= out.len() => {}
        _ => return,
    }
    let d_body = d - d % LANES;
    // Column panels of NR rows outermost: a panel stays in L1 while every query
    // group of MR streams past it (fewer bytes per FMA from L2 than the reverse).
    let mut j = 0;
    while j + NR <= n_x {
        // SAFETY: j + c < j + NR <= n_x.
        let xp: [*const f32; NR] = unsafe {
            [
                x.row_ptr(j),
                x.row_ptr(j + 1),
                x.row_ptr(j + 2),
                x.row_ptr(j + 3),
            ]
        };
        let mut i = 0;
        while i + MR <= n_q {
            // SAFETY: i + r < i + MR <= n_q.
            let qp: [*const f32; MR] =
                unsafe { [q.row_ptr(i), q.row_ptr(i + 1), q.row_ptr(i + 2)] };
            let mut acc = [[_mm256_setzero_ps(); NR]; MR];
            let mut t = 0;
            while t < d_body {
                let mut qv = [_mm256_setzero_ps(); MR];
                for r in 0..MR {
                    // SAFETY: t + 8 <= d_body <= dim: inside row i + r.
                    qv[r] = unsafe { _mm256_loadu_ps(qp[r].add(t)) };
                }
                for c in 0..NR {
                    // SAFETY: t + 8 <= dim: inside row j + c.
                    let xv = unsafe { _mm256_loadu_ps(xp[c].add(t)) };
                    for r in 0..MR {
                        acc[r][c] = _mm256_fmadd_ps(qv[r], xv, acc[r][c]);
                    }
                }
                t += LANES;
            }
            for r in 0..MR {
                let mut sums = [0.0f32; NR];
                // SAFETY: AVX2 available; `sums` holds 4 floats.
                unsafe {
                    _mm_storeu_ps(
                        sums.as_mut_ptr(),
                        hsum4_avx2(acc[r][0], acc[r][1], acc[r][2], acc[r][3]),
                    );
                }
                // SAFETY: i + r < n_q, j + c < n_x: rows exist and span `d` elements.
                let qrow = unsafe { q.row_unchecked(i + r) };
                for (c, s) in sums.iter_mut().enumerate() {
                    // SAFETY: as above.
                    let xrow = unsafe { x.row_unchecked(j + c) };
                    for tt in d_body..d {
                        *s += qrow[tt] * xrow[tt];
                    }
                    out[(i + r) * n_x + j + c] = *s;
                }
            }
            i += MR;
        }
        while i < n_q {
            for c in 0..NR {
                // SAFETY: rows in range; the ISA is available.
                out[i * n_x + j + c] =
                    unsafe { dot_f32_avx2(q.row_unchecked(i), x.row_unchecked(j + c)) };
            }
            i += 1;
        }
        j += NR;
    }
    while j < n_x {
        for i in 0..n_q {
            // SAFETY: rows in range; the ISA is available.
            out[i * n_x + j] = unsafe { dot_f32_avx2(q.row_unchecked(i), x.row_unchecked(j)) };
        }
        j += 1;
    }
}

crate::family::row_family! {
    #[target_feature(enable = "avx2,fma")]
    elem = f32,
    dot = dot_f32_avx2,
    l2sq = l2sq_f32_avx2,
    cos_parts = cos_parts_f32_avx2,
    dot_norm = dot_norm_f32_avx2,
    norm_sq = norm_sq_f32_avx2,
    dot_tile = dot_tile_f32_avx2,
    knn_panels = Some(crate::table::PanelKernel {
        rows: super::panel::PANEL,
        run: super::panel::knn_panels_f32_avx2,
    }),
}
