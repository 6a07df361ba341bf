//! Durable mode: an index in a directory that loses no acknowledged write.
//!
//! Every write is appended to a write-ahead log as one checksummed record (one
//! per call or transaction) *before* it becomes visible, at its commit (so the
//! log holds writes in the order they became visible); under
//! [`Durability::EveryWrite`] the log is synced before the call returns. The
//! builder checkpoints in the background: at a consistent cut (writer lock held,
//! no write in flight) it starts a new log generation and copies the graph's
//! lists, then writes the rows the files lack as immutable row blocks, the links,
//! and the manifest
//! (replaced atomically), and only then deletes the old logs and files, so a
//! crash at any step leaves a manifest whose files and logs are all there.
//! Recovery loads the row blocks and links (no rebuild), replays the logs, and
//! checks that every live node is reachable (relinking any that is not). The
//! file formats are in the [`format`](mod@format) module.

pub(crate) mod codec;
mod crash;
pub mod format;
// The I/O layer is API only for tests that inject faults (`test-hooks`).
#[cfg(feature = "test-hooks")]
pub mod io;
#[cfg(not(feature = "test-hooks"))]
#[allow(unreachable_pub)]
pub(crate) mod io;
mod v1;

use self::crash::maybe_crash;
#[cfg(feature = "test-hooks")]
pub use self::crash::{CrashPoint, crash_at};

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sagevec_kernels::Metric;

use self::format::{
    AnyManifest, BlockRef, GraphManifest, LoggedOp, MAX_RECORD, Manifest, RecordOp, decode_links,
    decode_manifest, decode_rows, encode_links, encode_manifest, encode_record, encode_rows,
    parse_log, wal_header,
};
use self::io::{LogFile, Storage};
use crate::config::IndexConfig;
use crate::error::IndexError;
use crate::index::{Inner, new_graph_with};
use crate::shared::Shared;
use crate::snapshot::{IdMap, State};
use crate::write::{self, CheckedAdd, Op};

/// When a durable index syncs its log. Non-exhaustive: later versions may add
/// modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
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

impl Durability {
    /// The mode's name: `every_write`, `periodic` or `off`.
    pub const fn name(self) -> &'static str {
        match self {
            Durability::EveryWrite => "every_write",
            Durability::Periodic(_) => "periodic",
            Durability::Off => "off",
        }
    }

    /// A mode from its name (case-insensitive; `None` is `every_write`) and, for
    /// `periodic` only, how often the log is synced, in milliseconds (>= 1): what
    /// the bindings take as two arguments.
    pub fn from_parts(
        name: Option<&str>,
        sync_interval_ms: Option<u64>,
    ) -> Result<Self, IndexError> {
        let bad = |reason: String| IndexError::InvalidParameter {
            name: "durability",
            reason,
        };
        let lower = name.map(str::to_ascii_lowercase);
        match (lower.as_deref(), sync_interval_ms) {
            (None | Some("every_write"), None) => Ok(Durability::EveryWrite),
            (Some("off"), None) => Ok(Durability::Off),
            (Some("periodic"), None) => Err(bad(
                "\"periodic\" needs sync_interval_ms (how often the log is synced, in \
                 milliseconds)"
                    .into(),
            )),
            (Some("periodic"), Some(0)) => Err(IndexError::InvalidParameter {
                name: "sync_interval_ms",
                reason: "must be at least 1, got 0".into(),
            }),
            (Some("periodic"), Some(ms)) => Ok(Durability::Periodic(Duration::from_millis(ms))),
            (None | Some("every_write" | "off"), Some(_)) => Err(IndexError::InvalidParameter {
                name: "sync_interval_ms",
                reason: format!(
                    "only for durability \"periodic\", not {:?}",
                    name.unwrap_or("every_write")
                ),
            }),
            (Some(_), _) => Err(bad(format!(
                "must be \"every_write\", \"periodic\" or \"off\", got {:?}",
                name.unwrap_or_default()
            ))),
        }
    }
}

impl std::fmt::Display for Durability {
    /// `every_write`, `off`, or `periodic:<ms>`, the milliseconds with a decimal
    /// fraction when the period is not whole ones (`periodic:0.25`): exactly what
    /// [`FromStr`](std::str::FromStr) reads back as the same value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Durability::Periodic(p) => {
                write!(f, "periodic:{}", p.as_millis())?;
                let sub_ms = p.subsec_nanos() % 1_000_000;
                if sub_ms != 0 {
                    let digits = format!("{sub_ms:06}");
                    write!(f, ".{}", digits.trim_end_matches('0'))?;
                }
                Ok(())
            }
            d => f.write_str(d.name()),
        }
    }
}

/// What [`Durability`]'s `FromStr` accepts, for its errors.
const DURABILITY_FORMS: &str = "every_write, off or periodic:<ms> (the sync interval in \
     milliseconds, above 0, at most 6 decimals: periodic:100, periodic:0.5)";

/// `<ms>` of `periodic:<ms>`: whole milliseconds with up to 6 decimals (so down to
/// nanoseconds, as `Duration` counts).
fn parse_millis(text: &str) -> Option<Duration> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 6 {
        return None;
    }
    if text.contains('.') && frac.is_empty() {
        return None;
    }
    let ms: u128 = whole.parse().ok()?;
    let secs = u64::try_from(ms / 1000).ok()?;
    let frac_ns: u32 = format!("{frac:0<6}").parse().ok()?;
    let nanos = (ms % 1000) as u32 * 1_000_000 + frac_ns;
    Some(Duration::new(secs, nanos))
}

impl std::str::FromStr for Durability {
    type Err = IndexError;

    /// `every_write`, `off` or `periodic:<ms>` (names case-insensitive; see
    /// [`Display`](std::fmt::Display)).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| IndexError::InvalidParameter {
            name: "durability",
            reason: format!("{why}: expected {DURABILITY_FORMS}, got {s:?}"),
        };
        let t = s.trim();
        let Some((name, interval)) = t.split_once(':') else {
            return match t.to_ascii_lowercase().as_str() {
                "every_write" => Ok(Durability::EveryWrite),
                "off" => Ok(Durability::Off),
                "periodic" => Err(bad("periodic needs its sync interval")),
                _ => Err(bad("unknown mode")),
            };
        };
        if !name.trim().eq_ignore_ascii_case("periodic") {
            return Err(bad("only periodic takes a sync interval"));
        }
        match parse_millis(interval.trim()) {
            Some(p) if !p.is_zero() => Ok(Durability::Periodic(p)),
            Some(_) => Err(bad("the sync interval must be above 0")),
            None => Err(bad("the sync interval is not a number of milliseconds")),
        }
    }
}

pub(crate) const MANIFEST: &str = "MANIFEST";

const LOCK: &str = "LOCK";

fn wal_name(gen_: u64) -> String {
    format!("wal-{gen_:016x}.log")
}

fn parse_wal_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    u64::from_str_radix(hex, 16).ok()
}

fn rows_name(graph: u64, first: usize, rows: usize) -> String {
    format!("rows-{graph:016x}-{first:016x}-{rows}.dat")
}

fn links_name(gen_: u64) -> String {
    format!("links-{gen_:016x}.dat")
}

/// Rows per row-block file: at most 65 536, and about 64 MiB of vectors.
fn block_rows(dim: usize) -> usize {
    ((64usize << 20) / (dim.max(1) * 4)).clamp(1, 1 << 16)
}

/// How [`open`] treats the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Durable: lock, log, checkpoints.
    Write,
    /// As the files are; no lock, no change; writes refused.
    ReadOnly,
    /// As the files are, then an ordinary in-memory index.
    Load,
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
    /// The row blocks on disk, of which graph.
    persisted: Mutex<Persisted>,
    checkpointing: Mutex<()>,
    /// A failed append could not be undone: refuse writes until reopened.
    broken: AtomicBool,
    _lock: Box<dyn Debug + Send + Sync>,
}

/// Row blocks a checkpoint has written: of graph `graph`, covering its slots
/// `0..end` in order.
#[derive(Clone, Debug, Default)]
struct Persisted {
    graph: u64,
    blocks: Vec<BlockRef>,
}

impl Persisted {
    fn end(&self) -> usize {
        self.blocks.last().map_or(0, |b| b.first + b.rows)
    }
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

    /// One write as a log record, refused (before anything changes) when it is
    /// past the record size limit.
    pub(crate) fn encode_write(&self, ops: &[RecordOp<'_>]) -> Result<Vec<u8>, IndexError> {
        let record = encode_record(ops);
        if record.len() - 12 > MAX_RECORD {
            return Err(IndexError::InvalidParameter {
                name: "vectors",
                reason: format!(
                    "one write of {} bytes is past the log's record limit of {MAX_RECORD} \
                     bytes: split the batch",
                    record.len()
                ),
            });
        }
        Ok(record)
    }

    /// Appends one encoded write to the log (and syncs it, per the durability
    /// mode). On failure the log is cut back to where it was and the write must
    /// not be applied.
    pub(crate) fn append_write(&self, record: &[u8]) -> Result<(), IndexError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(IndexError::Io {
                path: self.dir.display().to_string(),
                op: "write to",
                kind: std::io::ErrorKind::Other,
                message: "an earlier log failure could not be undone; reopen the index".into(),
            });
        }
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
            .append(record)
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

    /// Whether a checkpoint is due: the log has outgrown its budget.
    pub(crate) fn wants_checkpoint(&self, _state: &State) -> bool {
        lock(&self.log).bytes_since_checkpoint > self.checkpoint_bytes
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

    /// Writes a checkpoint: a consistent cut taken with the writer lock held and
    /// no write in flight (a new log generation starts there), then, with no lock
    /// held, the row blocks of slots not on disk yet, the links, and the manifest;
    /// then old logs and files no manifest names are deleted.
    pub(crate) fn checkpoint(&self, inner: &Inner) -> Result<(), IndexError> {
        let _one = lock(&self.checkpointing);
        let (state, cut) = take_cut(inner, || self.rotate())?;
        let gen_ = cut.gen_;
        maybe_crash(crash::CrashPoint::AfterRotate);
        let before = lock(&self.persisted).clone();
        let after = write_image(
            &*self.storage,
            &self.dir,
            &inner.shared,
            &state,
            cut,
            &before,
        )?;
        *lock(&self.persisted) = after.clone();
        // The manifest is durable: older logs and unlisted files can go. A
        // failure here only leaves garbage that the next open deletes.
        if let Ok(names) = self.storage.list(&self.dir) {
            for name in names {
                if is_stale(&name, gen_, &after) {
                    let _ = self.storage.remove(&self.path(&name));
                }
            }
        }
        Ok(())
    }
}

/// Whether a file of the index's directory is not needed by the checkpoint of
/// generation `gen_` with row blocks `blocks` (old logs, links and row blocks,
/// temporary files, and version-1 segments after a conversion).
fn is_stale(name: &str, gen_: u64, blocks: &Persisted) -> bool {
    parse_wal_name(name).is_some_and(|g| g < gen_)
        || (name.starts_with("links-") && name.ends_with(".dat") && name != links_name(gen_))
        || (name.starts_with("rows-")
            && name.ends_with(".dat")
            && !blocks.blocks.iter().any(|b| b.file == name))
        || (name.starts_with("seg-") && name.ends_with(".dat"))
        || name.ends_with(".tmp")
}

/// What a checkpoint's cut fixed besides the state: the ids to go on from, the
/// log generation that starts there, the entry point and the encoded links.
struct Cut {
    next_auto_id: u64,
    gen_: u64,
    entry: Option<(u32, usize)>,
    links: Vec<u8>,
}

/// A consistent cut: with the writer lock held and every write reserved so far
/// committed (no insert in flight, so the lists name only committed slots and
/// none is changing), `log_gen()` starts the next log generation, and the entry
/// point and every list are copied (encoded). Writers wait for the copy (a
/// memory-speed pass over the lists); readers do not.
fn take_cut(
    inner: &Inner,
    log_gen: impl FnOnce() -> Result<u64, IndexError>,
) -> Result<(std::sync::Arc<State>, Cut), IndexError> {
    let w = inner.lock_writer();
    let turn = inner.turns.quiesce(inner, &w);
    let state = turn.current();
    let gen_ = log_gen()?;
    let graph = &state.graph;
    let view = graph.view(state.bound);
    let links = encode_links(graph.uid, state.bound, graph.params.m, |s, out| {
        view.links_of(s, out)
    });
    let entry = graph.entry();
    drop(view);
    drop(turn);
    Ok((
        state.clone(),
        Cut {
            next_auto_id: w.next_auto_id,
            gen_,
            entry,
            links,
        },
    ))
}

/// Writes the row blocks of `state`'s slots that `on_disk` lacks, the links and a
/// manifest naming them and log generation `cut.gen_`; returns the blocks now on
/// disk.
fn write_image(
    storage: &dyn Storage,
    dir: &Path,
    shared: &Shared,
    state: &State,
    cut: Cut,
    on_disk: &Persisted,
) -> Result<Persisted, IndexError> {
    let graph = &state.graph;
    let view = graph.view(state.bound);
    let (mut blocks, mut first) = if on_disk.graph == graph.uid {
        (on_disk.blocks.clone(), on_disk.end())
    } else {
        (Vec::new(), 0)
    };
    let per = block_rows(shared.dim);
    while first < state.bound {
        let rows = per.min(state.bound - first);
        let name = rows_name(graph.uid, first, rows);
        let bytes = encode_rows(
            shared.dim,
            graph.uid,
            first,
            rows,
            |s| view.id(s),
            |s| view.vector(s),
            |s| view.metadata(s),
        );
        let path = dir.join(&name);
        storage
            .write_atomic(&path, &bytes)
            .map_err(|e| io_err(&path, "write", &e))?;
        blocks.push(BlockRef {
            file: name,
            first,
            rows,
        });
        first += rows;
    }
    let links_file = links_name(cut.gen_);
    let path = dir.join(&links_file);
    storage
        .write_atomic(&path, &cut.links)
        .map_err(|e| io_err(&path, "write", &e))?;
    let manifest = Manifest {
        version: state.version,
        next_auto_id: cut.next_auto_id,
        wal_gen: cut.gen_,
        graph: GraphManifest {
            slots: state.bound,
            entry: cut.entry.filter(|&(n, _)| (n as usize) < state.bound),
            blocks: blocks.clone(),
            links: Some(links_file),
            removed: (0..state.bound)
                .filter(|&s| !view.alive_at(s, state.version))
                .map(|s| s as u32)
                .collect(),
            ..graph_manifest(graph)
        },
    };
    maybe_crash(crash::CrashPoint::AfterSegments);
    let path = dir.join(MANIFEST);
    storage
        .write_atomic(
            &path,
            &encode_manifest(&manifest, shared.dim, shared.metric),
        )
        .map_err(|e| io_err(&path, "write", &e))?;
    maybe_crash(crash::CrashPoint::AfterManifest);
    Ok(Persisted {
        graph: graph.uid,
        blocks,
    })
}

/// Writes a self-contained copy of the index's state at a consistent cut into
/// `dir`, which must be empty or absent: row blocks, links, a manifest and an
/// empty log (what [`Index::save`](crate::Index::save) does).
pub(crate) fn export(storage: &dyn Storage, dir: &Path, inner: &Inner) -> Result<(), IndexError> {
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
    let (state, cut) = take_cut(inner, || Ok(1))?;
    let shared = &inner.shared;
    write_image(storage, dir, shared, &state, cut, &Persisted::default())?;
    create_log(storage, dir, 1, shared.dim, shared.metric)?;
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
/// [`IndexConfig`] for [`Index::load`](crate::Index::load).
/// No manifest: an [`IndexError::Io`] whose message says no index is there.
pub fn stored_shape(dir: &Path) -> Result<(usize, Metric), IndexError> {
    let path = dir.join(MANIFEST);
    let bytes = std::fs::read(&path).map_err(|e| io_err(&path, "read (no index here?)", &e))?;
    format::manifest_shape(&bytes, &path.display().to_string())
}

/// Parsed logs of generation `>= wal_gen` (older ones are deleted unless
/// read-only), and the last one opened for appending (writable opens).
struct Logs {
    replay: Vec<Vec<LoggedOp>>,
    log: Option<(Box<dyn LogFile>, u64)>,
}

fn read_logs(
    storage: &dyn Storage,
    dir: &Path,
    names: &[String],
    wal_gen: u64,
    (dim, metric): (usize, Metric),
    read_only: bool,
) -> Result<Logs, IndexError> {
    let mut gens: Vec<u64> = names.iter().filter_map(|n| parse_wal_name(n)).collect();
    gens.sort_unstable();
    for &g in gens.iter().filter(|&&g| g < wal_gen && !read_only) {
        let _ = storage.remove(&dir.join(wal_name(g)));
    }
    gens.retain(|&g| g >= wal_gen);
    if let Some(&first) = gens.first()
        && first != wal_gen
    {
        return Err(format::corrupt(
            &dir.join(wal_name(wal_gen)).display().to_string(),
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
            log = Some((create_log(storage, dir, g, dim, metric)?, g));
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
    Ok(Logs { replay, log })
}

/// Opens (or creates) the index in `dir` and returns its state, ready to start:
/// takes the lock (writable opens), reads the manifest, loads the graph from its
/// row blocks and links (version 2) or builds it from a version-1 directory's
/// segments, replays the logs (cutting a torn last record), and, for a writable
/// open of a version-1 directory, writes it as version 2 at once.
pub(crate) fn open(
    storage: Arc<dyn Storage>,
    dir: &Path,
    config: &IndexConfig,
    mode: OpenMode,
) -> Result<Inner, IndexError> {
    let (dim, metric) = (config.dim, config.metric);
    let read_only = mode != OpenMode::Write;
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
        Ok(bytes) => Some(decode_manifest(
            &bytes,
            &man_path.display().to_string(),
            dim,
            metric,
        )?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && read_only => {
            return Err(io_err(&man_path, "read (no index here)", &e));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if names.iter().any(|n| {
                parse_wal_name(n).is_some()
                    || n.starts_with("seg-")
                    || n.starts_with("rows-")
                    || n.starts_with("links-")
            }) {
                return Err(format::corrupt(
                    &man_path.display().to_string(),
                    0,
                    "missing while log or data files exist",
                ));
            }
            None
        }
        Err(e) => return Err(io_err(&man_path, "read", &e)),
    };
    let shown = |name: &str| dir.join(name).display().to_string();
    let read = |name: &str| -> Result<Vec<u8>, IndexError> {
        let path = dir.join(name);
        storage.read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format::corrupt(&shown(name), 0, "file listed in the manifest is missing")
            } else {
                io_err(&path, "read", &e)
            }
        })
    };
    // The graph and id map to start from, and version-1 rows still to insert.
    let mut v1_rows = None;
    let (state, next_auto_id, wal_gen, persisted) = match &manifest {
        None => {
            let fresh = new_graph_with(config, &config.graph, 1)?;
            if !read_only {
                let m = empty_manifest(&fresh);
                storage
                    .write_atomic(&man_path, &encode_manifest(&m, dim, metric))
                    .map_err(|e| io_err(&man_path, "write", &e))?;
            }
            (empty_state(fresh, 0), 0, 1, Persisted::default())
        }
        Some(AnyManifest::V2(m)) => {
            let (state, persisted) = load_graph(config, m, &read, &shown)?;
            (state, m.next_auto_id, m.wal_gen, persisted)
        }
        Some(AnyManifest::V1(m)) => {
            v1_rows = Some(v1::live_rows(m, dim, metric, &read, &shown)?);
            let fresh = new_graph_with(config, &config.graph, 1)?;
            (
                empty_state(fresh, m.version),
                m.next_auto_id,
                m.wal_gen,
                Persisted::default(),
            )
        }
    };
    let logs = read_logs(&*storage, dir, &names, wal_gen, (dim, metric), read_only)?;
    let durable = match guard {
        None => None,
        Some(guard) => {
            let (file, gen_) = match logs.log {
                Some(l) => l,
                None => (create_log(&*storage, dir, wal_gen, dim, metric)?, wal_gen),
            };
            Some(Durable {
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
            })
        }
    };
    let mut inner = Inner::with_state(config, state, durable, next_auto_id);
    if mode == OpenMode::ReadOnly {
        inner.read_only = Some(dir.display().to_string());
    }
    if let Some(rows) = v1_rows
        && rows.n > 0
    {
        write::apply(&inner, vec![Op::Add(rows)], false, None)?;
    }
    for ops in logs.replay {
        let ops = ops
            .into_iter()
            .map(|op| match op {
                LoggedOp::Add {
                    ids,
                    rows,
                    metadata,
                } => Op::Add(CheckedAdd {
                    n: ids.len(),
                    ids: Some(ids),
                    rows: std::borrow::Cow::Owned(rows),
                    metadata,
                }),
                LoggedOp::Remove(ids) => Op::Remove(ids),
            })
            .collect();
        write::apply(&inner, ops, false, None)?;
    }
    // Pruning during the replay can, rarely, leave a node no walk reaches (as any
    // run of inserts can): link those again now.
    crate::builder::repair(&inner);
    if matches!(manifest, Some(AnyManifest::V1(_)))
        && let Some(d) = &inner.durable
    {
        // Converted once: from now on the directory is version 2.
        d.checkpoint(&inner)?;
    }
    Ok(inner)
}

fn empty_state(graph: Arc<crate::live::LiveGraph>, version: u64) -> State {
    State {
        version,
        bound: 0,
        ids: IdMap::new(),
        graph,
    }
}

/// The manifest of a new, empty index.
fn empty_manifest(graph: &crate::live::LiveGraph) -> Manifest {
    Manifest {
        version: 0,
        next_auto_id: 0,
        wal_gen: 1,
        graph: graph_manifest(graph),
    }
}

/// What the manifest records of `graph` itself (parameters, f16 scale, clipped
/// rows), with no slot.
fn graph_manifest(graph: &crate::live::LiveGraph) -> GraphManifest {
    let p = &graph.params;
    GraphManifest {
        uid: graph.uid,
        m: p.m,
        ef_construction: p.ef_construction,
        level_multiplier: p.level_multiplier,
        seed: p.seed,
        f16_scale: graph.f16_scale(),
        clipped: graph.clipped(),
        slots: 0,
        entry: None,
        blocks: Vec::new(),
        links: None,
        removed: Vec::new(),
    }
}

/// Loads a version-2 graph: its rows from the row blocks, its links (checked
/// against the levels the seed draws), the entry point and the removed slots.
fn load_graph(
    config: &IndexConfig,
    m: &Manifest,
    read: &dyn Fn(&str) -> Result<Vec<u8>, IndexError>,
    shown: &dyn Fn(&str) -> String,
) -> Result<(State, Persisted), IndexError> {
    let g = &m.graph;
    // The stored graph's shape wins over the configuration's (its links were made
    // with it); the copy walked is the configuration's choice.
    let params = crate::graph::GraphParams {
        m: g.m,
        ef_construction: g.ef_construction,
        level_multiplier: g.level_multiplier,
        seed: g.seed,
        traversal: config.graph.traversal,
    };
    let graph = new_graph_with(config, &params, g.uid)?;
    let dim = config.dim;
    let decode = |b: &BlockRef| -> Result<format::RowBlockData, IndexError> {
        let data = decode_rows(
            &read(&b.file)?,
            &shown(&b.file),
            dim,
            g.uid,
            b.first,
            b.rows,
        )?;
        if !crate::shared::all_finite(&data.vectors) {
            return Err(format::corrupt(
                &shown(&b.file),
                0,
                "a vector holds NaN or an infinity",
            ));
        }
        Ok(data)
    };
    if graph.walks_f16() && graph.f16_scale().is_none() {
        match g.f16_scale {
            Some(s) => graph.set_f16_scale(s),
            None => {
                // Written by an index that did not walk a copy: fit the scale first.
                let mut max_abs = 0.0f32;
                for b in &g.blocks {
                    max_abs = decode(b)?
                        .vectors
                        .iter()
                        .fold(max_abs, |a, x| a.max(x.abs()));
                }
                graph.fit_f16_scale(max_abs);
            }
        }
    }
    // Slots are reserved block by block, after each block decoded: memory follows
    // the bytes the files hold, never a count a damaged manifest claims.
    for b in &g.blocks {
        let data = decode(b)?;
        let mine = graph.reserve(b.rows, &[])?;
        let mut meta = data.metadata.into_iter();
        graph.fill(mine, &data.vectors, &data.ids, Some(&mut meta));
    }
    if let Some(links) = &g.links {
        decode_links(
            &read(links)?,
            &shown(links),
            g.uid,
            g.slots,
            g.m,
            |slot, level, lists| graph.restore_links(slot, level, lists),
        )?;
    }
    let man = shown(MANIFEST);
    match g.entry {
        Some((node, level)) if graph.level(node as usize) != level => {
            return Err(format::corrupt(
                &man,
                0,
                "entry level differs from its node's",
            ));
        }
        None if g.slots > 0 => {
            return Err(format::corrupt(
                &man,
                0,
                "a graph of slots without an entry point",
            ));
        }
        _ => {}
    }
    graph.set_entry(g.entry);
    for &r in &g.removed {
        graph.mark_dead(r as usize);
    }
    let mut ids = IdMap::new();
    {
        let view = graph.view(g.slots);
        for slot in 0..g.slots {
            if view.alive_at(slot, m.version) && ids.insert(view.id(slot), slot as u32).is_some() {
                return Err(format::corrupt(
                    &man,
                    0,
                    format!("id {} is live in two slots", view.id(slot)),
                ));
            }
        }
    }
    Ok((
        State {
            version: m.version,
            bound: g.slots,
            ids,
            graph,
        },
        Persisted {
            graph: g.uid,
            blocks: g.blocks.clone(),
        },
    ))
}

#[cfg(all(test, not(sagevec_loom)))]
mod names_tests {
    use super::*;

    #[test]
    fn stale_files_are_told_from_live_ones() {
        let blocks = Persisted {
            graph: 7,
            blocks: vec![BlockRef {
                file: rows_name(7, 0, 10),
                first: 0,
                rows: 10,
            }],
        };
        assert!(!is_stale(&rows_name(7, 0, 10), 5, &blocks));
        assert!(is_stale(&rows_name(6, 0, 10), 5, &blocks));
        assert!(!is_stale(&links_name(5), 5, &blocks));
        assert!(is_stale(&links_name(4), 5, &blocks));
        assert!(!is_stale(&wal_name(5), 5, &blocks));
        assert!(is_stale(&wal_name(4), 5, &blocks));
        assert!(is_stale("seg-0000000000000002-64-g.dat", 5, &blocks));
        assert!(is_stale("MANIFEST.tmp", 5, &blocks));
        assert!(!is_stale("MANIFEST", 5, &blocks) && !is_stale("LOCK", 5, &blocks));
    }
}

#[cfg(all(test, not(sagevec_loom)))]
mod durability_tests {
    use super::*;

    #[test]
    fn modes_parse_and_print_round_trip() {
        for d in [
            Durability::EveryWrite,
            Durability::Off,
            Durability::Periodic(Duration::from_millis(250)),
        ] {
            assert_eq!(d.to_string().parse::<Durability>().unwrap(), d);
        }
        assert_eq!(
            "EVERY_WRITE".parse::<Durability>().unwrap(),
            Durability::EveryWrite
        );
        assert_eq!(
            Durability::from_parts(None, None).unwrap(),
            Durability::EveryWrite
        );
        for (name, ms, what) in [
            (Some("periodic"), None, "durability"),
            (Some("periodic"), Some(0), "sync_interval_ms"),
            (Some("off"), Some(5), "sync_interval_ms"),
            (None, Some(5), "sync_interval_ms"),
            (Some("sometimes"), None, "durability"),
        ] {
            match Durability::from_parts(name, ms) {
                Err(IndexError::InvalidParameter { name, .. }) => assert_eq!(name, what),
                other => panic!("{name:?} {ms:?}: {other:?}"),
            }
        }
        assert!("periodic:soon".parse::<Durability>().is_err());
    }

    /// Every value a configuration accepts prints as text that parses back to it,
    /// sub-millisecond periods and the largest `Duration` included.
    #[test]
    fn display_round_trips_every_period() {
        for p in [
            Duration::from_nanos(1),
            Duration::from_micros(500),
            Duration::from_nanos(1_500_000),
            Duration::from_nanos(12_345_678),
            Duration::from_millis(1),
            Duration::from_secs(3600),
            Duration::MAX,
        ] {
            let d = Durability::Periodic(p);
            let text = d.to_string();
            assert_eq!(text.parse::<Durability>(), Ok(d), "{text}");
        }
        assert_eq!(
            Durability::Periodic(Duration::from_micros(250)).to_string(),
            "periodic:0.25"
        );
        assert_eq!(
            Durability::Periodic(Duration::from_millis(100)).to_string(),
            "periodic:100"
        );
        assert_eq!(
            " Periodic : 2.5 ".parse::<Durability>(),
            Ok(Durability::Periodic(Duration::from_micros(2500)))
        );
    }

    /// Each malformed text is refused with an error that names the accepted
    /// forms and quotes the input.
    #[test]
    fn parse_errors_name_the_accepted_forms() {
        for text in [
            "",
            "sometimes",
            "periodic",
            "periodic:",
            "periodic:0",
            "periodic:0.000000",
            "periodic:-5",
            "periodic:1.",
            "periodic:.5",
            "periodic:1.0000001",
            "periodic:1e3",
            "periodic:soon",
            "off:5",
            "every_write:5",
            "periodic:18446744073709551616000",
        ] {
            match text.parse::<Durability>() {
                Err(IndexError::InvalidParameter { name, reason }) => {
                    assert_eq!(name, "durability", "{text:?}");
                    assert!(
                        reason.contains("every_write, off or periodic:<ms>")
                            && reason.contains(&format!("{text:?}")),
                        "{text:?}: {reason}"
                    );
                }
                other => panic!("{text:?} parsed as {other:?}"),
            }
        }
    }

    /// A zero period is refused by the configuration as by the parsers, so every
    /// accepted configuration's durability prints and parses back.
    #[test]
    fn zero_period_is_refused_by_the_configuration() {
        let mut config = IndexConfig::new(2, Metric::L2Sq);
        config.durability = Durability::Periodic(Duration::ZERO);
        match config.validate() {
            Err(IndexError::InvalidParameter { name, .. }) => assert_eq!(name, "durability"),
            other => panic!("{other:?}"),
        }
        config.durability = Durability::Periodic(Duration::from_nanos(1));
        assert_eq!(config.validate(), Ok(()));
    }
}
