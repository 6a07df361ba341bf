//! Durable mode: an index in a directory that loses no acknowledged write.
//!
//! Every write is appended to a write-ahead log as one checksummed record (one
//! per call or transaction) *before* it becomes visible; under
//! [`Durability::EveryWrite`] the log is synced before the call returns. The
//! builder checkpoints in the background: it starts a new log generation,
//! writes the segments that are not on disk yet as files, replaces the manifest
//! atomically, and only then deletes the old logs and unreferenced files, so a
//! crash at any step leaves a manifest whose segments and logs are all there.
//! Recovery loads the manifest's segments and replays the logs. The file formats
//! are in the [`format`](mod@format) module.

pub(crate) mod codec;
pub mod format;
pub mod io;

use std::collections::HashMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sagevec_kernels::Metric;

use self::format::{
    LoggedOp, Manifest, ManifestSegment, RecordOp, decode_manifest, decode_segment,
    encode_manifest, encode_record, encode_segment, parse_log, wal_header,
};
use self::io::{LogFile, Storage};
use crate::arena::{RowTable, VectorArena};
use crate::error::IndexError;
use crate::segment::Segment;
use crate::snapshot::State;

/// When a durable index syncs its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Sync before every write returns: an acknowledged write survives kill -9
    /// and power loss. The default for [`Index::open`](crate::Index::open).
    #[default]
    EveryWrite,
    /// Sync at most this often (and at close): a power loss may lose the writes
    /// of the last period; kill -9 loses nothing the OS had accepted.
    Periodic(Duration),
    /// Never sync (the OS writes back when it likes): fastest, and a power loss
    /// may lose any write since the last checkpoint.
    Off,
}

pub(crate) const MANIFEST: &str = "MANIFEST";

/// Steps of a checkpoint where a test can make the process die (abort, as a
/// kill -9 would), to check recovery from each.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// The new log generation exists; no segment file written yet.
    AfterRotate,
    /// Segment files written; the manifest not yet replaced.
    AfterSegments,
    /// The manifest replaced; old logs and files not yet deleted.
    AfterManifest,
}

static CRASH_POINT: std::sync::Mutex<Option<CrashPoint>> = std::sync::Mutex::new(None);

/// Test hook: the next checkpoint that reaches `point` aborts the process.
#[doc(hidden)]
pub fn crash_at(point: Option<CrashPoint>) {
    *lock(&CRASH_POINT) = point;
}

fn maybe_crash(here: CrashPoint) {
    if *lock(&CRASH_POINT) == Some(here) {
        std::process::abort();
    }
}
const LOCK: &str = "LOCK";

fn wal_name(gen_: u64) -> String {
    format!("wal-{gen_:016x}.log")
}

fn parse_wal_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    u64::from_str_radix(hex, 16).ok()
}

fn segment_name(seg: &Segment) -> String {
    let g = if matches!(seg.vectors, crate::segment::Vectors::Graph(_)) {
        "-g"
    } else {
        ""
    };
    format!("seg-{:016x}-{}{g}.dat", seg.uid, seg.rows)
}

pub(crate) fn io_err(path: &Path, op: &'static str, e: &std::io::Error) -> IndexError {
    IndexError::Io {
        path: path.display().to_string(),
        op,
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// The open log generation.
#[derive(Debug)]
struct LogState {
    file: Box<dyn LogFile>,
    gen_: u64,
    last_sync: Instant,
    dirty: bool,
    bytes_since_checkpoint: u64,
}

/// Durable state of an open index.
#[derive(Debug)]
pub(crate) struct Durable {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    mode: Durability,
    dim: usize,
    metric: Metric,
    checkpoint_bytes: u64,
    log: Mutex<LogState>,
    /// Segment files on disk (per uid: file name and rows).
    persisted: Mutex<HashMap<u64, (String, usize)>>,
    checkpointing: Mutex<()>,
    /// A failed append could not be undone: refuse writes until reopened.
    broken: AtomicBool,
    _lock: Box<dyn Debug + Send + Sync>,
}

/// What recovery hands the index to start from.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// The log and lock (`None` when opened read-only).
    pub(crate) durable: Option<Durable>,
    pub(crate) manifest: Manifest,
    /// Loaded segments, in manifest order (their kind as listed).
    pub(crate) segments: Vec<LoadedSegment>,
    /// Log records to replay, in order.
    pub(crate) replay: Vec<Vec<LoggedOp>>,
}

/// One segment loaded from its file.
#[derive(Debug)]
pub(crate) struct LoadedSegment {
    pub(crate) uid: u64,
    pub(crate) rows: usize,
    pub(crate) growing: bool,
    pub(crate) table: Arc<RowTable>,
    pub(crate) arena: Arc<VectorArena>,
    pub(crate) capacity: usize,
    /// The frozen graph stored with it (sealed segments).
    pub(crate) graph: Option<Arc<crate::graph::Graph>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Durable {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// How long the builder may sleep before a periodic sync is due.
    pub(crate) fn sync_period(&self) -> Option<Duration> {
        match self.mode {
            Durability::Periodic(p) => Some(p),
            _ => None,
        }
    }

    /// Appends one write to the log (and syncs it, per the durability mode).
    /// On failure the log is cut back to where it was and the write must not
    /// be applied.
    pub(crate) fn log_write(&self, ops: &[RecordOp<'_>]) -> Result<(), IndexError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(IndexError::Io {
                path: self.dir.display().to_string(),
                op: "write to",
                kind: std::io::ErrorKind::Other,
                message: "an earlier log failure could not be undone; reopen the index".into(),
            });
        }
        let record = encode_record(ops);
        let mut log = lock(&self.log);
        let path = self.path(&wal_name(log.gen_));
        let before = log.file.len();
        let sync_now = match self.mode {
            Durability::EveryWrite => true,
            Durability::Periodic(p) => log.last_sync.elapsed() >= p,
            Durability::Off => false,
        };
        let result = log
            .file
            .append(&record)
            .and_then(|()| if sync_now { log.file.sync() } else { Ok(()) });
        if let Err(e) = result {
            if log.file.truncate(before).is_err() {
                self.broken.store(true, Ordering::SeqCst);
            }
            return Err(io_err(&path, "append to", &e));
        }
        if sync_now {
            log.last_sync = Instant::now();
            log.dirty = false;
        } else {
            log.dirty = true;
        }
        log.bytes_since_checkpoint += record.len() as u64;
        Ok(())
    }

    /// Whether the log has outgrown its budget (the writer then nudges the
    /// builder to checkpoint).
    pub(crate) fn over_budget(&self) -> bool {
        lock(&self.log).bytes_since_checkpoint > self.checkpoint_bytes
    }

    /// Syncs the log if it holds unsynced writes.
    pub(crate) fn sync(&self) -> Result<(), IndexError> {
        let mut log = lock(&self.log);
        if log.dirty {
            let path = self.path(&wal_name(log.gen_));
            log.file.sync().map_err(|e| io_err(&path, "sync", &e))?;
            log.dirty = false;
            log.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Whether a checkpoint is due for `state`: the log has grown past its
    /// budget, or a sealed segment is not on disk yet.
    pub(crate) fn wants_checkpoint(&self, state: &State) -> bool {
        if lock(&self.log).bytes_since_checkpoint > self.checkpoint_bytes {
            return true;
        }
        let persisted = lock(&self.persisted);
        state.segments.iter().any(|s| {
            !s.growing
                && persisted
                    .get(&s.uid)
                    .is_none_or(|(f, _)| *f != segment_name(s))
        })
    }

    /// Starts a new log generation (writer lock held by the caller): the old
    /// log is synced, the new one created with its header, synced.
    fn rotate(&self) -> Result<u64, IndexError> {
        let mut log = lock(&self.log);
        let old = self.path(&wal_name(log.gen_));
        log.file.sync().map_err(|e| io_err(&old, "sync", &e))?;
        let gen_ = log.gen_ + 1;
        let file = create_log(&*self.storage, &self.dir, gen_, self.dim, self.metric)?;
        *log = LogState {
            file,
            gen_,
            last_sync: Instant::now(),
            dirty: false,
            bytes_since_checkpoint: 0,
        };
        Ok(gen_)
    }

    /// Writes a checkpoint of `state` (taken under the writer lock together
    /// with `rotate`): segment files, then the manifest, then cleanup.
    pub(crate) fn checkpoint(&self, inner: &crate::index::Inner) -> Result<(), IndexError> {
        let _one = lock(&self.checkpointing);
        let (state, next_auto_id, next_uid, gen_) = {
            let w = inner.lock_writer();
            let state = inner.current.load_full();
            let gen_ = self.rotate()?;
            (state, w.next_auto_id, w.next_uid, gen_)
        };
        maybe_crash(CrashPoint::AfterRotate);
        let persisted = lock(&self.persisted).clone();
        let files = write_image(
            &*self.storage,
            &self.dir,
            self.dim,
            self.metric,
            &state,
            (next_auto_id, next_uid, gen_),
            |uid, name| persisted.get(&uid).is_some_and(|(f, _)| f == name),
        )?;
        *lock(&self.persisted) = files.clone();
        // The manifest is durable: older logs and unlisted files can go. A
        // failure here only leaves garbage that the next open deletes.
        if let Ok(names) = self.storage.list(&self.dir) {
            for name in names {
                let stale_log = parse_wal_name(&name).is_some_and(|g| g < gen_);
                let stale_seg = name.starts_with("seg-")
                    && name.ends_with(".dat")
                    && !files.values().any(|(f, _)| *f == name);
                if stale_log || stale_seg || name.ends_with(".tmp") {
                    let _ = self.storage.remove(&self.path(&name));
                }
            }
        }
        Ok(())
    }
}

/// Writes the segment files of `state` (those `on_disk` does not claim) and a
/// manifest naming them and log generation `gen_`; returns uid -> (file, rows).
fn write_image(
    storage: &dyn Storage,
    dir: &Path,
    dim: usize,
    metric: Metric,
    state: &State,
    (next_auto_id, next_uid, gen_): (u64, u64, u64),
    on_disk: impl Fn(u64, &str) -> bool,
) -> Result<HashMap<u64, (String, usize)>, IndexError> {
    let mut segments = Vec::with_capacity(state.segments.len());
    let mut files = HashMap::new();
    for seg in &state.segments {
        let name = segment_name(seg);
        if !on_disk(seg.uid, &name) {
            let graph = match &seg.vectors {
                crate::segment::Vectors::Graph(g) => Some(&**g),
                crate::segment::Vectors::Arena(_) => None,
            };
            let bytes = encode_segment(
                dim,
                seg.uid,
                seg.rows,
                |r| seg.table.id(r),
                |r| seg.vector(r),
                |r| seg.table.metadata(r),
                graph,
            );
            let path = dir.join(&name);
            storage
                .write_atomic(&path, &bytes)
                .map_err(|e| io_err(&path, "write", &e))?;
        }
        files.insert(seg.uid, (name.clone(), seg.rows));
        segments.push(ManifestSegment {
            uid: seg.uid,
            rows: seg.rows,
            growing: seg.growing,
            file: name,
            deleted: (0..seg.rows)
                .filter(|&r| seg.table.deleted_at(r) <= state.version)
                .map(|r| r as u64)
                .collect(),
        });
    }
    let manifest = Manifest {
        version: state.version,
        next_auto_id,
        next_uid,
        wal_gen: gen_,
        segments,
    };
    maybe_crash(CrashPoint::AfterSegments);
    let path = dir.join(MANIFEST);
    storage
        .write_atomic(&path, &encode_manifest(&manifest, dim, metric))
        .map_err(|e| io_err(&path, "write", &e))?;
    maybe_crash(CrashPoint::AfterManifest);
    Ok(files)
}

/// Writes a self-contained copy of `state` into `dir`, which must be empty or
/// absent: segment files, a manifest and an empty log (what
/// [`Index::save`](crate::Index::save) does).
pub(crate) fn export(
    storage: &dyn Storage,
    dir: &Path,
    dim: usize,
    metric: Metric,
    state: &State,
    next_auto_id: u64,
    next_uid: u64,
) -> Result<(), IndexError> {
    storage
        .create_dir_all(dir)
        .map_err(|e| io_err(dir, "create directory", &e))?;
    let names = storage.list(dir).map_err(|e| io_err(dir, "list", &e))?;
    if !names.is_empty() {
        return Err(IndexError::Io {
            path: dir.display().to_string(),
            op: "save into",
            kind: std::io::ErrorKind::AlreadyExists,
            message: "directory is not empty".into(),
        });
    }
    write_image(
        storage,
        dir,
        dim,
        metric,
        state,
        (next_auto_id, next_uid, 1),
        |_, _| false,
    )?;
    create_log(storage, dir, 1, dim, metric)?;
    Ok(())
}

/// Creates log `gen_` with its header, durably.
fn create_log(
    storage: &dyn Storage,
    dir: &Path,
    gen_: u64,
    dim: usize,
    metric: Metric,
) -> Result<Box<dyn LogFile>, IndexError> {
    let path = dir.join(wal_name(gen_));
    let mut file = storage
        .open_log(&path)
        .map_err(|e| io_err(&path, "create", &e))?;
    if !file.is_empty() {
        file.truncate(0)
            .map_err(|e| io_err(&path, "truncate", &e))?;
    }
    file.append(&wal_header(dim, metric, gen_))
        .and_then(|()| file.sync())
        .map_err(|e| io_err(&path, "write", &e))?;
    Ok(file)
}

/// The dimension and metric of the index saved (or durable) in `dir`, read from
/// its manifest without opening it: what a tool needs to build the
/// [`IndexConfig`](crate::IndexConfig) for [`Index::load`](crate::Index::load).
/// No manifest: an [`IndexError::Io`] whose message says no index is there.
pub fn stored_shape(dir: &Path) -> Result<(usize, Metric), IndexError> {
    let path = dir.join(MANIFEST);
    let bytes = std::fs::read(&path).map_err(|e| io_err(&path, "read (no index here?)", &e))?;
    format::manifest_shape(&bytes, &path.display().to_string())
}

/// Opens (or creates) the durable files of an index in `dir`: takes the lock,
/// reads the manifest and segment files, parses the logs (cutting a torn last
/// record), and opens the log to append to.
pub(crate) fn recover(
    storage: Arc<dyn Storage>,
    dir: &Path,
    config: &crate::config::IndexConfig,
    read_only: bool,
) -> Result<Recovered, IndexError> {
    let (dim, metric, seal_threshold) = (config.dim, config.metric, config.seal_threshold);
    let guard = if read_only {
        None
    } else {
        storage
            .create_dir_all(dir)
            .map_err(|e| io_err(dir, "create directory", &e))?;
        let lock_path = dir.join(LOCK);
        Some(storage.lock(&lock_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                IndexError::Locked {
                    path: lock_path.display().to_string(),
                }
            } else {
                io_err(&lock_path, "lock", &e)
            }
        })?)
    };
    let names = storage.list(dir).map_err(|e| io_err(dir, "list", &e))?;
    let man_path = dir.join(MANIFEST);
    let manifest = match storage.read(&man_path) {
        Ok(bytes) => decode_manifest(&bytes, &man_path.display().to_string(), dim, metric)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && read_only => {
            return Err(io_err(&man_path, "read (no index here)", &e));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if names
                .iter()
                .any(|n| parse_wal_name(n).is_some() || n.starts_with("seg-"))
            {
                return Err(format::corrupt(
                    &man_path.display().to_string(),
                    0,
                    "missing while log or segment files exist",
                ));
            }
            let fresh = Manifest {
                version: 0,
                next_auto_id: 0,
                next_uid: 0,
                wal_gen: 1,
                segments: Vec::new(),
            };
            storage
                .write_atomic(&man_path, &encode_manifest(&fresh, dim, metric))
                .map_err(|e| io_err(&man_path, "write", &e))?;
            fresh
        }
        Err(e) => return Err(io_err(&man_path, "read", &e)),
    };

    // Segments.
    let mut segments = Vec::with_capacity(manifest.segments.len());
    let mut persisted = HashMap::new();
    for ms in &manifest.segments {
        let path = dir.join(&ms.file);
        let shown = path.display().to_string();
        let bytes = storage.read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format::corrupt(&shown, 0, "segment file listed in the manifest is missing")
            } else {
                io_err(&path, "read", &e)
            }
        })?;
        let graph_metric = match metric {
            Metric::Cosine => Metric::InnerProduct,
            m => m,
        };
        let mut data = decode_segment(&bytes, &shown, dim, ms.uid, ms.rows, graph_metric)?;
        if let Some(graph) = &mut data.graph {
            graph.set_traversal(config.graph.traversal);
        }
        let capacity = if ms.growing {
            ms.rows.max(seal_threshold)
        } else {
            ms.rows
        };
        let table = Arc::new(RowTable::new(capacity));
        // A sealed segment with its graph keeps its vectors in the graph only.
        let with_graph = data.graph.is_some() && !ms.growing;
        let arena = Arc::new(VectorArena::new(dim, if with_graph { 0 } else { capacity }));
        let mut metadata = data.metadata.into_iter();
        for (r, (&id, v)) in data
            .ids
            .iter()
            .zip(data.vectors.chunks_exact(dim))
            .enumerate()
        {
            if !with_graph {
                // SAFETY: this arena is new and private to recovery (no snapshot
                // has seen it); each row is written once.
                #[allow(unsafe_code)]
                unsafe {
                    arena.write(r, v)
                };
            }
            table.write(r, id, metadata.next().flatten());
        }
        for &r in &ms.deleted {
            table.mark_deleted(r as usize, 0);
        }
        persisted.insert(ms.uid, (ms.file.clone(), ms.rows));
        segments.push(LoadedSegment {
            uid: ms.uid,
            rows: ms.rows,
            growing: ms.growing,
            table,
            arena,
            capacity,
            graph: data.graph.map(Arc::new),
        });
    }

    // Logs: delete generations the manifest no longer needs; parse the rest.
    let mut gens: Vec<u64> = names.iter().filter_map(|n| parse_wal_name(n)).collect();
    gens.sort_unstable();
    for &g in gens.iter().filter(|&&g| g < manifest.wal_gen && !read_only) {
        let _ = storage.remove(&dir.join(wal_name(g)));
    }
    gens.retain(|&g| g >= manifest.wal_gen);
    if let Some(&first) = gens.first()
        && first != manifest.wal_gen
    {
        return Err(format::corrupt(
            &dir.join(wal_name(manifest.wal_gen)).display().to_string(),
            0,
            "log generation named by the manifest is missing",
        ));
    }
    let mut replay = Vec::new();
    let mut log = None;
    for (i, &g) in gens.iter().enumerate() {
        let path = dir.join(wal_name(g));
        let shown = path.display().to_string();
        let bytes = storage.read(&path).map_err(|e| io_err(&path, "read", &e))?;
        let last = i + 1 == gens.len();
        let header = wal_header(dim, metric, g);
        if last && read_only && bytes.len() < header.len() && header.starts_with(&bytes) {
            break; // being created by the writer: nothing in it yet
        }
        if last && bytes.len() < header.len() && header.starts_with(&bytes) {
            // Created but its header not yet complete when the process died (no
            // record can follow an unsynced header): start it again.
            log = Some((create_log(&*storage, dir, g, dim, metric)?, g));
            break;
        }
        let parsed = parse_log(&bytes, &shown, dim, metric, g)?;
        if parsed.torn_tail && !last {
            return Err(format::corrupt(
                &shown,
                parsed.good_len as usize,
                "damaged record at the end of a log that was already closed",
            ));
        }
        replay.extend(parsed.records);
        if last && !read_only {
            let mut file = storage
                .open_log(&path)
                .map_err(|e| io_err(&path, "open", &e))?;
            if parsed.torn_tail {
                // The torn record was never acknowledged: cut it off.
                file.truncate(parsed.good_len)
                    .map_err(|e| io_err(&path, "truncate", &e))?;
            }
            log = Some((file, g));
        }
    }
    let Some(guard) = guard else {
        return Ok(Recovered {
            durable: None,
            manifest,
            segments,
            replay,
        });
    };
    let (file, gen_) = match log {
        Some(l) => l,
        None => (
            create_log(&*storage, dir, manifest.wal_gen, dim, metric)?,
            manifest.wal_gen,
        ),
    };
    let durable = Durable {
        storage,
        dir: dir.to_path_buf(),
        mode: config.durability,
        dim,
        metric,
        checkpoint_bytes: config.checkpoint_bytes,
        log: Mutex::new(LogState {
            file,
            gen_,
            last_sync: Instant::now(),
            dirty: false,
            bytes_since_checkpoint: 0,
        }),
        persisted: Mutex::new(persisted),
        checkpointing: Mutex::new(()),
        broken: AtomicBool::new(false),
        _lock: guard,
    };
    Ok(Recovered {
        durable: Some(durable),
        manifest,
        segments,
        replay,
    })
}

/// A loaded segment as a snapshot segment (sealed ones flat until the builder
/// rebuilds their graphs).
pub(crate) fn loaded_view(s: &LoadedSegment) -> Arc<Segment> {
    Arc::new(Segment {
        uid: s.uid,
        growing: s.growing,
        rows: s.rows,
        table: s.table.clone(),
        vectors: match &s.graph {
            Some(g) if !s.growing => crate::segment::Vectors::Graph(g.clone()),
            _ => crate::segment::Vectors::Arena(s.arena.clone()),
        },
        node: 0,
    })
}
