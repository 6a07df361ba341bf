//! f32 kernels for AVX-512 F/BW/VL (`*_f32_avx512`).
//!
//! Numeric contract:
//!
//! | input | accumulator | output | notes |
//! |---|---|---|---|
//! | f32 | f32 (4 × 16 lanes, FMA) | f32 | error ≤ γₙ Σ\|aᵢbᵢ\| for dot (Higham), cosine finished in f64 |
//!
//! Key instructions: `vfmadd231ps zmm` (2 per cycle on Sapphire Rapids, latency 4,
//! so 4 accumulators in the 1×1 kernels and 16 in the 4×4 tile), unaligned
//! `vmovups` loads, and for the last `n mod 16` elements a zero-masked load
//! (`vmovups zmm{k}{z}`, `_mm512_maskz_loadu_ps`): masked-off lanes are neither read
//! nor able to fault, so the tail costs one iteration and never reads past a slice.

// Register tiles index accumulators as acc[r][c]; index loops say that most plainly.
#![allow(clippy::needless_range_loop)]

#[cfg(sagevec_avx512_emu)]
use super::emu::*;
#[cfg(not(sagevec_avx512_emu))]
use core::arch::x86_64::*;

use super::reduce::{hsum_avx512, hsum4_avx512};
use crate::rows::Rows;

const LANES: usize = 16;

/// The mask selecting the first `rem` lanes, `rem < 16`.
#[inline(always)]
fn tail_mask(rem: usize) -> __mmask16 {
    debug_assert!(rem < LANES);
    ((1u32 << rem) - 1) as __mmask16
}

/// Loads lanes `[i, i + rem)` of `p`, zero elsewhere.
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

/// `Σ aᵢ bᵢ` over the shorter length.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn dot_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 4 * LANES <= n {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            // SAFETY: i + 16u + 16 <= i + 64 <= n.
            let (va, vb) = unsafe {
                (
                    _mm512_loadu_ps(pa.add(i + u * LANES)),
                    _mm512_loadu_ps(pb.add(i + u * LANES)),
                )
            };
            *acc_u = _mm512_fmadd_ps(va, vb, *acc_u);
        }
        i += 4 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 16 <= n.
        let (va, vb) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        acc[0] = _mm512_fmadd_ps(va, vb, acc[0]);
        i += LANES;
    }
    if i < n {
        // SAFETY: lanes i..n are inside both slices.
        let (va, vb) = unsafe { (load_tail(pa, i, n - i), load_tail(pb, i, n - i)) };
        acc[1] = _mm512_fmadd_ps(va, vb, acc[1]);
    }
    let total = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    // SAFETY: AVX-512 available.
    unsafe { hsum_avx512(total) }
}

/// `Σ (aᵢ - bᵢ)²` over the shorter length.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn l2sq_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 4 * LANES <= n {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            // SAFETY: i + 16u + 16 <= i + 64 <= n.
            let d = unsafe {
                _mm512_sub_ps(
                    _mm512_loadu_ps(pa.add(i + u * LANES)),
                    _mm512_loadu_ps(pb.add(i + u * LANES)),
                )
            };
            *acc_u = _mm512_fmadd_ps(d, d, *acc_u);
        }
        i += 4 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 16 <= n.
        let d = unsafe { _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        acc[0] = _mm512_fmadd_ps(d, d, acc[0]);
        i += LANES;
    }
    if i < n {
        // SAFETY: lanes i..n are inside both slices; masked-off lanes are 0 - 0 = 0.
        let d = unsafe { _mm512_sub_ps(load_tail(pa, i, n - i), load_tail(pb, i, n - i)) };
        acc[1] = _mm512_fmadd_ps(d, d, acc[1]);
    }
    let total = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    // SAFETY: AVX-512 available.
    unsafe { hsum_avx512(total) }
}

/// `(Σ aᵢbᵢ, Σ aᵢ², Σ bᵢ²)` in one pass.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn cos_parts_f32_avx512(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut dot = [_mm512_setzero_ps(); 2];
    let mut na = [_mm512_setzero_ps(); 2];
    let mut nb = [_mm512_setzero_ps(); 2];
    let mut i = 0;
    while i + 2 * LANES <= n {
        for u in 0..2 {
            // SAFETY: i + 16u + 16 <= i + 32 <= n.
            let (va, vb) = unsafe {
                (
                    _mm512_loadu_ps(pa.add(i + u * LANES)),
                    _mm512_loadu_ps(pb.add(i + u * LANES)),
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
                (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)))
            } else {
                (load_tail(pa, i, rem), load_tail(pb, i, rem))
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
pub(crate) unsafe fn dot_norm_f32_avx512(q: &[f32], x: &[f32]) -> (f32, f32) {
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
                    _mm512_loadu_ps(px.add(i + u * LANES)),
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
                (_mm512_loadu_ps(pq.add(i)), _mm512_loadu_ps(px.add(i)))
            } else {
                (load_tail(pq, i, rem), load_tail(px, i, rem))
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

/// `Σ aᵢ²`.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn norm_sq_f32_avx512(a: &[f32]) -> f32 {
    // SAFETY: same contract.
    unsafe { dot_f32_avx512(a, a) }
}

/// Queries per register tile.
const MR: usize = 4;
/// Rows per register tile.
const NR: usize = 4;

/// `out[i * n_x + j] = q_i · x_j` for all pairs, by a 4×4 register tile: per
/// 16-lane step, 4 query and 4 row loads feed 16 FMAs into 16 accumulators
/// (16 + 4 + 4 = 24 of 32 zmm registers); the `d mod 16` tail is one masked step.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available. (Memory-safe for any shapes.)
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn dot_tile_f32_avx512(q: Rows<'_, f32>, x: Rows<'_, f32>, out: &mut [f32]) {
    let (n_q, n_x) = (q.n_rows(), x.n_rows());
    let d = q.dim().min(x.dim());
    // Checked: a wrapped product would let the stores below run past `out`.
    match n_q.checked_mul(n_x) {
        Some(total) if total <= out.len() => {}
        _ => return,
    }
    let d_body = d - d % LANES;
    let rem = d - d_body;
    // Column panels of NR rows outermost: a panel stays in L1 while every query
    // group of MR streams past it (fewer bytes per FMA from L2 than the reverse).
    let mut j = 0;
    while j + NR <= n_x {
        let mut xp = [core::ptr::null::<f32>(); NR];
        for (c, p) in xp.iter_mut().enumerate() {
            // SAFETY: j + c < j + NR <= n_x.
            *p = unsafe { x.row_ptr(j + c) };
        }
        let mut i = 0;
        while i + MR <= n_q {
            let mut qp = [core::ptr::null::<f32>(); MR];
            for (r, p) in qp.iter_mut().enumerate() {
                // SAFETY: i + r < i + MR <= n_q.
                *p = unsafe { q.row_ptr(i + r) };
            }
            let mut acc = [[_mm512_setzero_ps(); NR]; MR];
            let mut t = 0;
            while t < d_body {
                let mut qv = [_mm512_setzero_ps(); MR];
                for r in 0..MR {
                    // SAFETY: t + 16 <= d_body <= dim: inside row i + r.
                    qv[r] = unsafe { _mm512_loadu_ps(qp[r].add(t)) };
                }
                for c in 0..NR {
                    // SAFETY: t + 16 <= dim: inside row j + c.
                    let xv = unsafe { _mm512_loadu_ps(xp[c].add(t)) };
                    for r in 0..MR {
                        acc[r][c] = _mm512_fmadd_ps(qv[r], xv, acc[r][c]);
                    }
                }
                t += LANES;
            }
            if rem > 0 {
                let mut qv = [_mm512_setzero_ps(); MR];
                for r in 0..MR {
                    // SAFETY: lanes d_body..d are inside row i + r.
                    qv[r] = unsafe { load_tail(qp[r], d_body, rem) };
                }
                for c in 0..NR {
                    // SAFETY: lanes d_body..d are inside row j + c.
                    let xv = unsafe { load_tail(xp[c], d_body, rem) };
                    for r in 0..MR {
                        acc[r][c] = _mm512_fmadd_ps(qv[r], xv, acc[r][c]);
                    }
                }
            }
            for r in 0..MR {
                let o = (i + r) * n_x + j;
                // SAFETY: o + 4 <= (i + r) * n_x + n_x <= n_q * n_x <= out.len().
                unsafe {
                    _mm_storeu_ps(
                        out.as_mut_ptr().add(o),
                        hsum4_avx512(acc[r][0], acc[r][1], acc[r][2], acc[r][3]),
                    );
                }
            }
            i += MR;
        }
        while i < n_q {
            for c in 0..NR {
                // SAFETY: rows in range; the ISA is available.
                out[i * n_x + j + c] =
                    unsafe { dot_f32_avx512(q.row_unchecked(i), x.row_unchecked(j + c)) };
            }
            i += 1;
        }
        j += NR;
    }
    while j < n_x {
        for i in 0..n_q {
            // SAFETY: rows in range; the ISA is available.
            out[i * n_x + j] = unsafe { dot_f32_avx512(q.row_unchecked(i), x.row_unchecked(j)) };
        }
        j += 1;
    }
}

crate::family::row_family! {
    #[cfg_attr(not(sagevec_avx512_emu), target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma"))]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    elem = f32,
    dot = dot_f32_avx512,
    l2sq = l2sq_f32_avx512,
    cos_parts = cos_parts_f32_avx512,
    dot_norm = dot_norm_f32_avx512,
    norm_sq = norm_sq_f32_avx512,
    dot_tile = dot_tile_f32_avx512,
    knn_panels = Some(crate::table::PanelKernel {
        rows: super::panel::PANEL,
        run: super::panel::knn_panels_f32_avx512,
    }),
}
