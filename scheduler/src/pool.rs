//! `NumaPool`: one rayon `ThreadPool` per NUMA node, workers pinned to their PU.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::error::SchedError;
use crate::fork;
use crate::generational::Generational;
use crate::pin::{lower_current_thread_priority, pin_current_thread};
use crate::plan::{Placement, Policy, plan};
use crate::topology::Topology;

/// One rayon pool per node of a [`Placement`], each worker named
/// `sagevec-n{node}-w{i}` and (when the placement is pinned) pinned to its CPU in the
/// pool's start handler.
///
/// Nodes are addressed by *index* into [`Placement::nodes`] (`0..n_nodes()`); the OS
/// node id is `placement().nodes()[i].node`.
///
/// Fork-safe: after `fork()` the child's copy has no worker threads, so the first use
/// in the child rebuilds the pools (the parent's copies are leaked, never touched).
pub struct NumaPool {
    placement: Placement,
    /// Workers run at a lowered priority (see [`NumaPool::new_background`]).
    background: bool,
    /// The pools of this process: rebuilt on first use after a fork, the
    /// parent's leaked (see `generational`).
    current: Generational<Built>,
}

/// The pools of one process generation.
struct Built {
    pools: Vec<rayon::ThreadPool>,
    pin_failures: Arc<Mutex<Vec<String>>>,
}

impl Built {
    fn new(placement: &Placement, background: bool) -> Result<Built, SchedError> {
        let pin_failures = Arc::new(Mutex::new(Vec::new()));
        let pools = placement
            .nodes()
            .iter()
            .map(|n| {
                let node = n.node;
                let cpus: Vec<usize> = n.workers.iter().map(|w| w.cpu).collect();
                let mut builder = rayon::ThreadPoolBuilder::new()
                    .num_threads(cpus.len())
                    .thread_name(move |i| format!("sagevec-n{node}-w{i}"));
                let pinned = placement.pinned();
                if pinned || background {
                    let failures = Arc::clone(&pin_failures);
                    builder = builder.start_handler(move |i| {
                        if pinned && let Err(e) = pin_current_thread(cpus[i]) {
                            failures
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(format!("sagevec-n{node}-w{i} on CPU {}: {e}", cpus[i]));
                        }
                        if background {
                            // Best effort: a failure only costs readers latency.
                            let _ = lower_current_thread_priority(BACKGROUND_NICE);
                        }
                    });
                }
                builder.build().map_err(|e| SchedError::Pool(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Every worker runs its start handler before any job: after this, all are
        // pinned (or have recorded why not).
        for pool in &pools {
            pool.broadcast(|_| ());
        }
        Ok(Built {
            pools,
            pin_failures,
        })
    }
}

/// How many nice steps background pools' workers run below the thread that
/// builds the pool (capped at 19).
pub const BACKGROUND_NICE: i32 = 10;

impl NumaPool {
    /// Builds the pools of `placement` now (threads started and pinned).
    pub fn new(placement: Placement) -> Result<NumaPool, SchedError> {
        NumaPool::build(placement, false)
    }

    /// Like [`new`](Self::new), but every worker runs [`BACKGROUND_NICE`] nice
    /// steps below the calling thread (nice 10 from a process at nice 0, capped
    /// at 19): for background work (index builds) that should use
    /// idle cores and yield them to normal-priority threads (searches) that want
    /// them. Linux only; elsewhere the same as `new`.
    pub fn new_background(placement: Placement) -> Result<NumaPool, SchedError> {
        NumaPool::build(placement, true)
    }

    fn build(placement: Placement, background: bool) -> Result<NumaPool, SchedError> {
        if placement.n_threads() == 0 {
            return Err(SchedError::Pool("the placement has no worker".into()));
        }
        fork::register();
        let built = Built::new(&placement, background)?;
        Ok(NumaPool {
            background,
            placement,
            current: Generational::new(built, fork::generation),
        })
    }

    /// The pool this process's environment asks for: [`Topology::from_env`]
    /// (`SAGEVEC_TOPOLOGY`), [`Policy::from_env`] (`SAGEVEC_NUM_THREADS`,
    /// `SAGEVEC_PIN`), then [`plan`].
    pub fn from_env() -> Result<NumaPool, SchedError> {
        let topo = Topology::from_env()?;
        let policy = Policy::from_env()?;
        NumaPool::new(plan(&topo, &policy)?)
    }

    /// One lazily built [`from_env`](Self::from_env) pool per process, for callers
    /// that were not given a pool. Library code should prefer a pool passed in.
    pub fn process_wide() -> Result<&'static NumaPool, SchedError> {
        static POOL: OnceLock<Result<NumaPool, SchedError>> = OnceLock::new();
        POOL.get_or_init(NumaPool::from_env)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The plan this pool runs.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Number of nodes (and of rayon pools).
    pub fn n_nodes(&self) -> usize {
        self.placement.n_nodes()
    }

    /// Total number of workers over all nodes.
    pub fn n_threads(&self) -> usize {
        self.placement.n_threads()
    }

    /// Workers of node index `node`. Panics if `node >= n_nodes()`.
    pub fn node_threads(&self, node: usize) -> usize {
        self.placement.nodes()[node].workers.len()
    }

    /// Workers that could not be pinned, with the OS error (empty when all are, or
    /// when the placement is not pinned).
    pub fn pin_failures(&self) -> Vec<String> {
        self.built()
            .pin_failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `f` inside node index `node`'s pool: rayon calls in `f` (`join`,
    /// parallel iterators) use that node's workers. Panics if `node >= n_nodes()`.
    pub fn install<R: Send>(&self, node: usize, f: impl FnOnce() -> R + Send) -> R {
        self.built().pools[node].install(f)
    }

    /// A rayon scope on node index `node`'s pool: `s.spawn` runs there, and the call
    /// returns when everything spawned has finished. Panics if `node >= n_nodes()`.
    pub fn scope<'scope, R: Send>(
        &self,
        node: usize,
        op: impl FnOnce(&rayon::Scope<'scope>) -> R + Send,
    ) -> R {
        self.built().pools[node].scope(op)
    }

    /// Runs `f(node)` once per node, each inside its node's pool, all nodes at once;
    /// returns the results by node index.
    pub fn broadcast<R: Send>(&self, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
        let built = self.built();
        let n = built.pools.len();
        if n == 1 {
            return vec![built.pools[0].install(|| f(0))];
        }
        let mut slots: Vec<Option<R>> = (0..n).map(|_| None).collect();
        let f = &f;
        // The scope runs on node 0's pool. Each spawned job hands its node's call to
        // that node's pool; a node-0 worker waiting for one keeps running node 0's
        // jobs meanwhile, so every node starts at once even if node 0 has 1 worker.
        built.pools[0].scope(|s| {
            for (i, slot) in slots.iter_mut().enumerate() {
                let pool = &built.pools[i];
                s.spawn(move |_| {
                    *slot = Some(if i == 0 { f(0) } else { pool.install(|| f(i)) });
                });
            }
        });
        slots
            .into_iter()
            .map(|r| r.expect("the scope ran every node's job"))
            .collect()
    }

    /// `0..len` split into one range per node index, in proportion to its workers;
    /// the ranges are contiguous, in node order, and cover every item exactly once.
    pub fn split_range(&self, len: usize) -> Vec<(usize, Range<usize>)> {
        self.placement.split_range(len)
    }

    /// [`broadcast`](Self::broadcast) over [`split_range`](Self::split_range): node
    /// `i` runs `f(i, range_i)` in its pool (also for an empty range).
    pub fn broadcast_range<R: Send>(
        &self,
        len: usize,
        f: impl Fn(usize, Range<usize>) -> R + Sync,
    ) -> Vec<R> {
        let parts = self.split_range(len);
        self.broadcast(|node| f(node, parts[node].1.clone()))
    }

    /// The pools for this process, rebuilt first if we are in a forked child.
    fn built(&self) -> &Built {
        self.current.get(|| {
            Built::new(&self.placement, self.background).unwrap_or_else(|e| {
                panic!("sagevec: rebuilding the NumaPool after fork failed: {e}")
            })
        })
    }
}

impl fmt::Debug for NumaPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NumaPool")
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for NumaPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.placement)?;
        for failure in self.pin_failures() {
            write!(f, "\n  pinning failed: {failure}")?;
        }
        Ok(())
    }
}
