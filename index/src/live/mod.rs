//! The live graph: one mutable HNSW graph that writers insert into while readers
//! walk it, with no lock and no wait on the readers' side (the Vespa / jvector
//! pattern; see `docs::concurrency` for the guarantees and
//! `../shared/research/fresh-writes.md` for the background).
//!
//! - **Slots**: every stored row (vector) is a slot, numbered in the order writers
//!   reserve them, never reused. Slots live in never-moving [`Chunk`]s of
//!   `1 << shift` slots: the f32 vector, its walk copy (f16, if the graph walks
//!   one), level, level-0 list, upper lists, lock, id, tombstone and metadata.
//! - **Directory**: the table of chunks (and of their vector and walk-copy base
//!   pointers, which the chunked gather kernels take), replaced whole through
//!   `ArcSwap` when a chunk is added. Retired directories are kept on a list and
//!   dropped by a writer once no reader holds them, so a reader never frees one.
//! - **Writing a slot** ([`LiveGraph::reserve`], [`LiveGraph::fill`],
//!   [`LiveGraph::link`]): the writer that reserved it writes its rows, then inserts
//!   it with the shared HNSW insertion (`graph::insert`), whose publish order makes
//!   a node reachable only once its own lists are complete. Visibility (which slots
//!   a search may *return*) is not decided here: the index's snapshot carries a slot
//!   bound and tombstones, and a walk passes them in as `admit`.
//! - **Walking**: readers load the entry word, then the directory, and walk; a link
//!   to a slot beyond that directory (a newer chunk) is not followed.

#![allow(unsafe_code)]

pub(crate) mod chunk;
#[cfg(all(test, sagevec_loom))]
mod loom_model;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::{ArcSwap, Guard};
use sagevec_kernels::{
    ChunkedGather, ChunkedRows, KernelTable, Metric, Rows, TopK, f16, f16_scale_for,
};
use sagevec_scheduler::{Par, rayon};

use self::chunk::{ALIVE, Chunk, NodeBlock, RowBlock};
use crate::config::MAX_ID;
use crate::error::IndexError;
use crate::graph::GraphParams;
use crate::graph::insert::{self, InsertScratch, LinkStore, NO_ENTRY, unpack_entry};
use crate::graph::rng::level_of;
use crate::graph::search::{BuildDistance, SearchScratch, WalkDistance, walk_and_rank};
use crate::metadata::Metadata;
use crate::sync::{AtomicU32, AtomicU64, Mutex, MutexGuard};

/// Most slots one graph holds (ids of nodes are `u32`, and the entry word packs a
/// node into 56 bits).
pub(crate) const MAX_SLOTS: usize = u32::MAX as usize - 1;

/// The f16 copy's scale leaves this much headroom above the largest element of the
/// rows it was fitted on: rows up to 32x larger still encode without clipping.
const F16_HEADROOM: f32 = 32.0;

/// Floats per cache line.
const LINE_F32: usize = 16;
/// Halves per cache line.
const LINE_F16: usize = 32;

/// Slots per row chunk for vectors of `stride` floats: about 8 MiB of vectors (so
/// the walk copy too spans several 2 MiB huge pages: at 784-d nearly every row
/// read is a fresh 4 KiB page otherwise), a power of two in `16..=65536`; as a
/// shift.
fn row_shift_for(stride: usize) -> u32 {
    let target = (8usize << 20) / (stride * 4);
    target
        .clamp(16, 1 << 16)
        .next_power_of_two()
        .trailing_zeros()
}

/// Slots per node block (links, ids, tombstones: initialised, so resident at
/// once, unlike the lazily backed row blocks): 4096, as a shift.
const NODE_SHIFT: u32 = 12;

/// The table of chunks one reader or writer works from: row chunks (vectors and
/// walk copy) of `1 << row_shift` slots, node blocks of `1 << NODE_SHIFT` slots.
pub(crate) struct Directory {
    chunks: Vec<Arc<Chunk>>,
    nodes: Vec<Arc<NodeBlock>>,
    vectors: Vec<*const f32>,
    walk: Vec<*const f16>,
    /// Slots both tables cover.
    slots: usize,
}

// SAFETY: the raw pointers are the bases of row blocks owned by the `Chunk`s this
// directory holds (`Arc`), so they stay valid for the directory's life; they are
// only read through (see `chunk`'s write-once rule), never used to free.
unsafe impl Send for Directory {}
// SAFETY: as above; the directory itself is immutable once published.
unsafe impl Sync for Directory {}

impl Directory {
    fn empty() -> Self {
        Directory {
            chunks: Vec::new(),
            nodes: Vec::new(),
            vectors: Vec::new(),
            walk: Vec::new(),
            slots: 0,
        }
    }
}

/// What a reserved, not yet filled, run of slots is: `start..end`. Only the writer
/// holding it may fill those slots ([`LiveGraph::fill`] consumes it).
#[derive(Debug)]
pub(crate) struct Reserved {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Reserved {
    /// The first `n` slots, and the rest.
    pub(crate) fn split(self, n: usize) -> (Reserved, Reserved) {
        let mid = self.start + n.min(self.end - self.start);
        (
            Reserved {
                start: self.start,
                end: mid,
            },
            Reserved {
                start: mid,
                end: self.end,
            },
        )
    }
}

/// Slots whose rows are written and which may now be linked.
#[derive(Debug)]
pub(crate) struct Filled {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Filled {
    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// Bytes the graph holds, by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct GraphBytes {
    pub(crate) vectors: usize,
    pub(crate) walk: usize,
    pub(crate) links: usize,
    pub(crate) rows: usize,
}

/// One mutable HNSW graph (see the module docs).
pub(crate) struct LiveGraph {
    /// Which graph of the index this is (a compaction makes a new one): names its
    /// row blocks on disk.
    pub(crate) uid: u64,
    pub(crate) dim: usize,
    /// The metric the graph compares with (inner product for a cosine index).
    pub(crate) metric: Metric,
    pub(crate) params: GraphParams,
    pub(crate) table: &'static KernelTable,
    /// f32 elements per vector row, f16 elements per walk-copy row.
    stride: usize,
    walk_stride: usize,
    shift: u32,
    /// Whether searches walk an f16 copy, and its scale once fitted.
    walks_f16: bool,
    scale: OnceLock<f32>,
    dir: ArcSwap<Directory>,
    /// Directories replaced while readers may hold them: dropped by writers once no
    /// one else does.
    retired: Mutex<Vec<Arc<Directory>>>,
    /// Slots reserved so far.
    reserved: AtomicUsize,
    entry: AtomicU64,
    raise: Mutex<()>,
    /// Rows whose walk copy had to be clipped to f16's range.
    clipped: AtomicU64,
    ml: f64,
}

impl std::fmt::Debug for LiveGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveGraph")
            .field("dim", &self.dim)
            .field("metric", &self.metric)
            .field("slots", &self.slots())
            .field("walks_f16", &self.walks_f16)
            .finish_non_exhaustive()
    }
}

impl LiveGraph {
    /// An empty graph for `dim`-element vectors compared by `metric`.
    /// `unit_rows`: rows are unit vectors (cosine), so the f16 scale is fixed now.
    pub(crate) fn new(
        uid: u64,
        dim: usize,
        metric: Metric,
        params: &GraphParams,
        table: &'static KernelTable,
        unit_rows: bool,
    ) -> Self {
        let stride = dim.div_ceil(LINE_F32) * LINE_F32;
        let walks_f16 = params.traversal.uses_f16(dim);
        let graph = LiveGraph {
            uid,
            dim,
            metric,
            params: params.clone(),
            table,
            stride,
            walk_stride: dim.div_ceil(LINE_F16) * LINE_F16,
            shift: row_shift_for(stride),
            walks_f16,
            scale: OnceLock::new(),
            dir: ArcSwap::from_pointee(Directory::empty()),
            retired: Mutex::new(Vec::new()),
            reserved: AtomicUsize::new(0),
            entry: AtomicU64::new(NO_ENTRY),
            raise: Mutex::new(()),
            clipped: AtomicU64::new(0),
            ml: params.effective_level_multiplier(),
        };
        if walks_f16 && unit_rows {
            let _ = graph.scale.set(f16_scale_for(F16_HEADROOM));
        }
        graph
    }

    /// Slots reserved so far (filled or not).
    pub(crate) fn slots(&self) -> usize {
        self.reserved.load(Ordering::Acquire)
    }

    /// Whether searches walk an f16 copy.
    pub(crate) fn walks_f16(&self) -> bool {
        self.walks_f16
    }

    /// The f16 copy's scale, once fitted.
    pub(crate) fn f16_scale(&self) -> Option<f32> {
        self.scale.get().copied()
    }

    /// Sets the f16 scale (a graph read from files, whose copy used this scale).
    pub(crate) fn set_f16_scale(&self, scale: f32) {
        let _ = self.scale.set(scale);
    }

    /// Rows whose walk copy was clipped to f16's range.
    pub(crate) fn clipped(&self) -> u64 {
        self.clipped.load(Ordering::Relaxed)
    }

    pub(crate) fn add_clipped(&self, n: u64) {
        self.clipped.fetch_add(n, Ordering::Relaxed);
    }

    /// The entry point `(node, level)`, if any node is linked.
    pub(crate) fn entry(&self) -> Option<(u32, usize)> {
        match self.entry.load(Ordering::Acquire) {
            NO_ENTRY => None,
            e => Some(unpack_entry(e)),
        }
    }

    /// Sets the entry point (a graph read from files, before anyone walks it).
    pub(crate) fn set_entry(&self, entry: Option<(u32, usize)>) {
        let word = entry.map_or(NO_ENTRY, |(n, l)| insert::pack_entry(n, l));
        self.entry.store(word, Ordering::Release);
    }

    fn rows_per_chunk(&self) -> usize {
        1 << self.shift
    }

    /// Reserves `n` slots after every slot reserved before. Callers serialise
    /// reservations (the index's writer lock), so slot order is reservation order.
    /// `rows` (the rows about to fill them, row-major) fit the f16 scale if this is
    /// the first reservation of a graph that walks one.
    pub(crate) fn reserve(&self, n: usize, rows: &[f32]) -> Result<Reserved, IndexError> {
        self.check_room(n)?;
        let start = self.slots();
        let end = start + n;
        if self.walks_f16 && self.scale.get().is_none() && n > 0 {
            let max_abs = rows.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let _ = self.scale.set(f16_scale_for(max_abs * F16_HEADROOM));
        }
        self.ensure_chunks(end);
        self.reserved.store(end, Ordering::Release);
        Ok(Reserved { start, end })
    }

    /// Whether `n` more slots fit (removed rows keep their slots until a compaction).
    pub(crate) fn check_room(&self, n: usize) -> Result<(), IndexError> {
        let start = self.slots();
        match start.checked_add(n) {
            Some(end) if end <= MAX_SLOTS => Ok(()),
            _ => Err(IndexError::InvalidParameter {
                name: "vectors",
                reason: format!(
                    "the index holds {start} slots (live or removed); {n} more would pass \
                     the limit of {MAX_SLOTS}: compact it or split it"
                ),
            }),
        }
    }

    /// Makes the directory cover `slots` slots (adding chunks; the old directory
    /// is retired, and retired ones no reader holds are dropped here).
    fn ensure_chunks(&self, slots: usize) {
        let per = self.rows_per_chunk();
        let cur = self.dir.load();
        if cur.slots >= slots {
            return;
        }
        let mut next = Directory {
            chunks: cur.chunks.clone(),
            nodes: cur.nodes.clone(),
            vectors: cur.vectors.clone(),
            walk: cur.walk.clone(),
            slots: 0,
        };
        drop(cur);
        while next.chunks.len() < slots.div_ceil(per) {
            let chunk = Arc::new(Chunk {
                vectors: RowBlock::new(per, self.stride),
                walk: self.walks_f16.then(|| RowBlock::new(per, self.walk_stride)),
            });
            next.vectors.push(chunk.vectors.base());
            if let Some(w) = &chunk.walk {
                next.walk.push(w.base());
            }
            next.chunks.push(chunk);
        }
        while next.nodes.len() < slots.div_ceil(1 << NODE_SHIFT) {
            next.nodes
                .push(Arc::new(NodeBlock::new(1 << NODE_SHIFT, self.params.m)));
        }
        next.slots = (next.chunks.len() << self.shift).min(next.nodes.len() << NODE_SHIFT);
        let old = self.dir.swap(Arc::new(next));
        let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
        retired.push(old);
        // Only the list holds these now: dropping them here frees nothing a reader uses.
        retired.retain(|d| Arc::strong_count(d) > 1);
    }

    /// Writes the rows of reserved slots: `rows` (row-major, `dim` each, as stored),
    /// `ids`, and per-row metadata. Clipped walk-copy rows are counted.
    pub(crate) fn fill(
        &self,
        reserved: Reserved,
        rows: &[f32],
        ids: &[u64],
        metadata: Option<&mut dyn Iterator<Item = Option<Metadata>>>,
    ) -> Filled {
        let n = reserved.end - reserved.start;
        assert!(rows.len() == n * self.dim && ids.len() == n);
        let dir = self.dir.load();
        let mut walk_row = vec![f16::ZERO; self.dim];
        let mut clipped = 0;
        let mut metadata = metadata;
        for (i, (row, &id)) in rows.chunks_exact(self.dim.max(1)).zip(ids).enumerate() {
            let slot = reserved.start + i;
            let (chunk, r) = self.row_at(&dir, slot);
            // SAFETY: `slot` is in `reserved`, which only this call holds (consumed),
            // and nothing links to it or counts it yet, so no one reads it; each slot
            // of the run is written once, here.
            unsafe { chunk.vectors.write(r, row) };
            if let (Some(w), Some(&scale)) = (&chunk.walk, self.scale.get()) {
                if encode_walk_row(self.table, row, scale, &mut walk_row) {
                    clipped += 1;
                }
                // SAFETY: as above.
                unsafe { w.write(r, &walk_row) };
            }
            let (nodes, r) = self.node_at(&dir, slot);
            let level = level_of(slot, self.ml, self.params.seed);
            nodes.levels[r].store(level, Ordering::Relaxed);
            if level > 0 {
                let len = level as usize * (1 + self.params.m);
                let _ = nodes.upper[r].set((0..len).map(|_| AtomicU32::new(0)).collect());
            }
            nodes.ids[r].store(id, Ordering::Relaxed);
            if let Some(m) = metadata.as_mut().and_then(|it| it.next()).flatten() {
                let _ = nodes.metadata[r].set(Box::new(m));
            }
        }
        self.add_clipped(clipped);
        Filled {
            start: reserved.start,
            end: reserved.end,
        }
    }

    /// Sets the f16 scale from the largest element of the rows to come (a
    /// compaction's rebuild), before any row is reserved.
    pub(crate) fn fit_f16_scale(&self, max_abs: f32) {
        if self.walks_f16 {
            let _ = self.scale.set(f16_scale_for(max_abs * F16_HEADROOM));
        }
    }

    /// Marks every reserved slot not in `keep` dead from the start (a compaction's
    /// copies of rows removed while it ran), before the graph is published.
    pub(crate) fn kill_except(&self, keep: &std::collections::HashSet<u32>) {
        let dir = self.dir.load();
        for slot in 0..self.slots() {
            if !keep.contains(&(slot as u32)) {
                let (nodes, r) = self.node_at(&dir, slot);
                nodes.deleted_at[r].store(0, Ordering::Release);
            }
        }
    }

    /// The level of a filled slot.
    pub(crate) fn level(&self, slot: usize) -> usize {
        let dir = self.dir.load();
        let (nodes, r) = self.node_at(&dir, slot);
        nodes.levels[r].load(Ordering::Relaxed) as usize
    }

    /// Stores the lists of filled slot `slot` read from a checkpoint (before anyone
    /// walks the graph): `lists[l]` on level `l`, whose number must match the
    /// level the slot drew. Level-0 in-link counts follow.
    pub(crate) fn restore_links(
        &self,
        slot: usize,
        level: u8,
        lists: &[Vec<u32>],
    ) -> Result<(), String> {
        let dir = self.dir.load();
        let store = Store { g: self, dir: &dir };
        let drawn = store.level(slot as u32);
        if drawn != level as usize {
            return Err(format!(
                "slot {slot}: level {level}, but the graph's seed draws {drawn}"
            ));
        }
        for (l, list) in lists.iter().enumerate().take(drawn + 1) {
            let slots = store.slots(slot as u32, l);
            if list.len() > slots.len() - 1 {
                return Err(format!("slot {slot} level {l}: {} links", list.len()));
            }
            for (cell, &t) in slots[1..].iter().zip(list) {
                cell.store(t, Ordering::Relaxed);
                if l == 0 {
                    store.in_links(t).fetch_add(1, Ordering::Relaxed);
                }
            }
            slots[0].store(list.len() as u32, Ordering::Release);
        }
        Ok(())
    }

    /// Marks a filled slot dead from the start (removed before a checkpoint).
    pub(crate) fn mark_dead(&self, slot: usize) {
        let dir = self.dir.load();
        let (nodes, r) = self.node_at(&dir, slot);
        nodes.deleted_at[r].store(0, Ordering::Release);
    }

    /// Marks filled slots dead from the start (a write that will never be
    /// published): searches walk through them but never return them.
    pub(crate) fn abandon(&self, filled: &Filled) {
        let dir = self.dir.load();
        for slot in filled.start..filled.end {
            let (nodes, r) = self.node_at(&dir, slot);
            nodes.deleted_at[r].store(0, Ordering::Release);
        }
    }

    /// Inserts filled slots into the graph: on this thread, or for a large run on
    /// every worker of `par` (the publish-order hook's late link).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn link(&self, filled: &Filled, par: Par<'_>) {
        let done = self.link_cancellable(filled, par, &std::sync::atomic::AtomicBool::new(false));
        debug_assert!(done);
    }

    /// [`link`](Self::link) that gives up soon after `cancel` is raised (each
    /// worker finishes the node it is inserting); returns whether every slot was
    /// linked. A graph whose link gave up must not be published.
    pub(crate) fn link_cancellable(
        &self,
        filled: &Filled,
        par: Par<'_>,
        cancel: &std::sync::atomic::AtomicBool,
    ) -> bool {
        let dir = self.dir.load();
        match (self.walks_f16, self.scale.get()) {
            (true, Some(_)) => self.link_with(&dir, &self.f16_distance(&dir), filled, par, cancel),
            _ => self.link_with(&dir, &self.f32_distance(&dir), filled, par, cancel),
        }
    }

    /// Links again every live node below `bound` that a walk of level 0 from the
    /// entry point does not reach (at `version`); returns how many it linked.
    pub(crate) fn repair_unreachable(&self, bound: usize, version: u64) -> usize {
        let dir = self.dir.load();
        let store = Store { g: self, dir: &dir };
        let efc = self.params.ef_construction;
        let mut scratch = InsertScratch::default();
        let mut fixed = 0;
        // Each pass: walk level 0 from the entry point; attach each node it did not
        // reach to reached nodes, then mark what that node reaches as reached, so one
        // attachment serves every node it leads to. A pass that attached some node
        // can in rare cases have cut another off (a full list's entry replaced), so
        // check again, a few times at most.
        for _ in 0..REPAIR_PASSES {
            let view = self.view(bound);
            let mut reached = view.reached_from_entry();
            let lost: Vec<u32> = (0..bound)
                .filter(|&s| !reached[s] && view.alive_at(s, version))
                .map(|s| s as u32)
                .collect();
            if lost.is_empty() {
                break;
            }
            for &q in &lost {
                if reached[q as usize] {
                    continue;
                }
                let linked = match (self.walks_f16, self.scale.get()) {
                    (true, Some(_)) => {
                        let d = self.f16_distance(&dir);
                        insert::attach(&store, &d, q, efc, |n| reached[n as usize], &mut scratch)
                    }
                    _ => {
                        let d = self.f32_distance(&dir);
                        insert::attach(&store, &d, q, efc, |n| reached[n as usize], &mut scratch)
                    }
                };
                if linked {
                    fixed += 1;
                    view.mark_reached(q, &mut reached);
                }
            }
        }
        fixed
    }

    fn link_with<D: BuildDistance>(
        &self,
        dir: &Directory,
        dist: &D,
        filled: &Filled,
        par: Par<'_>,
        cancel: &std::sync::atomic::AtomicBool,
    ) -> bool {
        let store = Store { g: self, dir };
        let efc = self.params.ef_construction;
        let pool = match par {
            Par::Pool(pool) if filled.len() >= PARALLEL_LINK_MIN => pool,
            _ => {
                let mut scratch = InsertScratch::default();
                for slot in filled.start..filled.end {
                    if cancel.load(Ordering::Relaxed) {
                        return false;
                    }
                    insert::insert(&store, dist, slot as u32, efc, &mut scratch);
                }
                return true;
            }
        };
        // The first node of an empty graph alone (it becomes the entry point), then
        // the rest from a shared counter in slot order.
        let mut first = filled.start;
        if self.entry().is_none() {
            insert::insert(
                &store,
                dist,
                first as u32,
                efc,
                &mut InsertScratch::default(),
            );
            first += 1;
        }
        let next = AtomicUsize::new(first);
        let work = || {
            let mut scratch = InsertScratch::default();
            loop {
                let slot = next.fetch_add(1, Ordering::Relaxed);
                if slot >= filled.end || cancel.load(Ordering::Relaxed) {
                    break;
                }
                insert::insert(&store, dist, slot as u32, efc, &mut scratch);
            }
        };
        pool.broadcast(|_node| {
            rayon::broadcast(|_| work());
        });
        !cancel.load(Ordering::Relaxed)
    }

    /// Row chunk and row of `slot` in `dir`.
    #[inline(always)]
    fn row_at<'d>(&self, dir: &'d Directory, slot: usize) -> (&'d Chunk, usize) {
        (
            &dir.chunks[slot >> self.shift],
            slot & (self.rows_per_chunk() - 1),
        )
    }

    /// Node block and row of `slot` in `dir`.
    #[inline(always)]
    fn node_at<'d>(&self, dir: &'d Directory, slot: usize) -> (&'d NodeBlock, usize) {
        (
            &dir.nodes[slot >> NODE_SHIFT],
            slot & ((1 << NODE_SHIFT) - 1),
        )
    }

    /// Node block and row of a reserved `slot` that an older directory does not
    /// cover, from the current directory (see `Store::node`).
    #[cold]
    fn node_reserved_later(&self, slot: usize) -> (&NodeBlock, usize) {
        let dir = self.dir.load();
        let block: *const NodeBlock = &*dir.nodes[slot >> NODE_SHIFT];
        // SAFETY: node blocks are never dropped while the graph lives: a directory
        // only grows (`ensure_chunks` copies every block's `Arc` into the next one
        // and appends), and the graph always holds its current directory, so the
        // block outlives `&self` even after this guard of the directory is gone.
        let block = unsafe { &*block };
        (block, slot & ((1 << NODE_SHIFT) - 1))
    }

    /// The f32 rows of `dir` as a gather kernel.
    fn f32_distance<'d>(&'d self, dir: &'d Directory) -> ChunkDistance<'d, f32> {
        self.chunk_distance(dir, &dir.vectors, self.stride)
    }

    /// The f16 walk copy of `dir` as a gather kernel.
    fn f16_distance<'d>(&'d self, dir: &'d Directory) -> ChunkDistance<'d, f16> {
        self.chunk_distance(dir, &dir.walk, self.walk_stride)
    }

    /// A gather kernel over the row blocks `bases` (one per row chunk of `dir`) of
    /// `stride` elements per row.
    fn chunk_distance<'d, T: sagevec_kernels::Element>(
        &'d self,
        dir: &'d Directory,
        bases: &'d [*const T],
        stride: usize,
    ) -> ChunkDistance<'d, T> {
        // SAFETY: every pointer is a live row block of `rows_per_chunk` rows of
        // `stride` elements, kept alive by `dir`; gathers read only rows a walk
        // reached through a published link (or the entry point), or the row an
        // insert is linking, which were fully written first and are never written
        // again.
        let rows = unsafe { ChunkedRows::new(bases, self.shift, self.dim, stride, dir.slots) }
            .expect("chunk table matches the graph's shape");
        ChunkDistance {
            gather: self.table.chunked_gather(self.metric, rows),
            graph: self,
            dir,
        }
    }

    /// The best `out.k()` slots for `query` with a level-0 beam of width
    /// `max(ef, k)`, pushed as `(exact distance, slot)`. `admit(slot)` says which
    /// slots may be returned (the snapshot's bound, tombstones, filters); the walk
    /// goes through refused ones.
    pub(crate) fn search(
        &self,
        query: &[f32],
        ef: usize,
        admit: impl Fn(u32) -> bool,
        scratch: &mut SearchScratch,
        out: &mut TopK,
    ) {
        // Entry word first, then the directory: the directory is then at least as new
        // as the one the entry node's chunk was added to.
        let Some((ep, top)) = self.entry() else {
            return;
        };
        if query.len() != self.dim || out.k() == 0 {
            return;
        }
        let dir = self.dir.load();
        let n = dir.slots;
        let ef = ef.max(out.k());
        let store = Store { g: self, dir: &dir };
        let links = insert::StoreLinks(&store);
        let exact = self.f32_distance(&dir);
        let copy = match (self.walks_f16, self.scale.get()) {
            (true, Some(&scale)) => Some((scale, self.f16_distance(&dir))),
            _ => None,
        };
        walk_and_rank(
            &links,
            n,
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

    /// A reader's view of slots below `bound` (a snapshot's committed prefix).
    pub(crate) fn view(&self, bound: usize) -> View<'_> {
        let dir = self.dir.load();
        assert!(bound <= dir.slots);
        View {
            g: self,
            dir,
            bound,
        }
    }

    /// Memory held, by part: the vectors and walk copy of the slots reserved (the
    /// rest of a chunk's zeroed row block is never touched, so the OS backs it with
    /// no memory), and the link and row arrays of every chunk (initialised, so
    /// resident).
    pub(crate) fn bytes(&self) -> GraphBytes {
        let dir = self.dir.load();
        let slots = self.slots();
        GraphBytes {
            vectors: slots * self.stride * size_of::<f32>(),
            walk: if self.walks_f16 {
                slots * self.walk_stride * size_of::<f16>()
            } else {
                0
            },
            links: dir
                .nodes
                .iter()
                .map(|n| n.link_bytes() + n.upper_bytes())
                .sum(),
            rows: dir.nodes.iter().map(|n| n.row_bytes()).sum(),
        }
    }

    /// Drops retired directories no reader holds any more.
    pub(crate) fn sweep(&self) {
        self.retired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|d| Arc::strong_count(d) > 1);
    }
}

/// Runs at least this many slots of one write on the pool; fewer stay on the
/// caller's thread (a pool hop costs more than it saves).
pub(crate) const PARALLEL_LINK_MIN: usize = 64;

/// Most breadth-first checks one reachability repair runs.
const REPAIR_PASSES: usize = 8;

/// `row · scale` as f16 into `out`; returns false after writing it. A row with an
/// element beyond f16's range at that scale gets a copy of NaNs instead (and true):
/// walks and inserts see the NaN distance and compare that row through its f32
/// vector (see [`ChunkDistance`]), so it stays as findable as any other.
fn encode_walk_row(table: &KernelTable, row: &[f32], scale: f32, out: &mut [f16]) -> bool {
    let limit = sagevec_kernels::F16_MAX / scale;
    let over = row.iter().fold(false, |o, x| o | (x.abs() > limit));
    if over {
        out.fill(f16::NAN);
    } else {
        table
            .encode(row, scale, out)
            .expect("walk row sized to the vector");
    }
    over
}

/// The graph's links over one directory, as inserts and walks use them.
struct Store<'a> {
    g: &'a LiveGraph,
    dir: &'a Directory,
}

impl<'a> Store<'a> {
    /// Node block and row of `node`. A node past `dir` is one a concurrent writer
    /// reserved after this store's directory was loaded and has since linked into
    /// a list this writer reads (an insert's reverse links meet such entries in a
    /// neighbour's list): it is in the graph's current directory, since a slot is
    /// reserved, and the directory grown to cover it, before its id is written
    /// into any list (and that Release write is what this thread read).
    #[inline(always)]
    fn node(&self, node: u32) -> (&'a NodeBlock, usize) {
        let slot = node as usize;
        if slot < self.dir.slots {
            self.g.node_at(self.dir, slot)
        } else {
            self.g.node_reserved_later(slot)
        }
    }
}

impl LinkStore for Store<'_> {
    fn m(&self) -> usize {
        self.g.params.m
    }

    #[inline(always)]
    fn n_nodes(&self) -> usize {
        self.dir.slots
    }

    #[inline(always)]
    fn level(&self, node: u32) -> usize {
        let (n, r) = self.node(node);
        n.levels[r].load(Ordering::Relaxed) as usize
    }

    #[inline(always)]
    fn slots(&self, node: u32, level: usize) -> &[AtomicU32] {
        let (n, r) = self.node(node);
        let m = self.g.params.m;
        if level == 0 {
            let stride = 1 + 2 * m;
            &n.level0[r * stride..(r + 1) * stride]
        } else {
            let lists = n.upper[r]
                .get()
                .expect("a node reached on an upper level has its upper lists");
            let stride = 1 + m;
            &lists[(level - 1) * stride..level * stride]
        }
    }

    #[inline(always)]
    fn in_links(&self, node: u32) -> &AtomicU32 {
        let (n, r) = self.node(node);
        &n.in_links[r]
    }

    fn lock(&self, node: u32) -> MutexGuard<'_, ()> {
        let (n, r) = self.node(node);
        insert::lock(&n.locks[r])
    }

    fn entry(&self) -> &AtomicU64 {
        &self.g.entry
    }

    fn raise(&self) -> &Mutex<()> {
        &self.g.raise
    }

    #[inline(always)]
    fn prefetch_links(&self, node: u32, level: usize) {
        if level == 0 && (node as usize) < self.dir.slots {
            let (n, r) = self.node(node);
            let stride = 1 + 2 * self.g.params.m;
            crate::graph::search::prefetch(&n.level0[r * stride..(r + 1) * stride]);
        }
    }
}

/// A gather kernel over one directory's rows, as a walk or an insert compares them.
///
/// Over the f16 copy, a clipped row (a copy of NaNs, see [`encode_walk_row`])
/// comes out of the kernel as NaN; its distance is then computed from its f32
/// vector in the copy's units: `metric(query / scale, row) · scale²`, which is
/// what the copy would give without rounding (the scale is a power of two).
struct ChunkDistance<'d, T: sagevec_kernels::Element> {
    gather: ChunkedGather<'d, T>,
    graph: &'d LiveGraph,
    dir: &'d Directory,
}

impl WalkDistance for ChunkDistance<'_, f32> {
    #[inline(always)]
    fn dist_to(&self, query: &[f32], node: u32) -> f32 {
        self.gather.distance(query, node)
    }

    #[inline(always)]
    fn gather(&self, query: &[f32], ids: &[u32], out: &mut [f32]) {
        self.gather.gather(query, ids, &mut out[..ids.len()]);
    }
}

impl WalkDistance for ChunkDistance<'_, f16> {
    #[inline(always)]
    fn dist_to(&self, query: &[f32], node: u32) -> f32 {
        let d = self.gather.distance(query, node);
        if d.is_nan() {
            self.through_f32(query, node)
        } else {
            d
        }
    }

    #[inline(always)]
    fn gather(&self, query: &[f32], ids: &[u32], out: &mut [f32]) {
        let out = &mut out[..ids.len()];
        self.gather.gather(query, ids, out);
        let any_nan = out.iter().fold(false, |n, d| n | d.is_nan());
        if any_nan {
            for (o, &id) in out.iter_mut().zip(ids) {
                if o.is_nan() {
                    *o = self.through_f32(query, id);
                }
            }
        }
    }
}

thread_local! {
    /// A clipped row's query, unscaled (the rare path of [`ChunkDistance`]).
    static UNSCALED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl ChunkDistance<'_, f16> {
    /// The copy-unit distance of a clipped row (or any row) from its f32 vector.
    #[cold]
    fn through_f32(&self, query: &[f32], node: u32) -> f32 {
        let g = self.graph;
        let scale = g.scale.get().copied().unwrap_or(1.0);
        let (c, r) = g.row_at(self.dir, node as usize);
        // SAFETY: the node came from a published link (or is being inserted by this
        // thread): its row is final (see `chunk`).
        let row = unsafe { c.vectors.row(r, g.dim) };
        UNSCALED.with(|u| {
            let mut u = u.borrow_mut();
            u.clear();
            u.extend(query.iter().map(|&x| x / scale));
            let d = g
                .table
                .distance(g.metric, &u, row)
                .expect("query and row share the graph's dimension");
            d * scale * scale
        })
    }
}

impl BuildDistance for ChunkDistance<'_, f32> {
    #[inline(always)]
    fn row_query<'b>(&'b self, i: u32, _buf: &'b mut Vec<f32>) -> &'b [f32] {
        let (c, r) = self.graph.row_at(self.dir, i as usize);
        // SAFETY: inserts ask only for the node being inserted (written by this
        // thread before linking) or nodes reached through published links (written
        // before they were linked); either way the row is final.
        unsafe { c.vectors.row(r, self.graph.dim) }
    }
}

impl BuildDistance for ChunkDistance<'_, f16> {
    #[inline(always)]
    fn row_query<'b>(&'b self, i: u32, buf: &'b mut Vec<f32>) -> &'b [f32] {
        let (c, r) = self.graph.row_at(self.dir, i as usize);
        let w = c.walk.as_ref().expect("an f16 distance has walk rows");
        // SAFETY: as for f32 rows.
        let row = unsafe { w.row(r, self.graph.dim) };
        buf.resize(row.len(), 0.0);
        self.graph
            .table
            .decode(row, buf)
            .expect("buffer sized to the row");
        if buf.first().is_some_and(|x| x.is_nan()) {
            // A clipped row: the query is its f32 vector in the copy's units.
            let scale = self.graph.scale.get().copied().unwrap_or(1.0);
            // SAFETY: as above, for the f32 row of the same slot.
            let exact = unsafe { c.vectors.row(r, self.graph.dim) };
            buf.clear();
            buf.extend(exact.iter().map(|&x| x * scale));
        }
        buf
    }
}

// `BuildDistance: Sync` (builder workers share it): the gather handle holds raw
// pointers, which are not `Sync` by default.
// SAFETY: the handle only reads rows through its pointers (write-once rule), so
// sharing it between threads is sharing read-only data.
unsafe impl<T: sagevec_kernels::Element> Sync for ChunkDistance<'_, T> {}

/// A reader's view of a snapshot's committed slots (`< bound`): every row in it is
/// final, so it can be read directly.
pub(crate) struct View<'a> {
    g: &'a LiveGraph,
    dir: Guard<Arc<Directory>>,
    bound: usize,
}

impl View<'_> {
    pub(crate) fn bound(&self) -> usize {
        self.bound
    }

    #[inline(always)]
    fn node(&self, slot: usize) -> (&NodeBlock, usize) {
        assert!(
            slot < self.bound,
            "slot {slot} beyond the snapshot's {}",
            self.bound
        );
        self.g.node_at(&self.dir, slot)
    }

    /// The vector of committed slot `slot`.
    pub(crate) fn vector(&self, slot: usize) -> &[f32] {
        assert!(
            slot < self.bound,
            "slot {slot} beyond the snapshot's {}",
            self.bound
        );
        let (c, r) = self.g.row_at(&self.dir, slot);
        // SAFETY: `slot < bound`, a committed prefix: written before the snapshot
        // that counts it was published, never written again.
        unsafe { c.vectors.row(r, self.g.dim) }
    }

    pub(crate) fn id(&self, slot: usize) -> u64 {
        let (n, r) = self.node(slot);
        n.ids[r].load(Ordering::Relaxed)
    }

    pub(crate) fn metadata(&self, slot: usize) -> Option<&Metadata> {
        let (n, r) = self.node(slot);
        n.metadata[r].get().map(|b| &**b)
    }

    /// Whether the slot is live for a reader of snapshot `version`.
    #[inline(always)]
    pub(crate) fn alive_at(&self, slot: usize, version: u64) -> bool {
        let (n, r) = self.node(slot);
        n.alive_at(r, version)
    }

    /// Marks the slot removed from `version` on (the writer, before publishing
    /// `version`).
    pub(crate) fn mark_deleted(&self, slot: usize, version: u64) {
        let (n, r) = self.node(slot);
        let _ =
            n.deleted_at[r].compare_exchange(ALIVE, version, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Calls `f(first_slot, rows)` for each chunk's run of committed rows, in slot
    /// order, as strided matrices for the one-to-many kernels.
    pub(crate) fn for_each_run(&self, mut f: impl FnMut(usize, Rows<'_, f32>)) {
        let per = self.g.rows_per_chunk();
        let mut start = 0;
        while start < self.bound {
            let end = (start + per).min(self.bound);
            let (c, r) = self.g.row_at(&self.dir, start);
            // SAFETY: every row in `start..end` is committed (below `bound`).
            let data = unsafe { c.vectors.rows(r, r + (end - start), self.g.dim) };
            let rows = Rows::strided(data, end - start, self.g.dim, self.g.stride)
                .expect("a chunk's rows fit their stride");
            f(start, rows);
            start = end;
        }
    }

    /// The level and level-0 / upper lists of a slot, as stored now (for
    /// checkpoints): `(level, lists)` with `lists[l]` the ids on level `l`.
    pub(crate) fn links_of(&self, slot: usize, out: &mut Vec<Vec<u32>>) -> usize {
        let store = Store {
            g: self.g,
            dir: &self.dir,
        };
        let level = store.level(slot as u32);
        out.resize_with(level + 1, Vec::new);
        for (l, list) in out.iter_mut().enumerate() {
            list.clear();
            insert::read_links(&store, slot as u32, l, list);
        }
        level
    }

    /// Which slots a breadth-first walk of level 0 from the entry point reaches
    /// (one flag per slot the directory covers).
    pub(crate) fn reached_from_entry(&self) -> Vec<bool> {
        let mut seen = vec![false; self.dir.slots];
        if let Some((ep, _)) = self.g.entry()
            && (ep as usize) < self.dir.slots
        {
            self.mark_reached(ep, &mut seen);
        }
        seen
    }

    /// Marks `from` and every slot a walk of level 0 reaches from it in `seen`.
    pub(crate) fn mark_reached(&self, from: u32, seen: &mut [bool]) {
        let store = Store {
            g: self.g,
            dir: &self.dir,
        };
        if std::mem::replace(&mut seen[from as usize], true) {
            return;
        }
        let mut stack = vec![from];
        let mut links = Vec::new();
        while let Some(node) = stack.pop() {
            links.clear();
            insert::read_links(&store, node, 0, &mut links);
            for &t in &links {
                if !std::mem::replace(&mut seen[t as usize], true) {
                    stack.push(t);
                }
            }
        }
    }

    /// Slots below the bound that a breadth-first walk of level 0 from the entry
    /// point does not reach and that are live at `version` (the reachability
    /// check, a test hook).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn unreachable_live(&self, version: u64) -> Vec<u32> {
        let seen = self.reached_from_entry();
        (0..self.bound)
            .filter(|&s| !seen[s] && self.alive_at(s, version))
            .map(|s| s as u32)
            .collect()
    }
}

/// The id stored in a slot is at most this: a [`View::id`] above it is a bug.
#[allow(dead_code)]
const _ID_BOUND: u64 = MAX_ID;

#[cfg(all(test, not(sagevec_loom)))]
mod tests {
    use super::*;

    /// A store whose directory was loaded before another writer's reservation grew
    /// the graph past it still reads that writer's nodes (an insert meets them in
    /// a neighbour's list): through the current directory, not out of bounds.
    #[test]
    fn a_store_reads_nodes_reserved_after_its_directory() {
        let dim = 4;
        let table = sagevec_kernels::kernels();
        let g = LiveGraph::new(1, dim, Metric::L2Sq, &GraphParams::default(), table, false);
        let first = vec![0.5f32; 10 * dim];
        let _ = g.reserve(10, &first).unwrap();
        let old = g.dir.load_full();
        assert!(old.slots < 3 << NODE_SHIFT, "{}", old.slots);
        let n = (3 << NODE_SHIFT) - 10;
        let more = vec![0.25f32; n * dim];
        let _ = g.reserve(n, &more).unwrap();
        let store = Store { g: &g, dir: &old };
        let late = (3 << NODE_SHIFT) - 1;
        assert!(late >= old.slots);
        store.in_links(late as u32).store(7, Ordering::Relaxed);
        let now = Store {
            g: &g,
            dir: &g.dir.load_full(),
        };
        assert_eq!(now.in_links(late as u32).load(Ordering::Relaxed), 7);
        assert_eq!(store.level(late as u32), now.level(late as u32));
        assert_eq!(store.slots(late as u32, 0).len(), 1 + 2 * g.params.m);
    }
}
