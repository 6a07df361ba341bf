//! The f32 dot-product register tile for AVX2 + FMA (`dot_tile_f32_avx2`), behind
//! `dot_matrix` and the dot-tile knn path: 12 accumulators in a 3×4 tile keep both
//! FMA ports busy; the edges run the one-to-one `dot` kernel.

// Register tiles index accumulators as acc[r][c]; index loops say that most plainly.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use super::float::dot;
use super::reduce::hsum4_avx2;
use crate::rows::Rows;

const LANES: usize = 8;

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
#[target_feature(enable = "avx2,fma,f16c")]
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
