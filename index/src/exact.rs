//! Exact k-nearest-neighbour search of a query batch over a plain matrix, on every
//! worker: the job users otherwise give to faiss's `IndexFlat`.
//!
//! Queries are split across NUMA nodes in proportion to their workers; inside a
//! node, chunks of queries go to the node's workers, each running the kernels'
//! fused many-to-many top-k over the whole base (the base block is re-read from
//! L2 by every query group, so no `n_q × n_x` matrix is written). When a node has
//! too few queries to keep its workers busy, it splits the base instead and merges
//! the per-worker top-k lists.

use std::ops::Range;

use sagevec_kernels::{KernelTable, Metric, Rows, TopK, try_kernels};
use sagevec_scheduler::Par;
use sagevec_scheduler::rayon::prelude::*;

use crate::error::IndexError;
use crate::results::{BatchResults, RowsMut, for_each_node_rows};

/// Below this many queries per worker, a node splits the base instead of the
/// queries (a kernel call re-packs its base once, so each worker gets one call).
const MIN_QUERIES_PER_WORKER: usize = 24;

/// Exact `k` nearest rows of `base` for every query, into `out` (ids are row
/// numbers, best first, ties to the smaller row; missing results padded with
/// `u64::MAX` / `+inf`).
///
/// `base_norms`, if given, are the squared norms of the rows (cache them across
/// calls; they are computed here otherwise, except for inner product). With
/// `Par::Seq` everything runs on the calling thread.
#[allow(clippy::too_many_arguments)] // the faiss/BLAS call shape; each argument is distinct
pub fn knn(
    metric: Metric,
    queries: Rows<'_, f32>,
    base: Rows<'_, f32>,
    base_norms: Option<&[f32]>,
    k: usize,
    par: Par<'_>,
    out: &mut BatchResults,
) -> Result<(), IndexError> {
    out.check_shape(queries.n_rows(), k)?;
    if queries.dim() != base.dim() {
        return Err(IndexError::DimensionMismatch {
            expected: base.dim(),
            got: queries.dim(),
        });
    }
    if let Some(norms) = base_norms
        && norms.len() != base.n_rows()
    {
        return Err(sagevec_kernels::KernelError::OutputLength {
            what: "base_norms",
            expected: base.n_rows(),
            got: norms.len(),
        }
        .into());
    }
    let table = try_kernels()?;
    let computed;
    let base_norms = match (base_norms, metric) {
        (Some(n), _) => Some(n),
        (None, Metric::InnerProduct) => None,
        (None, _) => {
            computed = squared_norms_with(table, base, par)?;
            Some(computed.as_slice())
        }
    };
    let job = Job {
        table,
        metric,
        queries,
        base,
        base_norms,
        k,
    };

    for_each_node_rows(par, out, |_node, range, rows| {
        job.run_node(range, rows, !par.is_seq())
    })
}

/// Squared norms of every row of `base`, split over the workers: the
/// `base_norms` of [`knn`], for callers that search one base in several calls.
pub fn squared_norms(base: Rows<'_, f32>, par: Par<'_>) -> Result<Vec<f32>, IndexError> {
    squared_norms_with(try_kernels()?, base, par)
}

fn squared_norms_with(
    table: &KernelTable,
    base: Rows<'_, f32>,
    par: Par<'_>,
) -> Result<Vec<f32>, IndexError> {
    let mut norms = vec![0.0f32; base.n_rows()];
    if par.is_seq() {
        table.squared_norms(base, &mut norms)?;
        return Ok(norms);
    }
    const CHUNK: usize = 4096;
    par.install(0, || {
        norms
            .par_chunks_mut(CHUNK)
            .enumerate()
            .try_for_each(|(c, out)| {
                let start = c * CHUNK;
                table.squared_norms(base.slice_rows(start, start + out.len()), out)
            })
    })?;
    Ok(norms)
}

/// The checked arguments of one `knn` call.
struct Job<'a> {
    table: &'static KernelTable,
    metric: Metric,
    queries: Rows<'a, f32>,
    base: Rows<'a, f32>,
    base_norms: Option<&'a [f32]>,
    k: usize,
}

impl Job<'_> {
    /// Queries `range` into `rows`, inside one node's pool (`parallel`) or on the
    /// calling thread.
    fn run_node(
        &self,
        range: Range<usize>,
        rows: RowsMut<'_>,
        parallel: bool,
    ) -> Result<(), IndexError> {
        let n = range.len();
        debug_assert_eq!(rows.len(), n);
        let workers = if parallel {
            sagevec_scheduler::rayon::current_num_threads()
        } else {
            1
        };
        if !parallel || workers == 1 {
            return self.by_query_chunks(range, rows, 1, false);
        }
        if n >= workers * MIN_QUERIES_PER_WORKER {
            self.by_query_chunks(range, rows, workers, true)
        } else {
            self.by_base_chunks(range, rows, workers)
        }
    }

    /// One contiguous share of the queries per worker, each against the whole base
    /// in one kernel call (which walks the base in L2-sized blocks, serves every
    /// query of the share from each block, and packs each block once).
    fn by_query_chunks(
        &self,
        range: Range<usize>,
        rows: RowsMut<'_>,
        workers: usize,
        parallel: bool,
    ) -> Result<(), IndexError> {
        let chunk = range.len().div_ceil(workers).max(1);
        let mut items = Vec::new();
        let mut rest = rows;
        let mut start = range.start;
        while start < range.end {
            let end = (start + chunk).min(range.end);
            let (mine, tail) = rest.split_at(end - start);
            items.push((start..end, mine));
            rest = tail;
            start = end;
        }
        let run = |(r, mut out): (Range<usize>, RowsMut<'_>)| -> Result<(), IndexError> {
            let mut heaps: Vec<TopK> = r.clone().map(|_| TopK::new(self.k)).collect();
            self.table.knn_accumulate(
                self.metric,
                self.queries.slice_rows(r.start, r.end),
                self.base,
                self.base_norms,
                0,
                &mut heaps,
            )?;
            for (i, heap) in heaps.iter_mut().enumerate() {
                let (ids, dists) = out.row(i);
                heap.drain_sorted_into(ids, dists);
            }
            Ok(())
        };
        if parallel {
            items.into_par_iter().try_for_each(run)
        } else {
            items.into_iter().try_for_each(run)
        }
    }

    /// Few queries: each worker takes a slice of the base for all of them; the
    /// per-worker lists are merged (ties still go to the smaller id: `TopK` orders
    /// by (distance, id) whatever the arrival order).
    fn by_base_chunks(
        &self,
        range: Range<usize>,
        mut rows: RowsMut<'_>,
        workers: usize,
    ) -> Result<(), IndexError> {
        let n_x = self.base.n_rows();
        let chunk = n_x.div_ceil(workers).max(1);
        let queries = self.queries.slice_rows(range.start, range.end);
        let mut partial: Vec<Vec<TopK>> = (0..n_x.div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let (lo, hi) = (c * chunk, ((c + 1) * chunk).min(n_x));
                let mut heaps: Vec<TopK> =
                    (0..queries.n_rows()).map(|_| TopK::new(self.k)).collect();
                self.table.knn_accumulate(
                    self.metric,
                    queries,
                    self.base.slice_rows(lo, hi),
                    self.base_norms.map(|n| &n[lo..hi]),
                    lo as u64,
                    &mut heaps,
                )?;
                Ok(heaps)
            })
            .collect::<Result<_, IndexError>>()?;
        for q in 0..queries.n_rows() {
            let mut merged = TopK::new(self.k);
            for part in &mut partial {
                for n in std::mem::replace(&mut part[q], TopK::new(0)).into_sorted_vec() {
                    merged.push(n.distance, n.id);
                }
            }
            let (ids, dists) = rows.row(q);
            merged.drain_sorted_into(ids, dists);
        }
        Ok(())
    }
}
