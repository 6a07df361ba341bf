//! The index handle: an opaque `sagevec_index` around the core `Index`, held in
//! an `ArcSwapOption` so every call borrows it with one lock-free load and
//! `sagevec_index_close` can swap it out, wait for the calls still holding it,
//! and close it while other threads keep calling (they then get
//! `SAGEVEC_ERR_CLOSED`). Only `sagevec_index_free` must not race other calls on
//! the same handle.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use ::sagevec_index::graph::Traversal;
use ::sagevec_index::{BatchResults, Durability, Filter, Index, IndexConfig, SearchParams};
use ::sagevec_kernels::Rows;
use arc_swap::ArcSwapOption;

use crate::args::{self, product};
use crate::json;
use crate::kernels::{metric_code, metric_of, sagevec_metric};
use crate::owned;
use crate::status::{Error, SAGEVEC_ERR_CLOSED, SAGEVEC_ERR_NOT_FOUND, call, sagevec_status};

/// A concurrent vector index (opaque). Every call but `sagevec_index_free` may be
/// made from any thread at once: searches never wait for writes, writes from
/// several threads insert in parallel.
#[derive(Debug)]
pub struct sagevec_index {
    index: ArcSwapOption<Index>,
}

/// Which copy of the vectors graph searches walk.
pub type sagevec_traversal = u32;
/// f16 from 96 dimensions, else f32 (the default).
pub const SAGEVEC_TRAVERSAL_AUTO: sagevec_traversal = 0;
/// The f32 vectors themselves.
pub const SAGEVEC_TRAVERSAL_F32: sagevec_traversal = 1;
/// A half-precision copy (half the bytes per hop; results re-ranked exactly).
pub const SAGEVEC_TRAVERSAL_F16: sagevec_traversal = 2;

/// When a durable index syncs its log.
pub type sagevec_durability = u32;
/// Sync before every write returns: acknowledged writes survive power loss (the default).
pub const SAGEVEC_DURABILITY_EVERY_WRITE: sagevec_durability = 0;
/// Sync at most every `sync_interval_ms` (and at close).
pub const SAGEVEC_DURABILITY_PERIODIC: sagevec_durability = 1;
/// Never sync; the OS writes back when it likes.
pub const SAGEVEC_DURABILITY_OFF: sagevec_durability = 2;

/// How an index is built and opened. Start from `sagevec_index_options_default`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sagevec_index_options {
    /// HNSW links per node on the upper levels (level 0 keeps 2 m), 2..=256. Default 16.
    pub m: usize,
    /// Beam width while inserting. Default 200.
    pub ef_construction: usize,
    /// Default beam width of searches (`sagevec_search_params.ef` overrides it). Default 64.
    pub ef_search: usize,
    /// Seed of the level generator.
    pub seed: u64,
    /// A `SAGEVEC_TRAVERSAL_*` code.
    pub traversal: sagevec_traversal,
    /// A `SAGEVEC_DURABILITY_*` code (durable indexes only).
    pub durability: sagevec_durability,
    /// How often `SAGEVEC_DURABILITY_PERIODIC` syncs, in milliseconds (>= 1);
    /// must be 0 for the other modes.
    pub sync_interval_ms: u64,
    /// Log bytes after which the builder checkpoints a durable index (0: the default).
    pub checkpoint_bytes: u64,
    /// `sagevec_index_open` only: read the directory as it is, take no lock, refuse writes.
    pub read_only: bool,
}

/// What a search asks for besides k. Start from `sagevec_search_params_default`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sagevec_search_params {
    /// Beam width (0: the index's `ef_search`); raised to k when smaller.
    pub ef: usize,
    /// Scan every row instead of walking the graph.
    pub exact: bool,
    /// Only ids in `ids[0..n_ids]` may be returned (an allow-list; with `n_ids == 0`
    /// nothing may). The list is copied into a set per call.
    pub filter_by_ids: bool,
    /// The allow-list when `filter_by_ids`.
    pub ids: *const u64,
    /// Entries of `ids`.
    pub n_ids: usize,
}

/// The handle behind a pointer.
///
/// # Safety
/// `h` is NULL or a handle from `sagevec_index_create`/`open` that is not freed
/// while the returned borrow lives (the header's contract for `sagevec_index_free`).
unsafe fn handle<'a>(h: *const sagevec_index) -> Result<&'a sagevec_index, Error> {
    if h.is_null() {
        return Err(Error::null("index"));
    }
    // SAFETY: non-NULL, and live for 'a (the caller's contract).
    Ok(unsafe { &*h })
}

/// The body of a call that needs only the open index: runs `f` on the index behind
/// `h` (from [`handle`]), turning its error (or a panic) into the status.
fn on_index(
    h: Result<&sagevec_index, Error>,
    f: impl FnOnce(&Index) -> Result<(), Error>,
) -> sagevec_status {
    call(|| with_index(h?, f))
}

/// Borrows the open index of `h` for one call (lock-free; `close` waits for it).
fn with_index<R>(
    h: &sagevec_index,
    f: impl FnOnce(&Index) -> Result<R, Error>,
) -> Result<R, Error> {
    let guard = h.index.load();
    match guard.as_deref() {
        Some(index) => f(index),
        None => Err(Error::new(SAGEVEC_ERR_CLOSED, "the index is closed")),
    }
}

fn traversal_of(code: sagevec_traversal) -> Result<Traversal, Error> {
    let name = match code {
        SAGEVEC_TRAVERSAL_AUTO => "auto",
        SAGEVEC_TRAVERSAL_F32 => "f32",
        SAGEVEC_TRAVERSAL_F16 => "f16",
        other => {
            return Err(Error::invalid(format!(
                "unknown traversal code {other}: expected 0 (auto), 1 (f32) or 2 (f16)"
            )));
        }
    };
    name.parse().map_err(Error::from)
}

fn durability_of(code: sagevec_durability, sync_interval_ms: u64) -> Result<Durability, Error> {
    let name = match code {
        SAGEVEC_DURABILITY_EVERY_WRITE => "every_write",
        SAGEVEC_DURABILITY_PERIODIC => "periodic",
        SAGEVEC_DURABILITY_OFF => "off",
        other => {
            return Err(Error::invalid(format!(
                "unknown durability code {other}: expected 0 (every_write), 1 (periodic) or 2 (off)"
            )));
        }
    };
    let ms = (sync_interval_ms != 0).then_some(sync_interval_ms);
    Durability::from_parts(Some(name), ms).map_err(Error::from)
}

fn default_options() -> sagevec_index_options {
    let c = IndexConfig::new(1, ::sagevec_kernels::Metric::L2Sq);
    sagevec_index_options {
        m: c.graph.m,
        ef_construction: c.graph.ef_construction,
        ef_search: c.ef_search,
        seed: c.graph.seed,
        traversal: SAGEVEC_TRAVERSAL_AUTO,
        durability: SAGEVEC_DURABILITY_EVERY_WRITE,
        sync_interval_ms: 0,
        checkpoint_bytes: 0,
        read_only: false,
    }
}

/// The configuration for `dim`, `metric` and `opts` (NULL: the defaults).
///
/// # Safety
/// `opts` is NULL or points to a readable `sagevec_index_options`.
unsafe fn config_of(
    dim: usize,
    metric: sagevec_metric,
    opts: *const sagevec_index_options,
) -> Result<(IndexConfig, bool), Error> {
    let o = if opts.is_null() {
        default_options()
    } else {
        if !opts.is_aligned() {
            return Err(Error::invalid("options is misaligned"));
        }
        // SAFETY: non-NULL and aligned; readable (the caller's contract).
        unsafe { *opts }
    };
    let mut c = IndexConfig::new(dim, metric_of(metric)?);
    c.graph.m = o.m;
    c.graph.ef_construction = o.ef_construction;
    c.graph.seed = o.seed;
    c.graph.traversal = traversal_of(o.traversal)?;
    c.ef_search = o.ef_search;
    c.durability = durability_of(o.durability, o.sync_interval_ms)?;
    if o.checkpoint_bytes != 0 {
        c.checkpoint_bytes = o.checkpoint_bytes;
    }
    c.validate()?;
    Ok((c, o.read_only))
}

fn into_handle(index: Index) -> *mut sagevec_index {
    Box::into_raw(Box::new(sagevec_index {
        index: ArcSwapOption::from_pointee(index),
    }))
}

/// The defaults (those of the Rust `IndexConfig::new`) into `*out`.
///
/// # Safety
/// `out` is NULL or points to a writable `sagevec_index_options`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_index_options_default(
    out: *mut sagevec_index_options,
) -> sagevec_status {
    // SAFETY: the caller's contract.
    call(|| unsafe { args::write(out, default_options(), "out") })
}

/// The defaults (graph search, no filter) into `*out`.
///
/// # Safety
/// `out` is NULL or points to a writable `sagevec_search_params`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_search_params_default(
    out: *mut sagevec_search_params,
) -> sagevec_status {
    let p = sagevec_search_params {
        ef: 0,
        exact: false,
        filter_by_ids: false,
        ids: std::ptr::null(),
        n_ids: 0,
    };
    // SAFETY: the caller's contract.
    call(|| unsafe { args::write(out, p, "out") })
}

/// An empty index in memory of `dim`-element f32 vectors under `metric` (l2, ip
/// or cosine: the metrics of f32 rows; hamming and jaccard are
/// `SAGEVEC_ERR_INVALID_ARGUMENT`), into `*out` (free it with
/// `sagevec_index_free`). `opts` may be NULL (defaults).
///
/// # Safety
/// `opts` is NULL or readable; `out` is NULL or points to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_index_create(
    dim: usize,
    metric: sagevec_metric,
    opts: *const sagevec_index_options,
    out: *mut *mut sagevec_index,
) -> sagevec_status {
    call(|| {
        args::require(out, "out")?;
        // SAFETY: the caller's contract.
        let (config, _) = unsafe { config_of(dim, metric, opts) }?;
        let index = Index::new(config)?;
        // SAFETY: the caller's contract (checked non-NULL above).
        unsafe { args::write(out, into_handle(index), "out") }
    })
}

/// Opens the durable index in directory `dir` (created if it holds none; with
/// `opts->read_only`, it must hold one), into `*out`. Every acknowledged write is
/// in its log, synced as `opts->durability` says; the directory is locked while
/// open (`SAGEVEC_ERR_LOCKED` for a second writer). `dim` and `metric` must be
/// the directory's (`SAGEVEC_ERR_CONFIG_MISMATCH`); its graph parameters win
/// over `opts`.
///
/// # Safety
/// `dir` is a NUL-terminated path; `opts` is NULL or readable; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_index_open(
    dir: *const c_char,
    dim: usize,
    metric: sagevec_metric,
    opts: *const sagevec_index_options,
    out: *mut *mut sagevec_index,
) -> sagevec_status {
    call(|| {
        args::require(out, "out")?;
        // SAFETY: the caller's contract.
        let dir = unsafe { args::c_str(dir, "dir") }?;
        if dir.is_empty() {
            return Err(Error::invalid("dir is empty"));
        }
        // SAFETY: the caller's contract.
        let (config, read_only) = unsafe { config_of(dim, metric, opts) }?;
        let index = if read_only {
            Index::open_read_only(dir, config)?
        } else {
            Index::open(dir, config)?
        };
        // SAFETY: the caller's contract (checked non-NULL above).
        unsafe { args::write(out, into_handle(index), "out") }
    })
}

/// Adds `n` vectors (`vectors`: `n * dim` floats, row-major; `dim` must be the
/// index's) with ids `ids[0..n]` (NULL: auto-assigned, from one past the largest
/// id ever used) and optional metadata `metadata[0..n]` (NULL: none; each entry a
/// NUL-terminated JSON object, or NULL / `"null"` for none). An id already there
/// is replaced. The whole batch becomes visible at one version, or nothing
/// changes on any error. `out_ids` (NULL or `n` entries) receives the ids,
/// `out_version` (NULL or one) the version at which they became visible.
///
/// # Safety
/// Every non-NULL pointer holds the entries stated above.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the batch, its ids, metadata and two outputs
pub unsafe extern "C" fn sagevec_index_add(
    index: *const sagevec_index,
    ids: *const u64,
    vectors: *const f32,
    n: usize,
    dim: usize,
    metadata: *const *const c_char,
    out_ids: *mut u64,
    out_version: *mut u64,
) -> sagevec_status {
    // SAFETY: the caller's contract: NULL or a live handle.
    on_index(unsafe { handle(index) }, |ix| {
        if dim != ix.dim() {
            return Err(Error::length(format!(
                "dim is {dim}, the index holds {}-element vectors",
                ix.dim()
            )));
        }
        // SAFETY: the caller's contract for each buffer.
        let data = unsafe { args::slice(vectors, product(n, dim, "vectors")?, "vectors") }?;
        let ids = if ids.is_null() {
            None
        } else {
            // SAFETY: as above.
            Some(unsafe { args::slice(ids, n, "ids") }?)
        };
        let records = if metadata.is_null() {
            None
        } else {
            // SAFETY: as above.
            let texts = unsafe { args::slice(metadata, n, "metadata") }?;
            let mut records = Vec::with_capacity(n);
            for (row, &text) in texts.iter().enumerate() {
                records.push(if text.is_null() {
                    None
                } else {
                    // SAFETY: as above: each entry NULL or NUL-terminated.
                    let text = unsafe { args::c_str(text, "metadata entry") }?;
                    json::parse_record(text).map_err(|e| {
                        Error::new(e.status, format!("metadata[{row}]: {}", e.message))
                    })?
                });
            }
            Some(records)
        };
        let out = if out_ids.is_null() {
            None
        } else {
            // SAFETY: as above.
            Some(unsafe { args::slice_mut(out_ids, n, "out_ids") }?)
        };
        if !out_version.is_aligned() {
            return Err(Error::invalid("out_version is misaligned"));
        }
        let written = ix.add_batch(ids, data, records)?;
        if let Some(out) = out {
            out.copy_from_slice(&written.ids);
        }
        // SAFETY: as above.
        unsafe { args::write_opt(out_version, written.version, "out_version") }
    })
}

/// Removes the ids `ids[0..n]` (unknown ids are skipped). `out_removed` (NULL or
/// one) receives how many were live, `out_version` the version from which they are
/// gone. No search that starts after this returns sees them.
///
/// # Safety
/// `ids` holds `n` ids; each output is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_index_remove(
    index: *const sagevec_index,
    ids: *const u64,
    n: usize,
    out_removed: *mut usize,
    out_version: *mut u64,
) -> sagevec_status {
    // SAFETY: the caller's contract: NULL or a live handle.
    on_index(unsafe { handle(index) }, |ix| {
        // SAFETY: the caller's contract.
        let ids = unsafe { args::slice(ids, n, "ids") }?;
        if !out_removed.is_aligned() || !out_version.is_aligned() {
            return Err(Error::invalid("an output pointer is misaligned"));
        }
        let removed = ix.remove(ids)?;
        // SAFETY: the caller's contract.
        unsafe { args::write_opt(out_removed, removed.count, "out_removed") }?;
        // SAFETY: the caller's contract.
        unsafe { args::write_opt(out_version, removed.version, "out_version") }
    })
}

/// The core's search parameters for `k` and `p` (NULL: defaults).
///
/// # Safety
/// `p` is NULL or readable, and its allow-list as its fields say.
unsafe fn search_params(k: usize, p: *const sagevec_search_params) -> Result<SearchParams, Error> {
    let mut params = SearchParams::new(k);
    if p.is_null() {
        return Ok(params);
    }
    if !p.is_aligned() {
        return Err(Error::invalid("params is misaligned"));
    }
    // SAFETY: non-NULL, aligned, readable (the caller's contract).
    let p = unsafe { *p };
    if p.ef != 0 {
        params = params.ef(p.ef);
    }
    params = params.exact(p.exact);
    if p.filter_by_ids {
        // SAFETY: the caller's contract for the allow-list.
        let ids = unsafe { args::slice(p.ids, p.n_ids, "params->ids") }?;
        params = params.filter(Filter::ids(ids.iter().copied()));
    }
    Ok(params)
}

/// The `k` nearest live vectors to `query` (`dim` floats), on the calling thread,
/// into `out_ids[0..k]` and `out_distances[0..k]`, nearest first; missing results
/// are `UINT64_MAX` and `+inf`. `out_version` (NULL or one) receives the version
/// read. `params` may be NULL (graph search, the index's ef, no filter).
///
/// # Safety
/// `query` holds `dim` floats; each output holds `k` entries (or is NULL where
/// allowed); `params` is NULL or readable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // query, k, params and three outputs
pub unsafe extern "C" fn sagevec_index_search(
    index: *const sagevec_index,
    query: *const f32,
    dim: usize,
    k: usize,
    params: *const sagevec_search_params,
    out_ids: *mut u64,
    out_distances: *mut f32,
    out_version: *mut u64,
) -> sagevec_status {
    // SAFETY: the caller's contract: NULL or a live handle.
    on_index(unsafe { handle(index) }, |ix| {
        // SAFETY: the caller's contract for each buffer.
        let q = unsafe { args::slice(query, dim, "query") }?;
        // SAFETY: as above.
        let p = unsafe { search_params(k, params) }?;
        // SAFETY: as above.
        let ids = unsafe { args::slice_mut(out_ids, k, "out_ids") }?;
        // SAFETY: as above.
        let dists = unsafe { args::slice_mut(out_distances, k, "out_distances") }?;
        if !out_version.is_aligned() {
            return Err(Error::invalid("out_version is misaligned"));
        }
        let hits = ix.search(q, &p)?;
        ids.fill(u64::MAX);
        dists.fill(f32::INFINITY);
        for ((id, d), h) in ids.iter_mut().zip(dists.iter_mut()).zip(&hits.hits) {
            *id = h.id;
            *d = h.distance;
        }
        // SAFETY: as above.
        unsafe { args::write_opt(out_version, hits.version, "out_version") }
    })
}

/// Searches `n_queries` queries (`queries`: `n_queries * dim` floats, row-major)
/// from one snapshot on the index's worker pool, into row-major `out_ids` and
/// `out_distances` (`out_len == n_queries * k` entries each; padding as
/// `sagevec_index_search`). `out_version` (NULL or one) receives the version read.
///
/// # Safety
/// As `sagevec_index_search`, with `n_queries` queries and `out_len` outputs.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // queries, k, params and three outputs
pub unsafe extern "C" fn sagevec_index_batch_search(
    index: *const sagevec_index,
    queries: *const f32,
    n_queries: usize,
    dim: usize,
    k: usize,
    params: *const sagevec_search_params,
    out_ids: *mut u64,
    out_distances: *mut f32,
    out_len: usize,
    out_version: *mut u64,
) -> sagevec_status {
    // SAFETY: the caller's contract: NULL or a live handle.
    on_index(unsafe { handle(index) }, |ix| {
        if k == 0 {
            return Err(::sagevec_index::IndexError::ZeroK.into());
        }
        let want = product(n_queries, k, "n_queries * k")?;
        if out_len != want {
            return Err(Error::length(format!(
                "out_len is {out_len}, n_queries * k is {want}"
            )));
        }
        if dim != ix.dim() {
            return Err(Error::length(format!(
                "dim is {dim}, the index holds {}-element vectors",
                ix.dim()
            )));
        }
        // SAFETY: the caller's contract for each buffer.
        let q = unsafe { args::slice(queries, product(n_queries, dim, "queries")?, "queries") }?;
        // SAFETY: as above.
        let p = unsafe { search_params(k, params) }?;
        // SAFETY: as above.
        let ids = unsafe { args::slice_mut(out_ids, out_len, "out_ids") }?;
        // SAFETY: as above.
        let dists = unsafe { args::slice_mut(out_distances, out_len, "out_distances") }?;
        if !out_version.is_aligned() {
            return Err(Error::invalid("out_version is misaligned"));
        }
        if n_queries == 0 {
            // Nothing to search; report the version a search would have read.
            // SAFETY: as above.
            return unsafe { args::write_opt(out_version, ix.version(), "out_version") };
        }
        let rows = Rows::strided(q, n_queries, dim, dim)?;
        let mut results = BatchResults::new(n_queries, k)?;
        let version = ix.batch_search(rows, &p, &mut results)?;
        for (i, (ids, dists)) in ids
            .chunks_exact_mut(k)
            .zip(dists.chunks_exact_mut(k))
            .enumerate()
        {
            ids.copy_from_slice(results.ids(i));
            dists.copy_from_slice(results.distances(i));
        }
        // SAFETY: as above.
        unsafe { args::write_opt(out_version, version, "out_version") }
    })
}

/// The metadata of live id `id` as a JSON object into `*out_json` (`"null"` when
/// it has none; free it with `sagevec_string_free`); `SAGEVEC_ERR_NOT_FOUND` when
/// the id is not live. Integers and floats keep their types (`1` vs `1.0`).
///
/// # Safety
/// `out_json` is NULL or points to a writable `char *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_index_metadata(
    index: *const sagevec_index,
    id: u64,
    out_json: *mut *mut c_char,
) -> sagevec_status {
    // SAFETY: the caller's contract: NULL or a live handle.
    on_index(unsafe { handle(index) }, |ix| {
        args::require(out_json, "out_json")?;
        // One snapshot answers both questions, so a concurrent remove cannot
        // make a live id look like one without metadata.
        let snap = ix.snapshot();
        if !snap.contains(id) {
            return Err(Error::new(
                SAGEVEC_ERR_NOT_FOUND,
                format!(
                    "id {id} is not in the index (at version {})",
                    snap.version()
                ),
            ));
        }
        let text = json::record_text(snap.metadata(id).as_ref());
        // SAFETY: the caller's contract.
        unsafe { owned::write_string(out_json, text) }
    })
}

/// Whether `id` is live, into `*out`.
///
/// # Safety
/// `out` is NULL or points to a writable `bool`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_index_contains(
    index: *const sagevec_index,
    id: u64,
    out: *mut bool,
) -> sagevec_status {
    call(|| {
        // SAFETY: the caller's contract: NULL or a live handle.
        let h = unsafe { handle(index) }?;
        // SAFETY: the caller's contract for `out`.
        with_index(h, |ix| unsafe { args::write(out, ix.contains(id), "out") })
    })
}

/// Live vectors, into `*out`.
///
/// # Safety
/// `out` is NULL or points to a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_index_len(
    index: *const sagevec_index,
    out: *mut usize,
) -> sagevec_status {
    // SAFETY: the caller's contract: NULL or a live handle, and `out`.
    on_index(unsafe { handle(index) }, |ix| unsafe {
        args::write(out, ix.len(), "out")
    })
}

/// The current version (bumped by every write and background swap), into `*out`.
///
/// # Safety
/// `out` is NULL or points to a writable `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_index_version(
    index: *const sagevec_index,
    out: *mut u64,
) -> sagevec_status {
    // SAFETY: the caller's contract: NULL or a live handle, and `out`.
    on_index(unsafe { handle(index) }, |ix| unsafe {
        args::write(out, ix.version(), "out")
    })
}

/// The vector dimension and metric, into `*out_dim` and `*out_metric` (each may be NULL).
///
/// # Safety
/// Each output is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_index_shape(
    index: *const sagevec_index,
    out_dim: *mut usize,
    out_metric: *mut sagevec_metric,
) -> sagevec_status {
    // SAFETY: the caller's contract: NULL or a live handle.
    on_index(unsafe { handle(index) }, |ix| {
        // SAFETY: the caller's contract.
        unsafe { args::write_opt(out_dim, ix.dim(), "out_dim") }?;
        // SAFETY: the caller's contract.
        unsafe { args::write_opt(out_metric, metric_code(ix.metric())?, "out_metric") }
    })
}

/// A JSON report (sizes, counters, latency, memory; the keys of the Python
/// binding's `stats()`) into `*out_json`; free it with `sagevec_string_free`.
///
/// # Safety
/// `out_json` is NULL or points to a writable `char *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_index_stats(
    index: *const sagevec_index,
    out_json: *mut *mut c_char,
) -> sagevec_status {
    // SAFETY: the caller's contract: NULL or a live handle.
    on_index(unsafe { handle(index) }, |ix| {
        args::require(out_json, "out_json")?;
        // SAFETY: the caller's contract.
        unsafe { owned::write_string(out_json, json::stats_text(&ix.stats())) }
    })
}

/// Makes a durable index's state a checkpoint now (syncs the log, writes new rows,
/// links and a manifest; faster reopening). In memory it does nothing.
///
/// # Safety
/// `index` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_index_checkpoint(index: *const sagevec_index) -> sagevec_status {
    // SAFETY: the caller's contract: NULL or a live handle.
    on_index(unsafe { handle(index) }, |ix| {
        ix.checkpoint().map_err(Error::from)
    })
}

/// Waits until no call on another thread holds `index`, then owns it.
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

/// Closes the index: waits for calls in progress on other threads, stops the
/// background builder, and for a durable index checkpoints and releases the
/// directory. Later calls get `SAGEVEC_ERR_CLOSED`; closing twice does nothing.
/// An error from the final checkpoint is returned; the index is closed anyway
/// and its log holds every acknowledged write. The handle still needs
/// `sagevec_index_free`.
///
/// # Safety
/// `index` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_index_close(index: *const sagevec_index) -> sagevec_status {
    call(|| {
        // SAFETY: the caller's contract: NULL or a live handle.
        let h = unsafe { handle(index) }?;
        match h.index.swap(None) {
            Some(ix) => sole(ix).close().map_err(Error::from),
            None => Ok(()),
        }
    })
}

/// Frees the handle, closing the index first if it is open (errors of that close
/// are dropped: call `sagevec_index_close` to see them). NULL is ignored. Like
/// `free(3)`: no other call on the same handle may run at the same time or
/// after.
///
/// # Safety
/// `index` is NULL or a handle not yet freed, used by no other thread now.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_index_free(index: *mut sagevec_index) {
    if index.is_null() {
        return;
    }
    let _ = call(|| {
        // SAFETY: from Box::into_raw in into_handle, freed once (the caller's contract).
        let h = unsafe { Box::from_raw(index) };
        if let Some(ix) = h.index.swap(None) {
            drop(sole(ix));
        }
        Ok(())
    });
}
