//! The write path: checked operations applied in order under the writer lock
//! and made visible with one snapshot publish.
//!
//! `add_batch` and `remove` are one-operation writes; a [`Transaction`] collects
//! several (checked as they are added, with no lock held) and commits them as
//! one write, so readers see all of it or none of it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use sagevec_kernels::Metric;

use crate::config::{MAX_ID, MAX_SEGMENT_ROWS};
use crate::durable::format::RecordOp;
use crate::error::IndexError;
use crate::index::{Growing, Index, Inner, Writer};
use crate::metadata::Metadata;
use crate::segment::Segment;
use crate::shared::Shared;
use crate::snapshot::{Loc, State};
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
    if n > MAX_SEGMENT_ROWS {
        return Err(IndexError::InvalidParameter {
            name: "vectors",
            reason: format!("{n} rows in one call; at most {MAX_SEGMENT_ROWS}"),
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

/// The writer's view of the next snapshot while a write is applied.
struct Draft<'w> {
    writer: &'w mut Writer,
    version: u64,
    map: crate::snapshot::IdMap,
    /// Sealed segments (the growing one is in `writer.growing`).
    segments: Vec<Arc<Segment>>,
    /// Segments of a large add, written outside the growing segment.
    own: Option<Growing>,
    sealed: u64,
    n_nodes: usize,
}

impl Draft<'_> {
    /// The row table of segment `uid`, wherever it is in the draft.
    fn table(&self, uid: u64) -> &crate::arena::RowTable {
        [self.writer.growing.as_ref(), self.own.as_ref()]
            .into_iter()
            .flatten()
            .find(|g| g.uid == uid)
            .map(|g| &*g.table)
            .or_else(|| {
                self.segments
                    .iter()
                    .find(|s| s.uid == uid)
                    .map(|s| &*s.table)
            })
            .expect("the id map only points at live segments")
    }

    fn remove(&mut self, ids: &[u64]) -> usize {
        let mut count = 0;
        for id in ids {
            if let Some(loc) = self.map.remove(id) {
                self.table(loc.seg)
                    .mark_deleted(loc.row as usize, self.version);
                count += 1;
            }
        }
        count
    }

    fn add(&mut self, shared: &Shared, add: CheckedAdd<'_>, ids: &[u64]) {
        let dim = shared.dim;
        let n = add.n;
        let capacity = shared.seal_threshold;
        // A batch of a segment's size or more goes to sealed segments of its own:
        // one graph build over the whole batch instead of several plus merges.
        let own_segments = n >= capacity;
        let mut metadata = add.metadata.map(|m| m.into_iter());
        for (i, (&id, v)) in ids.iter().zip(add.rows.chunks_exact(dim)).enumerate() {
            let target = if own_segments {
                &mut self.own
            } else {
                &mut self.writer.growing
            };
            if target.as_ref().is_none_or(|g| g.rows == g.capacity) {
                if let Some(full) = target.take() {
                    self.segments.push(full.view(true));
                    self.sealed += 1;
                }
                let size = if own_segments {
                    (n - i).min(MAX_SEGMENT_ROWS)
                } else {
                    capacity
                };
                let g = self.writer.new_growing(dim, size, self.n_nodes);
                if own_segments {
                    self.own = Some(g);
                } else {
                    self.writer.growing = Some(g);
                }
            }
            if let Some(old) = self.map.get(&id).copied() {
                self.table(old.seg)
                    .mark_deleted(old.row as usize, self.version);
            }
            let g = if own_segments {
                self.own.as_mut()
            } else {
                self.writer.growing.as_mut()
            }
            .expect("made above");
            let row = g.rows;
            // SAFETY: we hold the writer lock (`Draft` borrows the `Writer` it
            // guards); `row` is the segment's next unwritten row and no published
            // snapshot counts it (snapshots count `g.rows` at most, which we bump
            // after the write).
            #[allow(unsafe_code)]
            unsafe {
                g.arena.write(row, v)
            };
            g.table
                .write(row, id, metadata.as_mut().and_then(|m| m.next()).flatten());
            g.rows += 1;
            self.map.insert(
                id,
                Loc {
                    seg: g.uid,
                    row: row as u32,
                },
            );
        }
        if let Some(full) = self.own.take() {
            self.segments.push(full.view(true));
            self.sealed += 1;
        }
    }
}

/// Applies `ops` in order as one write: takes the writer lock, assigns
/// auto-ids, writes, publishes one snapshot. Fails (changing nothing) only if
/// auto-ids would pass `2^63 - 1`.
pub(crate) fn apply(inner: &Inner, ops: Vec<Op<'_>>, log: bool) -> Result<Applied, IndexError> {
    let shared = &inner.shared;
    if log && let Some(path) = &inner.read_only {
        return Err(IndexError::ReadOnly { path: path.clone() });
    }
    let n_nodes = shared.par().map(|p| p.n_nodes()).unwrap_or(1);
    let mut writer = inner.lock_writer();
    let cur = inner.current.load_full();
    let changes = ops.iter().any(|op| match op {
        Op::Add(a) => a.n > 0,
        Op::Remove(ids) => ids.iter().any(|id| cur.ids.contains_key(id)),
    });
    if !changes {
        let added = ops
            .iter()
            .filter(|op| matches!(op, Op::Add(_)))
            .map(|_| Vec::new())
            .collect();
        return Ok(Applied {
            added,
            removed: 0,
            version: cur.version,
        });
    }
    // Ids first, so the one possible failure comes before any change.
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
    // Durable: the write is in the log before anything changes (a log failure
    // refuses the write and leaves the index as it was).
    if log && let Some(d) = &inner.durable {
        let mut ids_of_adds = all_ids.iter();
        let record: Vec<RecordOp<'_>> = ops
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
        d.log_write(&record)?;
    }
    // Nothing below can fail: the write is published whole.
    writer.next_auto_id = next_auto;
    let mut draft = Draft {
        writer: &mut writer,
        version: cur.version + 1,
        map: cur.ids.clone(),
        segments: cur
            .segments
            .iter()
            .filter(|s| !s.growing)
            .cloned()
            .collect(),
        own: None,
        sealed: 0,
        n_nodes,
    };
    let mut applied = Applied {
        version: draft.version,
        ..Applied::default()
    };
    let mut ids_iter = all_ids.into_iter();
    let mut added_rows = 0u64;
    for op in ops {
        match op {
            Op::Add(add) => {
                let ids = ids_iter.next().expect("one id list per add");
                added_rows += add.n as u64;
                draft.add(shared, add, &ids);
                applied.added.push(ids);
            }
            Op::Remove(ids) => applied.removed += draft.remove(&ids),
        }
    }
    // A full growing segment is sealed now, so the builder can start on it.
    if draft
        .writer
        .growing
        .as_ref()
        .is_some_and(|g| g.rows == g.capacity)
    {
        let full = draft.writer.growing.take().expect("checked");
        draft.segments.push(full.view(true));
        draft.sealed += 1;
    }
    let Draft {
        mut segments,
        map,
        sealed,
        version,
        ..
    } = draft;
    if let Some(g) = &writer.growing {
        segments.push(g.view(false));
    }
    inner.publish(State {
        version,
        segments,
        ids: map,
    });
    drop(writer);
    let c = &shared.counters;
    Counters::bump(&c.vectors_added, added_rows);
    Counters::bump(&c.vectors_removed, applied.removed as u64);
    Counters::bump(&c.seals, sealed);
    let checkpoint_due = log && inner.durable.as_ref().is_some_and(|d| d.over_budget());
    if sealed > 0 || applied.removed > 0 || checkpoint_due {
        inner.builder.request();
    }
    Ok(applied)
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
        let applied = apply(&self.inner, self.ops, true)?;
        Ok(Committed {
            added: applied.added,
            removed: applied.removed,
            version: applied.version,
        })
    }

    /// Discards every queued operation (the same as dropping the transaction).
    pub fn rollback(self) {}
}
