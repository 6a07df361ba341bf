//! sagevec's own HNSW engine: parallel insertion into a private graph, then a frozen,
//! compact search layout.
//!
//! This module is the engine: its insertion (`insert.rs`, over any shared link
//! store) builds both the frozen [`Graph`] here (a private build, then a compact
//! read-only layout, for callers who want a static graph) and the index's live
//! graph, which writers insert into while readers walk it.
//!
//! - [`GraphParams`]: `m`, `ef_construction`, level multiplier and seed, validated
//!   before anything runs.
//! - [`Graph::build`]: standard HNSW (Malkov & Yashunin 2018) with the neighbour
//!   selection heuristic, as hnswlib builds it, inserting on every worker of a
//!   [`NumaPool`](sagevec_scheduler::NumaPool) (`Par::Pool`) or on the caller's
//!   thread (`Par::Seq`), then freezing (see `build.rs` for the locking scheme).
//! - [`Graph::search`]: greedy descent on the upper levels, an ef-bounded beam on
//!   level 0 with an `admit` filter (refused rows are walked, never returned), every
//!   hop's distances computed by one gather-kernel call.
//! - [`Traversal`]: which copy of the vectors the walk reads. From 96 dimensions
//!   (`Auto`) it is an f16 copy, scaled by a power of two into f16's range, and the
//!   beam's rows are re-ranked with the f32 vectors: half the bytes per hop, and
//!   still the exact f32 distances in every result. Such a graph is built on the
//!   copy as well.
//! - [`SearchScratch`]: per-thread reusable state (epoch-stamped visited set, heaps),
//!   and [`SearchStats`] (distances and hops counted per hop, read with
//!   [`SearchScratch::take_stats`]) to tell graph quality from per-distance cost.
//!
//! Returned distances are the f32 kernels' ([`sagevec_kernels::kernels`]), so a
//! result's distance equals what exact search reports for the same pair.
//!
//! ```
//! use sagevec_index::graph::{Graph, GraphParams, SearchScratch};
//! use sagevec_kernels::{Metric, Rows, TopK};
//! use sagevec_scheduler::Par;
//!
//! let data: Vec<f32> = (0..200).map(|i| ((i * 37) % 101) as f32).collect();
//! let rows = Rows::contiguous(&data, 4)?; // 50 rows of 4
//! let graph = Graph::build(Metric::L2Sq, &rows, &GraphParams::default(), Par::Seq)?;
//! let mut scratch = SearchScratch::new();
//! let mut top = TopK::new(3);
//! graph.search(graph.vector(7), 32, |_| true, &mut scratch, &mut top);
//! let best = top.into_sorted_vec();
//! assert_eq!((best[0].id, best[0].distance), (7, 0.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod build;
pub(crate) mod huge;
pub(crate) mod insert;
pub(crate) mod layout;
mod params;
mod persist;
pub(crate) mod rng;
pub(crate) mod search;
pub(crate) mod visited;

use std::sync::atomic::AtomicBool;

use sagevec_kernels::{AlignedMatrix, Metric, Rows, try_kernels};
use sagevec_scheduler::Par;

use crate::IndexError;

pub use layout::Graph;
pub use params::{
    AUTO_F16_MIN_DIM, GraphParams, MAX_EF_CONSTRUCTION, MAX_LEVEL, MAX_M, MIN_M, Traversal,
};
pub use search::{SearchScratch, SearchStats};

/// Rows of `f32` vectors that [`Graph::build`] reads (the index's growing arena is
/// chunked, not one contiguous slice). The graph copies them; nothing is kept.
pub trait VectorRows: Sync {
    /// Elements per row.
    fn dim(&self) -> usize;
    /// Number of rows.
    fn len(&self) -> usize;
    /// Whether there is no row.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Row `i` (`i < len()`), `dim()` elements long.
    fn row(&self, i: usize) -> &[f32];
}

impl VectorRows for Rows<'_, f32> {
    fn dim(&self) -> usize {
        Rows::dim(self)
    }

    fn len(&self) -> usize {
        self.n_rows()
    }

    fn row(&self, i: usize) -> &[f32] {
        Rows::row(self, i)
    }
}

impl Graph {
    /// Builds a graph over all rows of `rows`: levels drawn from `params.seed`, rows
    /// inserted on `par` (`Par::Seq`: in row order on this thread, reproducible bit
    /// for bit; `Par::Pool`: by every worker of the pool, not reproducible) into a
    /// private graph, then frozen.
    ///
    /// Errors: invalid `params`, rows of dimension 0, a row whose length is not
    /// `rows.dim()`, more than `u32::MAX - 1` rows, or kernels that cannot run
    /// (`SAGEVEC_ISA`). The rows are
    /// not checked for NaN or infinities (the index refuses them on insert); with
    /// them, the graph is valid but its quality is not defined.
    pub fn build(
        metric: Metric,
        rows: &dyn VectorRows,
        params: &GraphParams,
        par: Par<'_>,
    ) -> Result<Graph, IndexError> {
        Graph::build_cancellable(metric, rows, params, par, &AtomicBool::new(false))
    }

    /// [`build`](Self::build) that gives up with [`IndexError::Cancelled`] soon
    /// after `cancel` is raised (each worker finishes the row it is inserting):
    /// how the index's builder stops promptly when the index is dropped.
    pub fn build_cancellable(
        metric: Metric,
        rows: &dyn VectorRows,
        params: &GraphParams,
        par: Par<'_>,
        cancel: &AtomicBool,
    ) -> Result<Graph, IndexError> {
        params.validate()?;
        let table = try_kernels()?;
        let (n, dim) = (rows.len(), rows.dim());
        if dim == 0 && n > 0 {
            return Err(IndexError::InvalidParameter {
                name: "dim",
                reason: "vectors must have at least one element".into(),
            });
        }
        if n >= u32::MAX as usize {
            return Err(IndexError::InvalidParameter {
                name: "rows",
                reason: format!("at most {} rows per graph, got {n}", u32::MAX - 1),
            });
        }
        let mut vectors = AlignedMatrix::<f32>::zeroed(n, dim, true);
        huge::advise_huge_pages(&vectors);
        for i in 0..n {
            let row = rows.row(i);
            if row.len() != dim {
                return Err(IndexError::DimensionMismatch {
                    expected: dim,
                    got: row.len(),
                });
            }
            vectors.row_mut(i).copy_from_slice(row);
        }
        let levels = rng::draw_levels(n, params.effective_level_multiplier(), params.seed);
        // A graph that walks an f16 copy is built on it too: half the bytes per
        // distance while inserting, and links chosen with the distances its
        // searches will compare.
        let f16 = params
            .traversal
            .uses_f16(dim)
            .then(|| layout::F16Copy::new(table, &vectors));
        let built = match &f16 {
            Some(copy) => {
                let dist = search::F16Dist {
                    table,
                    metric,
                    rows: copy.vectors.rows(),
                };
                build::Builder::new(dist, &levels, params).run(par, cancel)
            }
            None => {
                let dist = search::Dist::new(table, metric, vectors.rows());
                build::Builder::new(dist, &levels, params).run(par, cancel)
            }
        }
        .ok_or(IndexError::Cancelled)?;
        Ok(Graph {
            metric,
            params: params.clone(),
            table,
            vectors,
            level0: built.level0,
            upper: built.upper,
            upper_start: built.upper_start,
            entry: built.entry,
            f16,
        })
    }
}
