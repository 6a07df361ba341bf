//! The concurrent index: readers load a snapshot and never wait; one writer at a
//! time appends and publishes; a background builder seals and merges.
//!
//! See [`crate::docs::concurrency`] for the guarantees.

use std::borrow::Cow;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use sagevec_kernels::{Metric, Rows};

use crate::arena::{RowTable, VectorArena};
use crate::builder::{self, BuilderCtl};
use crate::config::{IndexConfig, SearchParams};
use crate::durable::format::LoggedOp;
use crate::durable::io::{FsStorage, Storage};
use crate::durable::{self, Durable};
use crate::error::IndexError;
use crate::metadata::Metadata;
use crate::results::BatchResults;
use crate::segment::{Segment, Vectors};
use crate::shared::Shared;
use crate::snapshot::{self, Hits, IdMap, Record, Snapshot, State};
use crate::stats::{Counters, IndexStats, MemoryBytes};
use crate::write::{self, Op, Transaction};

/// What an add made visible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The ids of the added vectors, in input order (given or auto-assigned).
    pub ids: Vec<u64>,
    /// The version at which they became visible (the current version for an
    /// empty batch).
    pub version: u64,
}

/// What a remove did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Removed {
    /// Ids that were live and are now removed (unknown ids are skipped).
    pub count: usize,
    /// The version from which they are gone (the current version if none was).
    pub version: u64,
}

/// The growing segment, as the writer sees it.
#[derive(Debug)]
pub(crate) struct Growing {
    pub(crate) uid: u64,
    pub(crate) table: Arc<RowTable>,
    pub(crate) arena: Arc<VectorArena>,
    pub(crate) rows: usize,
    pub(crate) capacity: usize,
    pub(crate) node: usize,
}

impl Growing {
    pub(crate) fn view(&self, sealed: bool) -> Arc<Segment> {
        Arc::new(Segment {
            uid: self.uid,
            growing: !sealed,
            rows: self.rows,
            table: self.table.clone(),
            vectors: Vectors::Arena(self.arena.clone()),
            node: self.node,
        })
    }
}

/// State only the writer (the holder of the writer lock) touches.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) next_uid: u64,
    pub(crate) growing: Option<Growing>,
    /// Largest id ever used + 1: auto-assigned ids start here and are never reused.
    pub(crate) next_auto_id: u64,
    next_node: usize,
}

impl Writer {
    /// A new, empty segment for `capacity` rows, placed on the next node in turn.
    pub(crate) fn new_growing(&mut self, dim: usize, capacity: usize, n_nodes: usize) -> Growing {
        let uid = Inner::new_uid(self);
        let node = self.next_node % n_nodes;
        self.next_node += 1;
        Growing {
            uid,
            table: Arc::new(RowTable::new(capacity)),
            arena: Arc::new(VectorArena::new(dim, capacity)),
            rows: 0,
            capacity,
            node,
        }
    }
}

/// Everything the index, its snapshots and its builder share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) current: ArcSwap<State>,
    pub(crate) writer: Mutex<Writer>,
    published: Mutex<u64>,
    published_cv: Condvar,
    pub(crate) builder: BuilderCtl,
    /// The log and files of an index opened on disk.
    pub(crate) durable: Option<Durable>,
    /// Opened read-only from this directory: writes are refused.
    pub(crate) read_only: Option<String>,
}

impl Inner {
    /// Takes the writer lock. A writer that panicked left no half-published
    /// state (publishing is one store), so a poisoned lock is taken as is.
    pub(crate) fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes `state` (writer lock held) and wakes version waiters.
    pub(crate) fn publish(&self, state: State) {
        let version = state.version;
        self.current.store(Arc::new(state));
        *self.published.lock().unwrap_or_else(|e| e.into_inner()) = version;
        self.published_cv.notify_all();
    }

    pub(crate) fn new_uid(writer: &mut Writer) -> u64 {
        writer.next_uid += 1;
        writer.next_uid
    }
}

/// How [`Index::open_impl`] treats the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpenMode {
    /// Durable: lock, log, checkpoints.
    Write,
    /// As the files are; no lock, no change; writes refused.
    ReadOnly,
    /// As the files are, then an ordinary in-memory index.
    Load,
}

/// A concurrent vector index (see the crate docs). Share it between threads
/// with `Arc<Index>`; every method takes `&self`.
#[derive(Debug)]
pub struct Index {
    inner: Arc<Inner>,
    builder: Option<JoinHandle<()>>,
}

impl Index {
    /// An empty index in memory. Fails if the configuration is invalid.
    pub fn new(config: IndexConfig) -> Result<Index, IndexError> {
        config.validate()?;
        Index::start(Arc::new(Index::new_inner(&config, None)))
    }

    /// Opens the durable index in `dir`, creating it if the directory holds none
    /// (see [`crate::durable`]): every acknowledged write is in its log, synced
    /// as `config.durability` says. The directory is locked for writing while
    /// the index is open; a second open fails with [`IndexError::Locked`].
    /// Graphs are rebuilt in the background after opening (searches scan until
    /// then).
    pub fn open(dir: impl AsRef<Path>, config: IndexConfig) -> Result<Index, IndexError> {
        // Absolute, so a later chdir of the process does not move the files.
        let dir = std::path::absolute(dir.as_ref())
            .map_err(|e| crate::durable::io_err(dir.as_ref(), "resolve", &e))?;
        Index::open_with_storage(Arc::new(FsStorage), &dir, config)
    }

    /// Opens the durable index in `dir` for reading only, as its files are now
    /// (another process may hold it open for writing; later writes of that
    /// process are not seen). Takes no lock and changes no file; writes fail with
    /// [`IndexError::ReadOnly`]. Graphs are rebuilt in memory.
    pub fn open_read_only(dir: impl AsRef<Path>, config: IndexConfig) -> Result<Index, IndexError> {
        Index::open_impl(
            Arc::new(FsStorage),
            dir.as_ref(),
            config,
            OpenMode::ReadOnly,
        )
    }

    /// [`open`](Self::open) through a given I/O layer (tests inject faults with
    /// [`SimStorage`](crate::durable::io::SimStorage)).
    pub fn open_with_storage(
        storage: Arc<dyn Storage>,
        dir: &Path,
        config: IndexConfig,
    ) -> Result<Index, IndexError> {
        Index::open_impl(storage, dir, config, OpenMode::Write)
    }

    fn open_impl(
        storage: Arc<dyn Storage>,
        dir: &Path,
        config: IndexConfig,
        mode: OpenMode,
    ) -> Result<Index, IndexError> {
        let read_only = mode != OpenMode::Write;
        config.validate()?;
        let rec = durable::recover(storage, dir, &config, read_only)?;
        let mut inner = Index::new_inner(&config, rec.durable);
        if mode == OpenMode::ReadOnly {
            inner.read_only = Some(dir.display().to_string());
        }
        {
            let mut writer = inner.lock_writer();
            writer.next_auto_id = rec.manifest.next_auto_id;
            writer.next_uid = rec.manifest.next_uid;
            let mut ids = IdMap::new();
            let mut segments = Vec::new();
            for seg in &rec.segments {
                for r in 0..seg.rows {
                    if seg.table.alive_at(r, rec.manifest.version) {
                        let id = seg.table.id(r);
                        let loc = crate::snapshot::Loc {
                            seg: seg.uid,
                            row: r as u32,
                        };
                        if ids.insert(id, loc).is_some() {
                            return Err(IndexError::Corrupt {
                                path: dir.join(durable::MANIFEST).display().to_string(),
                                offset: 0,
                                what: format!("id {id} is live in two segments"),
                            });
                        }
                    }
                }
                if seg.growing && seg.rows < seg.capacity && writer.growing.is_none() {
                    writer.growing = Some(Growing {
                        uid: seg.uid,
                        table: seg.table.clone(),
                        arena: seg.arena.clone(),
                        rows: seg.rows,
                        capacity: seg.capacity,
                        node: 0,
                    });
                } else {
                    let mut view = durable::loaded_view(seg);
                    if seg.growing {
                        // Full (or a second growing one): sealed now.
                        Arc::get_mut(&mut view).expect("fresh").growing = false;
                    }
                    segments.push(view);
                }
            }
            if let Some(g) = &writer.growing {
                segments.push(g.view(false));
            }
            inner.publish(State {
                version: rec.manifest.version,
                segments,
                ids,
            });
        }
        for ops in rec.replay {
            let ops = ops
                .into_iter()
                .map(|op| match op {
                    LoggedOp::Add {
                        ids,
                        rows,
                        metadata,
                    } => Op::Add(write::CheckedAdd {
                        n: ids.len(),
                        ids: Some(ids),
                        rows: Cow::Owned(rows),
                        metadata,
                    }),
                    LoggedOp::Remove(ids) => Op::Remove(ids),
                })
                .collect();
            write::apply(&inner, ops, false)?;
        }
        Index::start(Arc::new(inner))
    }

    fn new_inner(config: &IndexConfig, durable: Option<Durable>) -> Inner {
        Inner {
            shared: Arc::new(Shared::new(config)),
            current: ArcSwap::from_pointee(State {
                version: 0,
                segments: Vec::new(),
                ids: IdMap::new(),
            }),
            writer: Mutex::new(Writer {
                next_uid: 0,
                growing: None,
                next_auto_id: 0,
                next_node: 0,
            }),
            published: Mutex::new(0),
            published_cv: Condvar::new(),
            builder: BuilderCtl::new(),
            durable,
            read_only: None,
        }
    }

    fn start(inner: Arc<Inner>) -> Result<Index, IndexError> {
        *inner.published.lock().unwrap_or_else(|e| e.into_inner()) = inner.current.load().version;
        let builder = builder::spawn(inner.clone())?;
        // Flat segments loaded from disk need graphs.
        inner.builder.request();
        Ok(Index {
            inner,
            builder: Some(builder),
        })
    }

    /// Makes a durable index's state a checkpoint now: syncs the log, writes
    /// segment files and a new manifest, drops old logs (faster reopening). In
    /// memory it does nothing.
    pub fn checkpoint(&self) -> Result<(), IndexError> {
        match &self.inner.durable {
            Some(d) => {
                d.sync()?;
                d.checkpoint(&self.inner)
            }
            None => Ok(()),
        }
    }

    /// Stops the builder, checkpoints a durable index and releases its lock,
    /// reporting any error (dropping the index does the same, silently).
    pub fn close(mut self) -> Result<(), IndexError> {
        self.stop_builder();
        self.checkpoint()
    }

    /// Writes a self-contained copy of the current snapshot into `dir` (which
    /// must be empty or absent), in the durable format: [`Index::load`] reads it
    /// back into memory and [`Index::open`] opens it as a durable index.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<(), IndexError> {
        let (state, next_auto_id, next_uid) = {
            let w = self.inner.lock_writer();
            (self.inner.current.load_full(), w.next_auto_id, w.next_uid)
        };
        let shared = &self.inner.shared;
        durable::export(
            &FsStorage,
            dir.as_ref(),
            shared.dim,
            shared.metric,
            &state,
            next_auto_id,
            next_uid,
        )
    }

    /// Reads an index written by [`save`](Self::save) (or a closed durable
    /// index's directory) into memory; later writes are not logged.
    pub fn load(dir: impl AsRef<Path>, config: IndexConfig) -> Result<Index, IndexError> {
        // Read as a read-only open does (no lock, no file created or changed),
        // then keep it as a writable in-memory index.
        Index::open_impl(Arc::new(FsStorage), dir.as_ref(), config, OpenMode::Load)
    }

    /// Test hook: drops the index as a killed process would leave it (no sync,
    /// no checkpoint; the lock is released). Acknowledged writes are in the log.
    #[doc(hidden)]
    pub fn abandon(mut self) {
        self.stop_builder();
    }

    fn stop_builder(&mut self) {
        self.inner.builder.stop();
        if let Some(handle) = self.builder.take() {
            let _ = handle.join();
        }
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.inner.shared.dim
    }

    /// Distance metric.
    pub fn metric(&self) -> Metric {
        self.inner.shared.metric
    }

    /// Adds one vector (see [`add_batch`](Self::add_batch)).
    pub fn add(
        &self,
        id: Option<u64>,
        vector: &[f32],
        metadata: Option<Metadata>,
    ) -> Result<Written, IndexError> {
        let ids = id.map(|i| [i]);
        self.add_batch(
            ids.as_ref().map(|a| &a[..]),
            vector,
            metadata.map(|m| vec![Some(m)]),
        )
    }

    /// Adds `vectors` (row-major, `dim` floats each) with their `ids` (or
    /// auto-assigned ones: the largest id ever used + 1, …) and optional
    /// per-row metadata. An id already present is replaced (upsert).
    ///
    /// The batch becomes visible all at once, at the returned version, or not at
    /// all: wrong length, NaN/inf, a zero vector under cosine, an id twice in the
    /// batch, an id `>= 2^63`, or a metadata list of another length is refused
    /// before anything changes.
    pub fn add_batch(
        &self,
        ids: Option<&[u64]>,
        vectors: &[f32],
        metadata: Option<Vec<Option<Metadata>>>,
    ) -> Result<Written, IndexError> {
        let add = write::check_add(&self.inner.shared, ids, vectors, metadata)?;
        let mut applied = write::apply(&self.inner, vec![Op::Add(add)], true)?;
        Ok(Written {
            ids: applied.added.pop().unwrap_or_default(),
            version: applied.version,
        })
    }

    /// Removes `ids` (tombstones; merges drop the rows later). No search that
    /// starts after this returns sees them. Unknown ids are skipped and not
    /// counted.
    pub fn remove(&self, ids: &[u64]) -> Result<Removed, IndexError> {
        let applied = write::apply(&self.inner, vec![Op::Remove(ids.to_vec())], true)?;
        Ok(Removed {
            count: applied.removed,
            version: applied.version,
        })
    }

    /// A transaction: adds and removes that become visible together at its
    /// commit (see [`Transaction`]).
    pub fn transaction(&self) -> Transaction {
        Transaction::new(self)
    }

    pub(crate) fn inner_arc(&self) -> Arc<Inner> {
        self.inner.clone()
    }

    /// The `params.k` nearest live vectors to `query`, on the caller's thread,
    /// from the current snapshot.
    pub fn search(&self, query: &[f32], params: &SearchParams) -> Result<Hits, IndexError> {
        let state = self.inner.current.load();
        snapshot::search(&self.inner.shared, &state, query, params)
    }

    /// Searches every row of `queries` on the index's pool, from one snapshot,
    /// into `out` (shape `queries.n_rows() x params.k`; missing results padded
    /// with `u64::MAX` / `+inf`). Returns the version read. Metadata is not
    /// returned here (`include_metadata` is ignored): use [`get`](Self::get).
    pub fn batch_search(
        &self,
        queries: Rows<'_, f32>,
        params: &SearchParams,
        out: &mut BatchResults,
    ) -> Result<u64, IndexError> {
        let state = self.inner.current.load();
        snapshot::batch_search(&self.inner.shared, &state, queries, params, out)
    }

    /// A pinned view of the current version (see [`Snapshot`]).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.inner.current.load_full(),
            shared: self.inner.shared.clone(),
        }
    }

    /// The vector (unit-normalised under cosine) and metadata of `id`, if live.
    pub fn get(&self, id: u64) -> Option<Record> {
        snapshot::get(&self.inner.current.load(), id)
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> bool {
        self.inner.current.load().ids.contains_key(&id)
    }

    /// Live vectors.
    pub fn len(&self) -> usize {
        self.inner.current.load().ids.len()
    }

    /// Whether no vector is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every live id, in no particular order.
    pub fn ids(&self) -> Vec<u64> {
        self.inner.current.load().ids.keys().copied().collect()
    }

    /// The current version (bumped by every publish: writes and builder swaps).
    pub fn version(&self) -> u64 {
        self.inner.current.load().version
    }

    /// Blocks until the index has published version `v` or later; returns the
    /// version then current. Gives up after `timeout` (returns `None`).
    pub fn wait_for_version(&self, v: u64, timeout: Option<Duration>) -> Option<u64> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut published = self
            .inner
            .published
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while *published < v {
            match deadline {
                None => {
                    published = self
                        .inner
                        .published_cv
                        .wait(published)
                        .unwrap_or_else(|e| e.into_inner())
                }
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    published = self
                        .inner
                        .published_cv
                        .wait_timeout(published, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        Some(*published)
    }

    /// Seals the growing segment now (if it holds rows) and hands it to the
    /// builder; returns the version current afterwards.
    pub fn seal(&self) -> u64 {
        let mut writer = self.inner.lock_writer();
        let cur = self.inner.current.load_full();
        let Some(g) = writer.growing.take() else {
            return cur.version;
        };
        let mut segments: Vec<Arc<Segment>> = cur
            .segments
            .iter()
            .filter(|s| !s.growing)
            .cloned()
            .collect();
        segments.push(g.view(true));
        let version = cur.version + 1;
        self.inner.publish(State {
            version,
            segments,
            ids: cur.ids.clone(),
        });
        drop(writer);
        Counters::bump(&self.inner.shared.counters.seals, 1);
        self.inner.builder.request();
        version
    }

    /// Seals the growing segment and asks the builder to merge every sealed
    /// segment into one, dropping removed rows, and to retry failed builds.
    /// Returns at once: [`wait_for_builds`](Self::wait_for_builds) waits.
    pub fn compact(&self) {
        self.seal();
        self.inner.builder.request_compaction();
    }

    /// Blocks until the builder has done every job pending when called (graphs
    /// for sealed segments, merges) and whatever they led to.
    pub fn wait_for_builds(&self) {
        self.inner.builder.wait_idle();
    }

    /// A report on sizes, counters, latency and memory.
    pub fn stats(&self) -> IndexStats {
        let state = self.inner.current.load_full();
        let shared = &self.inner.shared;
        let c = &shared.counters;
        let mut memory = MemoryBytes::default();
        for s in &state.segments {
            memory.rows += s.table.memory_bytes();
            match &s.vectors {
                Vectors::Arena(a) => memory.vectors += a.memory_bytes(),
                Vectors::Graph(g) => memory.graphs += g.memory_bytes(),
            }
        }
        IndexStats {
            len: state.ids.len(),
            dim: shared.dim,
            metric: shared.metric,
            version: state.version,
            segments: snapshot::segment_counts(&state),
            rows_stored: state.segments.iter().map(|s| s.rows()).sum(),
            searches: Counters::get(&c.searches),
            batch_searches: Counters::get(&c.batch_searches),
            vectors_added: Counters::get(&c.vectors_added),
            vectors_removed: Counters::get(&c.vectors_removed),
            seals: Counters::get(&c.seals),
            graphs_built: Counters::get(&c.graphs_built),
            merges: Counters::get(&c.merges),
            builder_errors: Counters::get(&c.builder_errors),
            last_builder_error: self.inner.builder.last_error(),
            exact_fallbacks: Counters::get(&c.exact_fallbacks),
            latency: shared.latency.summary(),
            memory,
        }
    }

    /// Test hook: the next `n` background builds panic inside the builder (to
    /// check that the index stays searchable and reports the error).
    #[doc(hidden)]
    pub fn inject_builder_panics(&self, n: usize) {
        self.inner.builder.inject_panics.store(n, Ordering::SeqCst);
    }
}

impl Drop for Index {
    /// Stops the builder (a build in progress finishes first, unpublished) and
    /// joins it; a durable index is synced and checkpointed (errors ignored: use
    /// [`Index::close`] to see them).
    fn drop(&mut self) {
        if self.builder.is_some() {
            self.stop_builder();
            if let Some(d) = &self.inner.durable {
                // Best effort: every acknowledged write is in the log already.
                let _ = d.sync().and_then(|()| d.checkpoint(&self.inner));
            }
        }
    }
}
