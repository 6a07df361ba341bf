//! The write path: checked operations, inserted into the live graph by their
//! caller with no lock held, and made visible in order with one snapshot publish.
//!
//! A write runs in three steps:
//! 1. **Reserve** (under the writer lock, briefly): auto-ids assigned, the write
//!    appended to a durable index's log, slots reserved, a ticket drawn. Tickets
//!    and slots are handed out in the same order, which is also log order.
//! 2. **Insert** (no lock): the rows are written into the reserved slots and
//!    linked into the graph, concurrently with other writers' inserts and with
//!    every reader. A large batch is linked by every worker of the builder's pool.
//! 3. **Commit** (in ticket order): the writer waits for its turn (the previous
//!    ticket's commit), then applies upserts and removes to the id map and the
//!    tombstones and publishes the next state, whose slot bound now covers its
//!    slots. Only [`Turn::publish_next`] bumps the version.
//!
//! So a batch becomes visible all at once (the bound moves past all of its slots
//! in one publish), writes are applied in one order (reservation order) however
//! their inserts interleave, and two writers' inserts run in parallel: the second
//! waits only if it finishes first, and then only for the first's commit.
//!
//! `add_batch` and `remove` are one-operation writes; a [`Transaction`] collects
//! several (checked as they are added, with no lock held) and commits them as
//! one write, so readers see all of it or none of it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use sagevec_kernels::Metric;

use crate::config::{MAX_BATCH_ROWS, MAX_ID};
use crate::durable::format::RecordOp;
use crate::error::IndexError;
use crate::index::{Index, Inner};
use crate::live::{Filled, LiveGraph};
use crate::metadata::Metadata;
use crate::shared::Shared;
use crate::snapshot::{IdMap, State};
use crate::stats::Counters;

/// An add whose input has been checked: rows as stored (unit vectors under
/// cosine), ids if given, metadata per row.
#[derive(Debug)]
pub(crate) struct CheckedAdd<'a> {
    pub(crate) ids: Option<Vec<u64>>,
    pub(crate) rows: Cow<'a, [f32]>,
    pub(crate) metadata: Option<Vec<Option<Metadata>>>,
    pub(crate) n: usize,
}

/// One checked operation.
#[derive(Debug)]
pub(crate) enum Op<'a> {
    Add(CheckedAdd<'a>),
    Remove(Vec<u64>),
}

/// What one write did.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Ids of each add, in operation order.
    pub(crate) added: Vec<Vec<u64>>,
    /// Live ids removed.
    pub(crate) removed: usize,
    /// The version the write became visible at (the current one if it changed
    /// nothing).
    pub(crate) version: u64,
}

/// Checks an add: dimension, lengths, ids in range and unique, finite values,
/// non-zero under cosine. Nothing is stored.
pub(crate) fn check_add<'a>(
    shared: &Shared,
    ids: Option<&[u64]>,
    vectors: &'a [f32],
    metadata: Option<Vec<Option<Metadata>>>,
) -> Result<CheckedAdd<'a>, IndexError> {
    let dim = shared.dim;
    if !vectors.len().is_multiple_of(dim) {
        return Err(IndexError::DimensionMismatch {
            expected: dim,
            got: vectors.len() % dim,
        });
    }
    let n = vectors.len() / dim;
    if n > MAX_BATCH_ROWS {
        return Err(IndexError::InvalidParameter {
            name: "vectors",
            reason: format!("{n} rows in one call; at most {MAX_BATCH_ROWS}"),
        });
    }
    if let Some(ids) = ids {
        if ids.len() != n {
            return Err(IndexError::LengthMismatch {
                what: "ids",
                expected: n,
                got: ids.len(),
            });
        }
        let mut seen = HashSet::with_capacity(n);
        for &id in ids {
            if id > MAX_ID {
                return Err(IndexError::IdOutOfRange { id });
            }
            if !seen.insert(id) {
                return Err(IndexError::DuplicateId { id });
            }
        }
    }
    if let Some(m) = &metadata
        && m.len() != n
    {
        return Err(IndexError::LengthMismatch {
            what: "metadata",
            expected: n,
            got: m.len(),
        });
    }
    // Under cosine the stored rows are the unit vectors.
    let mut unit = Vec::new();
    let mut stored = Vec::new();
    if shared.metric == Metric::Cosine {
        stored.reserve_exact(vectors.len());
    }
    for (row, v) in vectors.chunks_exact(dim).enumerate() {
        shared.check_vector(v, row, &mut unit)?;
        stored.extend_from_slice(&unit);
    }
    Ok(CheckedAdd {
        ids: ids.map(<[u64]>::to_vec),
        rows: if shared.metric == Metric::Cosine {
            Cow::Owned(stored)
        } else {
            Cow::Borrowed(vectors)
        },
        metadata,
        n,
    })
}

/// State only the holder of the writer lock touches.
#[derive(Debug)]
pub(crate) struct Writer {
    /// Largest id ever used + 1: auto-assigned ids start here and are never reused.
    pub(crate) next_auto_id: u64,
    /// The ticket the next write draws (tickets start at 1).
    pub(crate) next_ticket: u64,
}

impl Writer {
    pub(crate) fn new(next_auto_id: u64) -> Self {
        Writer {
            next_auto_id,
            next_ticket: 1,
        }
    }
}

/// Commit order: the last committed ticket, and a wake-up for the next in line.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    committed: Mutex<u64>,
    next: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Turns {
    /// Whether every ticket drawn so far has committed (writer lock held).
    pub(crate) fn idle(&self, writer: &Writer) -> bool {
        *lock(&self.committed) + 1 == writer.next_ticket
    }

    /// Waits until every ticket before `ticket` has committed; the returned turn
    /// commits `ticket` when dropped (published or not).
    pub(crate) fn wait<'a>(&'a self, inner: &'a Inner, ticket: u64) -> Turn<'a> {
        let mut committed = lock(&self.committed);
        while *committed + 1 < ticket {
            committed = self.next.wait(committed).unwrap_or_else(|e| e.into_inner());
        }
        Turn {
            inner,
            turns: self,
            committed,
            ticket: Some(ticket),
        }
    }

    /// With the writer lock held (no new tickets), waits until every ticket drawn
    /// has committed: the index is then quiescent, and the turn publishes in its own
    /// name (the builder's swaps, a checkpoint's cut).
    pub(crate) fn quiesce<'a>(&'a self, inner: &'a Inner, writer: &Writer) -> Turn<'a> {
        let mut committed = lock(&self.committed);
        while *committed + 1 < writer.next_ticket {
            committed = self.next.wait(committed).unwrap_or_else(|e| e.into_inner());
        }
        Turn {
            inner,
            turns: self,
            committed,
            ticket: None,
        }
    }
}

/// The exclusive right to publish the next state: the only code that bumps the
/// version.
pub(crate) struct Turn<'a> {
    inner: &'a Inner,
    turns: &'a Turns,
    committed: MutexGuard<'a, u64>,
    ticket: Option<u64>,
}

impl Turn<'_> {
    /// The state to build the next one from.
    pub(crate) fn current(&self) -> Arc<State> {
        self.inner.current.load_full()
    }

    /// The version the next publish will have.
    pub(crate) fn next_version(&self) -> u64 {
        self.inner.current.load().version + 1
    }

    /// Publishes the next state (version = current + 1) and wakes version waiters.
    pub(crate) fn publish_next(&mut self, bound: usize, ids: IdMap, graph: Arc<LiveGraph>) -> u64 {
        let version = self.next_version();
        self.inner.publish(State {
            version,
            bound,
            ids,
            graph,
        });
        version
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket {
            *self.committed = t;
            self.turns.next.notify_all();
        }
    }
}

/// Test hooks of the write path (feature `test-hooks`; without it this is empty
/// and a write checks nothing).
#[derive(Debug, Default)]
pub(crate) struct WriteHooks {
    /// Breaks the publish order on purpose (for the reachability checker's own
    /// test): a write is committed and acknowledged *before* its rows are linked;
    /// they are linked at the start of the next write instead.
    #[cfg(feature = "test-hooks")]
    pub(crate) defer_links: std::sync::atomic::AtomicBool,
    #[cfg(feature = "test-hooks")]
    deferred: Mutex<Vec<(Arc<LiveGraph>, Filled)>>,
}

impl WriteHooks {
    /// Whether this write leaves its rows unlinked until the next one.
    fn defers_links(&self) -> bool {
        #[cfg(feature = "test-hooks")]
        return self.defer_links.load(std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(feature = "test-hooks"))]
        false
    }

    /// Links the rows earlier writes left unlinked.
    fn link_deferred(&self) {
        #[cfg(feature = "test-hooks")]
        for (graph, late) in std::mem::take(&mut *lock(&self.deferred)) {
            graph.link(&late, sagevec_scheduler::Par::Seq);
        }
    }

    /// Keeps `filled`'s rows for the next write to link.
    #[cfg_attr(not(feature = "test-hooks"), expect(unused_variables))]
    fn defer(&self, graph: &Arc<LiveGraph>, filled: Filled) {
        #[cfg(feature = "test-hooks")]
        lock(&self.deferred).push((graph.clone(), filled));
    }
}

/// Abandons a write's slots if its insert unwinds, so commit order goes on: the
/// slots stay dead (never visible, though walked through) and the ticket commits
/// nothing (a durable index logs a write only at its commit, so not this one).
struct AbandonOnUnwind<'a> {
    inner: &'a Inner,
    graph: &'a LiveGraph,
    slots: Option<Filled>,
    ticket: u64,
}

impl Drop for AbandonOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(f) = &self.slots {
                self.graph.abandon(f);
            }
            drop(self.inner.turns.wait(self.inner, self.ticket));
        }
    }
}

/// Applies `ops` in order as one write (see the module docs). Fails, changing
/// nothing, on a read-only index, when auto-ids would pass `2^63 - 1`, when the
/// graph is full, when a durable index cannot log the write, or with
/// [`IndexError::Cancelled`] when `cancel` is raised before its rows are linked.
pub(crate) fn apply(
    inner: &Inner,
    ops: Vec<Op<'_>>,
    log: bool,
    cancel: Option<&std::sync::atomic::AtomicBool>,
) -> Result<Applied, IndexError> {
    let shared = &inner.shared;
    if log && let Some(path) = &inner.read_only {
        return Err(IndexError::ReadOnly { path: path.clone() });
    }
    if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
        return Err(IndexError::Cancelled);
    }
    inner.hooks.link_deferred();
    let n_rows: usize = ops
        .iter()
        .map(|op| match op {
            Op::Add(a) => a.n,
            Op::Remove(_) => 0,
        })
        .sum();
    let mut writer = inner.lock_writer();
    let cur = inner.current.load_full();
    let in_flight = !inner.turns.idle(&writer);
    let removes_hit = ops.iter().any(|op| match op {
        Op::Remove(ids) => ids.iter().any(|id| cur.ids.contains_key(id)),
        Op::Add(_) => false,
    });
    if n_rows == 0 && !removes_hit && !in_flight {
        return Ok(Applied {
            added: ops
                .iter()
                .filter(|op| matches!(op, Op::Add(_)))
                .map(|_| Vec::new())
                .collect(),
            removed: 0,
            version: cur.version,
        });
    }
    // Ids and room first, so the possible failures come before any change.
    let mut next_auto = writer.next_auto_id;
    let mut all_ids = Vec::new();
    for op in &ops {
        if let Op::Add(a) = op {
            let ids = match &a.ids {
                Some(ids) => ids.clone(),
                None if a.n == 0 => Vec::new(),
                None => {
                    let first = next_auto;
                    if first
                        .checked_add(a.n as u64 - 1)
                        .is_none_or(|last| last > MAX_ID)
                    {
                        return Err(IndexError::IdsExhausted);
                    }
                    (first..first + a.n as u64).collect()
                }
            };
            if let Some(&max) = ids.iter().max() {
                next_auto = next_auto.max(max + 1);
            }
            all_ids.push(ids);
        }
    }
    let graph = cur.graph.clone();
    graph.check_room(n_rows)?;
    // Durable: the write's log record, appended at its commit (in commit order, so
    // replaying the log applies writes in the order they became visible).
    let record = match &inner.durable {
        Some(d) if log => {
            let mut ids_of_adds = all_ids.iter();
            let ops: Vec<RecordOp<'_>> = ops
                .iter()
                .map(|op| match op {
                    Op::Add(a) => RecordOp::Add {
                        ids: ids_of_adds.next().expect("one id list per add"),
                        rows: &a.rows,
                        metadata: a.metadata.as_deref(),
                    },
                    Op::Remove(ids) => RecordOp::Remove(ids),
                })
                .collect();
            Some((d, d.encode_write(&ops)?))
        }
        _ => None,
    };
    // Nothing below fails before the commit.
    writer.next_auto_id = next_auto;
    let first_rows = ops
        .iter()
        .find_map(|op| match op {
            Op::Add(a) if a.n > 0 => Some(&a.rows[..]),
            _ => None,
        })
        .unwrap_or(&[]);
    let reserved = graph
        .reserve(n_rows, first_rows)
        .expect("room checked under the same lock");
    let ticket = writer.next_ticket;
    writer.next_ticket += 1;
    drop(writer);

    // Insert, with no lock held.
    let (start, end) = (reserved.start, reserved.end);
    let guard = AbandonOnUnwind {
        inner,
        graph: &graph,
        slots: Some(Filled { start, end }),
        ticket,
    };
    let mut rest = Some(reserved);
    let mut adds = Vec::new();
    let mut ids_iter = all_ids.into_iter();
    for op in ops {
        match op {
            Op::Add(add) => {
                let ids = ids_iter.next().expect("one id list per add");
                let (mine, tail) = rest.take().expect("reserved").split(add.n);
                rest = Some(tail);
                let mut metadata = add.metadata.map(|m| m.into_iter());
                let at = mine.start;
                graph.fill(
                    mine,
                    &add.rows,
                    &ids,
                    metadata.as_mut().map(|m| m as &mut dyn Iterator<Item = _>),
                );
                adds.push(Pending::Add { ids, first: at });
            }
            Op::Remove(ids) => adds.push(Pending::Remove(ids)),
        }
    }
    let filled = Filled { start, end };
    let defer = inner.hooks.defers_links();
    let mut linked = true;
    if !filled.is_empty() && !defer {
        let par = if filled.len() >= crate::live::PARALLEL_LINK_MIN {
            inner.builder.bulk_par(shared)
        } else {
            sagevec_scheduler::Par::Seq
        };
        let never = std::sync::atomic::AtomicBool::new(false);
        linked = graph.link_cancellable(&filled, par, cancel.unwrap_or(&never));
    }
    std::mem::forget(guard);

    // Commit, in ticket order: a cancelled insert or a log that cannot take the
    // record leaves its slots dead and publishes nothing.
    let mut turn = inner.turns.wait(inner, ticket);
    let logged = match &record {
        _ if !linked => Err(IndexError::Cancelled),
        Some((d, bytes)) => d.append_write(bytes),
        None => Ok(()),
    };
    if let Err(e) = logged {
        graph.abandon(&filled);
        drop(turn);
        return Err(e);
    }
    let now = turn.current();
    let version = turn.next_version();
    let view = graph.view(end.max(now.bound));
    let mut map = now.ids.clone();
    let mut applied = Applied::default();
    for p in adds {
        match p {
            Pending::Add { ids, first } => {
                for (i, &id) in ids.iter().enumerate() {
                    if let Some(old) = map.insert(id, (first + i) as u32) {
                        view.mark_deleted(old as usize, version);
                    }
                }
                applied.added.push(ids);
            }
            Pending::Remove(ids) => {
                for id in &ids {
                    if let Some(slot) = map.remove(id) {
                        view.mark_deleted(slot as usize, version);
                        applied.removed += 1;
                    }
                }
            }
        }
    }
    drop(view);
    applied.version = if n_rows > 0 || applied.removed > 0 {
        turn.publish_next(end.max(now.bound), map, graph.clone())
    } else {
        now.version
    };
    drop(turn);
    if defer && !filled.is_empty() {
        inner.hooks.defer(&graph, filled);
    }
    let c = &shared.counters;
    Counters::bump(&c.vectors_added, n_rows as u64);
    Counters::bump(&c.vectors_removed, applied.removed as u64);
    inner
        .builder
        .note_writes(n_rows as u64 + applied.removed as u64);
    let checkpoint_due = log && inner.durable.as_ref().is_some_and(|d| d.over_budget());
    if applied.removed > 0 || checkpoint_due || inner.builder.wants_look(&graph) {
        inner.builder.request();
    }
    Ok(applied)
}

/// An operation between its insert and its commit.
enum Pending {
    Add { ids: Vec<u64>, first: usize },
    Remove(Vec<u64>),
}

/// Adds and removes that become visible together, at [`commit`](Self::commit),
/// in one snapshot publish; dropping it without committing discards them.
/// Filling a transaction takes no lock: readers and other writers go on.
///
/// Operations apply in the order given: an id added twice keeps the later
/// vector; an id added then removed is not there after the commit.
///
/// ```
/// use sagevec_index::{Index, IndexConfig, SearchParams};
/// use sagevec_kernels::Metric;
///
/// let index = Index::new(IndexConfig::new(2, Metric::L2Sq))?;
/// index.add_batch(Some(&[1, 2]), &[0.0, 0.0, 1.0, 1.0], None)?;
/// let mut tx = index.transaction();
/// tx.remove(&[1, 2]);
/// tx.add_batch(Some(&[10, 11]), &[5.0, 5.0, 6.0, 6.0], None)?;
/// assert!(index.contains(1)); // nothing visible yet
/// let done = tx.commit()?;
/// assert_eq!(done.removed, 2);
/// assert!(!index.contains(1) && index.contains(10));
/// # Ok::<(), sagevec_index::IndexError>(())
/// ```
///
/// A transaction owns a handle to the index (it may outlive the `&Index` it
/// came from, e.g. inside a binding); committing after the index was dropped
/// still applies to the detached index state and is harmless.
#[derive(Debug)]
pub struct Transaction {
    inner: Arc<Inner>,
    ops: Vec<Op<'static>>,
}

/// What a committed transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Ids of each `add_batch`, in order (auto-assigned ones included).
    pub added: Vec<Vec<u64>>,
    /// Ids that were live and are now removed.
    pub removed: usize,
    /// The version at which the whole transaction became visible.
    pub version: u64,
}

impl Transaction {
    pub(crate) fn new(index: &Index) -> Self {
        Transaction {
            inner: index.inner_arc(),
            ops: Vec::new(),
        }
    }

    /// Queues an add (checked now: the same errors as
    /// [`Index::add_batch`]; a refused add leaves the transaction as it was).
    pub fn add_batch(
        &mut self,
        ids: Option<&[u64]>,
        vectors: &[f32],
        metadata: Option<Vec<Option<Metadata>>>,
    ) -> Result<(), IndexError> {
        let checked = check_add(&self.inner.shared, ids, vectors, metadata)?;
        self.ops.push(Op::Add(CheckedAdd {
            ids: checked.ids,
            rows: Cow::Owned(checked.rows.into_owned()),
            metadata: checked.metadata,
            n: checked.n,
        }));
        Ok(())
    }

    /// Queues a remove (unknown ids are skipped at commit).
    pub fn remove(&mut self, ids: &[u64]) {
        self.ops.push(Op::Remove(ids.to_vec()));
    }

    /// Operations queued.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Makes every queued operation visible at once.
    pub fn commit(self) -> Result<Committed, IndexError> {
        let applied = apply(&self.inner, self.ops, true, None)?;
        Ok(Committed {
            added: applied.added,
            removed: applied.removed,
            version: applied.version,
        })
    }

    /// Discards every queued operation (the same as dropping the transaction).
    pub fn rollback(self) {}
}
