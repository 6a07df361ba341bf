//! Fused many-to-many search over packed panels for AVX-512 (`knn_panels_f32_avx512`).
//!
//! The AVX2 kernel's shape at twice the width: panels of 32 rows stored
//! dimension-major, 8 queries per micro-tile, 16 zmm accumulators holding 8 × 32
//! dot products (16 + 2 + 1 = 19 of 32 registers); per dimension, 2 panel loads and
//! 8 broadcasts feed 16 FMAs (8 cycles on 2 FMA ports). The finish, the compare
//! against each query's worst (`vcmpps` into a mask register, not-greater-than
//! unordered so NaN passes to the exact check) and the lane selection use mask
//! registers directly.
//!
//! Numeric contract: as the AVX2 panel kernel (f32 accumulator per pair in
//! dimension order; L2 `max(0, (|q|² + |x|²) - 2·dot)` fused; cosine
//! `1 - (dot·(1/|q|))·(1/|x|)` clamped to `[0, 2]`, 1.0 for a zero vector; IP `-dot`).

// Register tiles index accumulators as acc[r][h]; index loops say that most plainly.
#![allow(clippy::needless_range_loop)]

use super::arch::*;

use crate::knn::PanelJob;
use crate::metric::Metric;
use crate::topk::TopK;

/// Base rows per panel (two 16-lane vectors).
pub(crate) const PANEL: usize = 32;
/// Queries per micro-tile.
const MR: usize = 8;
const LANES: usize = 16;

/// Runs one query group against one packed block, offering every pair to the
/// query's heap.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available, and `job` satisfies the `PanelJob`
/// invariants with `panel == PANEL`; `heaps.len() >= job.queries.n_rows()`.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn knn_panels_f32_avx512(job: &PanelJob<'_, f32>, heaps: &mut [TopK]) {
    let q = job.queries;
    let (n_q, d) = (q.n_rows().min(heaps.len()), q.dim());
    let n_panels = job.n_rows.div_ceil(PANEL);
    debug_assert!(job.packed.len() >= n_panels * d * PANEL);
    debug_assert!(job.x_aux.len() >= n_panels * PANEL && job.zero_row.len() >= d);
    for p in 0..n_panels {
        // SAFETY: p < n_panels, and packed holds n_panels * d * PANEL floats.
        let panel = unsafe { job.packed.as_ptr().add(p * d * PANEL) };
        let valid = (job.n_rows - p * PANEL).min(PANEL);
        let first_id = job.first_id + (p * PANEL) as u64;
        let mut i = 0;
        while i < n_q {
            let mut qp = [job.zero_row.as_ptr(); MR];
            for r in 0..MR.min(n_q - i) {
                // SAFETY: i + r < n_q <= n_rows of the group.
                qp[r] = unsafe { q.row_ptr(i + r) };
            }
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            for k in 0..d {
                // SAFETY: k < d: the two loads read floats [k*32, k*32 + 32) of this
                // panel; each qp[r] points at d readable floats (a query or zero_row).
                unsafe {
                    let x0 = _mm512_loadu_ps(panel.add(k * PANEL));
                    let x1 = _mm512_loadu_ps(panel.add(k * PANEL + LANES));
                    for r in 0..MR {
                        let qb = _mm512_set1_ps(*qp[r].add(k));
                        acc[r][0] = _mm512_fmadd_ps(qb, x0, acc[r][0]);
                        acc[r][1] = _mm512_fmadd_ps(qb, x1, acc[r][1]);
                    }
                }
            }
            for r in 0..MR.min(n_q - i) {
                let q_aux = job.q_aux.get(i + r).copied().unwrap_or(0.0);
                // SAFETY: AVX-512 available; x_aux has PANEL entries from p * PANEL.
                unsafe {
                    offer(
                        job.metric,
                        acc[r],
                        q_aux,
                        job.x_aux.as_ptr().add(p * PANEL),
                        valid,
                        first_id,
                        &mut heaps[i + r],
                    );
                }
            }
            i += MR;
        }
    }
}

/// Finishes one query's 32 dot products into distances and offers the lanes that
/// may enter its heap.
///
/// # Safety
/// AVX-512 F is available; `x_aux` points at 32 readable floats.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
unsafe fn offer(
    metric: Metric,
    dots: [__m512; 2],
    q_aux: f32,
    x_aux: *const f32,
    valid: usize,
    first_id: u64,
    heap: &mut TopK,
) {
    let zero = _mm512_setzero_ps();
    let one = _mm512_set1_ps(1.0);
    for (h, &dot) in dots.iter().enumerate() {
        let lanes = valid.saturating_sub(h * LANES).min(LANES);
        if lanes == 0 {
            break;
        }
        // SAFETY: h * 16 + 16 <= 32 floats readable at x_aux.
        let xa = unsafe { _mm512_loadu_ps(x_aux.add(h * LANES)) };
        let dist = match metric {
            // max(0, v) with the NaN operand second: vmaxps returns it, so NaN survives.
            Metric::L2Sq => _mm512_max_ps(
                zero,
                _mm512_fmadd_ps(
                    _mm512_set1_ps(-2.0),
                    dot,
                    _mm512_add_ps(_mm512_set1_ps(q_aux), xa),
                ),
            ),
            Metric::InnerProduct => _mm512_castsi512_ps(_mm512_xor_si512(
                _mm512_castps_si512(dot),
                _mm512_set1_epi32(i32::MIN),
            )),
            Metric::Cosine => {
                if q_aux == 0.0 {
                    one
                } else {
                    let c = _mm512_fnmadd_ps(_mm512_mul_ps(dot, _mm512_set1_ps(q_aux)), xa, one);
                    let c = _mm512_min_ps(_mm512_set1_ps(2.0), _mm512_max_ps(zero, c));
                    _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(xa, zero), c, one)
                }
            }
            _ => unreachable!("knn_accumulate admits only l2, ip and cosine"),
        };
        let worst = heap.worst().map_or(f32::INFINITY, |n| n.distance);
        let pass = _mm512_cmp_ps_mask::<_CMP_NGT_UQ>(dist, _mm512_set1_ps(worst));
        let mut bits = u32::from(pass) & ((1u32 << lanes) - 1);
        if bits == 0 {
            continue;
        }
        let mut d = [0.0f32; LANES];
        // SAFETY: `d` holds 16 floats.
        unsafe { _mm512_storeu_ps(d.as_mut_ptr(), dist) };
        while bits != 0 {
            let lane = bits.trailing_zeros() as usize;
            heap.push(d[lane], first_id + (h * LANES + lane) as u64);
            bits &= bits - 1;
        }
    }
}
