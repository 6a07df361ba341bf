//! The frozen search layout: what a built graph keeps, immutable and shared by every
//! reader.
//!
//! - Vectors: one [`AlignedMatrix`] (64-byte-aligned base, each row padded to a
//!   cache line), in input row order, so row `i` of the build input is row `i` here,
//!   on transparent huge pages where Linux grants them (`huge.rs`: at 784-d every
//!   row read is a fresh 4 KiB page, so 4 KiB pages cost a TLB miss per distance).
//! - Level 0: one flat `u32` array of fixed stride `1 + 2m` per node, `[count, id…]`,
//!   so a node's list is found by one multiply and read as one contiguous run.
//! - Upper levels: only for the nodes that reach them, flat `[count, id…]` lists of
//!   stride `1 + m`, found through a per-node start offset.
//! - The entry point and top level.
//! - Optionally ([`Traversal`]), an f16 copy of the vectors, scaled by a power of
//!   two into f16's range, that searches walk before re-ranking with the f32 rows.
//!
//! Rows keep their input numbering: a BFS reordering for locality was not adopted
//! (it would need a permutation on every result and on `vector(row)`, and the
//! gather kernel's prefetch already hides most of the scattered row reads).

use std::fmt;

use sagevec_kernels::{AlignedMatrix, KernelTable, Metric, TopK, f16, f16_scale_for};

use super::params::{GraphParams, Traversal};
use super::search::{Dist, F16Dist, Links, SearchScratch, prefetch, walk_and_rank};

/// An immutable HNSW graph over a copy of its rows, ready to search from any number
/// of threads at once (`Send + Sync`; a search takes `&self` and a per-thread
/// [`SearchScratch`]).
pub struct Graph {
    pub(crate) metric: Metric,
    pub(crate) params: GraphParams,
    pub(crate) table: &'static KernelTable,
    pub(crate) vectors: AlignedMatrix<f32>,
    pub(crate) level0: Vec<u32>,
    pub(crate) upper: Vec<u32>,
    /// Start of node `i`'s upper lists in `upper` (`usize::MAX`: level 0 only).
    pub(crate) upper_start: Vec<usize>,
    pub(crate) entry: Option<(u32, usize)>,
    /// The copy searches walk when `params.traversal` asks for one.
    pub(crate) f16: Option<F16Copy>,
}

/// A graph's vectors as f16, each multiplied by `scale` (a power of two that puts
/// the largest element in `[2^14, 2^15)`) before rounding.
pub(crate) struct F16Copy {
    pub(crate) vectors: AlignedMatrix<f16>,
    pub(crate) scale: f32,
}

impl F16Copy {
    /// Encodes `vectors` with `table`'s kernel.
    pub(crate) fn new(table: &KernelTable, vectors: &AlignedMatrix<f32>) -> F16Copy {
        let max_abs = vectors
            .rows()
            .iter()
            .flat_map(|r| r.iter())
            .fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = f16_scale_for(max_abs);
        let mut copy = AlignedMatrix::<f16>::zeroed(vectors.n_rows(), vectors.dim(), true);
        super::huge::advise_huge_pages(&copy);
        for i in 0..vectors.n_rows() {
            table
                .encode(vectors.row(i), scale, copy.row_mut(i))
                .expect("rows of equal length");
        }
        F16Copy {
            vectors: copy,
            scale,
        }
    }
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("metric", &self.metric)
            .field("len", &self.len())
            .field("dim", &self.dim())
            .field("params", &self.params)
            .field("entry", &self.entry)
            .field("isa", &self.table.isa())
            .field("f16_walk", &self.f16.is_some())
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

impl Links for Graph {
    #[inline(always)]
    fn neighbors_into(&self, node: u32, level: usize, out: &mut Vec<u32>) {
        let list = if level == 0 {
            let stride = 1 + 2 * self.params.m;
            &self.level0[node as usize * stride..(node as usize + 1) * stride]
        } else {
            let stride = 1 + self.params.m;
            let start = self.upper_start[node as usize] + (level - 1) * stride;
            &self.upper[start..start + stride]
        };
        let count = (list[0] as usize).min(list.len() - 1);
        out.extend_from_slice(&list[1..=count]);
    }

    #[inline(always)]
    fn prefetch_links(&self, node: u32, level: usize) {
        if level == 0 {
            let stride = 1 + 2 * self.params.m;
            if let Some(list) = self
                .level0
                .get(node as usize * stride..(node as usize + 1) * stride)
            {
                prefetch(list);
            }
        }
    }
}

impl Graph {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.vectors.n_rows()
    }

    /// Whether the graph holds no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements per vector.
    pub fn dim(&self) -> usize {
        self.vectors.dim()
    }

    /// The metric the graph was built and searches with.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The parameters it was built with.
    pub fn params(&self) -> &GraphParams {
        &self.params
    }

    /// The highest level (0 for an empty graph).
    pub fn max_level(&self) -> usize {
        self.entry.map_or(0, |(_, l)| l)
    }

    /// The vector of input row `row`.
    ///
    /// # Panics
    /// If `row >= len()`.
    pub fn vector(&self, row: usize) -> &[f32] {
        self.vectors.row(row)
    }

    /// The level-0 links of `row` (its nearest neighbours as the build chose them).
    ///
    /// # Panics
    /// If `row >= len()`.
    pub fn neighbors(&self, row: usize) -> &[u32] {
        let stride = 1 + 2 * self.params.m;
        let list = &self.level0[row * stride..(row + 1) * stride];
        &list[1..=(list[0] as usize).min(stride - 1)]
    }

    /// Heap bytes held: vectors (with row padding, and the f16 copy if any), links
    /// and offsets.
    pub fn memory_bytes(&self) -> usize {
        size_of_val(self.vectors.as_padded_slice())
            + self
                .f16
                .as_ref()
                .map_or(0, |c| size_of_val(c.vectors.as_padded_slice()))
            + (self.level0.len() + self.upper.len()) * size_of::<u32>()
            + self.upper_start.len() * size_of::<usize>()
    }

    /// Whether searches walk an f16 copy (see [`Traversal`]).
    pub fn walks_f16(&self) -> bool {
        self.f16.is_some()
    }

    /// Makes searches walk what `traversal` asks for, building or dropping the f16
    /// copy (an encode pass over the vectors) as needed. Links are untouched.
    pub fn set_traversal(&mut self, traversal: Traversal) {
        self.params.traversal = traversal;
        if !traversal.uses_f16(self.dim()) {
            self.f16 = None;
        } else if self.f16.is_none() {
            self.f16 = Some(F16Copy::new(self.table, &self.vectors));
        }
    }

    /// The best `out.k()` rows for `query`, with a level-0 beam of width
    /// `max(ef, out.k())`: pushes `(distance, row)` into `out` (which the caller
    /// cleared). Distances are exactly the kernels' distances for [`metric`](Self::metric):
    /// after a walk over the f16 copy, the beam's rows are re-ranked with the f32
    /// vectors.
    ///
    /// `admit(row)` decides whether a row may be returned: refused rows are still
    /// walked through (tombstones, filters) but never pushed, and the beam keeps going
    /// until it holds `ef` admitted rows or runs out of graph. Pushes nothing for an
    /// empty graph, `out.k() == 0`, or a query whose length is not [`dim`](Self::dim).
    /// Allocates nothing once `scratch` has grown to this graph's size.
    pub fn search(
        &self,
        query: &[f32],
        ef: usize,
        admit: impl Fn(u32) -> bool,
        scratch: &mut SearchScratch,
        out: &mut TopK,
    ) {
        let Some((ep, top)) = self.entry else {
            return;
        };
        if query.len() != self.dim() || out.k() == 0 {
            return;
        }
        let ef = ef.max(out.k());
        let exact = Dist::new(self.table, self.metric, self.vectors.rows());
        let copy = self.f16.as_ref().map(|c| {
            (
                c.scale,
                F16Dist {
                    table: self.table,
                    metric: self.metric,
                    rows: c.vectors.rows(),
                },
            )
        });
        walk_and_rank(
            self,
            self.len(),
            &exact,
            copy.as_ref().map(|(s, d)| (*s, d)),
            query,
            (ep, top),
            ef,
            admit,
            scratch,
            out,
        );
    }
}
