//! `sagevec.Index`: the concurrent index, shared freely between Python threads.
//!
//! The class is frozen (every method takes `&self`): concurrency lives in the
//! Rust core, so threads never see "already borrowed". Arguments are read with
//! the GIL held; every call that computes or waits (open, add, remove, search,
//! compact, build waits, stats, checkpoint, close) runs with it released.
//!
//! The core `Index` sits in an `ArcSwapOption`: a call borrows it with one
//! lock-free load (no lock, no shared counter on the hot path) and `close()`
//! swaps in `None`, waits for the calls still holding it, then closes it. A call
//! borrows it only after reading its Python arguments, so no Python code runs
//! while it is held.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwapOption, Guard};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};
use sagevec_index::graph::Traversal;
use sagevec_index::{
    BatchResults, Durability, Index, IndexConfig, IndexError, IndexStats, MAX_K, Metadata,
    SearchParams, Snapshot,
};
use sagevec_kernels::{Metric, Rows};
use sagevec_scheduler::NumaPool;

use crate::arrays::{F32Array, f32_array, ids_from, nonneg, one_id};
use crate::errors::{index_error, runtime_error, type_error, value_error};
use crate::interrupt::{INLINE, chunked, copy_checking_signals, wait_polling};
use crate::kernels::{KNN_MIN_CHUNK, metric as parse_metric};
use crate::metadata::{filter_from_py, record_to_py, records_from_py};
use crate::pool::pool;
use crate::transaction::{PyTransaction, TxSlot, discard};

/// The construction parameters, kept for `__repr__`, properties and pickling.
#[derive(Clone, Copy, Debug)]
struct Params {
    dim: usize,
    m: usize,
    ef_construction: usize,
    ef_search: usize,
    threads: Option<usize>,
    /// Which copy of the vectors graph searches walk (not stored in index
    /// files: every open or load applies this one).
    traversal: Traversal,
}

impl Params {
    /// The parameters as Python gave them, each checked non-negative (`ValueError`
    /// naming it otherwise) and `traversal` parsed (`ValueError` naming the
    /// accepted values); the index checks their ranges.
    fn checked(
        dim: usize,
        m: i64,
        ef_construction: i64,
        ef_search: i64,
        threads: Option<i64>,
        traversal: &str,
    ) -> PyResult<Self> {
        Ok(Params {
            dim,
            m: nonneg(m, "m")?,
            ef_construction: nonneg(ef_construction, "ef_construction")?,
            ef_search: nonneg(ef_search, "ef_search")?,
            threads: threads.map(|t| nonneg(t, "threads")).transpose()?,
            traversal: traversal.parse().map_err(index_error)?,
        })
    }
}

/// Adds of at least this many rows run on a helper thread while this one watches
/// for Ctrl-C (which cancels them); smaller ones take milliseconds and run here.
const CANCELLABLE_ADD_ROWS: usize = 512;

/// Runs a large add on a helper thread (GIL released) and polls for signals; on
/// Ctrl-C raises the add's cancel flag, waits for the helper (each worker
/// finishes the row it is inserting), and returns the `KeyboardInterrupt`.
fn add_cancellable_on_ctrl_c(
    py: Python<'_>,
    index: Arc<Index>,
    ids: Option<Vec<u64>>,
    data: Vec<f32>,
    metadata: Option<Vec<Option<sagevec_index::Metadata>>>,
) -> PyResult<Result<sagevec_index::Written, sagevec_index::IndexError>> {
    let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (done, result) = std::sync::mpsc::channel();
    let flag = cancel.clone();
    std::thread::Builder::new()
        .name("sagevec-add".into())
        .spawn(move || {
            let r = index.add_batch_cancellable(ids.as_deref(), &data, metadata, Some(&flag));
            let _ = done.send(r);
        })
        .map_err(|e| runtime_error(format!("could not start a thread to add: {e}")))?;
    // Receivers are not `Sync`; the polled closure runs with the GIL released.
    let result = std::sync::Mutex::new(result);
    let recv = |limit: Duration| result.lock().ok().map(|r| r.recv_timeout(limit));
    let waited = wait_polling(py, None, |limit| {
        let Some(got) = recv(limit) else {
            return Ok(Some(None));
        };
        Ok(match got {
            Ok(r) => Some(Some(r)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Some(None),
        })
    });
    match waited {
        Ok(Some(Some(r))) => Ok(r),
        Ok(_) => Err(runtime_error(
            "the add stopped without a result (a bug in sagevec)",
        )),
        Err(interrupt) => {
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = py.detach(|| recv(Duration::from_secs(3600)).is_some());
            Err(interrupt)
        }
    }
}

/// `seal_threshold=` is accepted for old callers and ignored, with a
/// `DeprecationWarning`: there is no growing segment to seal any more.
fn warn_seal_threshold(py: Python<'_>, given: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    if given.is_some_and(|g| !g.is_none()) {
        PyErr::warn(
            py,
            &py.get_type::<pyo3::exceptions::PyDeprecationWarning>(),
            c"seal_threshold= has no effect any more (writes go straight into the live graph) and will be removed",
            1,
        )?;
    }
    Ok(())
}

/// Where and how a durable index keeps its files.
#[derive(Clone, Debug)]
struct Store {
    /// The directory, made absolute at open (the core keeps using it after a
    /// `chdir`).
    path: PathBuf,
    durability: Durability,
    /// `None`: the core's default.
    checkpoint_bytes: Option<u64>,
    /// Opened with `read_only=True`: no lock, no file written, writes refused.
    read_only: bool,
}

/// A `path` argument (`str` or `os.PathLike`) as an absolute path.
fn path_arg(p: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    let given: PathBuf = p.extract().map_err(|_| {
        type_error(format!(
            "path must be a str or an os.PathLike, got {}",
            p.get_type()
        ))
    })?;
    if given.as_os_str().is_empty() {
        return Err(value_error("path must not be empty"));
    }
    std::path::absolute(&given).map_err(|e| value_error(format!("path {}: {e}", given.display())))
}

/// The dimension and metric recorded in `dir`'s `MANIFEST`
/// (`sagevec_index::durable::stored_shape`). `None` for a manifest that cannot
/// be read as one: opening the directory then names the problem. A missing
/// `MANIFEST` is an `OSError` (`FileNotFoundError`): there is no index in `dir`.
fn manifest_shape(dir: &std::path::Path) -> PyResult<Option<(usize, Metric)>> {
    match sagevec_index::durable::stored_shape(dir) {
        Ok(shape) => Ok(Some(shape)),
        Err(IndexError::Io {
            kind: std::io::ErrorKind::NotFound,
            path,
            ..
        }) => Err(pyo3::exceptions::PyFileNotFoundError::new_err((
            2,
            format!(
                "no sagevec index in {} (no MANIFEST file: save() or a durable \
                 Index(path=...) makes one)",
                dir.display()
            ),
            path,
        ))),
        Err(e @ IndexError::Io { .. }) => Err(pyo3::exceptions::PyOSError::new_err(e.to_string())),
        Err(_) => Ok(None),
    }
}

/// Queries per worker in the first chunk of a batch search: a batch no larger
/// than this times the workers runs in one core call, with no signal check.
const BATCH_FIRST_CHUNK: usize = 16;

/// Queries a batch needs for its cost to be remembered (smaller ones cost more
/// per query, which would only make later estimates cautious, but say little).
const MEASURED_BATCH: usize = 64;

/// `durability=` and `sync_interval_ms=` as a [`Durability`] (the core checks
/// them: [`Durability::from_parts`]); a negative interval is a `ValueError` here.
fn durability_from(name: Option<&str>, sync_interval_ms: Option<i64>) -> PyResult<Durability> {
    let ms = sync_interval_ms
        .map(|ms| {
            u64::try_from(ms)
                .map_err(|_| value_error(format!("sync_interval_ms must be at least 1, got {ms}")))
        })
        .transpose()?;
    Durability::from_parts(name, ms).map_err(index_error)
}

fn durability_name(d: Durability) -> &'static str {
    d.name()
}

/// The error every call on a closed index raises.
pub(crate) fn closed_error() -> PyErr {
    value_error("the index is closed")
}

/// A mutex that a panic elsewhere did not make unusable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The open index, borrowed for one call: a lock-free `arc_swap` guard that
/// `close()` waits for.
pub(crate) struct Live(Guard<Option<Arc<Index>>>);

impl std::ops::Deref for Live {
    type Target = Index;

    fn deref(&self) -> &Index {
        self.0
            .as_deref()
            .expect("a Live is only made from an open index")
    }
}

/// Waits (GIL released by the caller) until no call holds `index` any more,
/// then owns it. Calls hold it for one computation, so this is short.
fn sole(mut index: Arc<Index>) -> Index {
    loop {
        match Arc::try_unwrap(index) {
            Ok(index) => return index,
            Err(shared) => {
                index = shared;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// A concurrent vector index, in memory or durable in a directory.
///
/// ``Index(dim, metric="l2", *, path=None, read_only=False, durability=None,
/// sync_interval_ms=None, checkpoint_bytes=None, m=16, ef_construction=200,
/// ef_search=64, threads=None, traversal="auto")``
///
/// Metrics are distances, smaller is closer: ``"l2"`` squared Euclidean,
/// ``"ip"`` negative dot product, ``"cosine"`` 1 - cos (vectors are stored
/// unit-normalised; zero vectors are refused). The index is one HNSW graph that
/// ``add`` inserts into before it returns, while searches from other threads go on
/// without waiting; ``m`` and ``ef_construction`` shape it, ``ef_search`` is the
/// default search beam. ``threads`` caps the workers of batch search and large
/// adds (``None``: the process-wide pool, every core). ``seal_threshold=`` is
/// accepted and ignored, with a ``DeprecationWarning``.
/// ``traversal`` says which copy of the vectors a graph search walks: ``"f32"``
/// the vectors themselves, ``"f16"`` a half-precision copy (half the bytes read
/// per hop, half the vectors' memory again) whose beam is re-ranked with the
/// f32 vectors, so returned distances are exact; ``"auto"`` (the default) is
/// ``"f16"`` from 96 dimensions. It is not saved with the index: every open or
/// ``Index.load`` applies its own.
///
/// ``path`` (``str`` or ``os.PathLike``): open, or create, a durable index in
/// that directory: every write is appended to a write-ahead log before it is
/// visible, and reopening the directory (after ``close()``, a crash or a kill)
/// gives back every acknowledged write. ``durability`` says when the log is
/// synced: ``"every_write"`` (the default: before each write returns, so an
/// acknowledged write survives kill -9 and power loss), ``"periodic"`` (at
/// most every ``sync_interval_ms`` milliseconds: a power loss may lose that
/// last interval) or ``"off"`` (the OS writes back when it likes).
/// ``checkpoint_bytes``: log size after which segment files are written and the
/// log restarts (default 64 MiB). These three need ``path``. ``dim`` and
/// ``metric`` must match the directory's index (``OSError`` otherwise); a
/// directory open in another index or process is locked (``OSError``).
/// ``close()`` (or leaving a ``with`` block) checkpoints and releases it.
///
/// ``read_only=True`` (with ``path``): reads the index in that directory as
/// its files are now, taking no lock and writing no file, so it works while
/// another index or process has the directory open for writing (whose later
/// writes it does not see). Writes (``add``, ``remove``, ``transaction``,
/// ``checkpoint``) raise ``OSError``. ``save(path)`` writes a copy of any index
/// into a new directory; ``Index.load(path)`` reads one back into memory.
///
/// Ctrl-C: a long batch search or wait stops within about 100 ms and raises
/// ``KeyboardInterrupt``, leaving the index as it was; an add is interrupted
/// only before its commit (it is added whole or not at all).
///
/// Every method may be called from any number of threads at once, with no lock
/// in Python: readers never wait, writes are serialised inside, and the GIL is
/// released while the index computes or waits.
#[pyclass(frozen, name = "Index", module = "sagevec._native")]
#[derive(Debug)]
pub(crate) struct PyIndex {
    /// The core index; `None` once closed.
    index: ArcSwapOption<Index>,
    metric: Metric,
    params: Params,
    /// `None` in memory.
    store: Option<Store>,
    /// Open transactions, discarded at `close()` (each holds the core's
    /// internals, and with them the directory lock).
    transactions: Mutex<Vec<Weak<TxSlot>>>,
    /// The process that built the index: after `fork()` its builder thread does
    /// not exist in the child.
    pid: u32,
    /// What the last unfiltered batch search cost, graph and exact (see
    /// [`BatchCost`]).
    batch_cost: Mutex<[Option<BatchCost>; 2]>,
}

/// The measured wall time per query of an unfiltered batch search at one
/// snapshot version (per unit of `ef` for graph search). A batch at the same
/// version predicted to end within [`crate::interrupt::INLINE`] runs as one
/// core call; otherwise, or with no estimate (another version: a graph of
/// another size, or another one after a compaction), it starts with a small
/// chunk that measures the cost (see `interrupt::chunked`).
#[derive(Clone, Copy, Debug)]
struct BatchCost {
    version: u64,
    seconds_per_unit: f64,
}

impl Drop for PyIndex {
    fn drop(&mut self) {
        let Some(index) = self.index.swap(None) else {
            return;
        };
        if std::process::id() != self.pid {
            // A forked child: the builder thread lives in the parent only, and
            // joining a thread that does not exist here could hang. Leak it.
            std::mem::forget(index);
            return;
        }
        // Dropping joins the builder (a build in progress finishes first) and
        // checkpoints a durable index: never with the GIL held.
        Python::attach(|py| py.detach(move || drop(index)));
    }
}

/// A shape as Python prints it: `(3,)`, `(2, 4)`.
fn shape_str(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `ids` as Python pads them: -1 for `u64::MAX`.
pub(crate) fn py_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(-1)
}

/// What `search` and `batch_search` share: `k`, the beam and the filter.
struct Query {
    params: SearchParams,
    include_metadata: bool,
}

/// The arguments of an add (`Index.add`, `Transaction.add`), read and checked
/// with the GIL held: any Python code they run (`__array__`, iterators) runs
/// here, before the index is borrowed.
pub(crate) struct AddArgs<'py> {
    rows: PyReadonlyArrayDyn<'py, f32>,
    /// Whether `rows` is a conversion made here (private to this call).
    fresh: bool,
    pub(crate) ids: Option<Vec<u64>>,
    pub(crate) metadata: Option<Vec<Option<Metadata>>>,
}

impl<'py> AddArgs<'py> {
    /// `vectors` (`(dim,)` or `(n, dim)`), `ids` and `metadata` as `add` takes
    /// them (see `Index.add`).
    pub(crate) fn read(
        dim: usize,
        vectors: &Bound<'py, PyAny>,
        ids: Option<&Bound<'py, PyAny>>,
        metadata: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let expected = || format!("({dim},) or (n, {dim})");
        let arr = f32_array(vectors, "vectors", expected)?;
        let single = match arr.array.shape() {
            [d] if *d == dim => true,
            [_, d] if *d == dim => false,
            shape => {
                return Err(value_error(format!(
                    "vectors must have shape {}, got {}",
                    expected(),
                    shape_str(shape)
                )));
            }
        };
        let ids = ids
            .filter(|o| !o.is_none())
            .map(|o| ids_from(o, "ids"))
            .transpose()?;
        let metadata = records_from_py(metadata, single)?;
        let rows = arr.array.try_readonly().map_err(value_error)?;
        Ok(AddArgs {
            rows,
            fresh: arr.fresh,
            ids,
            metadata,
        })
    }

    /// The rows to hand to the core with the GIL released. The caller's own
    /// array is copied first (another thread could write to it meanwhile),
    /// with signal checks (Ctrl-C) while a huge one is copied; a conversion
    /// made here is private and read in place.
    pub(crate) fn rows(&self, py: Python<'py>) -> PyResult<Cow<'_, [f32]>> {
        let slice = self.rows.as_slice().map_err(value_error)?;
        Ok(if self.fresh {
            Cow::Borrowed(slice)
        } else {
            Cow::Owned(copy_checking_signals(py, slice)?)
        })
    }
}

impl PyIndex {
    /// The open index, for one call (`ValueError` once closed). Borrow it after
    /// reading the call's Python arguments.
    pub(crate) fn live(&self) -> PyResult<Live> {
        let guard = self.index.load();
        if guard.is_none() {
            return Err(closed_error());
        }
        Ok(Live(guard))
    }

    /// Workers of this index's batch searches (its `threads=`, else the
    /// process-wide pool's size).
    fn workers(&self) -> usize {
        self.params.threads.unwrap_or_else(|| {
            NumaPool::process_wide()
                .map(NumaPool::n_threads)
                .unwrap_or(1)
        })
    }

    /// Vector dimension (known after `close()` too).
    pub(crate) fn dimension(&self) -> usize {
        self.params.dim
    }

    /// Refuses writes to a read-only index (`OSError`), and to a durable
    /// index from a forked child: its log and lock belong to the parent,
    /// which may be writing them too.
    pub(crate) fn writable(&self) -> PyResult<()> {
        if let Some(s) = self.store.as_ref().filter(|s| s.read_only) {
            return Err(index_error(IndexError::ReadOnly {
                path: s.path.display().to_string(),
            }));
        }
        if self.store.is_some() && std::process::id() != self.pid {
            return Err(runtime_error(
                "this durable index was opened in the parent process; a forked child may \
                 search it but not write to it (its log belongs to the parent)",
            ));
        }
        Ok(())
    }

    /// Registers an open transaction, discarded at `close()`.
    pub(crate) fn register(&self, slot: &Arc<TxSlot>) {
        let mut open = lock(&self.transactions);
        open.retain(|t| t.strong_count() > 0);
        open.push(Arc::downgrade(slot));
    }

    /// The core configuration for `metric` and `params` (and a durable
    /// index's `store`), checked.
    fn config(metric: Metric, params: Params, store: Option<&Store>) -> PyResult<IndexConfig> {
        let mut config = IndexConfig::new(params.dim, metric);
        config.graph.m = params.m;
        config.graph.ef_construction = params.ef_construction;
        config.graph.traversal = params.traversal;
        config.ef_search = params.ef_search;
        if let Some(s) = store {
            config.durability = s.durability;
            if let Some(bytes) = s.checkpoint_bytes {
                config.checkpoint_bytes = bytes;
            }
        }
        config.validate().map_err(index_error)?;
        if let Some(n) = params.threads {
            config.pool = Some(pool(Some(n))?);
        }
        Ok(config)
    }

    fn wrap(index: Index, metric: Metric, params: Params, store: Option<Store>) -> Self {
        PyIndex {
            index: ArcSwapOption::from_pointee(index),
            metric,
            params,
            store,
            transactions: Mutex::new(Vec::new()),
            pid: std::process::id(),
            batch_cost: Mutex::new([None, None]),
        }
    }

    fn build(py: Python<'_>, metric: &str, params: Params, store: Option<Store>) -> PyResult<Self> {
        let metric = parse_metric(metric)?;
        let config = Self::config(metric, params, store.as_ref())?;
        let index = match &store {
            None => Index::new(config),
            Some(s) if s.read_only => py.detach(|| Index::open_read_only(&s.path, config)),
            Some(s) => py.detach(|| Index::open(&s.path, config)),
        }
        .map_err(index_error)?;
        Ok(Self::wrap(index, metric, params, store))
    }

    /// Checks `k` and `ef` and builds the search parameters. The beam is made
    /// explicit (`max(ef, k)`), so the 1-D and 2-D paths search identically.
    fn query(
        &self,
        k: i64,
        ef: Option<i64>,
        exact: bool,
        filter: Option<&Bound<'_, PyAny>>,
        include_metadata: bool,
    ) -> PyResult<Query> {
        let k = nonneg(k, "k")?;
        if k == 0 {
            return Err(index_error(IndexError::ZeroK));
        }
        if k > MAX_K {
            return Err(index_error(IndexError::InvalidParameter {
                name: "k",
                reason: format!("{k} is above {MAX_K}"),
            }));
        }
        let ef = match ef {
            None => self.params.ef_search,
            Some(e) => nonneg(e, "ef")?,
        };
        // ef = 0 or above MAX_K stays as given: the core names the problem.
        let ef = if ef == 0 { 0 } else { ef.max(k) };
        let mut params = SearchParams::new(k).ef(ef).exact(exact);
        if let Some(f) = filter_from_py(filter)? {
            params = params.filter(f);
        }
        Ok(Query {
            params,
            include_metadata,
        })
    }

    fn expected_queries(&self) -> String {
        let dim = self.params.dim;
        format!("({dim},) or (n_queries, {dim})")
    }

    /// One query: `(ids[k], distances[k])` (+ metadata list).
    fn search_one<'py>(
        &self,
        py: Python<'py>,
        arr: &F32Array<'py>,
        q: Query,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let ro = arr.array.try_readonly().map_err(value_error)?;
        let query = ro.as_slice().map_err(value_error)?;
        let params = q.params.include_metadata(q.include_metadata);
        let index = self.live()?;
        let index: &Index = &index;
        let hits = py
            .detach(|| index.search(query, &params))
            .map_err(index_error)?;
        let k = params.k;
        let mut ids = vec![-1i64; k];
        let mut dists = vec![f32::INFINITY; k];
        for (i, h) in hits.hits.iter().enumerate().take(k) {
            ids[i] = py_id(h.id);
            dists[i] = h.distance;
        }
        // k is small here: a copy into a plain array beats wrapping the Vec.
        let ids = PyArray1::from_slice(py, &ids).into_any();
        let dists = PyArray1::from_slice(py, &dists).into_any();
        if !q.include_metadata {
            return PyTuple::new(py, [ids, dists]);
        }
        let meta = PyList::empty(py);
        for i in 0..k {
            meta.append(record_to_py(
                py,
                hits.hits.get(i).and_then(|h| h.metadata.as_ref()),
            )?)?;
        }
        PyTuple::new(py, [ids, dists, meta.into_any()])
    }

    /// A batch: `(ids[nq, k], distances[nq, k])` (+ metadata lists), from one
    /// snapshot, on the index's pool.
    fn search_many<'py>(
        &self,
        py: Python<'py>,
        arr: &F32Array<'py>,
        mut q: Query,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let dim = self.params.dim;
        let shape = arr.array.shape();
        let (nq, d) = (shape[0], shape[1]);
        if d != dim {
            return Err(index_error(IndexError::DimensionMismatch {
                expected: dim,
                got: d,
            }));
        }
        let ro = arr.array.try_readonly().map_err(value_error)?;
        let data = ro.as_slice().map_err(value_error)?;
        let rows = Rows::strided(data, nq, d, d).map_err(value_error)?;
        // The snapshot stands alone: `close()` need not wait for this search.
        let snap: Snapshot = self.live()?.snapshot();
        let k = q.params.k;
        // No more results exist than live rows: a smaller buffer gives the same
        // answer (the beam is already explicit), the rest is padding.
        let k_eff = k.min(snap.len()).max(1);
        q.params.k = k_eff;
        let params = &q.params;
        let snap_ref = &snap;
        let mut ids = vec![-1i64; nq * k];
        let mut dists = vec![f32::INFINITY; nq * k];
        let (ids_out, dists_out) = (&mut ids, &mut dists);
        // Time-bounded chunks of queries, with a signal check between them
        // (Ctrl-C); a search only reads, so stopping early changes nothing.
        // A batch known (from the last one at this version) to be short runs
        // in one piece.
        let slot = usize::from(params.exact);
        let unit = if params.exact {
            1.0
        } else {
            params.ef.unwrap_or(self.params.ef_search).max(k_eff) as f64
        };
        let known = params.filter.is_none();
        let estimate = lock(&self.batch_cost)[slot]
            .filter(|c| known && c.version == snap.version())
            .map(|c| c.seconds_per_unit * unit * nq as f64);
        // An exact, unfiltered batch streams every row once per core call (the
        // fused kernel), so its later chunks stay as large as `kernels.knn`'s;
        // Ctrl-C still lands soon, through the stop flag the core checks.
        let fused = params.exact && known;
        let min = if fused {
            KNN_MIN_CHUNK * self.workers()
        } else {
            1
        };
        let first = match estimate {
            Some(t) if t <= INLINE.as_secs_f64() => nq,
            // No small measuring chunk (a pass over every row of its own): the
            // chunks run on a helper thread that Ctrl-C stops within a run of rows.
            _ if fused => 0,
            _ => BATCH_FIRST_CHUNK * self.workers(),
        };
        let start = Instant::now();
        chunked(
            py,
            nq,
            first,
            min,
            move |range, stop| -> Result<(), IndexError> {
                let mut out = BatchResults::new(range.len(), k_eff)?;
                let part = rows.slice_rows(range.start, range.end);
                snap_ref
                    .batch_search_cancellable(part, params, &mut out, Some(stop))
                    .map_err(|e| row_in_batch(e, range.start))?;
                for (i, q) in range.enumerate() {
                    let at = q * k;
                    for (slot, &id) in ids_out[at..at + k_eff].iter_mut().zip(out.ids(i)) {
                        *slot = py_id(id);
                    }
                    dists_out[at..at + k_eff].copy_from_slice(out.distances(i));
                }
                Ok(())
            },
        )?
        .map_err(index_error)?;
        if known && nq >= MEASURED_BATCH {
            lock(&self.batch_cost)[slot] = Some(BatchCost {
                version: snap.version(),
                seconds_per_unit: start.elapsed().as_secs_f64() / (nq as f64 * unit),
            });
        }
        let meta = if q.include_metadata {
            let outer = PyList::empty(py);
            for row in ids.chunks(k) {
                let inner = PyList::empty(py);
                for &id in row {
                    let record = u64::try_from(id).ok().and_then(|id| snap.get(id));
                    inner.append(record_to_py(
                        py,
                        record.as_ref().and_then(|r| r.metadata.as_ref()),
                    )?)?;
                }
                outer.append(inner)?;
            }
            Some(outer)
        } else {
            None
        };
        let ids = PyArray1::from_vec(py, ids).reshape([nq, k])?.into_any();
        let dists = PyArray1::from_vec(py, dists).reshape([nq, k])?.into_any();
        match meta {
            None => PyTuple::new(py, [ids, dists]),
            Some(m) => PyTuple::new(py, [ids, dists, m.into_any()]),
        }
    }
}

fn stats_dict<'py>(py: Python<'py>, s: &IndexStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("len", s.len)?;
    d.set_item("dim", s.dim)?;
    d.set_item("metric", s.metric.name())?;
    d.set_item("version", s.version)?;
    let g = PyDict::new(py);
    g.set_item("slots", s.graph.slots)?;
    g.set_item("removed_slots", s.graph.removed_slots)?;
    g.set_item("max_level", s.graph.max_level)?;
    g.set_item("walks_f16", s.graph.walks_f16)?;
    g.set_item("f16_scale", s.graph.f16_scale)?;
    g.set_item("clipped_rows", s.graph.clipped_rows)?;
    d.set_item("graph", g)?;
    d.set_item("rows_stored", s.rows_stored)?;
    d.set_item("searches", s.searches)?;
    d.set_item("batch_searches", s.batch_searches)?;
    d.set_item("vectors_added", s.vectors_added)?;
    d.set_item("vectors_removed", s.vectors_removed)?;
    d.set_item("compactions", s.compactions)?;
    d.set_item("repairs", s.repairs)?;
    d.set_item("checkpoints", s.checkpoints)?;
    d.set_item("builder_errors", s.builder_errors)?;
    d.set_item("last_builder_error", s.last_builder_error.as_deref())?;
    d.set_item("exact_fallbacks", s.exact_fallbacks)?;
    let lat = PyDict::new(py);
    let us = |t: Duration| t.as_secs_f64() * 1e6;
    lat.set_item("count", s.latency.count)?;
    lat.set_item("mean_us", us(s.latency.mean))?;
    lat.set_item("p50_us", us(s.latency.p50))?;
    lat.set_item("p99_us", us(s.latency.p99))?;
    d.set_item("latency", lat)?;
    let mem = PyDict::new(py);
    mem.set_item("vectors", s.memory.vectors)?;
    mem.set_item("graphs", s.memory.graphs)?;
    mem.set_item("rows", s.memory.rows)?;
    mem.set_item("total", s.memory.total())?;
    d.set_item("memory_bytes", mem)?;
    Ok(d)
}

#[pymethods]
impl PyIndex {
    #[new]
    #[pyo3(signature = (dim, metric="l2", *, path=None, read_only=false, durability=None, sync_interval_ms=None, checkpoint_bytes=None, m=16, ef_construction=200, ef_search=64, seal_threshold=None, threads=None, traversal="auto"))]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn new(
        py: Python<'_>,
        dim: i64,
        metric: &str,
        path: Option<&Bound<'_, PyAny>>,
        read_only: bool,
        durability: Option<&str>,
        sync_interval_ms: Option<i64>,
        checkpoint_bytes: Option<i64>,
        m: i64,
        ef_construction: i64,
        ef_search: i64,
        seal_threshold: Option<&Bound<'_, PyAny>>,
        threads: Option<i64>,
        traversal: &str,
    ) -> PyResult<Self> {
        warn_seal_threshold(py, seal_threshold)?;
        let params = Params::checked(
            nonneg(dim, "dim")?,
            m,
            ef_construction,
            ef_search,
            threads,
            traversal,
        )?;
        let store = match path.filter(|p| !p.is_none()) {
            None => {
                for (given, name) in [
                    (read_only, "read_only"),
                    (durability.is_some(), "durability"),
                    (sync_interval_ms.is_some(), "sync_interval_ms"),
                    (checkpoint_bytes.is_some(), "checkpoint_bytes"),
                ] {
                    if given {
                        return Err(value_error(format!(
                            "{name} is for a durable index: give path= too (an index \
                             without a path lives in memory)"
                        )));
                    }
                }
                None
            }
            Some(p) => {
                let path = path_arg(p)?;
                if read_only {
                    for (given, name) in [
                        (durability.is_some(), "durability"),
                        (sync_interval_ms.is_some(), "sync_interval_ms"),
                        (checkpoint_bytes.is_some(), "checkpoint_bytes"),
                    ] {
                        if given {
                            return Err(value_error(format!(
                                "{name} is for writing: an index opened with \
                                 read_only=True writes no file"
                            )));
                        }
                    }
                }
                Some(Store {
                    path,
                    durability: durability_from(durability, sync_interval_ms)?,
                    checkpoint_bytes: checkpoint_bytes
                        .map(|b| {
                            u64::try_from(b).map_err(|_| {
                                value_error(format!(
                                    "checkpoint_bytes must be a non-negative integer, got {b}"
                                ))
                            })
                        })
                        .transpose()?,
                    read_only,
                })
            }
        };
        Self::build(py, metric, params, store)
    }

    /// Reads an index saved with ``save(path)`` (or a durable index's
    /// directory) into memory and returns it: a writable in-memory index
    /// (later writes are not logged). Like ``read_only=True`` it takes no lock
    /// and changes no file, so a directory another index is writing loads
    /// too, as its files are at that moment. Graphs saved with the index are
    /// loaded, not rebuilt.
    ///
    /// ``dim`` and ``metric`` are read from the directory; given, they must
    /// match it (``OSError`` otherwise). The other parameters are those of
    /// ``Index(...)``; ``traversal`` is never read from the files (they do not
    /// record it). No index in ``path``: ``FileNotFoundError``; a damaged
    /// file: ``OSError`` naming it.
    #[classmethod]
    #[pyo3(signature = (path, dim=None, metric=None, *, m=16, ef_construction=200, ef_search=64, seal_threshold=None, threads=None, traversal="auto"))]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn load(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        dim: Option<i64>,
        metric: Option<&str>,
        m: i64,
        ef_construction: i64,
        ef_search: i64,
        seal_threshold: Option<&Bound<'_, PyAny>>,
        threads: Option<i64>,
        traversal: &str,
    ) -> PyResult<Self> {
        warn_seal_threshold(py, seal_threshold)?;
        let dir = path_arg(path)?;
        // dim and metric from the files, unless given.
        let found = py.detach(|| manifest_shape(&dir))?;
        let metric = match (metric, found) {
            (Some(name), _) => parse_metric(name)?,
            (None, Some((_, stored))) => stored,
            (None, None) => Metric::L2Sq,
        };
        let dim = match (dim, found) {
            (Some(d), _) => nonneg(d, "dim")?,
            (None, Some((stored, _))) => stored,
            (None, None) => {
                return Err(pyo3::exceptions::PyOSError::new_err(format!(
                    "{}: not a sagevec MANIFEST (give dim= and metric= to have the \
                     index report what is wrong)",
                    dir.join("MANIFEST").display()
                )));
            }
        };
        let params = Params::checked(dim, m, ef_construction, ef_search, threads, traversal)?;
        let config = Self::config(metric, params, None)?;
        let index = py
            .detach(|| Index::load(&dir, config))
            .map_err(index_error)?;
        Ok(Self::wrap(index, metric, params, None))
    }

    /// Writes a self-contained copy of the current snapshot (ids, vectors,
    /// metadata, built graphs) into the directory ``path`` (``str`` or
    /// ``os.PathLike``), which must be absent or empty (``OSError``,
    /// ``FileExistsError``, otherwise). Works for every index: in memory,
    /// durable or read-only. ``Index.load(path)`` reads it back into memory;
    /// ``Index(dim, metric, path=path)`` opens it as a durable index. Writes
    /// made meanwhile by other threads are in it or not, as a search started
    /// at the same moment would see them.
    fn save(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let dir = path_arg(path)?;
        let index = self.live()?;
        let index: &Index = &index;
        py.detach(|| index.save(&dir)).map_err(index_error)
    }

    /// Vector dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.params.dim
    }

    /// Distance metric: ``"l2"``, ``"ip"`` or ``"cosine"``.
    #[getter]
    fn metric(&self) -> &'static str {
        self.metric.name()
    }

    /// The directory of a durable index (absolute), ``None`` in memory.
    #[getter]
    fn path(&self) -> Option<&OsStr> {
        self.store.as_ref().map(|s| s.path.as_os_str())
    }

    /// When a durable index syncs its log: ``"every_write"``, ``"periodic"``
    /// or ``"off"``; ``None`` in memory and for a read-only index.
    #[getter]
    fn durability(&self) -> Option<&'static str> {
        self.store
            .as_ref()
            .filter(|s| !s.read_only)
            .map(|s| durability_name(s.durability))
    }

    /// Whether the index was opened with ``read_only=True`` (writes raise
    /// ``OSError``).
    #[getter]
    fn read_only(&self) -> bool {
        self.store.as_ref().is_some_and(|s| s.read_only)
    }

    /// The sync period of ``durability="periodic"``, in milliseconds (else
    /// ``None``).
    #[getter]
    fn sync_interval_ms(&self) -> Option<u128> {
        match self.store.as_ref().filter(|s| !s.read_only)?.durability {
            Durability::Periodic(p) => Some(p.as_millis()),
            _ => None,
        }
    }

    /// Whether ``close()`` was called. Properties stay readable after it;
    /// every other method raises ``ValueError``.
    #[getter]
    fn closed(&self) -> bool {
        self.index.load().is_none()
    }

    /// Current version: bumped by every write and every background swap. Each
    /// write becomes visible at a version; SageDB's ``index_version`` is this.
    #[getter]
    fn version(&self) -> PyResult<u64> {
        Ok(self.live()?.version())
    }

    /// HNSW links per node (level 0 keeps ``2 * m``).
    #[getter]
    fn m(&self) -> usize {
        self.params.m
    }

    /// HNSW build beam.
    #[getter]
    fn ef_construction(&self) -> usize {
        self.params.ef_construction
    }

    /// Default search beam (``search(ef=...)`` overrides it).
    #[getter]
    fn ef_search(&self) -> usize {
        self.params.ef_search
    }

    /// Which copy of the vectors graph searches walk, as given: ``"auto"``,
    /// ``"f32"`` or ``"f16"``.
    #[getter]
    fn traversal(&self) -> &'static str {
        self.params.traversal.name()
    }

    /// Worker cap given at construction (``None``: the process-wide pool).
    #[getter]
    fn threads(&self) -> Option<usize> {
        self.params.threads
    }

    /// Number of live vectors.
    fn __len__(&self) -> PyResult<usize> {
        Ok(self.live()?.len())
    }

    /// Whether ``id`` is live (``False`` for anything that is not a valid id).
    fn __contains__(&self, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let id = one_id(id);
        let index = self.live()?;
        Ok(id.is_ok_and(|id| index.contains(id)))
    }

    fn __repr__(&self) -> String {
        let path = match &self.store {
            Some(s) if s.read_only => format!(", path='{}', read_only=True", s.path.display()),
            Some(s) => format!(", path='{}'", s.path.display()),
            None => String::new(),
        };
        match self.live() {
            Ok(index) => format!(
                "sagevec.Index(dim={}, metric='{}', len={}, version={}{path})",
                self.params.dim,
                self.metric.name(),
                index.len(),
                index.version()
            ),
            Err(_) => format!(
                "sagevec.Index(dim={}, metric='{}'{path}, closed)",
                self.params.dim,
                self.metric.name(),
            ),
        }
    }

    /// Adds vectors; returns their ids (int64 array, input order).
    ///
    /// ``vectors``: one vector ``(dim,)`` or a batch ``(n, dim)``; float32
    /// C-contiguous is copied once, other floats are converted. ``ids``: integers
    /// in ``[0, 2^63)``, one per vector (``None``: auto-assigned, the largest id
    /// ever used + 1, ...); an id already present is replaced. ``metadata``: a
    /// list with one dict (``str`` keys; ``str``/``int``/``float``/``bool``
    /// values) or ``None`` per vector (a single dict for a single vector).
    ///
    /// The rows are in the graph, searchable, when this returns. The batch becomes
    /// visible all at once or not at all: a wrong shape, NaN/inf, a zero vector
    /// under cosine, a duplicate id, an id out of range or lists of the wrong
    /// length raise ``ValueError`` (``TypeError`` for wrong types) and change
    /// nothing. On a durable index the batch is in the log (synced, under
    /// ``"every_write"``) before this returns; a file error is an ``OSError`` and
    /// changes nothing. Ctrl-C during a large add (its rows being inserted)
    /// cancels it: ``KeyboardInterrupt``, and nothing was added (unless the signal
    /// came as it was being made visible: then the whole batch is there).
    #[pyo3(signature = (vectors, ids=None, metadata=None))]
    fn add<'py>(
        &self,
        py: Python<'py>,
        vectors: &Bound<'py, PyAny>,
        ids: Option<&Bound<'py, PyAny>>,
        metadata: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let mut args = AddArgs::read(self.params.dim, vectors, ids, metadata)?;
        let (ids, metadata) = (args.ids.take(), args.metadata.take());
        let data = args.rows(py)?;
        py.check_signals()?;
        self.live()?;
        self.writable()?;
        let written = if data.len() < CANCELLABLE_ADD_ROWS * self.params.dim.max(1) {
            let index = self.live()?;
            let index: &Index = &index;
            py.detach(|| index.add_batch(ids.as_deref(), &data, metadata))
        } else {
            let index = self.index.load_full().ok_or_else(closed_error)?;
            add_cancellable_on_ctrl_c(py, index, ids, data.into_owned(), metadata)?
        }
        .map_err(index_error)?;
        Ok(PyArray1::from_vec(
            py,
            written.ids.into_iter().map(py_id).collect(),
        ))
    }

    /// Removes ``ids`` (any integer sequence or array, or one int); returns how
    /// many were live. Unknown ids are skipped. No search that starts after this
    /// returns sees them.
    fn remove(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ids = ids_from(ids, "ids")?;
        let index = self.live()?;
        self.writable()?;
        let index: &Index = &index;
        py.detach(|| index.remove(&ids))
            .map(|r| r.count)
            .map_err(index_error)
    }

    /// ``(vector, metadata)`` of a live id: the vector as stored (float32;
    /// unit-normalised under cosine) and its metadata dict or ``None``.
    /// ``KeyError`` if the id is not live.
    fn get<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyArray1<f32>>, Bound<'py, PyAny>)> {
        let key = one_id(id);
        let index = self.live()?;
        let record = match key {
            Ok(key) => index.get(key),
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyTypeError>(py) => return Err(e),
            Err(_) => None,
        };
        drop(index);
        let record = record.ok_or_else(|| PyKeyError::new_err(id.clone().unbind()))?;
        let meta = record_to_py(py, record.metadata.as_ref())?;
        Ok((PyArray1::from_vec(py, record.vector), meta))
    }

    /// Every live id, ascending (int64 array).
    fn ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let snap = self.live()?.snapshot();
        let ids = py.detach(|| {
            let mut ids = snap.ids();
            ids.sort_unstable();
            ids.into_iter().map(py_id).collect::<Vec<_>>()
        });
        Ok(PyArray1::from_vec(py, ids))
    }

    /// The ``k`` nearest live vectors.
    ///
    /// A 1-D query ``(dim,)`` gives ``(ids[k], distances[k])``; a 2-D batch
    /// ``(n, dim)`` gives ``(ids[n, k], distances[n, k])``, searched from one
    /// snapshot on the index's worker pool. ids are int64, distances float32,
    /// best first (ties to the smaller id); missing results are ``-1`` / ``inf``.
    ///
    /// ``ef``: search beam (default: the index's ``ef_search``; raised to ``k``).
    /// ``exact``: scan every row instead of walking graphs (ground truth).
    /// ``filter``: a sequence/array of allowed ids, or a dict of metadata
    /// equalities that must all hold (typed: ``1`` does not match ``1.0``).
    /// ``include_metadata``: add a third item, the hits' metadata (a list of ``k``
    /// dicts-or-``None`` per query; a list of such lists for a batch).
    ///
    /// float32 C-contiguous queries are read in place; other floats are converted.
    #[pyo3(signature = (queries, k=10, *, ef=None, exact=false, filter=None, include_metadata=false))]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        k: i64,
        ef: Option<i64>,
        exact: bool,
        filter: Option<&Bound<'py, PyAny>>,
        include_metadata: bool,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let expected = || self.expected_queries();
        let arr = f32_array(queries, "queries", expected)?;
        let q = self.query(k, ef, exact, filter, include_metadata)?;
        match arr.array.ndim() {
            1 => self.search_one(py, &arr, q),
            2 => self.search_many(py, &arr, q),
            _ => Err(value_error(format!(
                "queries must have shape {}, got {}",
                expected(),
                shape_str(arr.array.shape())
            ))),
        }
    }

    /// ``search`` for a 2-D batch of queries ``(n, dim)``, by its explicit name:
    /// ``(ids[n, k], distances[n, k])`` (+ metadata lists).
    #[pyo3(signature = (queries, k=10, *, ef=None, exact=false, filter=None, include_metadata=false))]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn batch_search<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        k: i64,
        ef: Option<i64>,
        exact: bool,
        filter: Option<&Bound<'py, PyAny>>,
        include_metadata: bool,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let dim = self.params.dim;
        let expected = || format!("(n_queries, {dim})");
        let arr = f32_array(queries, "queries", expected)?;
        if arr.array.ndim() != 2 {
            return Err(value_error(format!(
                "batch_search needs queries of shape {}, got {}",
                expected(),
                shape_str(arr.array.shape())
            )));
        }
        let q = self.query(k, ef, exact, filter, include_metadata)?;
        self.search_many(py, &arr, q)
    }

    /// A report as a dict: ``len``, ``dim``, ``metric``, ``version``, ``graph``
    /// (slots, removed_slots, max_level, walks_f16, f16_scale, clipped_rows),
    /// ``rows_stored``, counters (searches, batch_searches, vectors_added,
    /// vectors_removed, compactions, repairs, checkpoints, builder_errors,
    /// exact_fallbacks), ``last_builder_error``, ``latency`` (count, mean_us,
    /// p50_us, p99_us) and ``memory_bytes`` (vectors, graphs, rows, total).
    /// ``batch_searches`` counts the core's batch calls: a long batch from
    /// Python runs as several (time-bounded chunks, so Ctrl-C can stop it).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let index = self.live()?;
        let index: &Index = &index;
        let s = py.detach(|| index.stats());
        stats_dict(py, &s)
    }

    /// Deprecated, does nothing: every write goes straight into the live graph,
    /// so there is nothing to seal. Returns the current version (and emits a
    /// ``DeprecationWarning``).
    fn seal(&self, py: Python<'_>) -> PyResult<u64> {
        let index = self.live()?;
        PyErr::warn(
            py,
            &py.get_type::<pyo3::exceptions::PyDeprecationWarning>(),
            c"Index.seal() does nothing any more: writes go straight into the live graph",
            1,
        )?;
        Ok(index.version())
    }

    /// Asks the background builder to rebuild the graph without removed rows
    /// (and refit its f16 copy's scale), carrying over writes made meanwhile;
    /// searches go on with the current graph until the swap. Returns at once;
    /// ``wait_for_builds`` waits.
    fn compact(&self, py: Python<'_>) -> PyResult<()> {
        let index = self.live()?;
        let index: &Index = &index;
        py.detach(|| index.compact());
        Ok(())
    }

    /// Blocks (GIL released) until the background builder has finished every
    /// job pending when called (a compaction, a checkpoint, the reachability
    /// check of the graph after writes). Writes never need it: their rows are
    /// searchable when ``add`` returns. Ctrl-C ends the wait with
    /// ``KeyboardInterrupt`` (the builds go on in the background). In a forked
    /// child (no builder there) this raises ``RuntimeError`` instead of
    /// waiting forever.
    fn wait_for_builds(&self, py: Python<'_>) -> PyResult<()> {
        if std::process::id() != self.pid {
            return Err(runtime_error(
                "this index was built in the parent process; its background builder \
                 does not run in a forked child (build a new index here)",
            ));
        }
        // The core's wait has no time limit: a helper thread waits, and this
        // one waits for the helper in slices, checking for signals. After a
        // Ctrl-C the helper keeps its handle on the index until the builds
        // it waits for are done (a `close()` meanwhile waits for them too).
        let index = self.index.load_full().ok_or_else(closed_error)?;
        let (done, finished) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sagevec-wait".into())
            .spawn(move || {
                index.wait_for_builds();
                let _ = done.send(());
            })
            .map_err(|e| runtime_error(format!("could not start a thread to wait: {e}")))?;
        wait_polling(py, None, move |limit| {
            Ok(match finished.recv_timeout(limit) {
                Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Some(()),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
            })
        })?;
        Ok(())
    }

    /// Blocks (GIL released) until version ``version`` or later is published;
    /// returns the version then current, or ``None`` after ``timeout`` seconds
    /// (``None``: no limit). Ctrl-C interrupts the wait; closing the index from
    /// another thread ends it with ``ValueError``.
    #[pyo3(signature = (version, timeout=None))]
    fn wait_for_version(
        &self,
        py: Python<'_>,
        version: u64,
        timeout: Option<f64>,
    ) -> PyResult<Option<u64>> {
        let timeout = timeout
            .map(|t| {
                Duration::try_from_secs_f64(t).map_err(|_| {
                    value_error(format!(
                        "timeout must be a finite number of seconds >= 0, got {t}"
                    ))
                })
            })
            .transpose()?;
        // Waits in slices, so that `close()` (which waits for calls holding
        // the index) and signals are never held off for long; the index is
        // borrowed only within a slice, never while signal handlers run.
        let deadline = timeout.map(|t| Instant::now() + t);
        wait_polling(py, deadline, |limit| {
            let index = self.live()?;
            Ok(index.wait_for_version(version, Some(limit)))
        })
    }

    /// Makes a durable index's state a checkpoint now (GIL released): syncs
    /// the log, writes segment files and a new manifest, and starts a new log,
    /// so the next open has less to replay. Does nothing in memory. ``OSError``
    /// on a file error (the index stays usable).
    fn checkpoint(&self, py: Python<'_>) -> PyResult<()> {
        let index = self.live()?;
        self.writable()?;
        let index: &Index = &index;
        py.detach(|| index.checkpoint()).map_err(index_error)
    }

    /// Closes the index (GIL released): waits for the calls in progress on
    /// other threads, discards open transactions, stops the background
    /// builder, and for a durable index checkpoints and releases the
    /// directory, which may then be opened again. Afterwards every method
    /// raises ``ValueError`` (properties stay readable). Closing twice does
    /// nothing. An ``OSError`` from the final checkpoint is raised; the index
    /// is closed anyway and its log still holds every acknowledged write.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let Some(index) = self.index.swap(None) else {
            return Ok(());
        };
        let transactions = &self.transactions;
        if std::process::id() != self.pid {
            // A forked child: no builder to stop, and the files are the
            // parent's. Leak the index (as dropping it does here).
            std::mem::forget(index);
            py.detach(|| discard(transactions));
            return Ok(());
        }
        py.detach(move || {
            let index = sole(index);
            // After `sole`, no call can register a transaction any more.
            discard(transactions);
            index.close()
        })
        .map_err(index_error)
    }

    /// ``with Index(..., path=p) as index:`` closes the index at the end of the
    /// block.
    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().live()?;
        Ok(slf)
    }

    /// Closes the index; never suppresses an exception.
    #[pyo3(signature = (_exc_type=None, _exc_value=None, _traceback=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// A transaction: adds and removes collected now and made visible
    /// together, at one version, by ``commit()`` (one log record on a durable
    /// index); ``rollback()`` discards them. Readers and writers are never
    /// blocked while it is being filled. ``with index.transaction() as tx:``
    /// commits when the block ends normally and rolls back when it raises.
    /// See ``Transaction``. ``OSError`` on a read-only index.
    fn transaction(slf: &Bound<'_, Self>) -> PyResult<PyTransaction> {
        let this = slf.get();
        let index = this.live()?;
        this.writable()?;
        let slot = TxSlot::open(index.transaction());
        this.register(&slot);
        drop(index);
        Ok(PyTransaction::new(slot, slf.clone().unbind()))
    }

    /// Pickling: ``(dim, metric, params, ids, vectors, metadata)`` of one
    /// snapshot, rebuilt by adding them to a fresh index on load. The version
    /// restarts, and auto-assigned ids continue after the largest live id. A
    /// durable index pickles the same way: the copy lives in memory (no
    /// ``path``; the directory stays with the original).
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let dim = self.params.dim;
        let snap = self.live()?.snapshot();
        let (ids, vectors, metadata) = py.detach(|| {
            let mut ids = snap.ids();
            ids.sort_unstable();
            let mut kept = Vec::with_capacity(ids.len());
            let mut vectors = Vec::with_capacity(ids.len() * dim);
            let mut metadata = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(r) = snap.get(id) {
                    kept.push(py_id(id));
                    vectors.extend_from_slice(&r.vector);
                    metadata.push(r.metadata);
                }
            }
            (kept, vectors, metadata)
        });
        let n = ids.len();
        let params = PyDict::new(py);
        params.set_item("m", self.params.m)?;
        params.set_item("ef_construction", self.params.ef_construction)?;
        params.set_item("ef_search", self.params.ef_search)?;
        params.set_item("threads", self.params.threads)?;
        params.set_item("traversal", self.params.traversal.name())?;
        let meta = if metadata.iter().all(Option::is_none) {
            py.None().into_bound(py)
        } else {
            let list = PyList::empty(py);
            for m in &metadata {
                list.append(record_to_py(py, m.as_ref())?)?;
            }
            list.into_any()
        };
        let restore = py.import("sagevec._native")?.getattr("_restore_index")?;
        let args = PyTuple::new(
            py,
            [
                dim.into_pyobject(py)?.into_any(),
                self.metric.name().into_pyobject(py)?.into_any(),
                params.into_any(),
                PyArray1::from_vec(py, ids).into_any(),
                PyArray1::from_vec(py, vectors)
                    .reshape([n, dim])?
                    .into_any(),
                meta,
            ],
        )?;
        Ok((restore, args))
    }
}

/// Rebuilds a pickled `Index` (see `Index.__reduce__`).
#[pyfunction]
#[pyo3(name = "_restore_index", signature = (dim, metric, params, ids, vectors, metadata=None))]
pub(crate) fn restore_index<'py>(
    py: Python<'py>,
    dim: i64,
    metric: &str,
    params: &Bound<'py, PyDict>,
    ids: &Bound<'py, PyAny>,
    vectors: &Bound<'py, PyAny>,
    metadata: Option<&Bound<'py, PyAny>>,
) -> PyResult<PyIndex> {
    let get = |name: &str| -> PyResult<i64> {
        params
            .get_item(name)?
            .ok_or_else(|| value_error(format!("pickled index: no {name}")))?
            .extract()
    };
    let threads: Option<i64> = match params.get_item("threads")? {
        Some(t) => t.extract()?,
        None => None,
    };
    // Absent from pickles made before it existed: the default.
    let traversal: String = match params.get_item("traversal")? {
        Some(t) => t.extract()?,
        None => Traversal::default().name().to_owned(),
    };
    let index = PyIndex::build(
        py,
        metric,
        Params::checked(
            nonneg(dim, "dim")?,
            get("m")?,
            get("ef_construction")?,
            get("ef_search")?,
            threads,
            &traversal,
        )?,
        None,
    )?;
    let n = ids_from(ids, "ids")?.len();
    if n > 0 {
        index.add(py, vectors, Some(ids), metadata)?;
    }
    Ok(index)
}

/// A query error of one chunk, with its row numbered in the whole batch.
fn row_in_batch(e: IndexError, first: usize) -> IndexError {
    match e {
        IndexError::NonFinite { row } => IndexError::NonFinite { row: first + row },
        IndexError::ZeroVector { row } => IndexError::ZeroVector { row: first + row },
        e => e,
    }
}
