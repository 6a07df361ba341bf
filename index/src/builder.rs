//! The background builder: builds graphs for sealed segments and merges small or
//! holed segments, off the caller's thread and outside the writer lock, then
//! swaps the result in with one publish.
//!
//! Jobs are found by looking at the current snapshot, so a request is only a
//! nudge ("look again"); requests that arrive during a pass are coalesced. A job
//! that panics or fails is caught: the index keeps its old segments, the error
//! is counted and kept for `stats()`, and the segment is not retried until
//! `compact()` asks for it.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use sagevec_scheduler::{NumaPool, Par};

use crate::arena::{ALIVE, RowTable, VectorArena};
use crate::error::IndexError;
use crate::graph::{Graph, VectorRows};
use crate::index::Inner;
use crate::segment::{Segment, SegmentKind, Vectors};
use crate::snapshot::{Loc, State};
use crate::stats::Counters;

/// Most segments one merge takes.
const MAX_MERGE_WAY: usize = 8;
/// Small segments that must pile up before they are merged (fewer merges, each
/// rebuilding fewer rows again).
const MIN_MERGE_WAY: usize = 4;

#[derive(Debug, Default)]
struct Queue {
    /// Nudges received.
    requested: u64,
    /// Nudges fully handled (a pass that started after them found nothing to do).
    completed: u64,
    compact: bool,
    stop: bool,
    /// Segments whose build failed; skipped until a compaction.
    failed: HashSet<u64>,
    last_error: Option<String>,
}

/// Shared control block of the builder thread.
#[derive(Debug)]
pub(crate) struct BuilderCtl {
    queue: Mutex<Queue>,
    wake: Condvar,
    idle: Condvar,
    /// Test hook: builds that must panic.
    pub(crate) inject_panics: AtomicUsize,
    /// Raised by `stop`: a graph build in progress gives up.
    cancel: AtomicBool,
    /// The builder's own workers, at a lowered priority so builds use idle cores
    /// and yield them to searches (built on first use, like the index's pool).
    pool: std::sync::OnceLock<Option<NumaPool>>,
}

impl BuilderCtl {
    pub(crate) fn new() -> Self {
        BuilderCtl {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            idle: Condvar::new(),
            inject_panics: AtomicUsize::new(0),
            cancel: AtomicBool::new(false),
            pool: std::sync::OnceLock::new(),
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

    /// Asks for a full merge (and a retry of failed builds).
    pub(crate) fn request_compaction(&self) {
        self.lock().compact = true;
        self.request();
    }

    /// Blocks until a pass that started after this call found nothing left to do.
    pub(crate) fn wait_idle(&self) {
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
}

/// Starts the builder thread of `inner`.
pub(crate) fn spawn(inner: Arc<Inner>) -> Result<JoinHandle<()>, IndexError> {
    std::thread::Builder::new()
        .name("sagevec-builder".into())
        .spawn(move || run(&inner))
        .map_err(|e| IndexError::InvalidParameter {
            name: "builder thread",
            reason: format!("could not start: {e}"),
        })
}

/// A unit of background work.
#[derive(Debug)]
enum Job {
    /// Build the graph of a flat segment.
    Graph(u64),
    /// Merge these sealed segments into one graph segment, dropping dead rows.
    Merge(Vec<u64>),
}

fn run(inner: &Inner) {
    let ctl = &inner.builder;
    loop {
        let period = inner.durable.as_ref().and_then(|d| d.sync_period());
        let (target, mut compact) = {
            let mut q = ctl.lock();
            while !q.stop && q.completed == q.requested {
                match period {
                    None => q = ctl.wake.wait(q).unwrap_or_else(|e| e.into_inner()),
                    Some(p) => {
                        let (g, timeout) = ctl
                            .wake
                            .wait_timeout(q, p)
                            .unwrap_or_else(|e| e.into_inner());
                        q = g;
                        if timeout.timed_out() {
                            drop(q);
                            periodic_sync(inner);
                            q = ctl.lock();
                        }
                    }
                }
            }
            if q.stop {
                return;
            }
            let compact = std::mem::take(&mut q.compact);
            if compact {
                q.failed.clear();
            }
            (q.requested, compact)
        };
        loop {
            let (stop, failed) = {
                let q = ctl.lock();
                (q.stop, q.failed.clone())
            };
            if stop {
                return;
            }
            let state = inner.current.load_full();
            let Some(job) = next_job(inner, &state, &failed, compact) else {
                break;
            };
            // The compaction request is spent by the merge it asked for (graph
            // builds for flat segments come first).
            if matches!(job, Job::Merge(_)) {
                compact = false;
            }
            let outcome = catch_unwind(AssertUnwindSafe(|| run_job(inner, &state, &job)));
            let error = match outcome {
                Ok(Ok(())) => None,
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
                record_error(inner, format!("{job:?}: {e}"), Some(&job));
            }
        }
        if let Some(d) = &inner.durable
            && d.wants_checkpoint(&inner.current.load())
            && let Err(e) = d.checkpoint(inner)
        {
            record_error(inner, format!("checkpoint: {e}"), None);
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
        record_error(inner, format!("periodic sync: {e}"), None);
    }
}

/// Counts a builder failure and keeps its message; `failed` segments are not
/// retried until a compaction.
fn record_error(inner: &Inner, message: String, failed: Option<&Job>) {
    Counters::bump(&inner.shared.counters.builder_errors, 1);
    let mut q = inner.builder.lock();
    q.last_error = Some(message);
    match failed {
        Some(Job::Graph(uid)) => {
            q.failed.insert(*uid);
        }
        Some(Job::Merge(uids)) => q.failed.extend(uids.iter().copied()),
        None => {}
    }
}

/// Live rows of a segment at `version`.
fn live_rows(seg: &Segment, version: u64) -> usize {
    (0..seg.rows)
        .filter(|&r| seg.table.alive_at(r, version))
        .count()
}

/// The next job the snapshot calls for, if any.
fn next_job(inner: &Inner, state: &State, failed: &HashSet<u64>, compact: bool) -> Option<Job> {
    let shared = &inner.shared;
    let sealed: Vec<&Arc<Segment>> = state
        .segments
        .iter()
        .filter(|s| !s.growing && !failed.contains(&s.uid))
        .collect();
    if let Some(flat) = sealed.iter().find(|s| s.kind() == SegmentKind::Flat) {
        return Some(Job::Graph(flat.uid));
    }
    let live: Vec<(u64, usize, usize)> = sealed
        .iter()
        .map(|s| (s.uid, live_rows(s, state.version), s.rows))
        .collect();
    if compact {
        let needs = live.len() > 1 || live.iter().any(|&(_, l, r)| l < r);
        return needs.then(|| Job::Merge(live.iter().map(|&(u, _, _)| u).collect()));
    }
    let holed: Vec<u64> = live
        .iter()
        .filter(|&&(_, l, r)| (r - l) as f64 > shared.max_deleted_fraction * r as f64)
        .map(|&(u, _, _)| u)
        .collect();
    // A segment with too many holes is rewritten on its own.
    if let Some(&first) = holed.first() {
        return Some(Job::Merge(vec![first]));
    }
    // Tiered merging: segments below `merge_below` are grouped by size tier
    // (powers of 4 of the seal threshold); a tier with MIN_MERGE_WAY segments is
    // merged into the next one. Rows are rebuilt O(log n) times, never the big
    // segments for every few small ones.
    let seal = shared.seal_threshold.max(1) as f64;
    let tier = |l: usize| ((l.max(1) as f64 / seal).log(4.0).floor().max(0.0)) as u32;
    let mut small: Vec<(u32, usize, u64)> = live
        .iter()
        .filter(|&&(_, l, _)| l < shared.merge_below)
        .map(|&(u, l, _)| (tier(l), l, u))
        .collect();
    small.sort_unstable();
    let mut i = 0;
    while i < small.len() {
        let t = small[i].0;
        let same = small[i..].iter().take_while(|s| s.0 == t).count();
        if same >= MIN_MERGE_WAY {
            return Some(Job::Merge(
                small[i..i + same.min(MAX_MERGE_WAY)]
                    .iter()
                    .map(|s| s.2)
                    .collect(),
            ));
        }
        i += same;
    }
    None
}

/// Rows of a flat segment's arena, as the graph builder reads them.
struct ArenaRows<'a> {
    arena: &'a VectorArena,
    rows: usize,
    dim: usize,
}

impl VectorRows for ArenaRows<'_> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn len(&self) -> usize {
        self.rows
    }
    fn row(&self, i: usize) -> &[f32] {
        self.arena.vector(i)
    }
}

fn build_graph(inner: &Inner, rows: &dyn VectorRows) -> Result<Graph, IndexError> {
    let ctl = &inner.builder;
    if ctl
        .inject_panics
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        panic!("injected builder fault");
    }
    let shared = &inner.shared;
    let pool = inner.builder.pool.get_or_init(|| {
        let placement = shared.par().ok()?.pool()?.placement().clone();
        NumaPool::new_background(placement).ok()
    });
    let par = pool.as_ref().map_or(Par::Seq, Par::Pool);
    Graph::build_cancellable(
        shared.internal_metric,
        rows,
        &shared.graph,
        par,
        &inner.builder.cancel,
    )
}

fn run_job(inner: &Inner, state: &State, job: &Job) -> Result<(), IndexError> {
    match job {
        Job::Graph(uid) => build_segment_graph(inner, state, *uid),
        Job::Merge(uids) => merge(inner, state, uids),
    }
}

/// Builds the graph of flat segment `uid` and swaps it in (same uid and row
/// table, so removals made meanwhile still count).
fn build_segment_graph(inner: &Inner, state: &State, uid: u64) -> Result<(), IndexError> {
    let seg = state.segment(uid).expect("job taken from this state");
    let Vectors::Arena(arena) = &seg.vectors else {
        return Ok(());
    };
    let rows = ArenaRows {
        arena,
        rows: seg.rows,
        dim: inner.shared.dim,
    };
    let graph = Arc::new(build_graph(inner, &rows)?);
    let _writer = inner.lock_writer();
    let cur = inner.current.load_full();
    let segments = cur
        .segments
        .iter()
        .map(|s| {
            if s.uid == uid {
                Arc::new(Segment {
                    uid,
                    growing: false,
                    rows: s.rows,
                    table: s.table.clone(),
                    vectors: Vectors::Graph(graph.clone()),
                    node: s.node,
                })
            } else {
                s.clone()
            }
        })
        .collect();
    inner.publish(State {
        version: cur.version + 1,
        segments,
        ids: cur.ids.clone(),
    });
    Counters::bump(&inner.shared.counters.graphs_built, 1);
    Ok(())
}

/// Merges sealed segments `uids` into one graph segment of their rows live at
/// `state`, then swaps it in, carrying over removals and upserts made while it
/// was built.
fn merge(inner: &Inner, state: &State, uids: &[u64]) -> Result<(), IndexError> {
    let shared = &inner.shared;
    let sources: Vec<&Arc<Segment>> = uids
        .iter()
        .map(|u| state.segment(*u).expect("job taken from this state"))
        .collect();
    let mut origin: Vec<(usize, u32)> = Vec::new();
    for (s, seg) in sources.iter().enumerate() {
        origin.extend(
            (0..seg.rows)
                .filter(|&r| seg.table.alive_at(r, state.version))
                .map(|r| (s, r as u32)),
        );
    }
    let n = origin.len();
    let merged = if n == 0 {
        None
    } else {
        let table = Arc::new(RowTable::new(n));
        let arena = VectorArena::new(shared.dim, n);
        for (i, &(s, r)) in origin.iter().enumerate() {
            let seg = sources[s];
            let r = r as usize;
            // SAFETY: this arena is new and private to this function; no
            // snapshot has seen it, and each row is written once.
            #[allow(unsafe_code)]
            unsafe {
                arena.write(i, seg.vector(r))
            };
            table.write(i, seg.table.id(r), seg.table.metadata(r).cloned());
        }
        let graph = build_graph(
            inner,
            &ArenaRows {
                arena: &arena,
                rows: n,
                dim: shared.dim,
            },
        )?;
        Some((table, Arc::new(graph)))
    };

    let mut writer = inner.lock_writer();
    let cur = inner.current.load_full();
    let version = cur.version + 1;
    let mut ids = cur.ids.clone();
    let mut segments: Vec<Arc<Segment>> = cur
        .segments
        .iter()
        .filter(|s| !uids.contains(&s.uid))
        .cloned()
        .collect();
    if let Some((table, graph)) = merged {
        let uid = Inner::new_uid(&mut writer);
        for (i, &(s, r)) in origin.iter().enumerate() {
            let src = sources[s];
            if src.table.deleted_at(r as usize) != ALIVE {
                // Removed or replaced while we built: dead in the merged segment
                // from its first version on.
                table.mark_deleted(i, version);
            } else {
                let id = src.table.id(r as usize);
                debug_assert_eq!(
                    ids.get(&id),
                    Some(&Loc {
                        seg: src.uid,
                        row: r
                    })
                );
                ids.insert(
                    id,
                    Loc {
                        seg: uid,
                        row: i as u32,
                    },
                );
            }
        }
        let node = sources.first().map_or(0, |s| s.node);
        // Sealed segments stay before the growing one.
        let at = segments
            .iter()
            .position(|s| s.growing)
            .unwrap_or(segments.len());
        segments.insert(
            at,
            Arc::new(Segment {
                uid,
                growing: false,
                rows: n,
                table,
                vectors: Vectors::Graph(graph),
                node,
            }),
        );
    }
    inner.publish(State {
        version,
        segments,
        ids,
    });
    drop(writer);
    Counters::bump(&shared.counters.merges, 1);
    Ok(())
}
