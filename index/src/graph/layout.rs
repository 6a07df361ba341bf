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
//!
//! Rows keep their input numbering: a BFS reordering for locality was not adopted
//! (it would need a permutation on every result and on `vector(row)`, and the
//! gather kernel's prefetch already hides most of the scattered row reads).

use std::fmt;

use sagevec_kernels::{AlignedMatrix, KernelTable, Metric, TopK};

use super::params::GraphParams;
use super::search::{Dist, Links, SearchScratch, beam, greedy, prefetch};
use super::visited::{distance_of, pack, row_of};

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

    /// Heap bytes held: vectors (with row padding), links and offsets.
    pub fn memory_bytes(&self) -> usize {
        size_of_val(self.vectors.as_padded_slice())
            + (self.level0.len() + self.upper.len()) * size_of::<u32>()
            + self.upper_start.len() * size_of::<usize>()
    }

    /// The best `out.k()` rows for `query`, with a level-0 beam of width
    /// `max(ef, out.k())`: pushes `(distance, row)` into `out` (which the caller
    /// cleared). Distances are exactly the kernels' distances for [`metric`](Self::metric).
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
        let dist = Dist::new(self.table, self.metric, self.vectors.rows());
        let mut cur = pack(dist.dist_to(query, ep), ep);
        scratch.stats.distances += 1;
        for level in (1..=top).rev() {
            cur = greedy(self, &dist, query, level, cur, scratch);
        }
        let ef = ef.max(out.k());
        beam(self, &dist, self.len(), query, 0, cur, ef, admit, scratch);
        for &key in scratch.results.iter() {
            out.push(distance_of(key), u64::from(row_of(key)));
        }
    }
}
