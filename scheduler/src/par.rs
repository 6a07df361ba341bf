//! `Par`: parallelism passed as an argument (CONVENTIONS 8, faer's `Par`).

use std::ops::Range;

use crate::pool::NumaPool;

/// How a library call may run: on the caller's thread, or on a given [`NumaPool`].
///
/// Library code takes `par: Par` instead of reaching for a global pool; rayon's
/// global pool is never used. Under `Seq`, code must not call rayon's parallel
/// iterators itself (they would run on rayon's global pool): check [`Par::is_seq`].
#[derive(Clone, Copy, Debug, Default)]
pub enum Par<'a> {
    /// Everything on the calling thread.
    #[default]
    Seq,
    /// Work split over the pool's nodes and run by its pinned workers.
    Pool(&'a NumaPool),
}

impl<'a> From<&'a NumaPool> for Par<'a> {
    fn from(pool: &'a NumaPool) -> Self {
        Par::Pool(pool)
    }
}

impl<'a> Par<'a> {
    /// Whether work runs on the caller's thread only.
    pub fn is_seq(self) -> bool {
        matches!(self, Par::Seq)
    }

    /// The pool, if any.
    pub fn pool(self) -> Option<&'a NumaPool> {
        match self {
            Par::Seq => None,
            Par::Pool(p) => Some(p),
        }
    }

    /// Workers available: 1 for `Seq`.
    pub fn n_threads(self) -> usize {
        match self {
            Par::Seq => 1,
            Par::Pool(p) => p.n_threads(),
        }
    }

    /// Nodes work is split over: 1 for `Seq`.
    pub fn n_nodes(self) -> usize {
        match self {
            Par::Seq => 1,
            Par::Pool(p) => p.n_nodes(),
        }
    }

    /// `0..len` split over nodes in proportion to their workers (`Seq`: one range).
    pub fn split_range(self, len: usize) -> Vec<(usize, Range<usize>)> {
        match self {
            Par::Seq => vec![(0, 0..len)],
            Par::Pool(p) => p.split_range(len),
        }
    }

    /// Runs `f(node, range)` for every piece of [`split_range`](Self::split_range),
    /// each inside its node's pool, all nodes at once; `Seq` calls `f(0, 0..len)` here.
    pub fn broadcast_range<R: Send>(
        self,
        len: usize,
        f: impl Fn(usize, Range<usize>) -> R + Sync,
    ) -> Vec<R> {
        match self {
            Par::Seq => vec![f(0, 0..len)],
            Par::Pool(p) => p.broadcast_range(len, f),
        }
    }

    /// Runs `f` inside node `node`'s pool (`Seq`: on the calling thread).
    pub fn install<R: Send>(self, node: usize, f: impl FnOnce() -> R + Send) -> R {
        match self {
            Par::Seq => f(),
            Par::Pool(p) => p.install(node, f),
        }
    }
}
