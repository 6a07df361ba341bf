//! Many-to-many exact search with top-k fused into the tiled distance kernel.
//!
//! The base is walked in blocks sized to stay in L2 (`BASE_BLOCK_BYTES`); for each
//! block, queries go through in groups of `QUERY_BLOCK`. The full `n_q × n_x`
//! distance matrix never exists. Two micro-kernel shapes:
//!
//! - **Packed panels** (AVX2, AVX-512): the block is repacked once into panels of
//!   `PANEL` rows stored dimension-major (`panel[k][row]`), so a GEMM-style
//!   micro-kernel broadcasts one query element and multiplies it into a whole
//!   vector of rows. Its accumulators already hold one distance per lane: the
//!   finish (norm expansion, clamp) and the compare against each query's current
//!   worst happen in registers, and only lanes that pass (a movemask) reach the
//!   heap. No horizontal sums, no scratch matrix.
//! - **Dot tiles** (scalar, and any ISA without panels): the ISA's dot-tile kernel
//!   fills a small `QUERY_BLOCK × block` scratch, which is then finished and
//!   filtered row by row.
//!
//! Distances use cached norms: L2 as `|q|² + |x|² - 2 q·x` (clamped at 0), cosine
//! as `1 - (q·x) / (|q| |x|)` with reciprocal norms precomputed in f64 (a zero
//! vector gives 1.0), inner product as `-q·x`. Errors are bounded in the crate docs.

use crate::elem::Element;
use crate::error::KernelError;
use crate::metric::Metric;
use crate::rows::Rows;
use crate::table::{KernelTable, PanelKernel, check_dim, check_out};
use crate::topk::TopK;

/// Queries per group: a multiple of every micro-kernel's query count (dot tiles: 3
/// for AVX2, 4 for AVX-512; panels: 6 for AVX2, 8 for AVX-512).
const QUERY_BLOCK: usize = 24;
/// Bytes of base rows per block: small enough to stay in a 512 KiB – 2 MiB L2
/// while every query group streams over them.
const BASE_BLOCK_BYTES: usize = 192 * 1024;
/// Block bounds in rows (the upper bound keeps the dot scratch within L1/L2).
const MIN_BLOCK_ROWS: usize = 16;
const MAX_BLOCK_ROWS: usize = 512;

fn block_rows(dim: usize, elem_bytes: usize) -> usize {
    let rows = BASE_BLOCK_BYTES / (dim.max(1) * elem_bytes);
    (rows.clamp(MIN_BLOCK_ROWS, MAX_BLOCK_ROWS) / 4) * 4
}

/// One query group against one packed base block, for a `PanelFn`.
///
/// Invariants the packed-panel kernels rely on (established by `knn_accumulate`):
/// `packed.len() >= n_panels * dim * panel` and `x_aux.len() >= n_panels * panel`
/// with `n_panels = n_rows.div_ceil(panel)`; `zero_row.len() >= dim`;
/// `q_aux.len() >= queries.n_rows()` unless the metric is inner product.
pub(crate) struct PanelJob<'a, T> {
    pub(crate) metric: Metric,
    /// The query group.
    pub(crate) queries: Rows<'a, T>,
    /// Per query: squared norm (L2), reciprocal norm (cosine); empty for IP.
    pub(crate) q_aux: &'a [f32],
    /// The block's rows, `panel` at a time, dimension-major (`[p][k][row]`), the last
    /// panel zero-padded.
    pub(crate) packed: &'a [T],
    /// Per packed row: squared norm (L2) or reciprocal norm (cosine); 0 for padding.
    pub(crate) x_aux: &'a [f32],
    /// Real rows in the block (the rest of the last panel is padding).
    pub(crate) n_rows: usize,
    /// Id of the block's first row.
    pub(crate) first_id: u64,
    /// `dim` zeros, read in place of missing queries when a group is not a multiple
    /// of the micro-kernel's query count.
    pub(crate) zero_row: &'a [T],
}

/// Packs `block` into `out` as panels of `panel` rows, dimension-major, padding the
/// last panel with zero rows.
fn pack_panels<T: Element>(block: Rows<'_, T>, panel: usize, out: &mut [T]) {
    let d = block.dim();
    let n_panels = block.n_rows().div_ceil(panel);
    let out = &mut out[..n_panels * d * panel];
    // Every lane of a full panel is written below; only a partial last panel has
    // padding lanes to clear (the buffer is reused across blocks).
    if !block.n_rows().is_multiple_of(panel) {
        out[(n_panels - 1) * d * panel..].fill(T::zeroed());
    }
    for (r, row) in block.iter().enumerate() {
        let (p, lane) = (r / panel, r % panel);
        let dst = &mut out[p * d * panel..(p + 1) * d * panel];
        for (k, &v) in row.iter().enumerate() {
            dst[k * panel + lane] = v;
        }
    }
}

/// `1/|x|` from `|x|²`: 0 marks a zero vector (cosine distance 1.0), and a
/// non-finite norm (NaN, or an overflowed sum) gives NaN so the distance is NaN, as
/// the one-to-one kernel's is, instead of passing for a zero vector.
fn inverse_norm(sq: f32) -> f32 {
    if sq == 0.0 {
        0.0
    } else if !sq.is_finite() {
        f32::NAN
    } else {
        (1.0 / f64::from(sq).sqrt()) as f32
    }
}

impl KernelTable {
    /// Offers every `(query, base row)` pair to the query's `TopK`: `heaps[i]` receives
    /// candidates for query `i` with ids `id_offset + row`. Call it once per base
    /// chunk (with that chunk's offset) to search a base split across workers.
    ///
    /// `base_norms`, if given, are the rows' squared norms (see
    /// [`KernelTable::squared_norms`]); cache them to skip recomputing them per call.
    pub fn knn_accumulate<T: Element>(
        &self,
        metric: Metric,
        queries: Rows<'_, T>,
        base: Rows<'_, T>,
        base_norms: Option<&[f32]>,
        id_offset: u64,
        heaps: &mut [TopK],
    ) -> Result<(), KernelError> {
        if !T::METRICS.contains(&metric) {
            return Err(KernelError::UnsupportedMetric {
                metric,
                elem: T::NAME,
            });
        }
        // The fused top-k runs on dot products: the bit metrics have one-to-one,
        // one-to-many and gather kernels, not this one.
        if !matches!(metric, Metric::L2Sq | Metric::InnerProduct | Metric::Cosine) {
            return Err(KernelError::Unsupported {
                what: "many-to-many knn for hamming or jaccard (only one-to-one, \
                       one-to-many and gather kernels)",
                elem: T::NAME,
            });
        }
        check_dim(base.dim(), queries.dim())?;
        check_out("heaps", queries.n_rows(), heaps.len())?;
        if let Some(norms) = base_norms {
            check_out("base_norms", base.n_rows(), norms.len())?;
        }
        let (n_q, n_x) = (queries.n_rows(), base.n_rows());
        // The last id, id_offset + n_x - 1, must stay below PAD_ID (u64::MAX), which
        // marks "no result": that holds exactly when the end does not overflow.
        if id_offset.checked_add(n_x as u64).is_none() {
            return Err(KernelError::BadShape(format!(
                "ids {id_offset}..{id_offset}+{n_x} would reach the padding id u64::MAX"
            )));
        }
        if n_q == 0 || n_x == 0 {
            return Ok(());
        }
        let needs_norms = metric != Metric::InnerProduct;
        let mut q_norms = vec![0.0f32; if needs_norms { n_q } else { 0 }];
        if needs_norms {
            self.squared_norms(queries, &mut q_norms)?;
            if metric == Metric::Cosine {
                q_norms.iter_mut().for_each(|n| *n = inverse_norm(*n));
            }
        }
        match &T::family(self).many_to_many()?.knn_panels {
            Some(panels) => self.knn_packed(
                metric, queries, base, base_norms, id_offset, heaps, &q_norms, panels,
            ),
            None => self.knn_tiled(
                metric, queries, base, base_norms, id_offset, heaps, &q_norms,
            ),
        }
    }

    /// What a block's rows contribute to their distances: squared norms (L2) or
    /// reciprocal norms (cosine), from the caller's cache or computed here.
    fn block_norms<T: Element>(
        &self,
        metric: Metric,
        block: Rows<'_, T>,
        cached: Option<&[f32]>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        match cached {
            Some(norms) => out.copy_from_slice(norms),
            None => self.squared_norms(block, out)?,
        }
        if metric == Metric::Cosine {
            out.iter_mut().for_each(|n| *n = inverse_norm(*n));
        }
        Ok(())
    }

    /// The packed-panel path (see the module docs).
    #[allow(clippy::too_many_arguments)] // private: the checked arguments of knn_accumulate
    fn knn_packed<T: Element>(
        &self,
        metric: Metric,
        queries: Rows<'_, T>,
        base: Rows<'_, T>,
        base_norms: Option<&[f32]>,
        id_offset: u64,
        heaps: &mut [TopK],
        q_aux: &[f32],
        panels: &PanelKernel<T>,
    ) -> Result<(), KernelError> {
        let (n_q, n_x, d) = (queries.n_rows(), base.n_rows(), base.dim());
        let panel = panels.rows;
        let nb = block_rows(d, size_of::<T>()).div_ceil(panel) * panel;
        let mut packed = vec![T::zeroed(); nb * d.max(1)];
        let mut x_aux = vec![0.0f32; nb];
        let zero_row = vec![T::zeroed(); d];
        for b0 in (0..n_x).step_by(nb) {
            let b1 = (b0 + nb).min(n_x);
            let block = base.slice_rows(b0, b1);
            let w = b1 - b0;
            pack_panels(block, panel, &mut packed);
            x_aux.fill(0.0);
            if metric != Metric::InnerProduct {
                self.block_norms(
                    metric,
                    block,
                    base_norms.map(|n| &n[b0..b1]),
                    &mut x_aux[..w],
                )?;
            }
            for q0 in (0..n_q).step_by(QUERY_BLOCK) {
                let q1 = (q0 + QUERY_BLOCK).min(n_q);
                let job = PanelJob {
                    metric,
                    queries: queries.slice_rows(q0, q1),
                    q_aux: if q_aux.is_empty() {
                        q_aux
                    } else {
                        &q_aux[q0..q1]
                    },
                    packed: &packed,
                    x_aux: &x_aux,
                    n_rows: w,
                    first_id: id_offset + b0 as u64,
                    zero_row: &zero_row,
                };
                // SAFETY: this table exists only for a detected ISA; `packed` holds
                // nb >= w.div_ceil(panel) * panel rows of d, `x_aux` nb entries,
                // `zero_row` d zeros, `q_aux` one entry per query (or none for IP).
                unsafe { (panels.run)(&job, &mut heaps[q0..q1]) };
            }
        }
        Ok(())
    }

    /// The dot-tile path (see the module docs).
    #[allow(clippy::too_many_arguments)] // private: the checked arguments of knn_accumulate
    fn knn_tiled<T: Element>(
        &self,
        metric: Metric,
        queries: Rows<'_, T>,
        base: Rows<'_, T>,
        base_norms: Option<&[f32]>,
        id_offset: u64,
        heaps: &mut [TopK],
        q_norms: &[f32],
    ) -> Result<(), KernelError> {
        let (n_q, n_x) = (queries.n_rows(), base.n_rows());
        let needs_norms = metric != Metric::InnerProduct;
        let nb = block_rows(base.dim(), size_of::<T>());
        let mut dots = vec![0.0f32; QUERY_BLOCK * nb];
        let mut x_norms = vec![0.0f32; if needs_norms { nb } else { 0 }];
        let tile = T::family(self).many_to_many()?.dot_tile;

        for b0 in (0..n_x).step_by(nb) {
            let b1 = (b0 + nb).min(n_x);
            let block = base.slice_rows(b0, b1);
            let w = b1 - b0;
            if needs_norms {
                self.block_norms(
                    metric,
                    block,
                    base_norms.map(|n| &n[b0..b1]),
                    &mut x_norms[..w],
                )?;
            }
            for q0 in (0..n_q).step_by(QUERY_BLOCK) {
                let q1 = (q0 + QUERY_BLOCK).min(n_q);
                let group = queries.slice_rows(q0, q1);
                let out = &mut dots[..(q1 - q0) * w];
                // SAFETY: this table exists only for a detected ISA; dims are equal
                // (checked above) and `out` holds exactly (q1 - q0) * w values.
                unsafe { tile(group, block, out) };
                for (qi, row) in (q0..q1).zip(out.chunks_exact_mut(w)) {
                    // Pass 1 turns dots into distances in place (a plain loop the
                    // compiler vectorises); pass 2 filters against the heap's worst.
                    let xn = &x_norms[..if needs_norms { w } else { 0 }];
                    match metric {
                        Metric::L2Sq => {
                            let nq = q_norms[qi];
                            for (d, &nx) in row.iter_mut().zip(xn) {
                                *d = crate::finalize::l2sq_from_parts(*d, nq, nx);
                            }
                        }
                        Metric::InnerProduct => row.iter_mut().for_each(|d| *d = -*d),
                        Metric::Cosine => {
                            let iq = q_norms[qi];
                            for (d, &ix) in row.iter_mut().zip(xn) {
                                let c =
                                    crate::finalize::clamp_keep_nan(1.0 - *d * iq * ix, 0.0, 2.0);
                                *d = if iq == 0.0 || ix == 0.0 { 1.0 } else { c };
                            }
                        }
                        _ => unreachable!("knn_accumulate admits only l2, ip and cosine"),
                    }
                    scan(&mut heaps[qi], row, id_offset + b0 as u64);
                }
            }
        }
        Ok(())
    }

    /// Exact k-nearest neighbours of every query among `base`, into row-major
    /// `out_ids` / `out_distances` (`n_q × k`), best first, ties to the smaller row
    /// id; rows with fewer than `k` results are padded with `u64::MAX` / `+inf`.
    #[allow(clippy::too_many_arguments)] // mirrors the faiss/BLAS call shape; outputs are caller-owned
    pub fn knn<T: Element>(
        &self,
        metric: Metric,
        queries: Rows<'_, T>,
        base: Rows<'_, T>,
        base_norms: Option<&[f32]>,
        k: usize,
        out_ids: &mut [u64],
        out_distances: &mut [f32],
    ) -> Result<(), KernelError> {
        if k == 0 {
            return Err(KernelError::ZeroK);
        }
        let n_q = queries.n_rows();
        let want = n_q
            .checked_mul(k)
            .ok_or_else(|| KernelError::BadShape("n_q * k overflows".into()))?;
        check_out("out_ids", want, out_ids.len())?;
        check_out("out_distances", want, out_distances.len())?;
        let mut heaps: Vec<TopK> = (0..n_q).map(|_| TopK::new(k)).collect();
        self.knn_accumulate(metric, queries, base, base_norms, 0, &mut heaps)?;
        for ((heap, ids), dists) in heaps
            .iter_mut()
            .zip(out_ids.chunks_exact_mut(k))
            .zip(out_distances.chunks_exact_mut(k))
        {
            heap.drain_sorted_into(ids, dists);
        }
        Ok(())
    }
}

/// Offers one query's distances to its heap. Most candidates lose to the current
/// worst, so a float compare (a superset test: NaN and ±0 ties pass) skips them and
/// only survivors pay the exact `total_cmp` check inside `push`.
#[inline(always)]
fn scan(heap: &mut TopK, distances: &[f32], first_id: u64) {
    let mut worst = heap.worst().map_or(f32::INFINITY, |n| n.distance);
    let mut full = heap.is_full();
    for (j, &d) in distances.iter().enumerate() {
        #[allow(clippy::neg_cmp_op_on_partial_ord)] // `!(d > worst)` deliberately lets NaN through
        let may_enter = !full || !(d > worst) || worst.is_nan();
        if may_enter && heap.push(d, first_id + j as u64) {
            full = heap.is_full();
            worst = heap.worst().map_or(f32::INFINITY, |n| n.distance);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_rows_bounds() {
        assert_eq!(block_rows(1, 4), MAX_BLOCK_ROWS);
        assert_eq!(block_rows(768, 4), 64);
        assert_eq!(block_rows(100_000, 4), MIN_BLOCK_ROWS);
        assert!(block_rows(128, 4).is_multiple_of(4));
    }
}
