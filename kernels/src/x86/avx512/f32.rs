//! The f32 dot-product register tile for AVX-512 (`dot_tile_f32_avx512`), behind
//! `dot_matrix` and the dot-tile knn path: a 4×4 tile of 16 zmm accumulators, the
//! `d mod 16` tail one masked step; the edges run the one-to-one `dot` kernel.

// Register tiles index accumulators as acc[r][c]; index loops say that most plainly.
#![allow(clippy::needless_range_loop)]

use super::arch::*;

use super::float::{Widen16, dot};
use super::reduce::hsum4_avx512;
use crate::rows::Rows;

const LANES: usize = 16;

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
                    qv[r] = unsafe { f32::load_tail(qp[r].add(d_body), rem) };
                }
                for c in 0..NR {
                    // SAFETY: lanes d_body..d are inside row j + c.
                    let xv = unsafe { f32::load_tail(xp[c].add(d_body), rem) };
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
                    unsafe { dot::<f32, f32>(q.row_unchecked(i), x.row_unchecked(j + c)) };
            }
            i += 1;
        }
        j += NR;
    }
    while j < n_x {
        for i in 0..n_q {
            // SAFETY: rows in range; the ISA is available.
            out[i * n_x + j] = unsafe { dot::<f32, f32>(q.row_unchecked(i), x.row_unchecked(j)) };
        }
        j += 1;
    }
}
