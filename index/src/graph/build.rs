//! Parallel HNSW insertion into a private graph (no reader sees it until it is
//! frozen).
//!
//! Standard HNSW (Malkov & Yashunin 2018) as hnswlib builds it: levels drawn up front
//! from the seeded generator; greedy descent on the levels above the new node's;
//! on each of its levels an `ef_construction` beam, the neighbour-selection
//! heuristic (Algorithm 4, no extended candidates, pruned connections not kept) to
//! pick `m` links, and the reverse links added, shrinking a full neighbour list with
//! the same heuristic to `m` (upper levels) or `2m` (level 0).
//!
//! Concurrency:
//! - Links live in flat arrays of `AtomicU32` (`[count, id, id, ...]` per node and
//!   level), all allocated up front since the levels are known. A writer changes a
//!   node's lists only under that node's `Mutex`; a walker reads them without a lock,
//!   with relaxed loads. A racing read can see a list mid-update, but every value it
//!   can see is a valid row (the arrays start zeroed and only ever hold rows), so the
//!   worst outcome is a slightly different walk, never a bad access.
//! - No thread ever holds two node locks (hnswlib holds the new node's lock while
//!   locking each neighbour's; we do not need to), so there is no lock order to keep.
//! - The entry point and top level are one `AtomicU64`. A node whose level is above
//!   the current top takes the `raise` mutex for its whole insertion (as hnswlib
//!   holds its global lock), so two such nodes cannot both raise, and then publishes
//!   itself as the entry point.
//! - Workers take rows from a shared counter in row order, so a parallel build
//!   inserts in nearly the same order as a sequential one.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use sagevec_scheduler::{Par, rayon};

use super::params::GraphParams;
use super::search::{BuildDistance, Links, SearchScratch, beam, greedy};
use super::visited::{distance_of, pack, row_of};

/// The entry point before the first insertion.
const NO_ENTRY: u64 = u64::MAX;

fn pack_entry(node: u32, level: usize) -> u64 {
    (u64::from(node) << 8) | level as u64
}

fn unpack_entry(e: u64) -> (u32, usize) {
    ((e >> 8) as u32, (e & 0xff) as usize)
}

/// The graph while it is being built, over the rows `dist` reads (the f32 vectors,
/// or the f16 copy a graph that walks one is built on).
pub(crate) struct Builder<'a, D> {
    dist: D,
    levels: &'a [u8],
    m: usize,
    ef_construction: usize,
    /// Level 0: `n` lists of `1 + 2m` slots.
    level0: Vec<AtomicU32>,
    /// Upper levels: node `i` with level `l >= 1` owns `l` lists of `1 + m` slots
    /// from `upper_start[i]` (level 1 first).
    upper: Vec<AtomicU32>,
    upper_start: Vec<usize>,
    locks: Vec<Mutex<()>>,
    entry: AtomicU64,
    raise: Mutex<()>,
}

/// What the builder leaves for the frozen layout.
pub(crate) struct Built {
    pub(crate) level0: Vec<u32>,
    pub(crate) upper: Vec<u32>,
    pub(crate) upper_start: Vec<usize>,
    pub(crate) entry: Option<(u32, usize)>,
}

/// Per-worker build state.
#[derive(Default)]
struct Scratch {
    search: SearchScratch,
    /// The beam's results, ascending.
    found: Vec<u64>,
    /// The heuristic's pick.
    selected: Vec<u64>,
    /// A neighbour's list while it is shrunk, and what the heuristic keeps of it.
    shrink: Vec<u64>,
    kept: Vec<u64>,
    /// Rows as queries when the rows are not f32: the inserted row, a
    /// neighbour being shrunk, a candidate the heuristic weighs.
    query: Vec<f32>,
    base: Vec<f32>,
    cand: Vec<f32>,
    /// The new node's own list: the selection, then links others made to it.
    merged: Vec<u32>,
    ids: Vec<u32>,
    dists: Vec<f32>,
}

/// Sorts packed candidates of `owner`'s list by distance, breaking exact ties by a
/// hash of `(owner, row)` instead of by row.
///
/// Why: with many identical vectors (all at distance 0 from each other), ties by
/// row would make every list keep the same lowest rows and drop each newcomer,
/// leaving the later copies with no incoming link (unreachable). A per-owner hash
/// spreads the kept copies, so each copy keeps some incoming link. Distinct distances
/// are unaffected.
fn sort_candidates(owner: u32, keys: &mut [u64]) {
    keys.sort_unstable_by_key(|&k| (k >> 32, tie_hash(owner, row_of(k))));
}

#[inline(always)]
fn tie_hash(owner: u32, row: u32) -> u64 {
    let mut z = (u64::from(owner) << 32 | u64::from(row)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
    // The guarded data is `()`: a panic elsewhere leaves nothing inconsistent here.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<D: BuildDistance> Links for Builder<'_, D> {
    #[inline(always)]
    fn neighbors_into(&self, node: u32, level: usize, out: &mut Vec<u32>) {
        let (start, cap) = self.list(node, level);
        let slots = &self.upper_or_0(level)[start..start + 1 + cap];
        let count = (slots[0].load(Ordering::Relaxed) as usize).min(cap);
        out.extend(slots[1..=count].iter().map(|a| a.load(Ordering::Relaxed)));
    }
}

impl<'a, D: BuildDistance> Builder<'a, D> {
    pub(crate) fn new(dist: D, levels: &'a [u8], params: &GraphParams) -> Self {
        let n = levels.len();
        let m = params.m;
        let mut upper_start = vec![usize::MAX; n];
        let mut total = 0usize;
        for (i, &l) in levels.iter().enumerate() {
            if l > 0 {
                upper_start[i] = total;
                total += l as usize * (1 + m);
            }
        }
        Builder {
            dist,
            levels,
            m,
            ef_construction: params.ef_construction,
            level0: (0..n * (1 + 2 * m)).map(|_| AtomicU32::new(0)).collect(),
            upper: (0..total).map(|_| AtomicU32::new(0)).collect(),
            upper_start,
            locks: (0..n).map(|_| Mutex::new(())).collect(),
            entry: AtomicU64::new(NO_ENTRY),
            raise: Mutex::new(()),
        }
    }

    fn n(&self) -> usize {
        self.levels.len()
    }

    /// `(start, capacity)` of the list of `node` on `level` in its array.
    #[inline(always)]
    fn list(&self, node: u32, level: usize) -> (usize, usize) {
        if level == 0 {
            (node as usize * (1 + 2 * self.m), 2 * self.m)
        } else {
            debug_assert!(level <= self.levels[node as usize] as usize);
            (
                self.upper_start[node as usize] + (level - 1) * (1 + self.m),
                self.m,
            )
        }
    }

    #[inline(always)]
    fn upper_or_0(&self, level: usize) -> &[AtomicU32] {
        if level == 0 {
            &self.level0
        } else {
            &self.upper
        }
    }

    /// Replaces the list of `node` on `level` (caller holds its lock).
    fn store_list(&self, node: u32, level: usize, ids: impl ExactSizeIterator<Item = u32>) {
        let (start, cap) = self.list(node, level);
        let slots = &self.upper_or_0(level)[start..start + 1 + cap];
        let count = ids.len().min(cap);
        for (slot, id) in slots[1..].iter().zip(ids) {
            slot.store(id, Ordering::Relaxed);
        }
        slots[0].store(count as u32, Ordering::Relaxed);
    }

    /// Builds every row's links on `par`, then hands the arrays over.
    /// Inserts every row; `None` if `cancel` was raised first (checked between
    /// insertions, so a cancelled build stops within one insertion per worker).
    pub(crate) fn run(self, par: Par<'_>, cancel: &AtomicBool) -> Option<Built> {
        let n = self.n();
        if n > 0 {
            let mut scratch = Scratch::default();
            self.insert(0, &mut scratch);
            let next = AtomicUsize::new(1);
            let work = || {
                let mut scratch = Scratch::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    self.insert(i as u32, &mut scratch);
                }
            };
            match par {
                Par::Seq => work(),
                Par::Pool(pool) => {
                    pool.broadcast(|_node| {
                        rayon::broadcast(|_| work());
                    });
                }
            }
        }
        if cancel.load(Ordering::Relaxed) {
            return None;
        }
        let entry = match self.entry.load(Ordering::Acquire) {
            NO_ENTRY => None,
            e => Some(unpack_entry(e)),
        };
        Some(Built {
            level0: self.level0.into_iter().map(AtomicU32::into_inner).collect(),
            upper: self.upper.into_iter().map(AtomicU32::into_inner).collect(),
            upper_start: self.upper_start,
            entry,
        })
    }

    /// Inserts row `q` (Algorithm 1).
    fn insert(&self, q: u32, s: &mut Scratch) {
        let level_q = self.levels[q as usize] as usize;
        let mut entry = self.entry.load(Ordering::Acquire);
        let mut raise_guard = None;
        if entry == NO_ENTRY || unpack_entry(entry).1 < level_q {
            let guard = lock(&self.raise);
            entry = self.entry.load(Ordering::Acquire);
            if entry == NO_ENTRY {
                self.entry.store(pack_entry(q, level_q), Ordering::Release);
                return;
            }
            if unpack_entry(entry).1 < level_q {
                raise_guard = Some(guard);
            }
        }
        let (ep, top) = unpack_entry(entry);
        // Out of `s` for the insertion: `connect` borrows all of `s`.
        let mut query_buf = std::mem::take(&mut s.query);
        let query = self.dist.row_query(q, &mut query_buf);
        let mut cur = pack(self.dist.dist_to(query, ep), ep);
        for level in (level_q + 1..=top).rev() {
            cur = greedy(self, &self.dist, query, level, cur, &mut s.search);
        }
        for level in (0..=level_q.min(top)).rev() {
            beam(
                self,
                &self.dist,
                self.n(),
                query,
                level,
                cur,
                self.ef_construction,
                |_| true,
                &mut s.search,
            );
            s.found.clear();
            s.found
                .extend(s.search.results.drain().filter(|&key| row_of(key) != q));
            sort_candidates(q, &mut s.found);
            if let Some(&closest) = s.found.first() {
                cur = closest;
            }
            self.select(&s.found, self.m, &mut s.selected, &mut s.cand);
            self.connect(q, level, s);
        }
        s.query = query_buf;
        if raise_guard.is_some() {
            self.entry.store(pack_entry(q, level_q), Ordering::Release);
        }
        drop(raise_guard);
    }

    /// The heuristic (Algorithm 4 as hnswlib runs it): scan `cands` (ascending) and
    /// keep one unless a kept row is closer to it than the base is; stop at `max`.
    fn select(&self, cands: &[u64], max: usize, out: &mut Vec<u64>, buf: &mut Vec<f32>) {
        out.clear();
        if cands.len() <= max {
            out.extend_from_slice(cands);
            return;
        }
        for &c in cands {
            if out.len() >= max {
                break;
            }
            let d_c = distance_of(c);
            let row_c = self.dist.row_query(row_of(c), buf);
            let good = out
                .iter()
                .all(|&r| self.dist.dist_to(row_c, row_of(r)).total_cmp(&d_c).is_ge());
            if good {
                out.push(c);
            }
        }
    }

    /// Links `q` to `s.selected` on `level` and each of those back to `q`.
    fn connect(&self, q: u32, level: usize, s: &mut Scratch) {
        let cap = if level == 0 { 2 * self.m } else { self.m };
        {
            let _g = lock(&self.locks[q as usize]);
            // Others may already have linked to `q` on this level (they reached it
            // through a level above): keep those after the selection, room allowing.
            s.ids.clear();
            self.neighbors_into(q, level, &mut s.ids);
            s.merged.clear();
            s.merged.extend(s.selected.iter().map(|&k| row_of(k)));
            for &id in &s.ids {
                if s.merged.len() >= cap {
                    break;
                }
                if !s.merged.contains(&id) {
                    s.merged.push(id);
                }
            }
            self.store_list(q, level, s.merged.iter().copied());
        }
        for i in 0..s.selected.len() {
            let nb = row_of(s.selected[i]);
            let _g = lock(&self.locks[nb as usize]);
            s.ids.clear();
            self.neighbors_into(nb, level, &mut s.ids);
            if s.ids.contains(&q) {
                continue;
            }
            if s.ids.len() < cap {
                let (start, _) = self.list(nb, level);
                let slots = &self.upper_or_0(level)[start..];
                slots[1 + s.ids.len()].store(q, Ordering::Relaxed);
                slots[0].store(s.ids.len() as u32 + 1, Ordering::Relaxed);
                continue;
            }
            // Full: shrink `nb`'s list plus `q` back to `cap` with the heuristic.
            s.ids.push(q);
            if s.dists.len() < s.ids.len() {
                s.dists.resize(s.ids.len(), 0.0);
            }
            let base = self.dist.row_query(nb, &mut s.base);
            self.dist.gather(base, &s.ids, &mut s.dists);
            s.shrink.clear();
            s.shrink
                .extend(s.ids.iter().zip(&s.dists).map(|(&id, &d)| pack(d, id)));
            sort_candidates(nb, &mut s.shrink);
            self.select(&s.shrink, cap, &mut s.kept, &mut s.cand);
            self.store_list(nb, level, s.kept.iter().map(|&k| row_of(k)));
        }
    }
}
