//! Parallel HNSW construction into a private graph (no reader sees it until it is
//! frozen): flat link arrays allocated up front (the levels are known), filled by
//! every worker running the shared insertion (`insert.rs`).
//!
//! Levels are drawn up front from the seeded generator. Workers take rows from a
//! shared counter in row order, so a parallel build inserts in nearly the same order
//! as a sequential one.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sagevec_scheduler::{Par, rayon};

use super::insert::{self, InsertScratch, LinkStore, NO_ENTRY, unpack_entry};
use super::params::GraphParams;
use super::search::BuildDistance;
use crate::sync::{AtomicU32, AtomicU64, Mutex, MutexGuard};

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
    in_links: Vec<AtomicU32>,
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

impl<D: BuildDistance> LinkStore for Builder<'_, D> {
    fn m(&self) -> usize {
        self.m
    }

    fn n_nodes(&self) -> usize {
        self.levels.len()
    }

    #[inline(always)]
    fn level(&self, node: u32) -> usize {
        self.levels[node as usize] as usize
    }

    #[inline(always)]
    fn slots(&self, node: u32, level: usize) -> &[AtomicU32] {
        if level == 0 {
            let stride = 1 + 2 * self.m;
            &self.level0[node as usize * stride..(node as usize + 1) * stride]
        } else {
            debug_assert!(level <= self.levels[node as usize] as usize);
            let stride = 1 + self.m;
            let start = self.upper_start[node as usize] + (level - 1) * stride;
            &self.upper[start..start + stride]
        }
    }

    #[inline(always)]
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
            in_links: (0..n).map(|_| AtomicU32::new(0)).collect(),
            locks: (0..n).map(|_| Mutex::new(())).collect(),
            entry: AtomicU64::new(NO_ENTRY),
            raise: Mutex::new(()),
        }
    }

    /// Inserts every row on `par`, then hands the arrays over; `None` if `cancel`
    /// was raised first (checked between insertions, so a cancelled build stops
    /// within one insertion per worker).
    pub(crate) fn run(self, par: Par<'_>, cancel: &AtomicBool) -> Option<Built> {
        let n = self.n_nodes();
        if n > 0 {
            let mut scratch = InsertScratch::default();
            insert::insert(&self, &self.dist, 0, self.ef_construction, &mut scratch);
            let next = AtomicUsize::new(1);
            let work = || {
                let mut scratch = InsertScratch::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    insert::insert(
                        &self,
                        &self.dist,
                        i as u32,
                        self.ef_construction,
                        &mut scratch,
                    );
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
            level0: self
                .level0
                .iter()
                .map(|a| a.load(Ordering::Relaxed))
                .collect(),
            upper: self
                .upper
                .iter()
                .map(|a| a.load(Ordering::Relaxed))
                .collect(),
            upper_start: self.upper_start,
            entry,
        })
    }
}
