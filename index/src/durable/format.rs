//! The on-disk format (version 2): write-ahead log, row blocks, links and the
//! manifest.
//!
//! | file | what | written |
//! |---|---|---|
//! | `LOCK` | exclusive lock of the writer process | at open |
//! | `MANIFEST` | which row blocks, links file and log generation make the index | replaced atomically at each checkpoint |
//! | `rows-<graph>-<first>-<n>.dat` | `n` slots' ids, vectors and metadata from slot `first` of graph `graph` | once, at the first checkpoint that covers them; never rewritten |
//! | `links-<gen>.dat` | every slot's level and neighbour lists at a checkpoint | at each checkpoint |
//! | `wal-<gen>.log` | writes since the checkpoint that started generation `gen` | appended before each write is visible |
//!
//! All integers are little-endian; every file starts with an 8-byte magic and a
//! `u32` format version ([`FORMAT_VERSION`]); CRCs are CRC-32C.
//!
//! **Log**: header `"SAGEVWAL" version:u32 dim:u32 metric:u8 gen:u64 crc:u32`
//! (the CRC covers the header bytes before it), then records
//! `len:u32 !len:u32 crc:u32 payload[len]` (the CRC covers the payload; `!len`
//! catches a damaged length). A payload is one write (one call or one
//! transaction): `kind:u8 = 1, n_ops:u32`, then per operation either
//! `1:u8 n:u64 ids:u64[n] rows:f32[n*dim] has_meta:u8 [metadata[n]]` (add, ids
//! resolved) or `2:u8 n:u64 ids:u64[n]` (remove). Metadata: `0:u8` (none) or
//! `1:u8 n:u32 (key:str tag:u8 value)*` with tags 1 str, 2 i64, 3 f64 bits,
//! 4 bool; `str` is `len:u32 utf8[len]`. Version 1 logs have the same layout.
//!
//! **Row block**: `"SAGEVROW" version:u32 dim:u32 graph:u64 first:u64 n:u64
//! ids:u64[n] vectors:f32[n*dim] metadata[n] crc:u32` (CRC of all bytes before
//! it). Vectors as the index stores them (unit vectors under cosine). A graph's
//! blocks cover its slots `0..slots` in order, without gaps; a compaction starts a
//! new graph (new slot numbers) and so a new set of blocks.
//!
//! **Links**: `"SAGEVLNK" version:u32 graph:u64 slots:u64 m:u32`, then per slot
//! `level:u8` and per level `0..=level` `count:u16 ids:u32[count]` (at most `2m`
//! ids on level 0 and `m` above, every id below `slots`), then `crc:u32`. The lists
//! are copied at the checkpoint's cut, with no insert in flight, so they are the
//! graph exactly as it was at the cut.
//!
//! **Manifest**: `"SAGEVMAN" version:u32 dim:u32 metric:u8 snapshot_version:u64
//! next_auto_id:u64 wal_gen:u64`, the graph: `graph:u64 m:u64 ef_construction:u64
//! has_mult:u8 mult:f64 seed:u64 has_scale:u8 f16_scale:f32 clipped:u64
//! slots:u64 has_entry:u8 entry_node:u64 entry_level:u64`, the blocks:
//! `n:u64 (file:str first:u64 rows:u64)*`, `has_links:u8 [links_file:str]`, the
//! removed slots `n:u64 slots:u32[n]`, then `crc:u32` of all bytes before it.
//! Recovery loads the blocks and links, marks the removed slots, then replays every
//! log of generation `>= wal_gen` in order.
//!
//! Recovery drops a torn last log record (it was never acknowledged) and cuts
//! the file there; any other damage is an [`IndexError::Corrupt`] naming the
//! file and offset, and nothing is dropped or overwritten. Every decoder checks
//! each count against the bytes that are left before allocating for it.
//!
//! **Version 1** (segments: `seg-<uid>-<rows>[-g].dat` and a manifest listing
//! them; see `v1.rs`) still opens: its live rows are built into one graph and
//! written as version 2 on that open (read-only opens convert in memory only).

use sagevec_kernels::Metric;

use super::codec::{Dec, DecodeError, Enc};
use crate::error::IndexError;
use crate::metadata::Metadata;

/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 2;

const WAL_MAGIC: &[u8; 8] = b"SAGEVWAL";
pub(crate) const SEG_MAGIC: &[u8; 8] = b"SAGEVSEG";
pub(crate) const MAN_MAGIC: &[u8; 8] = b"SAGEVMAN";
const ROW_MAGIC: &[u8; 8] = b"SAGEVROW";
const LNK_MAGIC: &[u8; 8] = b"SAGEVLNK";
/// Bytes of a log file's header.
pub(crate) const WAL_HEADER_BYTES: u64 = 8 + 4 + 4 + 1 + 8 + 4;
/// Bytes before a log record's payload.
const RECORD_HEAD: usize = 12;
/// Largest log record accepted (a damaged length beyond it is corruption, and a
/// write whose record would be larger is refused before it is logged).
pub(crate) const MAX_RECORD: usize = 1 << 31;

pub(crate) fn metric_code(m: Metric) -> u8 {
    match m {
        Metric::L2Sq => 1,
        Metric::InnerProduct => 2,
        Metric::Cosine => 3,
        other => unreachable!("IndexConfig::validate admits only f32 metrics, not {other}"),
    }
}

pub(crate) fn metric_from(code: u8) -> Option<Metric> {
    match code {
        1 => Some(Metric::L2Sq),
        2 => Some(Metric::InnerProduct),
        3 => Some(Metric::Cosine),
        _ => None,
    }
}

pub(crate) fn corrupt(path: &str, offset: usize, what: impl Into<String>) -> IndexError {
    IndexError::Corrupt {
        path: path.to_owned(),
        offset: offset as u64,
        what: what.into(),
    }
}

pub(crate) fn decode_err(path: &str, e: DecodeError) -> IndexError {
    corrupt(path, e.offset, e.what)
}

/// Checks magic and format version; returns the decoder after them and the version.
pub(crate) fn open_header<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    path: &str,
) -> Result<(Dec<'a>, u32), IndexError> {
    let mut d = Dec::new(bytes);
    let m = d.take(8, "magic").map_err(|e| decode_err(path, e))?;
    if m != magic {
        return Err(corrupt(
            path,
            0,
            format!("bad magic {m:?}, expected {magic:?}"),
        ));
    }
    let version = d.u32("format version").map_err(|e| decode_err(path, e))?;
    if version > FORMAT_VERSION {
        return Err(IndexError::UnsupportedFormat {
            path: path.to_owned(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(corrupt(path, 8, "format version 0"));
    }
    Ok((d, version))
}

/// Checks magic, format version and the trailing CRC of a whole file; returns a
/// decoder over the bytes between the header (magic and version) and the CRC.
pub(crate) fn open_checked<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    path: &str,
) -> Result<Dec<'a>, IndexError> {
    let (head, _version) = open_header(bytes, magic, path)?;
    check_trailing_crc(bytes, path)?;
    let mut d = Dec::new(&bytes[..bytes.len() - 4]);
    d.take(head.pos(), "header")
        .map_err(|e| decode_err(path, e))?;
    Ok(d)
}

/// Checks a trailing CRC over everything before it.
pub(crate) fn check_trailing_crc(bytes: &[u8], path: &str) -> Result<(), IndexError> {
    if bytes.len() < 4 {
        return Err(corrupt(path, 0, "shorter than its checksum"));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes(tail.try_into().expect("4 bytes"));
    if crc32c::crc32c(body) != stored {
        return Err(corrupt(
            path,
            body.len(),
            "checksum mismatch (file damaged or truncated)",
        ));
    }
    Ok(())
}

pub(crate) fn check_shape(
    path: &str,
    dim: usize,
    metric: Option<Metric>,
    want_dim: usize,
    want_metric: Metric,
) -> Result<(), IndexError> {
    if dim != want_dim {
        return Err(IndexError::ConfigMismatch {
            path: path.to_owned(),
            what: "dimension",
            stored: dim.to_string(),
            given: want_dim.to_string(),
        });
    }
    if let Some(m) = metric
        && m != want_metric
    {
        return Err(IndexError::ConfigMismatch {
            path: path.to_owned(),
            what: "metric",
            stored: m.to_string(),
            given: want_metric.to_string(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------- log

/// A log file's header bytes.
pub(crate) fn wal_header(dim: usize, metric: Metric, gen_: u64) -> Vec<u8> {
    let mut e = Enc::default();
    e.bytes(WAL_MAGIC);
    e.u32(FORMAT_VERSION);
    e.u32(dim as u32);
    e.u8(metric_code(metric));
    e.u64(gen_);
    let crc = crc32c::crc32c(&e.buf);
    e.u32(crc);
    e.buf
}

/// One logged operation, ids resolved.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum LoggedOp {
    Add {
        ids: Vec<u64>,
        rows: Vec<f32>,
        metadata: Option<Vec<Option<Metadata>>>,
    },
    Remove(Vec<u64>),
}

/// One operation to log, borrowing the write's data.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RecordOp<'a> {
    Add {
        ids: &'a [u64],
        rows: &'a [f32],
        metadata: Option<&'a [Option<Metadata>]>,
    },
    Remove(&'a [u64]),
}

/// Encodes one write as a framed log record.
pub(crate) fn encode_record(ops: &[RecordOp<'_>]) -> Vec<u8> {
    let mut p = Enc::default();
    p.u8(1);
    p.u32(ops.len() as u32);
    for op in ops {
        match *op {
            RecordOp::Add {
                ids,
                rows,
                metadata,
            } => {
                p.u8(1);
                p.u64(ids.len() as u64);
                p.u64s(ids);
                p.f32s(rows);
                match metadata {
                    None => p.u8(0),
                    Some(m) => {
                        p.u8(1);
                        for r in m {
                            p.metadata(r.as_ref());
                        }
                    }
                }
            }
            RecordOp::Remove(ids) => {
                p.u8(2);
                p.u64(ids.len() as u64);
                p.u64s(ids);
            }
        }
    }
    let payload = p.buf;
    let mut r = Vec::with_capacity(RECORD_HEAD + payload.len());
    let len = payload.len() as u32;
    r.extend_from_slice(&len.to_le_bytes());
    r.extend_from_slice(&(!len).to_le_bytes());
    r.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    r.extend_from_slice(&payload);
    r
}

fn decode_payload(payload: &[u8], dim: usize) -> Result<Vec<LoggedOp>, DecodeError> {
    let mut d = Dec::new(payload);
    let kind = d.u8("record kind")?;
    if kind != 1 {
        return Err(DecodeError {
            offset: 0,
            what: format!("unknown record kind {kind}"),
        });
    }
    let n_ops = d.u32("operation count")? as usize;
    let mut ops = Vec::with_capacity(n_ops.min(1024));
    for _ in 0..n_ops {
        match d.u8("operation tag")? {
            1 => {
                let n = d.count(8 + 4 * dim, "rows")?;
                let ids = d.u64s(n, "ids")?;
                let rows = d.f32s(n * dim, "vectors")?;
                let metadata = match d.u8("metadata flag")? {
                    0 => None,
                    _ => Some(
                        (0..n)
                            .map(|_| d.metadata())
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                };
                ops.push(LoggedOp::Add {
                    ids,
                    rows,
                    metadata,
                });
            }
            2 => {
                let n = d.count(8, "ids")?;
                ops.push(LoggedOp::Remove(d.u64s(n, "ids")?));
            }
            t => {
                return Err(DecodeError {
                    offset: d.pos(),
                    what: format!("unknown operation tag {t}"),
                });
            }
        }
    }
    if d.remaining() != 0 {
        return Err(DecodeError {
            offset: d.pos(),
            what: "bytes after the last operation".into(),
        });
    }
    Ok(ops)
}

/// A parsed log file.
#[derive(Debug)]
pub(crate) struct ParsedLog {
    /// Each record's operations, in order.
    pub(crate) records: Vec<Vec<LoggedOp>>,
    /// Bytes up to the end of the last whole record: a torn tail starts here.
    pub(crate) good_len: u64,
    /// Whether a torn last record was found (and must be cut off).
    pub(crate) torn_tail: bool,
}

/// Parses a log file. A damaged *last* record (short, or failing its CRC with
/// nothing after it) is a torn write and is reported, not returned; damage
/// anywhere else is corruption.
pub(crate) fn parse_log(
    bytes: &[u8],
    path: &str,
    dim: usize,
    metric: Metric,
    gen_: u64,
) -> Result<ParsedLog, IndexError> {
    if (bytes.len() as u64) < WAL_HEADER_BYTES {
        // The header is synced when the file is created, so a short header means
        // the file was damaged after the fact.
        return Err(corrupt(path, bytes.len(), "log shorter than its header"));
    }
    let (mut d, _version) = open_header(bytes, WAL_MAGIC, path)?;
    let file_dim = d.u32("dim").map_err(|e| decode_err(path, e))? as usize;
    let file_metric = metric_from(d.u8("metric").map_err(|e| decode_err(path, e))?);
    let file_gen = d.u64("generation").map_err(|e| decode_err(path, e))?;
    let at = d.pos();
    let crc = d.u32("header checksum").map_err(|e| decode_err(path, e))?;
    if crc32c::crc32c(&bytes[..at]) != crc {
        return Err(corrupt(path, at, "log header checksum mismatch"));
    }
    check_shape(path, file_dim, file_metric, dim, metric)?;
    if file_gen != gen_ {
        return Err(corrupt(
            path,
            25,
            format!("generation {file_gen} in a file named for {gen_}"),
        ));
    }
    let mut pos = WAL_HEADER_BYTES as usize;
    let mut records = Vec::new();
    let mut torn_tail = false;
    while pos < bytes.len() {
        let left = bytes.len() - pos;
        if left < RECORD_HEAD {
            torn_tail = true;
            break;
        }
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4"));
        let not_len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4"));
        let crc = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().expect("4"));
        let len = len as usize;
        let end = pos + RECORD_HEAD + len;
        if not_len != !(len as u32) || len > MAX_RECORD {
            // A torn write can leave garbage only at the very end; past a whole
            // record boundary, a bad length word is damage.
            if end >= bytes.len() || not_len == 0 {
                torn_tail = true;
                break;
            }
            return Err(corrupt(path, pos, "record length damaged"));
        }
        if end > bytes.len() {
            torn_tail = true;
            break;
        }
        let payload = &bytes[pos + RECORD_HEAD..end];
        if crc32c::crc32c(payload) != crc {
            if end == bytes.len() {
                torn_tail = true;
                break;
            }
            return Err(corrupt(
                path,
                pos,
                "record checksum mismatch before the last record",
            ));
        }
        let ops = decode_payload(payload, dim)
            .map_err(|e| corrupt(path, pos + RECORD_HEAD + e.offset, e.what))?;
        records.push(ops);
        pos = end;
    }
    Ok(ParsedLog {
        records,
        good_len: pos as u64,
        torn_tail,
    })
}

// ---------------------------------------------------------------- row blocks

/// The rows of one row block (or of a version-1 segment file).
#[derive(Debug)]
pub(crate) struct RowBlockData {
    pub(crate) ids: Vec<u64>,
    pub(crate) vectors: Vec<f32>,
    pub(crate) metadata: Vec<Option<Metadata>>,
}

/// Encodes a row block from row accessors (slots `first..first + rows`).
pub(crate) fn encode_rows<'a>(
    dim: usize,
    graph: u64,
    first: usize,
    rows: usize,
    id: impl Fn(usize) -> u64,
    vector: impl Fn(usize) -> &'a [f32],
    metadata: impl Fn(usize) -> Option<&'a Metadata>,
) -> Vec<u8> {
    let mut e = Enc::default();
    e.buf.reserve(64 + rows * (8 + 4 * dim + 1));
    e.bytes(ROW_MAGIC);
    e.u32(FORMAT_VERSION);
    e.u32(dim as u32);
    e.u64(graph);
    e.u64(first as u64);
    e.u64(rows as u64);
    for r in first..first + rows {
        e.u64(id(r));
    }
    for r in first..first + rows {
        e.f32s(vector(r));
    }
    for r in first..first + rows {
        e.metadata(metadata(r));
    }
    let crc = crc32c::crc32c(&e.buf);
    e.u32(crc);
    e.buf
}

/// Decodes and checks a row block against what the manifest says it holds.
pub(crate) fn decode_rows(
    bytes: &[u8],
    path: &str,
    dim: usize,
    graph: u64,
    first: usize,
    rows: usize,
) -> Result<RowBlockData, IndexError> {
    let mut d = open_checked(bytes, ROW_MAGIC, path)?;
    let e = |x| decode_err(path, x);
    let file_dim = d.u32("dim").map_err(e)? as usize;
    let file_graph = d.u64("graph").map_err(e)?;
    let file_first = d.u64("first slot").map_err(e)? as usize;
    let file_rows = d.u64("rows").map_err(e)? as usize;
    if (file_dim, file_graph, file_first, file_rows) != (dim, graph, first, rows) {
        return Err(corrupt(
            path,
            12,
            format!(
                "holds dim {file_dim}, graph {file_graph}, slots {file_first}+{file_rows}; \
                 the manifest says dim {dim}, graph {graph}, slots {first}+{rows}"
            ),
        ));
    }
    let per_row = 8usize
        .checked_add(dim.checked_mul(4).ok_or_else(|| corrupt(path, 12, "dim"))?)
        .and_then(|b| b.checked_add(1))
        .ok_or_else(|| corrupt(path, 12, "dim"))?;
    if rows.checked_mul(per_row).is_none_or(|b| b > d.remaining()) {
        return Err(corrupt(path, d.pos(), "row count does not fit the file"));
    }
    let ids = d.u64s(rows, "ids").map_err(e)?;
    let vectors = d.f32s(rows * dim, "vectors").map_err(e)?;
    let metadata = (0..rows)
        .map(|_| d.metadata())
        .collect::<Result<Vec<_>, _>>()
        .map_err(e)?;
    if d.remaining() != 0 {
        return Err(corrupt(path, d.pos(), "bytes after the last row"));
    }
    Ok(RowBlockData {
        ids,
        vectors,
        metadata,
    })
}

// ---------------------------------------------------------------- links

/// Encodes every slot's level and lists: `links(slot, out)` fills `out[l]` with
/// the ids on level `l` and returns the level.
pub(crate) fn encode_links(
    graph: u64,
    slots: usize,
    m: usize,
    mut links: impl FnMut(usize, &mut Vec<Vec<u32>>) -> usize,
) -> Vec<u8> {
    let mut e = Enc::default();
    e.bytes(LNK_MAGIC);
    e.u32(FORMAT_VERSION);
    e.u64(graph);
    e.u64(slots as u64);
    e.u32(m as u32);
    let mut lists = Vec::new();
    for slot in 0..slots {
        let level = links(slot, &mut lists);
        e.u8(level as u8);
        for list in &lists[..=level] {
            let kept: Vec<u32> = list
                .iter()
                .copied()
                .filter(|&t| (t as usize) < slots)
                .collect();
            e.buf.extend_from_slice(&(kept.len() as u16).to_le_bytes());
            for t in kept {
                e.u32(t);
            }
        }
    }
    let crc = crc32c::crc32c(&e.buf);
    e.u32(crc);
    e.buf
}

/// Decodes and checks a links file: `slots` slots, lists within `m`'s
/// capacities, every id a slot. Calls `f(slot, level, lists)` per slot.
pub(crate) fn decode_links(
    bytes: &[u8],
    path: &str,
    graph: u64,
    slots: usize,
    m: usize,
    mut f: impl FnMut(usize, u8, &[Vec<u32>]) -> Result<(), String>,
) -> Result<(), IndexError> {
    let mut d = open_checked(bytes, LNK_MAGIC, path)?;
    let e = |x| decode_err(path, x);
    let file_graph = d.u64("graph").map_err(e)?;
    let file_slots = d.u64("slots").map_err(e)? as usize;
    let file_m = d.u32("m").map_err(e)? as usize;
    if (file_graph, file_slots, file_m) != (graph, slots, m) {
        return Err(corrupt(
            path,
            12,
            format!(
                "holds graph {file_graph}, {file_slots} slots, m {file_m}; \
                 the manifest says graph {graph}, {slots} slots, m {m}"
            ),
        ));
    }
    // Each slot takes at least 3 bytes (level and one count).
    if slots.checked_mul(3).is_none_or(|b| b > d.remaining()) {
        return Err(corrupt(path, d.pos(), "slot count does not fit the file"));
    }
    let mut lists: Vec<Vec<u32>> = Vec::new();
    for slot in 0..slots {
        let at = d.pos();
        let level = d.u8("level").map_err(e)?;
        if level as usize > crate::graph::MAX_LEVEL {
            return Err(corrupt(path, at, format!("slot {slot}: level {level}")));
        }
        lists.resize_with(level as usize + 1, Vec::new);
        for (l, list) in lists.iter_mut().enumerate() {
            let at = d.pos();
            let b = d.take(2, "list length").map_err(e)?;
            let count = u16::from_le_bytes([b[0], b[1]]) as usize;
            let cap = if l == 0 { 2 * m } else { m };
            if count > cap {
                return Err(corrupt(
                    path,
                    at,
                    format!("slot {slot} level {l}: {count} links, at most {cap}"),
                ));
            }
            let raw = d.take(count * 4, "links").map_err(e)?;
            list.clear();
            list.extend(
                raw.chunks_exact(4)
                    .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))),
            );
            if let Some(&bad) = list.iter().find(|&&t| t as usize >= slots) {
                return Err(corrupt(
                    path,
                    at,
                    format!("slot {slot} level {l}: link to {bad}, beyond {slots} slots"),
                ));
            }
        }
        f(slot, level, &lists).map_err(|what| corrupt(path, at, what))?;
    }
    if d.remaining() != 0 {
        return Err(corrupt(path, d.pos(), "bytes after the last slot"));
    }
    Ok(())
}

// ---------------------------------------------------------------- manifest

/// One row block as the manifest lists it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BlockRef {
    pub(crate) file: String,
    pub(crate) first: usize,
    pub(crate) rows: usize,
}

/// The graph a manifest describes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GraphManifest {
    pub(crate) uid: u64,
    pub(crate) m: usize,
    pub(crate) ef_construction: usize,
    pub(crate) level_multiplier: Option<f64>,
    pub(crate) seed: u64,
    pub(crate) f16_scale: Option<f32>,
    pub(crate) clipped: u64,
    pub(crate) slots: usize,
    pub(crate) entry: Option<(u32, usize)>,
    pub(crate) blocks: Vec<BlockRef>,
    pub(crate) links: Option<String>,
    pub(crate) removed: Vec<u32>,
}

/// What a checkpoint made durable.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Manifest {
    pub(crate) version: u64,
    pub(crate) next_auto_id: u64,
    pub(crate) wal_gen: u64,
    pub(crate) graph: GraphManifest,
}

pub(crate) fn encode_manifest(m: &Manifest, dim: usize, metric: Metric) -> Vec<u8> {
    let mut e = Enc::default();
    e.bytes(MAN_MAGIC);
    e.u32(FORMAT_VERSION);
    e.u32(dim as u32);
    e.u8(metric_code(metric));
    e.u64(m.version);
    e.u64(m.next_auto_id);
    e.u64(m.wal_gen);
    let g = &m.graph;
    e.u64(g.uid);
    e.u64(g.m as u64);
    e.u64(g.ef_construction as u64);
    e.u8(u8::from(g.level_multiplier.is_some()));
    e.u64(g.level_multiplier.unwrap_or(0.0).to_bits());
    e.u64(g.seed);
    e.u8(u8::from(g.f16_scale.is_some()));
    e.u32(g.f16_scale.unwrap_or(0.0).to_bits());
    e.u64(g.clipped);
    e.u64(g.slots as u64);
    match g.entry {
        Some((node, level)) => {
            e.u8(1);
            e.u64(u64::from(node));
            e.u64(level as u64);
        }
        None => {
            e.u8(0);
            e.u64(0);
            e.u64(0);
        }
    }
    e.u64(g.blocks.len() as u64);
    for b in &g.blocks {
        e.str(&b.file);
        e.u64(b.first as u64);
        e.u64(b.rows as u64);
    }
    match &g.links {
        Some(f) => {
            e.u8(1);
            e.str(f);
        }
        None => e.u8(0),
    }
    e.u64(g.removed.len() as u64);
    for &r in &g.removed {
        e.u32(r);
    }
    let crc = crc32c::crc32c(&e.buf);
    e.u32(crc);
    e.buf
}

/// The dimension and metric a manifest records, after checking its magic, format
/// version and checksum (what [`stored_shape`](super::stored_shape) reports).
pub(crate) fn manifest_shape(bytes: &[u8], path: &str) -> Result<(usize, Metric), IndexError> {
    let (mut d, _) = open_header(bytes, MAN_MAGIC, path)?;
    check_trailing_crc(bytes, path)?;
    let dim = d.u32("dim").map_err(|e| decode_err(path, e))? as usize;
    let code = d.u8("metric").map_err(|e| decode_err(path, e))?;
    let metric = metric_from(code)
        .ok_or_else(|| corrupt(path, 16, format!("unknown metric code {code}")))?;
    Ok((dim, metric))
}

/// A manifest of either format version.
#[derive(Debug)]
pub(crate) enum AnyManifest {
    V1(super::v1::Manifest),
    V2(Manifest),
}

/// A file name a manifest may list: a plain name in the index's directory.
fn plain_name(path: &str, at: usize, name: &str) -> Result<(), IndexError> {
    if name.is_empty() || name.contains('/') || name.contains('\\') || name.contains("..") {
        return Err(corrupt(path, at, format!("file name {name:?}")));
    }
    Ok(())
}

pub(crate) fn decode_manifest(
    bytes: &[u8],
    path: &str,
    dim: usize,
    metric: Metric,
) -> Result<AnyManifest, IndexError> {
    let (_, version) = open_header(bytes, MAN_MAGIC, path)?;
    if version == 1 {
        return super::v1::decode_manifest(bytes, path, dim, metric).map(AnyManifest::V1);
    }
    let (mut d, _) = open_header(bytes, MAN_MAGIC, path)?;
    check_trailing_crc(bytes, path)?;
    let e = |x| decode_err(path, x);
    let file_dim = d.u32("dim").map_err(e)? as usize;
    let file_metric = metric_from(d.u8("metric").map_err(e)?);
    check_shape(path, file_dim, file_metric, dim, metric)?;
    let snapshot_version = d.u64("version").map_err(e)?;
    let next_auto_id = d.u64("next auto id").map_err(e)?;
    let wal_gen = d.u64("log generation").map_err(e)?;
    let uid = d.u64("graph").map_err(e)?;
    let m = d.u64("m").map_err(e)? as usize;
    let ef_construction = d.u64("ef_construction").map_err(e)? as usize;
    let has_mult = d.u8("level multiplier flag").map_err(e)? != 0;
    let mult = f64::from_bits(d.u64("level multiplier").map_err(e)?);
    let seed = d.u64("seed").map_err(e)?;
    let params = crate::graph::GraphParams {
        m,
        ef_construction,
        level_multiplier: has_mult.then_some(mult),
        seed,
        ..crate::graph::GraphParams::default()
    };
    params
        .validate()
        .map_err(|x| corrupt(path, d.pos(), format!("graph parameters: {x}")))?;
    let has_scale = d.u8("f16 scale flag").map_err(e)? != 0;
    let scale = f32::from_bits(d.u32("f16 scale").map_err(e)?);
    if has_scale && !(scale.is_finite() && scale > 0.0) {
        return Err(corrupt(path, d.pos(), format!("f16 scale {scale}")));
    }
    let clipped = d.u64("clipped rows").map_err(e)?;
    let slots = d.u64("slots").map_err(e)? as usize;
    if slots > crate::live::MAX_SLOTS {
        return Err(corrupt(path, d.pos(), format!("{slots} slots")));
    }
    let has_entry = d.u8("entry flag").map_err(e)? != 0;
    let entry_node = d.u64("entry node").map_err(e)?;
    let entry_level = d.u64("entry level").map_err(e)? as usize;
    let entry = if has_entry {
        if entry_node as usize >= slots || entry_level > crate::graph::MAX_LEVEL {
            return Err(corrupt(path, d.pos(), "entry point out of range"));
        }
        Some((entry_node as u32, entry_level))
    } else {
        None
    };
    let n = d.count(4 + 16, "row blocks").map_err(e)?;
    let mut blocks = Vec::with_capacity(n);
    let mut next = 0usize;
    for _ in 0..n {
        let at = d.pos();
        let file = d.str("row block file").map_err(e)?;
        plain_name(path, at, &file)?;
        let first = d.u64("first slot").map_err(e)? as usize;
        let rows = d.u64("rows").map_err(e)? as usize;
        if first != next || rows == 0 || first.checked_add(rows).is_none_or(|end| end > slots) {
            return Err(corrupt(path, at, "row blocks do not tile the slots"));
        }
        next = first + rows;
        blocks.push(BlockRef { file, first, rows });
    }
    if next != slots {
        return Err(corrupt(path, d.pos(), "row blocks do not cover every slot"));
    }
    let links = match d.u8("links flag").map_err(e)? {
        0 => None,
        _ => {
            let at = d.pos();
            let f = d.str("links file").map_err(e)?;
            plain_name(path, at, &f)?;
            Some(f)
        }
    };
    if links.is_none() && slots > 0 {
        return Err(corrupt(path, d.pos(), "slots without a links file"));
    }
    let nr = d.count(4, "removed slots").map_err(e)?;
    let mut removed = Vec::with_capacity(nr);
    for _ in 0..nr {
        let r = d.u32("removed slot").map_err(e)?;
        if r as usize >= slots {
            return Err(corrupt(path, d.pos(), "removed slot beyond the graph"));
        }
        removed.push(r);
    }
    if d.remaining() != 4 {
        return Err(corrupt(path, d.pos(), "bytes after the removed slots"));
    }
    Ok(AnyManifest::V2(Manifest {
        version: snapshot_version,
        next_auto_id,
        wal_gen,
        graph: GraphManifest {
            uid,
            m,
            ef_construction,
            level_multiplier: has_mult.then_some(mult),
            seed,
            f16_scale: has_scale.then_some(scale),
            clipped,
            slots,
            entry,
            blocks,
            links,
            removed,
        },
    }))
}
