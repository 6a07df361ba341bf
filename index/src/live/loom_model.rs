//! A loom model of the live graph's insert / publish protocol, run with
//! `RUSTFLAGS="--cfg sagevec_loom" cargo test -p sagevec-index --release --lib loom`.
//!
//! It drives the production insertion (`graph::insert::insert`, with the
//! production list reads and writes and the last-in-link rule) over a tiny link
//! store whose vectors live in loom `UnsafeCell`s, so loom reports any read of a
//! vector that its write does not happen-before. The snapshot's slot bound is a
//! release store that readers acquire (in production an `ArcSwap` publish), and
//! writers commit in slot order, as tickets do. Every interleaving (up to the
//! preemption bound) is checked for:
//! - a reader never returns a slot at or beyond the bound it loaded;
//! - a reader never reads a torn list entry (every id it reads names an inserted
//!   node, whose vector it can read race-free);
//! - every node below the bound a reader loaded is reachable from the entry point
//!   in that reader's walk of level 0 (no pruning happens in the first model, so a
//!   walk cannot miss a committed node), and every node once all writers are done.

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

use crate::graph::insert::{self, InsertScratch, LinkStore, NO_ENTRY, pack_entry, unpack_entry};
use crate::graph::search::{BuildDistance, SearchScratch, WalkDistance, beam};
use crate::graph::visited::{pack, row_of};
use crate::sync::{AtomicU32, AtomicU64, Mutex, MutexGuard};

const DIM: usize = 2;
const M: usize = 1;

/// A fixed store of `n` level-0 nodes (level 0 lists of `2m` = 2 links).
struct Model {
    lists: Vec<AtomicU32>,
    in_links: Vec<AtomicU32>,
    locks: Vec<Mutex<()>>,
    entry: AtomicU64,
    raise: Mutex<()>,
    vectors: Vec<UnsafeCell<[f32; DIM]>>,
    /// Nodes a snapshot may return: `0..bound`.
    bound: AtomicU64,
    /// Written (by the writer that owns it) before it is inserted: a debugging aid
    /// that the walk only meets written nodes.
    written: Vec<AtomicBool>,
}

// SAFETY: the vector cells are loom's `UnsafeCell`s, every access goes through
// `with`/`with_mut`, and loom checks each one against the happens-before order
// (the point of the model); everything else is atomics and mutexes.
unsafe impl Sync for Model {}

impl Model {
    fn new(n: usize) -> Self {
        Model {
            lists: (0..n * (1 + 2 * M)).map(|_| AtomicU32::new(0)).collect(),
            in_links: (0..n).map(|_| AtomicU32::new(0)).collect(),
            locks: (0..n).map(|_| Mutex::new(())).collect(),
            entry: AtomicU64::new(NO_ENTRY),
            raise: Mutex::new(()),
            vectors: (0..n).map(|_| UnsafeCell::new([0.0; DIM])).collect(),
            bound: AtomicU64::new(0),
            written: (0..n).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// The writer's step 1: the node's vector (only its writer touches it now).
    fn write(&self, node: u32, v: [f32; DIM]) {
        self.vectors[node as usize].with_mut(|p| {
            // SAFETY: loom's cell: the writer owns the node until it links it.
            unsafe { *p = v }
        });
        self.written[node as usize].store(true, Ordering::Relaxed);
    }

    fn vector(&self, node: u32) -> [f32; DIM] {
        // SAFETY: loom's cell; loom itself reports a read that races the write.
        self.vectors[node as usize].with(|p| unsafe { *p })
    }

    /// Commits `node` after every node before it (tickets in slot order).
    fn commit(&self, node: u32) {
        while self.bound.load(Ordering::Acquire) < u64::from(node) {
            thread::yield_now();
        }
        self.bound.store(u64::from(node) + 1, Ordering::Release);
    }
}

impl LinkStore for Model {
    fn m(&self) -> usize {
        M
    }
    fn n_nodes(&self) -> usize {
        self.in_links.len()
    }
    fn level(&self, _node: u32) -> usize {
        0
    }
    fn slots(&self, node: u32, level: usize) -> &[AtomicU32] {
        assert_eq!(level, 0);
        let s = 1 + 2 * M;
        &self.lists[node as usize * s..(node as usize + 1) * s]
    }
    fn in_links(&self, node: u32) -> &AtomicU32 {
        &self.in_links[node as usize]
    }
    fn lock(&self, node: u32) -> MutexGuard<'_, ()> {
        insert::lock(&self.locks[node as usize])
    }
    fn entry(&self) -> &AtomicU64 {
        &self.entry
    }
    fn raise(&self) -> &Mutex<()> {
        &self.raise
    }
}

/// Squared L2 over the model's cells.
struct Dist<'a>(&'a Model);

impl WalkDistance for Dist<'_> {
    fn dist_to(&self, query: &[f32], node: u32) -> f32 {
        let v = self.0.vector(node);
        query.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum()
    }
    fn gather(&self, query: &[f32], ids: &[u32], out: &mut [f32]) {
        for (o, &id) in out.iter_mut().zip(ids) {
            *o = self.dist_to(query, id);
        }
    }
}

impl BuildDistance for Dist<'_> {
    fn row_query<'b>(&'b self, i: u32, buf: &'b mut Vec<f32>) -> &'b [f32] {
        buf.clear();
        buf.extend(self.0.vector(i));
        buf
    }
}

/// A reader: loads the bound, walks from the entry point, and checks its results
/// and what its walk reached.
fn read(model: &Model, query: [f32; DIM]) {
    let bound = model.bound.load(Ordering::Acquire) as usize;
    let entry = model.entry.load(Ordering::Acquire);
    if entry == NO_ENTRY {
        assert_eq!(bound, 0, "a committed node but no entry point");
        return;
    }
    let (ep, _) = unpack_entry(entry);
    let dist = Dist(model);
    let links = insert::StoreLinks(model);
    let mut scratch = SearchScratch::default();
    let start = pack(dist.dist_to(&query, ep), ep);
    beam(
        &links,
        &dist,
        model.n_nodes(),
        &query,
        0,
        start,
        8,
        |slot| (slot as usize) < bound,
        &mut scratch,
    );
    for &key in scratch.results.iter() {
        assert!(
            (row_of(key) as usize) < bound,
            "returned a slot past the bound"
        );
    }
    // Every committed node is reachable in this reader's walk of level 0.
    let mut seen = vec![false; model.n_nodes()];
    let mut stack = vec![ep];
    seen[ep as usize] = true;
    let mut out = Vec::new();
    while let Some(n) = stack.pop() {
        assert!(
            model.written[n as usize].load(Ordering::Relaxed),
            "reached a node before it was written"
        );
        let _ = model.vector(n); // race-free: loom checks it
        out.clear();
        insert::read_links(model, n, 0, &mut out);
        for &t in &out {
            assert!((t as usize) < model.n_nodes(), "a torn list entry {t}");
            if !std::mem::replace(&mut seen[t as usize], true) {
                stack.push(t);
            }
        }
    }
    for (node, &s) in seen.iter().enumerate().take(bound) {
        assert!(s, "committed node {node} (bound {bound}) is unreachable");
    }
}

fn insert_node(model: &Model, node: u32, v: [f32; DIM]) {
    model.write(node, v);
    let mut scratch = InsertScratch::default();
    insert::insert(model, &Dist(model), node, 4, &mut scratch);
    model.commit(node);
}

fn bounded() -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(
        std::env::var("LOOM_MAX_PREEMPTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2),
    );
    b
}

/// Two writers insert nodes 1 and 2 (node 0 is the entry) while a reader walks.
#[test]
fn loom_two_inserts_and_a_reader() {
    bounded().check(|| {
        let model = Arc::new(Model::new(3));
        model.write(0, [0.0, 0.0]);
        model.entry.store(pack_entry(0, 0), Ordering::Release);
        model.bound.store(1, Ordering::Release);
        let w1 = {
            let m = model.clone();
            thread::spawn(move || insert_node(&m, 1, [1.0, 0.0]))
        };
        let w2 = {
            let m = model.clone();
            thread::spawn(move || insert_node(&m, 2, [0.0, 1.0]))
        };
        read(&model, [0.9, 0.1]);
        w1.join().unwrap();
        w2.join().unwrap();
        read(&model, [0.1, 0.9]);
        assert_eq!(model.bound.load(Ordering::Acquire), 3);
    });
}

/// Node 3 is inserted into a full graph (its neighbours' lists are pruned) while a
/// reader walks: every entry it reads is an inserted node, and afterwards every
/// node is reachable (the last-in-link rule).
#[test]
fn loom_an_insert_that_prunes_and_a_reader() {
    bounded().check(|| {
        let model = Arc::new(Model::new(4));
        model.write(0, [0.0, 0.0]);
        model.entry.store(pack_entry(0, 0), Ordering::Release);
        model.bound.store(1, Ordering::Release);
        insert_node(&model, 1, [1.0, 0.0]);
        insert_node(&model, 2, [2.0, 0.0]);
        let w = {
            let m = model.clone();
            thread::spawn(move || insert_node(&m, 3, [0.5, 0.1]))
        };
        read(&model, [0.4, 0.0]);
        w.join().unwrap();
        read(&model, [1.9, 0.0]);
    });
}
