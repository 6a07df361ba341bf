//! HNSW insertion (Malkov & Yashunin 2018, as hnswlib runs it) over any link store
//! that many threads share: the frozen builder's flat arrays (`build.rs`) and the
//! index's live graph (`crate::live`) run this one algorithm.
//!
//! Per inserted node `q`: greedy descent on the levels above its own, then on each of
//! its levels an `ef_construction` beam and the neighbour-selection heuristic
//! (Algorithm 4, no extended candidates, pruned connections not kept) to pick `m`
//! links; then the reverse links, shrinking a full list with the same heuristic to
//! `m` (upper levels) or `2m` (level 0).
//!
//! # Publish order (what keeps every inserted node reachable)
//! 1. Every level's neighbours are chosen first, writing nothing.
//! 2. `q`'s own lists are stored on every level (release stores).
//! 3. Only then are links *to* `q` added (reverse links, entry point). So a walker
//!    that reaches `q` by any link finds all of `q`'s lists complete: the bug class of
//!    USearch #735 (a node linked before its own lists exist) cannot happen.
//! 4. Pruning never drops a node's last level-0 in-link: each node counts its
//!    level-0 in-links, and a pruner may drop the link `a -> b` only by decrementing
//!    `b`'s count from 2 or more (one atomic read-modify-write, so two pruners cannot
//!    both take `b`'s last two links). A node the heuristic would drop but whose count
//!    says "last" is kept instead, displacing the farthest droppable entry.
//!
//! # Reading and writing lists
//! A list is `[count, id, ...]` in `AtomicU32`s. Writers change a node's lists only
//! under that node's lock (no thread holds two node locks, so there is no lock
//! order). Every id store is a release store and every load an acquire load, so a
//! walker that reads an id also sees everything written before it was linked (the
//! node's vector and lists). A walker racing a writer can read a list mid-update:
//! old and new entries mixed, every one a node that was fully inserted when it was
//! linked, so the worst outcome is a slightly different route, never a bad access.

use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use crate::sync::{AtomicU32, AtomicU64, Mutex, MutexGuard};

use super::search::{BuildDistance, Links, SearchScratch, beam, greedy};
use super::visited::{distance_of, pack, row_of};

/// The entry point before the first insertion.
pub(crate) const NO_ENTRY: u64 = u64::MAX;

/// The entry point as one word: node in the high bits, level in the low 8.
pub(crate) fn pack_entry(node: u32, level: usize) -> u64 {
    (u64::from(node) << 8) | level as u64
}

/// `(node, level)` of a packed entry word other than [`NO_ENTRY`].
pub(crate) fn unpack_entry(e: u64) -> (u32, usize) {
    ((e >> 8) as u32, (e & 0xff) as usize)
}

/// Link storage shared by concurrent inserters (and walkers).
pub(crate) trait LinkStore: Sync {
    /// Links per upper-level list (level 0 holds `2m`).
    fn m(&self) -> usize;
    /// Node ids a walk of this store may meet are below this (visited-set size).
    fn n_nodes(&self) -> usize;
    /// The top level of an inserted node (written before the node is linked).
    fn level(&self, node: u32) -> usize;
    /// `node`'s list on `level`: `1 + cap` slots, count first.
    fn slots(&self, node: u32, level: usize) -> &[AtomicU32];
    /// `node`'s level-0 in-link count.
    fn in_links(&self, node: u32) -> &AtomicU32;
    /// `node`'s writer lock (guards its lists on every level).
    fn lock(&self, node: u32) -> MutexGuard<'_, ()>;
    /// The packed entry point ([`NO_ENTRY`] when empty).
    fn entry(&self) -> &AtomicU64;
    /// Held for the whole insertion by a node that raises the top level.
    fn raise(&self) -> &Mutex<()>;
    /// Hints that `node`'s list on `level` will be read soon (a cache prefetch; no
    /// effect on results). Does nothing by default.
    #[inline(always)]
    fn prefetch_links(&self, node: u32, level: usize) {
        let _ = (node, level);
    }
}

/// Capacity of a list on `level`.
#[inline(always)]
fn cap_of(m: usize, level: usize) -> usize {
    if level == 0 { 2 * m } else { m }
}

/// Appends the ids of `node`'s list on `level` to `out` (acquire loads; ids at or
/// beyond `store.n_nodes()` are left out, so a walk never follows a link to a node
/// it cannot read).
#[inline(always)]
pub(crate) fn read_links<S: LinkStore + ?Sized>(
    store: &S,
    node: u32,
    level: usize,
    out: &mut Vec<u32>,
) {
    let slots = store.slots(node, level);
    let count = (slots[0].load(Ordering::Acquire) as usize).min(slots.len() - 1);
    let n = store.n_nodes() as u64;
    out.extend(
        slots[1..=count]
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .filter(|&id| u64::from(id) < n),
    );
}

/// `store`'s links as a walk reads them.
pub(crate) struct StoreLinks<'a, S: ?Sized>(pub(crate) &'a S);

impl<S: LinkStore + ?Sized> Links for StoreLinks<'_, S> {
    #[inline(always)]
    fn neighbors_into(&self, node: u32, level: usize, out: &mut Vec<u32>) {
        read_links(self.0, node, level, out);
    }

    #[inline(always)]
    fn prefetch_links(&self, node: u32, level: usize) {
        self.0.prefetch_links(node, level);
    }
}

/// Per-inserter reusable state.
#[derive(Default)]
pub(crate) struct InsertScratch {
    search: SearchScratch,
    /// The beam's results, ascending.
    found: Vec<u64>,
    /// The heuristic's pick per level (index = level).
    selected: Vec<Vec<u64>>,
    /// A neighbour's list while it is shrunk, and what the heuristic keeps of it.
    shrink: Vec<u64>,
    kept: Vec<u64>,
    /// Rows as queries when the rows are not f32.
    query: Vec<f32>,
    base: Vec<f32>,
    cand: Vec<f32>,
    ids: Vec<u32>,
    dists: Vec<f32>,
}

impl std::fmt::Debug for InsertScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InsertScratch").finish_non_exhaustive()
    }
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

/// Takes a lock whose data is `()`: a panic elsewhere leaves nothing inconsistent.
pub(crate) fn lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Drops one level-0 in-link of `node` unless it is its last; returns whether it did.
#[inline]
fn release_in_link(count: &AtomicU32) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
            (c >= 2).then(|| c - 1)
        })
        .is_ok()
}

/// Inserts node `q` (its vector and level already written) into `store`.
///
/// Safe to call from many threads at once for distinct nodes. The node must not be
/// reachable before this call (nothing links to it yet).
pub(crate) fn insert<S: LinkStore, D: BuildDistance>(
    store: &S,
    dist: &D,
    q: u32,
    ef_construction: usize,
    s: &mut InsertScratch,
) {
    let level_q = store.level(q);
    let mut entry = store.entry().load(Ordering::Acquire);
    let mut raise_guard = None;
    if entry == NO_ENTRY || unpack_entry(entry).1 < level_q {
        let guard = lock(store.raise());
        entry = store.entry().load(Ordering::Acquire);
        if entry == NO_ENTRY {
            // The first node: nothing to link; it is the entry point.
            store
                .entry()
                .store(pack_entry(q, level_q), Ordering::Release);
            return;
        }
        if unpack_entry(entry).1 < level_q {
            raise_guard = Some(guard);
        }
    }
    // 1. Choose every level's neighbours; nothing is written yet.
    let levels_linked = choose_neighbours(
        store,
        dist,
        q,
        unpack_entry(entry),
        level_q,
        ef_construction,
        s,
    );
    // 2. `q`'s own lists, every level, before anything links to `q`.
    for level in 0..=levels_linked {
        let _g = store.lock(q);
        store_new_list(
            store,
            q,
            level,
            s.selected[level].iter().map(|&k| row_of(k)),
        );
    }
    // 3. Links to `q`.
    for level in (0..=levels_linked).rev() {
        for i in 0..s.selected[level].len() {
            let nb = row_of(s.selected[level][i]);
            add_reverse_link(store, dist, nb, q, level, s);
        }
    }
    if raise_guard.is_some() {
        store
            .entry()
            .store(pack_entry(q, level_q), Ordering::Release);
    }
    drop(raise_guard);
}

/// Chooses `q`'s neighbours on levels `min(level_q, top)..=0` into `s.selected`
/// (greedy descent from the entry point `(ep, top)` down to `level_q + 1`, then on
/// each level an `ef_construction` beam and the heuristic); writes nothing. Returns
/// the highest level chosen for.
fn choose_neighbours<S: LinkStore, D: BuildDistance>(
    store: &S,
    dist: &D,
    q: u32,
    (ep, top): (u32, usize),
    level_q: usize,
    ef_construction: usize,
    s: &mut InsertScratch,
) -> usize {
    let links = StoreLinks(store);
    let mut query_buf = std::mem::take(&mut s.query);
    let query = dist.row_query(q, &mut query_buf);
    let mut cur = pack(dist.dist_to(query, ep), ep);
    for level in (level_q + 1..=top).rev() {
        cur = greedy(&links, dist, query, level, cur, &mut s.search);
    }
    let levels = level_q.min(top);
    if s.selected.len() <= levels {
        s.selected.resize_with(levels + 1, Vec::new);
    }
    for level in (0..=levels).rev() {
        beam(
            &links,
            dist,
            store.n_nodes(),
            query,
            level,
            cur,
            ef_construction,
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
        let mut chosen = std::mem::take(&mut s.selected[level]);
        select(dist, &s.found, store.m(), &mut chosen, &mut s.cand);
        s.selected[level] = chosen;
    }
    s.query = query_buf;
    levels
}

/// The heuristic (Algorithm 4 as hnswlib runs it): scan `cands` (ascending) and
/// keep one unless a kept row is closer to it than the base is; stop at `max`.
fn select<D: BuildDistance>(
    dist: &D,
    cands: &[u64],
    max: usize,
    out: &mut Vec<u64>,
    buf: &mut Vec<f32>,
) {
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
        let row_c = dist.row_query(row_of(c), buf);
        let good = out
            .iter()
            .all(|&r| dist.dist_to(row_c, row_of(r)).total_cmp(&d_c).is_ge());
        if good {
            out.push(c);
        }
    }
}

/// Stores the list of a node no one links to yet (its lock held): entries, then the
/// count, each a release store; on level 0 each entry gains an in-link.
fn store_new_list<S: LinkStore>(
    store: &S,
    node: u32,
    level: usize,
    ids: impl ExactSizeIterator<Item = u32>,
) {
    let slots = store.slots(node, level);
    let cap = slots.len() - 1;
    let mut count = 0;
    for (slot, id) in slots[1..].iter().zip(ids) {
        slot.store(id, Ordering::Release);
        if level == 0 {
            store.in_links(id).fetch_add(1, Ordering::AcqRel);
        }
        count += 1;
    }
    debug_assert!(count <= cap);
    slots[0].store(count as u32, Ordering::Release);
}

/// Adds `q` to `nb`'s list on `level`, shrinking a full list with the heuristic and
/// the last-in-link rule (see the module docs). Returns whether `q` is in the list
/// afterwards.
fn add_reverse_link<S: LinkStore, D: BuildDistance>(
    store: &S,
    dist: &D,
    nb: u32,
    q: u32,
    level: usize,
    s: &mut InsertScratch,
) -> bool {
    let cap = cap_of(store.m(), level);
    let _g = store.lock(nb);
    let slots = store.slots(nb, level);
    let count = (slots[0].load(Ordering::Acquire) as usize).min(cap);
    s.ids.clear();
    s.ids
        .extend(slots[1..=count].iter().map(|a| a.load(Ordering::Acquire)));
    if s.ids.contains(&q) {
        return true;
    }
    if count < cap {
        slots[1 + count].store(q, Ordering::Release);
        if level == 0 {
            store.in_links(q).fetch_add(1, Ordering::AcqRel);
        }
        slots[0].store(count as u32 + 1, Ordering::Release);
        return true;
    }
    // Full: shrink `nb`'s list plus `q` back to `cap` with the heuristic.
    s.ids.push(q);
    if s.dists.len() < s.ids.len() {
        s.dists.resize(s.ids.len(), 0.0);
    }
    let base = dist.row_query(nb, &mut s.base);
    dist.gather(base, &s.ids, &mut s.dists);
    s.shrink.clear();
    s.shrink
        .extend(s.ids.iter().zip(&s.dists).map(|(&id, &d)| pack(d, id)));
    sort_candidates(nb, &mut s.shrink);
    let mut kept = std::mem::take(&mut s.kept);
    select(dist, &s.shrink, cap, &mut kept, &mut s.cand);
    if level == 0 {
        keep_last_in_links(store, q, cap, &s.shrink, &mut kept);
    }
    // Overwrite in place: entries first, then the count. A concurrent walker sees
    // old or new entries, each a fully inserted node.
    for (slot, &k) in slots[1..].iter().zip(&kept) {
        slot.store(row_of(k), Ordering::Release);
    }
    slots[0].store(kept.len() as u32, Ordering::Release);
    let linked = kept.iter().any(|&k| row_of(k) == q);
    s.kept = kept;
    linked
}

/// Level 0: turns the heuristic's pick `kept` (from `cands`, `nb`'s old list plus
/// `q`, ascending) into the final list under the last-in-link rule, adjusting the
/// in-link counts of everything that leaves or joins the list.
///
/// Every old entry the pick drops gives up its in-link only if it has another one;
/// otherwise it stays. If that overfills the list, the farthest droppable entries
/// make room (their in-links released the same way), and `q` is left out only when
/// no old entry can go.
fn keep_last_in_links<S: LinkStore>(
    store: &S,
    q: u32,
    cap: usize,
    cands: &[u64],
    kept: &mut Vec<u64>,
) {
    // Old entries the heuristic dropped: release each, or keep it if it is the last.
    for &c in cands {
        let id = row_of(c);
        if id == q || kept.contains(&c) {
            continue;
        }
        if !release_in_link(store.in_links(id)) {
            kept.push(c);
        }
    }
    // Over capacity (forced entries came back): release the farthest old entries
    // that have another in-link; if none can go, `q` (which holds no in-link from
    // this list yet) is the one left out. Without `q`, `kept` is a subset of the old
    // list, so it fits.
    if kept.len() > cap {
        kept.sort_unstable_by_key(|&k| k >> 32);
        let mut i = kept.len();
        while kept.len() > cap && i > 0 {
            i -= 1;
            let id = row_of(kept[i]);
            if id != q && release_in_link(store.in_links(id)) {
                kept.remove(i);
            }
        }
        if kept.len() > cap
            && let Some(pos) = kept.iter().position(|&c| row_of(c) == q)
        {
            kept.remove(pos);
        }
        debug_assert!(kept.len() <= cap);
    }
    if kept.iter().any(|&c| row_of(c) == q) {
        store.in_links(q).fetch_add(1, Ordering::AcqRel);
    }
}

/// Links `q` again on level 0 from reached nodes near it (its own lists are left
/// as they are): the repair for a node no walk reaches. `reached(n)`: whether a walk
/// from the entry point reaches `n`.
///
/// The links go only into lists with a free slot, nearest candidates first (up to
/// `m / 2` of them): a repair that pruned lists could cut the link that made
/// another repaired node reachable (nodes that only reach each other count each
/// other's links as in-links). Only when no candidate has room does `q` take the
/// place of the farthest entry with another in-link in the nearest list that has
/// one. Returns whether `q` got a link from a reached node.
pub(crate) fn attach<S: LinkStore, D: BuildDistance>(
    store: &S,
    dist: &D,
    q: u32,
    ef_construction: usize,
    reached: impl Fn(u32) -> bool,
    s: &mut InsertScratch,
) -> bool {
    let entry = store.entry().load(Ordering::Acquire);
    if entry == NO_ENTRY {
        return false;
    }
    let (ep, _) = unpack_entry(entry);
    if ep == q {
        return true;
    }
    // The nearest *reached* nodes: a level-0 beam from the entry point itself (the
    // upper levels could lead into the unreached part: a crowd of copies of one
    // vector that only link each other, from which a level-0 walk never gets out),
    // returning only reached nodes.
    let links = StoreLinks(store);
    let mut query_buf = std::mem::take(&mut s.query);
    let query = dist.row_query(q, &mut query_buf);
    let start = pack(dist.dist_to(query, ep), ep);
    beam(
        &links,
        dist,
        store.n_nodes(),
        query,
        0,
        start,
        2 * ef_construction,
        |n| n != q && reached(n),
        &mut s.search,
    );
    s.query = query_buf;
    s.found.clear();
    s.found.extend(s.search.results.drain());
    sort_candidates(q, &mut s.found);
    let want = (store.m() / 2).max(1);
    let mut linked = 0;
    for &c in &s.found {
        if linked >= want {
            break;
        }
        if append_if_room(store, row_of(c), q) {
            linked += 1;
        }
    }
    linked > 0 || s.found.iter().any(|&c| force_link(store, row_of(c), q))
}

/// Appends `q` to `nb`'s level-0 list if it has a free slot (or holds `q`
/// already); false if it is full.
fn append_if_room<S: LinkStore>(store: &S, nb: u32, q: u32) -> bool {
    link_level0(store, nb, q, false)
}

/// Puts `q` into `nb`'s level-0 list in place of its farthest-listed entry that has
/// another in-link (or into a free slot); false if every entry is some node's last.
fn force_link<S: LinkStore>(store: &S, nb: u32, q: u32) -> bool {
    link_level0(store, nb, q, true)
}

/// Under `nb`'s lock: true if `nb` lists `q` already; else appends `q` if there is
/// room, else (only if `replace`) overwrites the farthest-listed entry whose node
/// has another in-link.
fn link_level0<S: LinkStore>(store: &S, nb: u32, q: u32, replace: bool) -> bool {
    let _g = store.lock(nb);
    let slots = store.slots(nb, 0);
    let cap = slots.len() - 1;
    let count = (slots[0].load(Ordering::Acquire) as usize).min(cap);
    if slots[1..=count]
        .iter()
        .any(|a| a.load(Ordering::Acquire) == q)
    {
        return true;
    }
    if count < cap {
        slots[1 + count].store(q, Ordering::Release);
        store.in_links(q).fetch_add(1, Ordering::AcqRel);
        slots[0].store(count as u32 + 1, Ordering::Release);
        return true;
    }
    if replace {
        for slot in slots[1..=count].iter().rev() {
            let old = slot.load(Ordering::Acquire);
            if release_in_link(store.in_links(old)) {
                slot.store(q, Ordering::Release);
                store.in_links(q).fetch_add(1, Ordering::AcqRel);
                return true;
            }
        }
    }
    false
}
