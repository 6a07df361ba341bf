//! Segments: the units a snapshot is made of.
//!
//! A segment is a run of rows with one [`RowTable`] (ids, metadata, tombstones)
//! and its vectors, in one of three forms:
//! - growing: the append-only segment writes go to, scanned exactly; each
//!   snapshot records how many of its rows it may see;
//! - flat: sealed (full, never written again), scanned exactly until the builder
//!   has built its graph;
//! - graph: sealed, with a frozen HNSW graph that holds the vectors.
//!
//! A flat segment and the graph segment that replaces it share one `RowTable`
//! and one uid, so a removal made while the graph was being built still counts.

use std::sync::Arc;

use sagevec_kernels::{DistanceFn, KernelTable, Metric, TopK};

use crate::arena::{RowTable, VectorArena};
use crate::graph::{Graph, SearchScratch};
use crate::metadata::Filter;

/// The form of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SegmentKind {
    Growing,
    Flat,
    Graph,
}

/// Where a segment's vectors are.
#[derive(Debug)]
pub(crate) enum Vectors {
    Arena(Arc<VectorArena>),
    Graph(Arc<Graph>),
}

/// One segment as one snapshot sees it (cheap to clone: `Arc`s and counts).
#[derive(Debug)]
pub(crate) struct Segment {
    /// Stable identity across forms (flat -> graph); the id map points at it.
    pub(crate) uid: u64,
    pub(crate) growing: bool,
    /// Rows this snapshot may see (all of them once sealed).
    pub(crate) rows: usize,
    pub(crate) table: Arc<RowTable>,
    pub(crate) vectors: Vectors,
    /// NUMA node of the pool whose workers wrote (first-touched) the rows.
    pub(crate) node: usize,
}

/// What one segment search needs besides the query.
pub(crate) struct SegmentQuery<'a> {
    pub(crate) query: &'a [f32],
    /// Snapshot version: rows removed at or before it are skipped.
    pub(crate) version: u64,
    pub(crate) filter: Option<&'a Filter>,
    pub(crate) ef: usize,
    pub(crate) exact: bool,
    pub(crate) table: &'static KernelTable,
    pub(crate) distance: DistanceFn<f32>,
    pub(crate) metric: Metric,
}

/// Reusable per-thread buffers of one segment search.
#[derive(Debug, Default)]
pub(crate) struct SegmentScratch {
    pub(crate) graph: SearchScratch,
    pub(crate) rows: Option<TopK>,
    pub(crate) distances: Vec<f32>,
}

/// Rows a filter sample looks at to estimate how many rows pass.
const FILTER_SAMPLE: usize = 64;

impl Segment {
    pub(crate) fn kind(&self) -> SegmentKind {
        match (&self.vectors, self.growing) {
            (_, true) => SegmentKind::Growing,
            (Vectors::Arena(_), false) => SegmentKind::Flat,
            (Vectors::Graph(_), false) => SegmentKind::Graph,
        }
    }

    /// The stored vector of a visible row.
    pub(crate) fn vector(&self, row: usize) -> &[f32] {
        match &self.vectors {
            Vectors::Arena(a) => a.vector(row),
            Vectors::Graph(g) => g.vector(row),
        }
    }

    /// Whether a visible row is live at `version` and passes `filter`.
    #[inline(always)]
    fn admits(&self, row: usize, version: u64, filter: Option<&Filter>) -> bool {
        self.table.alive_at(row, version)
            && filter.is_none_or(|f| f.admits(self.table.id(row), self.table.metadata(row)))
    }

    /// Pushes this segment's best rows for `q` into `out` as `(distance, id)`.
    /// Returns whether an exact scan stood in for a graph search because of the
    /// filter.
    pub(crate) fn search(
        &self,
        q: &SegmentQuery<'_>,
        scratch: &mut SegmentScratch,
        out: &mut TopK,
    ) -> bool {
        if self.rows == 0 {
            return false;
        }
        let graph = match &self.vectors {
            Vectors::Graph(g) if !q.exact => g,
            _ => {
                self.scan(q, scratch, out);
                return false;
            }
        };
        if let Some(f) = q.filter
            && self.few_pass(f, q.version, q.ef.max(out.k()))
        {
            self.scan(q, scratch, out);
            return true;
        }
        let k = out.k();
        let local = scratch.rows.get_or_insert_with(|| TopK::new(k));
        local.reset(k);
        graph.search(
            q.query,
            q.ef,
            |row| self.admits(row as usize, q.version, q.filter),
            &mut scratch.graph,
            local,
        );
        // A graph search that found fewer than k admitted rows (a filter or many
        // tombstones cut the beam short) may have missed some: scan instead, so a
        // search returns k results whenever k rows pass.
        if local.len() < k {
            self.scan(q, scratch, out);
            return q.filter.is_some();
        }
        for n in local.as_unordered_slice() {
            out.push(n.distance, self.table.id(n.id as usize));
        }
        false
    }

    /// Whether a sample says fewer than `4 * ef` rows of this segment pass `filter`.
    fn few_pass(&self, filter: &Filter, version: u64, ef: usize) -> bool {
        let n = self.rows;
        let sample = n.min(FILTER_SAMPLE);
        let step = n / sample;
        let passed = (0..sample)
            .filter(|i| self.admits(i * step, version, Some(filter)))
            .count();
        passed * n < 4 * ef * sample
    }

    /// Exact scan of every visible row.
    fn scan(&self, q: &SegmentQuery<'_>, scratch: &mut SegmentScratch, out: &mut TopK) {
        match &self.vectors {
            Vectors::Arena(arena) => {
                let chunk = arena.chunk_rows();
                scratch.distances.resize(chunk, 0.0);
                let mut start = 0;
                while start < self.rows {
                    let len = chunk.min(self.rows - start);
                    let dists = &mut scratch.distances[..len];
                    q.table
                        .distances(q.metric, q.query, arena.chunk_view(start, len), dists)
                        .expect("query and rows share the index's dimension");
                    for (i, &d) in dists.iter().enumerate() {
                        let row = start + i;
                        if self.admits(row, q.version, q.filter) {
                            out.push(d, self.table.id(row));
                        }
                    }
                    start += len;
                }
            }
            Vectors::Graph(g) => {
                for row in 0..self.rows {
                    if self.admits(row, q.version, q.filter) {
                        out.push(q.distance.call(q.query, g.vector(row)), self.table.id(row));
                    }
                }
            }
        }
    }

    /// Distance from the query to one visible row, pushed if it is admitted.
    pub(crate) fn push_row(&self, q: &SegmentQuery<'_>, row: usize, out: &mut TopK) {
        if self.admits(row, q.version, None) {
            out.push(
                q.distance.call(q.query, self.vector(row)),
                self.table.id(row),
            );
        }
    }

    /// Rows stored (live or removed).
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }
}
