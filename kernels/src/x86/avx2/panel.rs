//! Fused many-to-many search over packed panels for AVX2 + FMA (`knn_panels_f32_avx2`).
//!
//! A GEMM-style broadcast micro-kernel: the base block arrives packed as panels of
//! 16 rows stored dimension-major, so for each dimension `k` two loads give
//! element `k` of 16 rows, and each of 6 queries' element `k` is broadcast
//! (`vbroadcastss`) and multiplied into both. 12 accumulators hold 6 × 16 dot
//! products, one per lane (12 + 2 + 1 = 15 ymm registers); per `k`, 8 loads feed 12
//! FMAs, so the loop is FMA-bound (6 cycles on 2 FMA ports). The finish is done in
//! registers: distances from the dots and cached norms, a compare against each
//! query's current worst (`vcmpps` not-greater-than, unordered, so NaN passes to
//! the exact check), a movemask, and only surviving lanes reach the heap.
//!
//! Numeric contract: f32 → f32 accumulator (one per pair, in dimension order) →
//! f32; L2 as `max(0, (|q|² + |x|²) - 2·dot)` with one fused rounding, cosine as
//! `1 - (dot·(1/|q|))·(1/|x|)` clamped to `[0, 2]` (1.0 for a zero vector), inner
//! product as `-dot` (sign flip, so 0 gives -0.0 as the one-to-one kernel does).

// Register tiles index accumulators as acc[r][h]; index loops say that most plainly.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use crate::knn::PanelJob;
use crate::metric::Metric;
use crate::topk::TopK;

/// Base rows per panel (two 8-lane vectors).
pub(crate) const PANEL: usize = 16;
/// Queries per micro-tile.
const MR: usize = 6;
const LANES: usize = 8;

/// Runs one query group against one packed block, offering every pair to the
/// query's heap.
///
/// # Safety
/// AVX2 and FMA are available, and `job` satisfies the `PanelJob` invariants with
/// `panel == PANEL`; `heaps.len() >= job.queries.n_rows()`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn knn_panels_f32_avx2(job: &PanelJob<'_, f32>, heaps: &mut [TopK]) {
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
            let mut acc = [[_mm256_setzero_ps(); 2]; MR];
            for k in 0..d {
                // SAFETY: k < d: the two loads read floats [k*16, k*16 + 16) of this
                // panel; each qp[r] points at d readable floats (a query or zero_row).
                unsafe {
                    let x0 = _mm256_loadu_ps(panel.add(k * PANEL));
                    let x1 = _mm256_loadu_ps(panel.add(k * PANEL + LANES));
                    for r in 0..MR {
                        let qb = _mm256_set1_ps(*qp[r].add(k));
                        acc[r][0] = _mm256_fmadd_ps(qb, x0, acc[r][0]);
                        acc[r][1] = _mm256_fmadd_ps(qb, x1, acc[r][1]);
                    }
                }
            }
            for r in 0..MR.min(n_q - i) {
                let q_aux = job.q_aux.get(i + r).copied().unwrap_or(0.0);
                // SAFETY: AVX2 available; x_aux has PANEL entries from p * PANEL.
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

/// Finishes one query's 16 dot products into distances and offers the lanes that
/// may enter its heap.
///
/// # Safety
/// AVX2 and FMA are available; `x_aux` points at 16 readable floats.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn offer(
    metric: Metric,
    dots: [__m256; 2],
    q_aux: f32,
    x_aux: *const f32,
    valid: usize,
    first_id: u64,
    heap: &mut TopK,
) {
    let zero = _mm256_setzero_ps();
    let one = _mm256_set1_ps(1.0);
    for (h, &dot) in dots.iter().enumerate() {
        let lanes = valid.saturating_sub(h * LANES).min(LANES);
        if lanes == 0 {
            break;
        }
        // SAFETY: h * 8 + 8 <= 16 floats readable at x_aux.
        let xa = unsafe { _mm256_loadu_ps(x_aux.add(h * LANES)) };
        let dist = match metric {
            // max(0, v) with the NaN operand second: vmaxps returns it, so NaN survives.
            Metric::L2Sq => _mm256_max_ps(
                zero,
                _mm256_fmadd_ps(
                    _mm256_set1_ps(-2.0),
                    dot,
                    _mm256_add_ps(_mm256_set1_ps(q_aux), xa),
                ),
            ),
            Metric::InnerProduct => _mm256_xor_ps(dot, _mm256_set1_ps(-0.0)),
            Metric::Cosine => {
                if q_aux == 0.0 {
                    one
                } else {
                    let c = _mm256_fnmadd_ps(_mm256_mul_ps(dot, _mm256_set1_ps(q_aux)), xa, one);
                    let c = _mm256_min_ps(_mm256_set1_ps(2.0), _mm256_max_ps(zero, c));
                    _mm256_blendv_ps(c, one, _mm256_cmp_ps::<_CMP_EQ_OQ>(xa, zero))
                }
            }
            _ => unreachable!("knn_accumulate admits only l2, ip and cosine"),
        };
        let worst = heap.worst().map_or(f32::INFINITY, |n| n.distance);
        let pass = _mm256_cmp_ps::<_CMP_NGT_UQ>(dist, _mm256_set1_ps(worst));
        let mut bits = (_mm256_movemask_ps(pass) as u32) & ((1u32 << lanes) - 1);
        if bits == 0 {
            continue;
        }
        let mut d = [0.0f32; LANES];
        // SAFETY: `d` holds 8 floats.
        unsafe { _mm256_storeu_ps(d.as_mut_ptr(), dist) };
        while bits != 0 {
            let lane = bits.trailing_zeros() as usize;
            heap.push(d[lane], first_id + (h * LANES + lane) as u64);
            bits &= bits - 1;
        }
    }
}
