//! The concurrent index: readers load a snapshot and never wait; writers insert
//! into the live graph concurrently and publish in order; a background builder
//! compacts, repairs and checkpoints.
//!
//! See [`crate::docs::concurrency`] for the guarantees.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use sagevec_kernels::{Metric, Rows, try_kernels};

use crate::builder::{self, BuilderCtl};
use crate::config::{IndexConfig, SearchParams};
use crate::durable::io::{FsStorage, Storage};
use crate::durable::{self, Durable, OpenMode};
use crate::error::IndexError;
use crate::live::LiveGraph;
use crate::metadata::Metadata;
use crate::results::BatchResults;
use crate::shared::Shared;
use crate::snapshot::{self, Hits, IdMap, Record, Snapshot, State};
use crate::stats::{Counters, GraphCounts, IndexStats, MemoryBytes};
use crate::write::{self, Op, Transaction, Turns, Writer};

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

/// Everything the index, its snapshots and its builder share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) current: ArcSwap<State>,
    /// The writer lock: held only to reserve (ids, log, slots, ticket).
    pub(crate) writer: Mutex<Writer>,
    /// Commit order of reserved writes.
    pub(crate) turns: Turns,
    pub(crate) hooks: write::WriteHooks,
    published: Mutex<u64>,
    published_cv: Condvar,
    pub(crate) builder: BuilderCtl,
    /// The log and files of an index opened on disk.
    pub(crate) durable: Option<Durable>,
    /// Opened read-only from this directory: writes are refused.
    pub(crate) read_only: Option<String>,
}

impl Inner {
    /// An index starting from `state` (the empty one of a new index, or the one
    /// recovery loaded), whose auto-ids go on from `next_auto_id`.
    pub(crate) fn with_state(
        config: &IndexConfig,
        state: State,
        durable: Option<Durable>,
        next_auto_id: u64,
    ) -> Inner {
        Inner {
            shared: Arc::new(Shared::new(config)),
            current: ArcSwap::from_pointee(state),
            writer: Mutex::new(Writer::new(next_auto_id)),
            turns: Turns::default(),
            hooks: write::WriteHooks::default(),
            published: Mutex::new(0),
            published_cv: Condvar::new(),
            builder: BuilderCtl::new(),
            durable,
            read_only: None,
        }
    }

    /// Takes the writer lock. A writer that panicked left no half-made
    /// reservation (reserving cannot fail after it starts changing state), so a
    /// poisoned lock is taken as is.
    pub(crate) fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `state` and wakes version waiters. Only [`write::Turn`] calls this.
    pub(crate) fn publish(&self, state: State) {
        let version = state.version;
        self.current.store(Arc::new(state));
        *self.published.lock().unwrap_or_else(|e| e.into_inner()) = version;
        self.published_cv.notify_all();
    }
}

/// An empty live graph number `uid` for `config`'s vectors, built with `params`.
pub(crate) fn new_graph_with(
    config: &IndexConfig,
    params: &crate::graph::GraphParams,
    uid: u64,
) -> Result<Arc<LiveGraph>, IndexError> {
    let internal = match config.metric {
        Metric::Cosine => Metric::InnerProduct,
        m => m,
    };
    Ok(Arc::new(LiveGraph::new(
        uid,
        config.dim,
        internal,
        params,
        try_kernels()?,
        config.metric == Metric::Cosine,
    )))
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
        let graph = new_graph_with(&config, &config.graph, 1)?;
        let state = State {
            version: 0,
            bound: 0,
            ids: IdMap::new(),
            graph,
        };
        Index::start(Arc::new(Inner::with_state(&config, state, None, 0)))
    }

    /// Opens the durable index in `dir`, creating it if the directory holds none
    /// (see [`crate::durable`]): every acknowledged write is in its log, synced
    /// as `config.durability` says. The directory is locked for writing while
    /// the index is open; a second open fails with [`IndexError::Locked`]. The
    /// graph is read back from the last checkpoint (not rebuilt), then the writes
    /// logged after it are inserted again; its parameters (`m`, `ef_construction`,
    /// level multiplier, seed) are the files', whatever `config.graph` says (the
    /// copy it walks, `traversal`, is the configuration's). A directory of the
    /// previous format (version 1) is converted once, on this open.
    pub fn open(dir: impl AsRef<Path>, config: IndexConfig) -> Result<Index, IndexError> {
        // Absolute, so a later chdir of the process does not move the files.
        let dir = std::path::absolute(dir.as_ref())
            .map_err(|e| crate::durable::io_err(dir.as_ref(), "resolve", &e))?;
        Index::open_impl(Arc::new(FsStorage), &dir, config, OpenMode::Write)
    }

    /// Opens the durable index in `dir` for reading only, as its files are now
    /// (another process may hold it open for writing; later writes of that
    /// process are not seen). Takes no lock and changes no file; writes fail with
    /// [`IndexError::ReadOnly`].
    pub fn open_read_only(dir: impl AsRef<Path>, config: IndexConfig) -> Result<Index, IndexError> {
        Index::open_impl(
            Arc::new(FsStorage),
            dir.as_ref(),
            config,
            OpenMode::ReadOnly,
        )
    }

    /// Test hook (feature `test-hooks`): [`open`](Self::open) through a given I/O
    /// layer (tests inject faults with
    /// [`SimStorage`](crate::durable::io::SimStorage)).
    #[cfg(feature = "test-hooks")]
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
        config.validate()?;
        let inner = durable::open(storage, dir, &config, mode)?;
        Index::start(Arc::new(inner))
    }

    fn start(inner: Arc<Inner>) -> Result<Index, IndexError> {
        *inner.published.lock().unwrap_or_else(|e| e.into_inner()) = inner.current.load().version;
        let builder = builder::spawn(inner.clone())?;
        inner.builder.request();
        Ok(Index {
            inner,
            builder: Some(builder),
        })
    }

    /// Makes a durable index's state a checkpoint now: syncs the log, writes the
    /// graph's new rows and its links, and a new manifest, and drops old logs
    /// (faster reopening). In memory it does nothing.
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

    /// Writes a self-contained copy of the current state into `dir` (which must be
    /// empty or absent), in the durable format (writers wait while its links are
    /// copied; readers do not): [`Index::load`] reads it
    /// back into memory and [`Index::open`] opens it as a durable index.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<(), IndexError> {
        durable::export(&FsStorage, dir.as_ref(), &self.inner)
    }

    /// Reads an index written by [`save`](Self::save) (or a closed durable
    /// index's directory) into memory; later writes are not logged.
    pub fn load(dir: impl AsRef<Path>, config: IndexConfig) -> Result<Index, IndexError> {
        // Read as a read-only open does (no lock, no file created or changed),
        // then keep it as a writable in-memory index.
        Index::open_impl(Arc::new(FsStorage), dir.as_ref(), config, OpenMode::Load)
    }

    /// Test hook (feature `test-hooks`): drops the index as a killed process would
    /// leave it (no sync, no checkpoint; the lock is released). Acknowledged
    /// writes are in the log.
    #[cfg(feature = "test-hooks")]
    pub fn abandon(mut self) {
        self.stop_builder();
    }

    fn stop_builder(&mut self) {
        self.inner.builder.stop();
        if let Some(handle) = self.builder.take() {
            let _ = handle.join();
        }
    }

    /// The configuration in effect: the one the index was made with, with the graph
    /// parameters of its graph (for a durable index, those its files were built
    /// with, whatever `open` was given; see [`Index::open`]).
    pub fn config(&self) -> IndexConfig {
        let mut c = self.inner.shared.config();
        c.graph = self.inner.current.load().graph.params.clone();
        c
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
    /// The rows are inserted into the graph on the caller's thread (a batch of 64
    /// rows or more: on every worker of the index's background pool) before the
    /// call returns, so when it returns they are in the graph and searchable. The
    /// batch becomes visible all at once, at the returned version, or not at all:
    /// wrong length, NaN/inf, a zero vector under cosine, an id twice in the
    /// batch, an id `>= 2^63`, or a metadata list of another length is refused
    /// before anything changes. Several threads may add at once: their inserts
    /// run in parallel.
    pub fn add_batch(
        &self,
        ids: Option<&[u64]>,
        vectors: &[f32],
        metadata: Option<Vec<Option<Metadata>>>,
    ) -> Result<Written, IndexError> {
        self.add_batch_cancellable(ids, vectors, metadata, None)
    }

    /// [`add_batch`](Self::add_batch) that gives up with [`IndexError::Cancelled`],
    /// changing nothing, if `cancel` is raised while its rows are being inserted
    /// (each worker finishes the row it is inserting): how a binding lets Ctrl-C
    /// stop a large add. A raise after the rows are in the graph is too late: the
    /// add then completes.
    pub fn add_batch_cancellable(
        &self,
        ids: Option<&[u64]>,
        vectors: &[f32],
        metadata: Option<Vec<Option<Metadata>>>,
        cancel: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<Written, IndexError> {
        let add = write::check_add(&self.inner.shared, ids, vectors, metadata)?;
        let mut applied = write::apply(&self.inner, vec![Op::Add(add)], true, cancel)?;
        Ok(Written {
            ids: applied.added.pop().unwrap_or_default(),
            version: applied.version,
        })
    }

    /// Removes `ids` (tombstones; a compaction drops the rows later). No search
    /// that starts after this returns sees them. Unknown ids are skipped and not
    /// counted.
    pub fn remove(&self, ids: &[u64]) -> Result<Removed, IndexError> {
        let applied = write::apply(&self.inner, vec![Op::Remove(ids.to_vec())], true, None)?;
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
        crate::search::search(&self.inner.shared, &state, query, params)
    }

    /// Searches every row of `queries` on the index's pool, from one snapshot,
    /// into `out` (shape `queries.n_rows() x params.k`; missing results padded
    /// with `u64::MAX` / `+inf`). Returns the version read. Metadata is not
    /// returned here (`include_metadata` is ignored): use
    /// [`Snapshot::metadata`] on a snapshot of that version. To stop a large batch
    /// (Ctrl-C in a binding), search a snapshot with
    /// [`Snapshot::batch_search_cancellable`].
    pub fn batch_search(
        &self,
        queries: Rows<'_, f32>,
        params: &SearchParams,
        out: &mut BatchResults,
    ) -> Result<u64, IndexError> {
        let state = self.inner.current.load();
        crate::search::batch_search(&self.inner.shared, &state, queries, params, out, None)
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

    /// The metadata of `id`, if it is live and has any (no copy of the vector).
    pub fn metadata(&self, id: u64) -> Option<Metadata> {
        snapshot::metadata_of(&self.inner.current.load(), id)
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

    /// Asks the builder to rebuild the graph without removed rows (and with the
    /// f16 walk copy's scale fitted again to every row; nothing happens when no row
    /// is removed and none was clipped), off the caller's thread:
    /// readers go on with the current graph until the new one is swapped in, and
    /// writes made meanwhile are carried over. Returns at once;
    /// [`wait_for_builds`](Self::wait_for_builds) waits. Also retries work that
    /// failed.
    pub fn compact(&self) {
        self.inner.builder.request_compaction();
    }

    /// Blocks until the builder has done every job pending when called
    /// (compaction, reachability repair, checkpoint) and whatever they led to.
    /// Writes never wait for the builder: their rows are in the graph when they
    /// return.
    pub fn wait_for_builds(&self) {
        self.inner.builder.wait_idle();
    }

    /// A report on sizes, counters, latency and memory.
    pub fn stats(&self) -> IndexStats {
        let state = self.inner.current.load_full();
        let shared = &self.inner.shared;
        let c = &shared.counters;
        let graph = &state.graph;
        let bytes = graph.bytes();
        let view = graph.view(state.bound);
        let removed_slots = (0..state.bound)
            .filter(|&s| !view.alive_at(s, state.version))
            .count();
        let memory = MemoryBytes {
            vectors: bytes.vectors,
            graphs: bytes.walk + bytes.links,
            rows: bytes.rows,
        };
        IndexStats {
            len: state.ids.len(),
            dim: shared.dim,
            metric: shared.metric,
            version: state.version,
            graph: GraphCounts {
                slots: state.bound,
                removed_slots,
                max_level: graph.entry().map_or(0, |(_, l)| l),
                walks_f16: graph.walks_f16(),
                f16_scale: graph.f16_scale(),
                clipped_rows: graph.clipped(),
            },
            rows_stored: state.bound,
            searches: Counters::get(&c.searches),
            batch_searches: Counters::get(&c.batch_searches),
            vectors_added: Counters::get(&c.vectors_added),
            vectors_removed: Counters::get(&c.vectors_removed),
            compactions: Counters::get(&c.compactions),
            repairs: Counters::get(&c.repairs),
            checkpoints: Counters::get(&c.checkpoints),
            builder_errors: Counters::get(&c.builder_errors),
            last_builder_error: self.inner.builder.last_error(),
            exact_fallbacks: Counters::get(&c.exact_fallbacks),
            latency: shared.latency.summary(),
            memory,
        }
    }

    /// Test hook (feature `test-hooks`): live ids of the current snapshot that a
    /// breadth-first walk of the graph's level 0 from its entry point does not
    /// reach (the reachability checker). Empty when the graph is sound.
    #[cfg(feature = "test-hooks")]
    pub fn unreachable_ids(&self) -> Vec<u64> {
        let state = self.inner.current.load_full();
        let view = state.graph.view(state.bound);
        view.unreachable_live(state.version)
            .into_iter()
            .map(|s| view.id(s as usize))
            .collect()
    }

    /// Test hook (feature `test-hooks`): breaks the publish order on purpose while
    /// `on`. A write is then acknowledged before its rows are linked into the
    /// graph (they are linked at the start of the next write), the bug class the
    /// insertion's publish order rules out; the reachability checker
    /// ([`unreachable_ids`](Self::unreachable_ids)) must see it.
    #[cfg(feature = "test-hooks")]
    pub fn break_publish_order(&self, on: bool) {
        self.inner
            .hooks
            .defer_links
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Test hook (feature `test-hooks`): the next `n` background compactions
    /// panic inside the builder (to check that the index stays searchable and
    /// reports the error).
    #[cfg(feature = "test-hooks")]
    pub fn inject_builder_panics(&self, n: usize) {
        self.inner
            .builder
            .inject_panics
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Index {
    /// Stops the builder (a compaction in progress gives up unpublished) and
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
