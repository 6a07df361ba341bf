//! The background builder: the work that keeps the live graph healthy, off the
//! callers' threads and never in a reader's way.
//!
//! - **Compaction**: when removed (or replaced) rows pass `max_deleted_fraction`
//!   of the slots, when more than 1% of the rows had their f16 walk copy clipped,
//!   or on [`Index::compact`](crate::Index::compact), the graph is rebuilt from the
//!   live rows on the builder's pool, then catches up with the writes made while it
//!   was built (up to four passes over the new slots while writes go on, until one
//!   is short), and is swapped in under the writer lock once no write is in flight,
//!   after a last pass over whatever came meanwhile (writers wait for that pass). Readers keep
//!   walking the old graph until the swap, and the old graph is freed here, once no
//!   snapshot holds it.
//! - **Reachability repair**: an insert links a node before it is acknowledged, so
//!   every acknowledged node is reachable then; but a later insert's pruning can,
//!   rarely, leave a node whose only in-links come from nodes no walk reaches (the
//!   last-in-link rule protects each node's last link, not a path). So after the
//!   graph has grown by a tenth (and at least 4096 slots) since the last check, and
//!   whenever [`Index::wait_for_builds`](crate::Index::wait_for_builds) asks with
//!   writes made since, a breadth-first walk of level 0 from the entry point finds
//!   the live nodes no walk reaches, and each is linked again from its nearest
//!   reachable neighbours (counted in `stats().repairs`).
//! - **Checkpoints** of a durable index, when its log outgrows its budget.
//!
//! Requests are nudges ("look again"); requests that arrive during a pass are
//! coalesced. A job that panics or fails is caught: the index keeps its graph, the
//! error is counted and kept for `stats()`, and a failed compaction is not retried
//! until `compact()` asks again.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use sagevec_scheduler::{NumaPool, Par};

use crate::error::IndexError;
use crate::index::{Inner, new_graph_with};
use crate::live::LiveGraph;
use crate::shared::Shared;
use crate::snapshot::IdMap;
use crate::stats::Counters;

/// Slots of growth between two reachability checks: a tenth of the graph, at least
/// this many.
const REPAIR_MIN_GROWTH: usize = 4096;
/// A catch-up pass this short is the last one run while writers go on.
const FINAL_CATCH_UP: usize = 256;
/// Most catch-up passes run while writers go on; the next runs with them held off.
const CATCH_UP_PASSES: usize = 4;
/// Rows per fill of a compaction's copy.
const COPY_BATCH: usize = 4096;
/// How often an idle builder looks whether a replaced graph can be freed.
const RETIRED_POLL: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Debug, Default)]
struct Queue {
    /// Nudges received.
    requested: u64,
    /// Nudges fully handled (a pass that started after them found nothing to do).
    completed: u64,
    compact: bool,
    /// `wait_for_builds` asked: check reachability if anything was written since.
    settle: bool,
    stop: bool,
    /// A compaction failed: not retried until `compact()` asks.
    compaction_failed: bool,
    last_error: Option<String>,
}

/// Shared control block of the builder thread.
#[derive(Debug)]
pub(crate) struct BuilderCtl {
    queue: Mutex<Queue>,
    wake: Condvar,
    idle: Condvar,
    /// Test hook (feature `test-hooks`): compactions that must panic.
    #[cfg(feature = "test-hooks")]
    pub(crate) inject_panics: AtomicUsize,
    /// Raised by `stop`: a compaction in progress gives up.
    cancel: AtomicBool,
    /// The builder's own workers, at a lowered priority so builds use idle cores
    /// and yield them to searches (built on first use), with the id of the process
    /// that built them: a forked child has none of their threads. Large writes
    /// link on them.
    pool: std::sync::OnceLock<(u32, Option<NumaPool>)>,
    /// Slot count at which the next reachability check is due.
    next_repair_at: AtomicUsize,
    /// Rows written or removed since the last reachability check.
    writes_since_check: std::sync::atomic::AtomicU64,
    /// Graphs replaced by a compaction: freed here once no snapshot holds them.
    retired: Mutex<Vec<Arc<LiveGraph>>>,
}

impl BuilderCtl {
    pub(crate) fn new() -> Self {
        BuilderCtl {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            idle: Condvar::new(),
            #[cfg(feature = "test-hooks")]
            inject_panics: AtomicUsize::new(0),
            cancel: AtomicBool::new(false),
            pool: std::sync::OnceLock::new(),
            next_repair_at: AtomicUsize::new(REPAIR_MIN_GROWTH),
            writes_since_check: std::sync::atomic::AtomicU64::new(0),
            retired: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the builder to look for work.
    pub(crate) fn request(&self) -> u64 {
        let mut q = self.lock();
        q.requested += 1;
        self.wake.notify_all();
        q.requested
    }

    /// Asks for a compaction (and a retry of a failed one).
    pub(crate) fn request_compaction(&self) {
        {
            let mut q = self.lock();
            q.compact = true;
            q.compaction_failed = false;
        }
        self.request();
    }

    /// Blocks until a pass that started after this call found nothing left to do
    /// (reachability checked if anything was written since the last check).
    pub(crate) fn wait_idle(&self) {
        self.lock().settle = true;
        let target = self.request();
        let mut q = self.lock();
        while q.completed < target && !q.stop {
            q = self.idle.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub(crate) fn stop(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        self.lock().stop = true;
        self.wake.notify_all();
        self.idle.notify_all();
    }

    pub(crate) fn last_error(&self) -> Option<String> {
        self.lock().last_error.clone()
    }

    /// Counts rows a write added or removed (a reachability check is then due at
    /// the next `wait_for_builds`).
    pub(crate) fn note_writes(&self, rows: u64) {
        self.writes_since_check.fetch_add(rows, Ordering::Relaxed);
    }

    /// Whether a write that left `graph` at its size should nudge the builder (a
    /// reachability check is due).
    pub(crate) fn wants_look(&self, graph: &LiveGraph) -> bool {
        graph.slots() >= self.next_repair_at.load(Ordering::Relaxed)
    }

    /// The workers large inserts run on: the builder's pool (built from the
    /// index's placement on first use), or the caller's thread without one.
    /// In a forked child (whose copy of the pool has no threads) it is the
    /// caller's thread.
    pub(crate) fn bulk_par<'a>(&'a self, shared: &Shared) -> Par<'a> {
        let (pid, pool) = self.pool.get_or_init(|| {
            let pool = shared
                .par()
                .ok()
                .and_then(|p| p.pool().map(|p| p.placement().clone()))
                .and_then(|placement| NumaPool::new_background(placement).ok());
            (std::process::id(), pool)
        });
        match pool {
            Some(p) if *pid == std::process::id() => Par::Pool(p),
            _ => Par::Seq,
        }
    }

    fn retired_is_empty(&self) -> bool {
        self.retired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// Keeps a replaced graph until no snapshot holds it, and frees those that
    /// only this list still holds.
    fn retire(&self, graph: Option<Arc<LiveGraph>>) {
        let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
        retired.extend(graph);
        retired.retain(|g| Arc::strong_count(g) > 1);
    }
}

/// Starts the builder thread of `inner`.
pub(crate) fn spawn(inner: Arc<Inner>) -> Result<JoinHandle<()>, IndexError> {
    std::thread::Builder::new()
        .name("sagevec-builder".into())
        .spawn(move || run(&inner))
        .map_err(|e| IndexError::spawn("sagevec-builder", &e))
}

/// A unit of background work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Job {
    Compact,
    Repair,
    Checkpoint,
}

fn run(inner: &Inner) {
    let ctl = &inner.builder;
    loop {
        let period = inner.durable.as_ref().and_then(|d| d.sync_period());
        let (target, mut compact, mut settle) = {
            let mut q = ctl.lock();
            while !q.stop && q.completed == q.requested {
                // Wake up on time for a periodic sync, and while replaced graphs
                // wait for their last snapshot to go, to free them then.
                let holding = !ctl.retired_is_empty();
                let nap = match (period, holding) {
                    (Some(p), true) => Some(p.min(RETIRED_POLL)),
                    (Some(p), false) => Some(p),
                    (None, true) => Some(RETIRED_POLL),
                    (None, false) => None,
                };
                match nap {
                    None => q = ctl.wake.wait(q).unwrap_or_else(|e| e.into_inner()),
                    Some(nap) => {
                        let (g, timeout) = ctl
                            .wake
                            .wait_timeout(q, nap)
                            .unwrap_or_else(|e| e.into_inner());
                        q = g;
                        if timeout.timed_out() {
                            drop(q);
                            if period.is_some() {
                                periodic_sync(inner);
                            }
                            ctl.retire(None);
                            q = ctl.lock();
                        }
                    }
                }
            }
            if q.stop {
                return;
            }
            (
                q.requested,
                std::mem::take(&mut q.compact),
                std::mem::take(&mut q.settle),
            )
        };
        loop {
            let (stop, failed) = {
                let q = ctl.lock();
                (q.stop, q.compaction_failed)
            };
            if stop {
                return;
            }
            ctl.retire(None);
            inner.current.load().graph.sweep();
            let Some(job) = next_job(inner, compact, settle, failed) else {
                break;
            };
            match job {
                Job::Compact => compact = false,
                Job::Repair => settle = false,
                Job::Checkpoint => {}
            }
            let outcome = catch_unwind(AssertUnwindSafe(|| run_job(inner, job)));
            let error = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(IndexError::Cancelled)) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(panic) => Some(
                    panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "builder panicked".into()),
                ),
            };
            if let Some(e) = error
                && !ctl.cancel.load(Ordering::SeqCst)
            {
                record_error(inner, format!("{job:?}: {e}"), job);
            }
        }
        let mut q = ctl.lock();
        q.completed = q.completed.max(target);
        ctl.idle.notify_all();
    }
}

/// Syncs a `Durability::Periodic` log that holds unsynced writes.
fn periodic_sync(inner: &Inner) {
    if let Some(d) = &inner.durable
        && let Err(e) = d.sync()
    {
        record_error(inner, format!("periodic sync: {e}"), Job::Checkpoint);
    }
}

/// Counts a builder failure and keeps its message; a failed compaction is not
/// retried until `compact()` asks.
fn record_error(inner: &Inner, message: String, job: Job) {
    Counters::bump(&inner.shared.counters.builder_errors, 1);
    let mut q = inner.builder.lock();
    q.last_error = Some(message);
    if job == Job::Compact {
        q.compaction_failed = true;
    }
}

/// The next job the current state calls for, if any.
fn next_job(inner: &Inner, compact: bool, settle: bool, compaction_failed: bool) -> Option<Job> {
    let state = inner.current.load_full();
    let slots = state.bound;
    let removed = slots - state.ids.len();
    let clipped = state.graph.clipped() as usize;
    // Asked for: whenever there is something to drop or refit.
    if compact && (removed > 0 || clipped > 0) {
        return Some(Job::Compact);
    }
    if !compaction_failed
        && slots > 0
        && (removed as f64 > inner.shared.max_deleted_fraction * slots as f64
            || clipped * 100 > slots)
    {
        return Some(Job::Compact);
    }
    let ctl = &inner.builder;
    if slots >= ctl.next_repair_at.load(Ordering::Relaxed)
        || (settle && ctl.writes_since_check.load(Ordering::Relaxed) > 0)
    {
        return Some(Job::Repair);
    }
    if let Some(d) = &inner.durable
        && d.wants_checkpoint(&state)
    {
        return Some(Job::Checkpoint);
    }
    None
}

fn run_job(inner: &Inner, job: Job) -> Result<(), IndexError> {
    match job {
        Job::Compact => compact(inner),
        Job::Repair => {
            repair(inner);
            Ok(())
        }
        Job::Checkpoint => {
            let d = inner.durable.as_ref().expect("checkpoint jobs are durable");
            d.checkpoint(inner)?;
            Counters::bump(&inner.shared.counters.checkpoints, 1);
            Ok(())
        }
    }
}

/// Links again every live node a walk cannot reach, and schedules the next check.
pub(crate) fn repair(inner: &Inner) {
    inner.builder.writes_since_check.store(0, Ordering::Relaxed);
    let state = inner.current.load_full();
    let graph = &state.graph;
    let fixed = graph.repair_unreachable(state.bound, state.version);
    Counters::bump(&inner.shared.counters.repairs, fixed as u64);
    let next = state.bound + (state.bound / 10).max(REPAIR_MIN_GROWTH);
    inner.builder.next_repair_at.store(next, Ordering::Relaxed);
}

/// Rebuilds the graph without removed rows, catching up with writes made
/// meanwhile, then swaps it in (see the module docs).
fn compact(inner: &Inner) -> Result<(), IndexError> {
    let ctl = &inner.builder;
    #[cfg(feature = "test-hooks")]
    if ctl
        .inject_panics
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        panic!("injected builder fault");
    }
    let shared = &inner.shared;
    let first = inner.current.load_full();
    let old = first.graph.clone();
    let config = shared.config();
    let new = new_graph_with(&config, &old.params, old.uid + 1)?;
    // The f16 scale, fitted again to every live row.
    if new.walks_f16() && new.f16_scale().is_none() {
        let view = old.view(first.bound);
        let mut max_abs = 0.0f32;
        for slot in 0..first.bound {
            if view.alive_at(slot, first.version) {
                max_abs = view
                    .vector(slot)
                    .iter()
                    .fold(max_abs, |m, x| m.max(x.abs()));
            }
        }
        new.fit_f16_scale(max_abs);
    }
    // old slot -> new slot, for every slot copied.
    let mut moved: Vec<u32> = Vec::new();
    let mut copied = 0;
    let par = ctl.bulk_par(shared);
    // Catch-up passes with writers running, until one is short; writes faster
    // than the copy would never let that happen, so after a few passes the last
    // one runs with writers held off, however long it is.
    for _ in 0..CATCH_UP_PASSES {
        let s = inner.current.load_full();
        if !Arc::ptr_eq(&s.graph, &old) {
            return Err(IndexError::Cancelled);
        }
        let pending = s.bound - copied;
        copy_live(&old, &new, &s, copied, &mut moved, par, &ctl.cancel)?;
        copied = s.bound;
        if pending <= FINAL_CATCH_UP {
            break;
        }
    }
    // The last writes, with writers held off (readers are not).
    let writer = inner.lock_writer();
    let mut turn = inner.turns.quiesce(inner, &writer);
    let s = turn.current();
    copy_live(&old, &new, &s, copied, &mut moved, par, &ctl.cancel)?;
    let mut ids = IdMap::new();
    for (&id, &slot) in s.ids.iter() {
        let at = moved[slot as usize];
        debug_assert_ne!(at, u32::MAX, "a live row was copied");
        ids.insert(id, at);
    }
    // Copied rows removed or replaced since: dead in the new graph from its start.
    let live: std::collections::HashSet<u32> = ids.values().copied().collect();
    new.kill_except(&live);
    let bound = new.slots();
    turn.publish_next(bound, ids, new);
    drop(turn);
    drop(writer);
    Counters::bump(&shared.counters.compactions, 1);
    ctl.retire(Some(old));
    ctl.next_repair_at.store(
        bound + (bound / 10).max(REPAIR_MIN_GROWTH),
        Ordering::Relaxed,
    );
    Ok(())
}

/// Copies the rows of `old`'s slots `from..state.bound` that are live at `state`
/// into `new` and links them there; `moved[old slot] = new slot` (`u32::MAX` for a
/// slot not copied).
fn copy_live(
    old: &LiveGraph,
    new: &LiveGraph,
    state: &crate::snapshot::State,
    from: usize,
    moved: &mut Vec<u32>,
    par: Par<'_>,
    cancel: &AtomicBool,
) -> Result<(), IndexError> {
    let view = old.view(state.bound);
    let dim = old.dim;
    moved.resize(state.bound, u32::MAX);
    let mut rows = Vec::with_capacity(COPY_BATCH * dim);
    let mut ids = Vec::with_capacity(COPY_BATCH);
    let mut meta = Vec::with_capacity(COPY_BATCH);
    let mut slot = from;
    while slot < state.bound {
        rows.clear();
        ids.clear();
        meta.clear();
        let first = new.slots();
        while slot < state.bound && ids.len() < COPY_BATCH {
            if view.alive_at(slot, state.version) {
                moved[slot] = (first + ids.len()) as u32;
                rows.extend_from_slice(view.vector(slot));
                ids.push(view.id(slot));
                meta.push(view.metadata(slot).cloned());
            }
            slot += 1;
        }
        if ids.is_empty() {
            continue;
        }
        let reserved = new.reserve(ids.len(), &rows)?;
        let mut it = meta.drain(..);
        let filled = new.fill(reserved, &rows, &ids, Some(&mut it));
        if !new.link_cancellable(&filled, par, cancel) {
            return Err(IndexError::Cancelled);
        }
    }
    Ok(())
}
