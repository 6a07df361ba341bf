//! The two walks every HNSW operation is made of, shared by the builder (over its
//! lock-protected atomic links) and the frozen layout (over plain arrays):
//!
//! - [`greedy`]: on an upper level, move to the closest neighbour until none is
//!   closer (one gather-kernel call per hop).
//! - [`beam`]: on one level, the ef-bounded best-first search of the paper
//!   (Algorithm 2), with hnswlib's filtered-search rule: rows that `admit` refuses
//!   are expanded like any other but never enter the result set, and the walk stops
//!   only when the closest unexpanded candidate is further than the worst result
//!   *and* the result set holds `ef` rows.
//!
//! For each expanded node, the not-yet-visited neighbours are collected into one id
//! list and their distances computed through a [`WalkDistance`]: one
//! [`distances_gather`](sagevec_kernels::KernelTable::distances_gather) call over
//! f32 rows (the one-to-one kernel per row under cosine), or one
//! [`distances_gather`](sagevec_kernels::KernelTable::distances_gather)
//! call over an f16 copy; the kernels prefetch the rows ahead. Heaps hold packed
//! `u64` keys (see `visited.rs`), so they compare one integer.

use std::collections::BinaryHeap;

use sagevec_kernels::{DistanceFn, KernelTable, Metric, Rows, f16};

use super::visited::{VisitedSet, pack, row_of};

/// Where a walk reads a node's links on one level.
pub(crate) trait Links {
    /// Appends the links of `node` on `level` to `out` (which is not cleared).
    fn neighbors_into(&self, node: u32, level: usize, out: &mut Vec<u32>);

    /// Hints that the links of `node` on `level` will be read soon (a cache
    /// prefetch; no effect on results). Does nothing by default.
    #[inline(always)]
    fn prefetch_links(&self, node: u32, level: usize) {
        let _ = (node, level);
    }
}

/// Prefetches (T0) the cache lines of `data`: a hint that never faults and has no
/// effect on results.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = data.as_ptr().cast::<i8>();
        let bytes = size_of_val(data);
        let mut off = 0;
        while off < bytes {
            // SAFETY: a prefetch never faults and reads nothing architecturally; the
            // address is inside `data` anyway. SSE is part of the x86-64 baseline.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(off)) };
            off += 64;
        }
        if bytes > 0 {
            // The last line, when `data` straddles one more line than bytes / 64.
            // SAFETY: as above.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(bytes - 1)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// What a walk asks of a graph's distances: the query against one row, or against
/// one hop's neighbour list. Within one walk both come from one kernel, so every
/// distance it compares is computed the same way.
pub(crate) trait WalkDistance {
    /// `query` to row `node`.
    fn dist_to(&self, query: &[f32], node: u32) -> f32;
    /// `out[j]` = `query` to row `ids[j]` (`out` at least `ids.len()` long).
    fn gather(&self, query: &[f32], ids: &[u32], out: &mut [f32]);
}

/// The distance kernels of one graph: the resolved one-to-one function and the
/// gather kernel over the graph's rows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dist<'a> {
    pub(crate) table: &'static KernelTable,
    pub(crate) metric: Metric,
    pub(crate) pair: DistanceFn<f32>,
    pub(crate) rows: Rows<'a, f32>,
}

impl<'a> Dist<'a> {
    pub(crate) fn new(table: &'static KernelTable, metric: Metric, rows: Rows<'a, f32>) -> Self {
        Dist {
            table,
            metric,
            pair: table.distance_fn(metric),
            rows,
        }
    }
}

impl WalkDistance for Dist<'_> {
    /// `query` to row `node`.
    #[inline(always)]
    fn dist_to(&self, query: &[f32], node: u32) -> f32 {
        self.pair.call(query, self.rows.row(node as usize))
    }

    /// `out[j]` = `query` to row `ids[j]`.
    ///
    /// One gather-kernel call for L2 and inner product (bit for bit the one-to-one
    /// kernel). Cosine calls the one-to-one kernel per row: the gather kernel's cosine
    /// caches `|q|²` and so can differ from it in the last bits, and every distance a
    /// walk compares must come from one function.
    #[inline(always)]
    fn gather(&self, query: &[f32], ids: &[u32], out: &mut [f32]) {
        if self.metric == Metric::Cosine {
            for (o, &id) in out.iter_mut().zip(ids) {
                *o = self.dist_to(query, id);
            }
            return;
        }
        self.table
            .distances_gather(self.metric, query, self.rows, ids, &mut out[..ids.len()])
            .expect("graph invariant: query.len() == dim and every link < n");
    }
}

/// What the builder needs beyond a walk: its queries are the graph's own rows
/// (the row being inserted; candidates compared with each other).
pub(crate) trait BuildDistance: WalkDistance + Sync {
    /// Row `i` as a query, in this distance's units: borrowed when the rows are
    /// f32, widened into `buf` otherwise.
    fn row_query<'b>(&'b self, i: u32, buf: &'b mut Vec<f32>) -> &'b [f32];
}

impl BuildDistance for Dist<'_> {
    #[inline(always)]
    fn row_query<'b>(&'b self, i: u32, _buf: &'b mut Vec<f32>) -> &'b [f32] {
        self.rows.row(i as usize)
    }
}

impl BuildDistance for F16Dist<'_> {
    #[inline(always)]
    fn row_query<'b>(&'b self, i: u32, buf: &'b mut Vec<f32>) -> &'b [f32] {
        let row = self.rows.row(i as usize);
        buf.resize(row.len(), 0.0);
        self.table
            .decode(row, buf)
            .expect("buffer sized to the row");
        buf
    }
}

/// Distances from an f32 query (already scaled like the rows) to a graph's f16
/// copy: every one from the stored-row gather kernel, the single-row case too.
#[derive(Clone, Copy, Debug)]
pub(crate) struct F16Dist<'a> {
    pub(crate) table: &'static KernelTable,
    pub(crate) metric: Metric,
    pub(crate) rows: Rows<'a, f16>,
}

impl WalkDistance for F16Dist<'_> {
    #[inline(always)]
    fn dist_to(&self, query: &[f32], node: u32) -> f32 {
        let mut out = [0.0f32];
        self.gather(query, &[node], &mut out);
        out[0]
    }

    #[inline(always)]
    fn gather(&self, query: &[f32], ids: &[u32], out: &mut [f32]) {
        self.table
            .distances_gather(self.metric, query, self.rows, ids, &mut out[..ids.len()])
            .expect("graph invariant: query.len() == dim and every link < n");
    }
}

/// Per-worker reusable search state: the visited set (epoch stamps), the candidate
/// and result heaps, and the neighbour id / distance buffers of one hop.
///
/// `new()` allocates nothing; the first search on a graph grows it to that graph's
/// size (one `u16` per row plus heaps of about `ef` entries), and later searches on
/// graphs no larger allocate nothing. Keep one per thread (it is `Send`, not shared).
#[derive(Debug, Default)]
pub struct SearchScratch {
    pub(crate) visited: VisitedSet,
    /// Candidates to expand, as `!packed` so the max-heap pops the closest.
    pub(crate) candidates: BinaryHeap<u64>,
    /// The best `ef` admitted rows as packed keys; the top is the worst.
    pub(crate) results: BinaryHeap<u64>,
    pub(crate) ids: Vec<u32>,
    pub(crate) dists: Vec<f32>,
    /// The query scaled for an f16 walk.
    pub(crate) scaled_query: Vec<f32>,
    /// Work counters since the last [`take_stats`](Self::take_stats).
    pub(crate) stats: SearchStats,
}

/// What searches cost, counted per hop (two additions per expanded node, nothing
/// per distance): compare engines at equal recall by distances per query, and the
/// time a query takes by what those distances cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Distances computed (upper-level descent and level-0 beam).
    pub distances: u64,
    /// Nodes expanded (whose links were read).
    pub hops: u64,
    /// Rows re-ranked with their f32 vectors after an f16 walk (not in `distances`).
    pub reranked: u64,
}

impl SearchScratch {
    /// Empty scratch; it grows on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Heap bytes this scratch holds now.
    pub fn memory_bytes(&self) -> usize {
        self.visited.capacity_bytes()
            + (self.candidates.capacity() + self.results.capacity()) * size_of::<u64>()
            + self.ids.capacity() * size_of::<u32>()
            + (self.dists.capacity() + self.scaled_query.capacity()) * size_of::<f32>()
    }

    /// The work counted since the last call (or since `new()`), resetting the counters.
    /// The builder's searches count too when a scratch is reused for them.
    pub fn take_stats(&mut self) -> SearchStats {
        std::mem::take(&mut self.stats)
    }

    /// Loads the links of `node` on `level` into `ids`, sized `dists` to match.
    #[inline(always)]
    fn load_links<L: Links>(&mut self, links: &L, node: u32, level: usize) {
        self.ids.clear();
        links.neighbors_into(node, level, &mut self.ids);
        if self.dists.len() < self.ids.len() {
            self.dists.resize(self.ids.len(), 0.0);
        }
    }
}

/// Greedy descent on `level` from `(node, dist)`; returns the local minimum reached.
pub(crate) fn greedy<L: Links, D: WalkDistance>(
    links: &L,
    dist: &D,
    query: &[f32],
    level: usize,
    mut best: u64,
    scratch: &mut SearchScratch,
) -> u64 {
    loop {
        let from = row_of(best);
        scratch.load_links(links, from, level);
        dist.gather(query, &scratch.ids, &mut scratch.dists);
        scratch.stats.hops += 1;
        scratch.stats.distances += scratch.ids.len() as u64;
        for (&id, &d) in scratch.ids.iter().zip(&scratch.dists) {
            let key = pack(d, id);
            if key < best {
                best = key;
            }
        }
        if row_of(best) == from {
            return best;
        }
    }
}

/// The ef-bounded beam on `level` from the packed `entry`, with `n` nodes in the
/// graph. Leaves the best `ef` admitted rows in `scratch.results` (a max-heap).
#[allow(clippy::too_many_arguments)]
pub(crate) fn beam<L: Links, D: WalkDistance>(
    links: &L,
    dist: &D,
    n: usize,
    query: &[f32],
    level: usize,
    entry: u64,
    ef: usize,
    admit: impl Fn(u32) -> bool,
    scratch: &mut SearchScratch,
) {
    let ef = ef.max(1);
    scratch.visited.reset(n);
    scratch.candidates.clear();
    scratch.results.clear();
    scratch.visited.insert(row_of(entry));
    scratch.candidates.push(!entry);
    if admit(row_of(entry)) {
        scratch.results.push(entry);
    }
    // The worst result held (u64::MAX while none), the bar a newcomer must pass.
    let mut bound = scratch.results.peek().copied().unwrap_or(u64::MAX);
    while let Some(top) = scratch.candidates.pop() {
        let cand = !top;
        if cand > bound && scratch.results.len() >= ef {
            break;
        }
        // The next hop most likely expands the next-closest candidate: fetch its
        // links while this hop computes distances.
        if let Some(&next) = scratch.candidates.peek() {
            links.prefetch_links(row_of(!next), level);
        }
        scratch.ids.clear();
        links.neighbors_into(row_of(cand), level, &mut scratch.ids);
        // Keep only the unvisited ones, marking them.
        let SearchScratch {
            visited,
            ids,
            dists,
            stats,
            ..
        } = scratch;
        ids.retain(|&id| visited.insert(id));
        stats.hops += 1;
        stats.distances += ids.len() as u64;
        if ids.is_empty() {
            continue;
        }
        if dists.len() < ids.len() {
            dists.resize(ids.len(), 0.0);
        }
        dist.gather(query, ids, dists);
        for (&id, &d) in scratch.ids.iter().zip(&scratch.dists) {
            let key = pack(d, id);
            if scratch.results.len() < ef || key < bound {
                scratch.candidates.push(!key);
                if admit(id) {
                    scratch.results.push(key);
                    if scratch.results.len() > ef {
                        scratch.results.pop();
                    }
                    bound = scratch.results.peek().copied().unwrap_or(u64::MAX);
                }
            }
        }
    }
}

/// Greedy descent from the entry point `(ep, top)` over the upper levels, then the
/// level-0 beam of width `ef`, with `dist`, over a graph of `n` nodes; leaves the
/// beam in `scratch.results`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn walk<L: Links, D: WalkDistance>(
    links: &L,
    n: usize,
    dist: &D,
    query: &[f32],
    (ep, top): (u32, usize),
    ef: usize,
    admit: impl Fn(u32) -> bool,
    scratch: &mut SearchScratch,
) {
    let mut cur = pack(dist.dist_to(query, ep), ep);
    scratch.stats.distances += 1;
    for level in (1..=top).rev() {
        cur = greedy(links, dist, query, level, cur, scratch);
    }
    beam(links, dist, n, query, 0, cur, ef, admit, scratch);
}

/// Pushes the beam of a walk over a copy into `out` with each row's exact distance
/// from `exact`: one gather call, whose distances are the one-to-one kernel's bit
/// for bit (what an f32 walk and exact search report).
pub(crate) fn rerank<D: WalkDistance>(
    exact: &D,
    query: &[f32],
    scratch: &mut SearchScratch,
    out: &mut sagevec_kernels::TopK,
) {
    scratch.ids.clear();
    scratch
        .ids
        .extend(scratch.results.iter().map(|&key| row_of(key)));
    if scratch.dists.len() < scratch.ids.len() {
        scratch.dists.resize(scratch.ids.len(), 0.0);
    }
    exact.gather(query, &scratch.ids, &mut scratch.dists);
    scratch.stats.reranked += scratch.ids.len() as u64;
    for (&row, &d) in scratch.ids.iter().zip(&scratch.dists) {
        out.push(d, u64::from(row));
    }
}

/// Largest `|element|` of a scaled query an f16 walk takes (2^24, far past any row's
/// 2^15): beyond it squared terms could overflow f32 and the walk would compare
/// infinities, so such a query walks the f32 rows instead.
pub(crate) const MAX_SCALED_QUERY: f32 = 16_777_216.0;

/// `query · scale` (the f16 copy's units) into `out`; false when an element lands
/// beyond [`MAX_SCALED_QUERY`] (the query must walk the f32 rows). Branch-free, so
/// both loops vectorise: they run once per query.
pub(crate) fn scale_query(scale: f32, query: &[f32], out: &mut Vec<f32>) -> bool {
    out.clear();
    out.extend(query.iter().map(|&x| x * scale));
    out.iter()
        .fold(true, |ok, x| ok & (x.abs() <= MAX_SCALED_QUERY))
}

/// The search both graph layouts run: walk the copy (`scale` and its distance) with
/// the query scaled into its units and re-rank the beam with `exact`, or, without a
/// copy or for a query past the copy's range ([`scale_query`]), walk `exact`
/// itself; pushes `(distance, row)` of the beam into `out`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn walk_and_rank<L: Links, E: WalkDistance, C: WalkDistance>(
    links: &L,
    n: usize,
    exact: &E,
    copy: Option<(f32, &C)>,
    query: &[f32],
    entry: (u32, usize),
    ef: usize,
    admit: impl Fn(u32) -> bool,
    scratch: &mut SearchScratch,
    out: &mut sagevec_kernels::TopK,
) {
    if let Some((scale, copy)) = copy {
        let mut scaled = std::mem::take(&mut scratch.scaled_query);
        let on_copy = scale_query(scale, query, &mut scaled);
        if on_copy {
            walk(links, n, copy, &scaled, entry, ef, &admit, scratch);
        }
        scratch.scaled_query = scaled;
        if on_copy {
            rerank(exact, query, scratch, out);
            return;
        }
    }
    walk(links, n, exact, query, entry, ef, &admit, scratch);
    for &key in scratch.results.iter() {
        out.push(super::visited::distance_of(key), u64::from(row_of(key)));
    }
}
