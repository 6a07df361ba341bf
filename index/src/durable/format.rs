//! The on-disk format: write-ahead log, segment files and the manifest.
//!
//! | file | what | written |
//! |---|---|---|
//! | `LOCK` | exclusive lock of the writer process | at open |
//! | `MANIFEST` | which segment files and log generation make the index | replaced atomically at each checkpoint |
//! | `seg-<uid>-<rows>.dat` | one segment's rows: ids, vectors, metadata | once, at the checkpoint after it appears |
//! | `wal-<gen>.log` | writes since the checkpoint of generation `gen` | appended before each write is visible |
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
//! 4 bool; `str` is `len:u32 utf8[len]`.
//!
//! **Segment file** (`seg-<uid>-<rows>.dat`, or `…-g.dat` with a graph):
//! `"SAGEVSEG" version:u32 dim:u32 uid:u64 rows:u64 ids:u64[rows]
//! vectors:f32[rows*dim] metadata[rows] has_graph:u8 [graph] crc:u32` (CRC of
//! all bytes before it). Vectors are stored as the index stores them (unit
//! vectors under cosine). The graph is the frozen HNSW layout (links per level,
//! entry point, parameters; see `graph/persist.rs`), so reopening does not
//! rebuild it; a segment written before its graph was built is written again
//! (as `-g`) at the next checkpoint after.
//!
//! **Manifest**: `"SAGEVMAN" version:u32 dim:u32 metric:u8 snapshot_version:u64
//! next_auto_id:u64 next_uid:u64 wal_gen:u64 n:u64` then per segment
//! `uid:u64 rows:u64 growing:u8 file:str n_deleted:u64 deleted_rows:u64[n]`,
//! then `crc:u32` of all bytes before it. Recovery loads the segments, marks
//! the deleted rows, then replays every log of generation `>= wal_gen` in order.
//!
//! Recovery drops a torn last log record (it was never acknowledged) and cuts
//! the file there; any other damage is an [`IndexError::Corrupt`] naming the
//! file and offset, and nothing is dropped or overwritten.

use sagevec_kernels::Metric;

use super::codec::{Dec, DecodeError, Enc};
use crate::error::IndexError;
use crate::metadata::Metadata;

/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

const WAL_MAGIC: &[u8; 8] = b"SAGEVWAL";
const SEG_MAGIC: &[u8; 8] = b"SAGEVSEG";
const MAN_MAGIC: &[u8; 8] = b"SAGEVMAN";
/// Bytes of a log file's header.
pub(crate) const WAL_HEADER_BYTES: u64 = 8 + 4 + 4 + 1 + 8 + 4;
/// Bytes before a log record's payload.
const RECORD_HEAD: usize = 12;
/// Largest log record accepted (a damaged length beyond it is corruption).
const MAX_RECORD: usize = 1 << 31;

pub(crate) fn metric_code(m: Metric) -> u8 {
    match m {
        Metric::L2Sq => 1,
        Metric::InnerProduct => 2,
        Metric::Cosine => 3,
        other => unreachable!("IndexConfig::validate admits only f32 metrics, not {other}"),
    }
}

fn metric_from(code: u8) -> Option<Metric> {
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

fn decode_err(path: &str, e: DecodeError) -> IndexError {
    corrupt(path, e.offset, e.what)
}

/// Checks magic and format version; returns the decoder after them.
fn open_header<'a>(bytes: &'a [u8], magic: &[u8; 8], path: &str) -> Result<Dec<'a>, IndexError> {
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
    Ok(d)
}

/// Checks a trailing CRC over everything before it.
fn check_trailing_crc(bytes: &[u8], path: &str) -> Result<(), IndexError> {
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

fn check_shape(
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
    let mut d = open_header(bytes, WAL_MAGIC, path)?;
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

// ---------------------------------------------------------------- segments

/// Rows of one segment file.
#[derive(Debug)]
pub(crate) struct SegmentData {
    pub(crate) ids: Vec<u64>,
    pub(crate) vectors: Vec<f32>,
    pub(crate) metadata: Vec<Option<Metadata>>,
    /// The frozen graph, if the segment had one when written.
    pub(crate) graph: Option<crate::graph::Graph>,
}

/// Encodes a segment file from row accessors.
pub(crate) fn encode_segment<'a>(
    dim: usize,
    uid: u64,
    rows: usize,
    id: impl Fn(usize) -> u64,
    vector: impl Fn(usize) -> &'a [f32],
    metadata: impl Fn(usize) -> Option<&'a Metadata>,
    graph: Option<&crate::graph::Graph>,
) -> Vec<u8> {
    let mut e = Enc::default();
    e.buf.reserve(64 + rows * (8 + 4 * dim + 1));
    e.bytes(SEG_MAGIC);
    e.u32(FORMAT_VERSION);
    e.u32(dim as u32);
    e.u64(uid);
    e.u64(rows as u64);
    for r in 0..rows {
        e.u64(id(r));
    }
    for r in 0..rows {
        e.f32s(vector(r));
    }
    for r in 0..rows {
        e.metadata(metadata(r));
    }
    match graph {
        Some(g) => {
            e.u8(1);
            g.encode_links(&mut e);
        }
        None => e.u8(0),
    }
    let crc = crc32c::crc32c(&e.buf);
    e.u32(crc);
    e.buf
}

/// Decodes and checks a segment file.
pub(crate) fn decode_segment(
    bytes: &[u8],
    path: &str,
    dim: usize,
    uid: u64,
    rows: usize,
    graph_metric: Metric,
) -> Result<SegmentData, IndexError> {
    let d = open_header(bytes, SEG_MAGIC, path)?;
    check_trailing_crc(bytes, path)?;
    let body = &bytes[..bytes.len() - 4];
    let mut d2 = Dec::new(body);
    d2.take(d.pos(), "header")
        .map_err(|e| decode_err(path, e))?;
    let e = |x| decode_err(path, x);
    let file_dim = d2.u32("dim").map_err(e)? as usize;
    let file_uid = d2.u64("uid").map_err(e)?;
    let file_rows = d2.u64("rows").map_err(e)? as usize;
    if file_dim != dim || file_uid != uid || file_rows != rows {
        return Err(corrupt(
            path,
            12,
            format!(
                "holds dim {file_dim}, segment {file_uid}, {file_rows} rows; the manifest says dim {dim}, segment {uid}, {rows} rows"
            ),
        ));
    }
    let ids = d2.u64s(rows, "ids").map_err(e)?;
    let vectors = d2.f32s(rows * dim, "vectors").map_err(e)?;
    let metadata = (0..rows)
        .map(|_| d2.metadata())
        .collect::<Result<Vec<_>, _>>()
        .map_err(e)?;
    let graph = match d2.u8("graph flag").map_err(e)? {
        0 => None,
        1 => Some(
            crate::graph::Graph::decode_links(graph_metric, &vectors, dim, &mut d2).map_err(e)?,
        ),
        f => return Err(corrupt(path, d2.pos(), format!("bad graph flag {f}"))),
    };
    if d2.remaining() != 0 {
        return Err(corrupt(path, d2.pos(), "bytes after the last row"));
    }
    Ok(SegmentData {
        ids,
        vectors,
        metadata,
        graph,
    })
}

// ---------------------------------------------------------------- manifest

/// One segment as the manifest lists it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ManifestSegment {
    pub(crate) uid: u64,
    pub(crate) rows: usize,
    pub(crate) growing: bool,
    pub(crate) file: String,
    pub(crate) deleted: Vec<u64>,
}

/// What a checkpoint made durable.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Manifest {
    pub(crate) version: u64,
    pub(crate) next_auto_id: u64,
    pub(crate) next_uid: u64,
    pub(crate) wal_gen: u64,
    pub(crate) segments: Vec<ManifestSegment>,
}

pub(crate) fn encode_manifest(m: &Manifest, dim: usize, metric: Metric) -> Vec<u8> {
    let mut e = Enc::default();
    e.bytes(MAN_MAGIC);
    e.u32(FORMAT_VERSION);
    e.u32(dim as u32);
    e.u8(metric_code(metric));
    e.u64(m.version);
    e.u64(m.next_auto_id);
    e.u64(m.next_uid);
    e.u64(m.wal_gen);
    e.u64(m.segments.len() as u64);
    for s in &m.segments {
        e.u64(s.uid);
        e.u64(s.rows as u64);
        e.u8(u8::from(s.growing));
        e.str(&s.file);
        e.u64(s.deleted.len() as u64);
        e.u64s(&s.deleted);
    }
    let crc = crc32c::crc32c(&e.buf);
    e.u32(crc);
    e.buf
}

/// The dimension and metric a manifest records, after checking its magic, format
/// version and checksum (what [`stored_shape`](super::stored_shape) reports).
pub(crate) fn manifest_shape(bytes: &[u8], path: &str) -> Result<(usize, Metric), IndexError> {
    let mut d = open_header(bytes, MAN_MAGIC, path)?;
    check_trailing_crc(bytes, path)?;
    let dim = d.u32("dim").map_err(|e| decode_err(path, e))? as usize;
    let code = d.u8("metric").map_err(|e| decode_err(path, e))?;
    let metric = metric_from(code)
        .ok_or_else(|| corrupt(path, 16, format!("unknown metric code {code}")))?;
    Ok((dim, metric))
}

pub(crate) fn decode_manifest(
    bytes: &[u8],
    path: &str,
    dim: usize,
    metric: Metric,
) -> Result<Manifest, IndexError> {
    let mut d = open_header(bytes, MAN_MAGIC, path)?;
    check_trailing_crc(bytes, path)?;
    let e = |x| decode_err(path, x);
    let file_dim = d.u32("dim").map_err(e)? as usize;
    let file_metric = metric_from(d.u8("metric").map_err(e)?);
    check_shape(path, file_dim, file_metric, dim, metric)?;
    let version = d.u64("version").map_err(e)?;
    let next_auto_id = d.u64("next auto id").map_err(e)?;
    let next_uid = d.u64("next uid").map_err(e)?;
    let wal_gen = d.u64("log generation").map_err(e)?;
    let n = d.count(17, "segments").map_err(e)?;
    let mut segments = Vec::with_capacity(n);
    for _ in 0..n {
        let uid = d.u64("uid").map_err(e)?;
        let rows = d.u64("rows").map_err(e)? as usize;
        let growing = d.u8("growing").map_err(e)? != 0;
        let file = d.str("file").map_err(e)?;
        if file.contains('/') || file.contains("..") {
            return Err(corrupt(
                path,
                d.pos(),
                format!("segment file name {file:?}"),
            ));
        }
        let nd = d.count(8, "deleted rows").map_err(e)?;
        let deleted = d.u64s(nd, "deleted rows").map_err(e)?;
        if deleted.iter().any(|&r| r as usize >= rows) {
            return Err(corrupt(path, d.pos(), "deleted row beyond its segment"));
        }
        segments.push(ManifestSegment {
            uid,
            rows,
            growing,
            file,
            deleted,
        });
    }
    if d.remaining() != 4 {
        return Err(corrupt(path, d.pos(), "bytes after the last segment"));
    }
    Ok(Manifest {
        version,
        next_auto_id,
        next_uid,
        wal_gen,
        segments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_records_round_trip_and_torn_tails_are_told_from_damage() {
        let dim = 2;
        let mut file = wal_header(dim, Metric::L2Sq, 3);
        let meta: Vec<Option<Metadata>> = vec![None, Some(Metadata::new())];
        let r1 = encode_record(&[RecordOp::Add {
            ids: &[1, 2],
            rows: &[1.0, 2.0, 3.0, 4.0],
            metadata: Some(&meta),
        }]);
        let r2 = encode_record(&[
            RecordOp::Remove(&[1]),
            RecordOp::Add {
                ids: &[9],
                rows: &[0.5, 0.5],
                metadata: None,
            },
        ]);
        file.extend_from_slice(&r1);
        file.extend_from_slice(&r2);
        let p = parse_log(&file, "w", dim, Metric::L2Sq, 3).unwrap();
        assert_eq!(p.records.len(), 2);
        assert!(!p.torn_tail);
        assert_eq!(p.records[1][0], LoggedOp::Remove(vec![1]));
        // Every cut inside the last record is a torn tail keeping the first.
        let whole = file.len() - r2.len();
        for cut in whole + 1..file.len() {
            let p = parse_log(&file[..cut], "w", dim, Metric::L2Sq, 3).unwrap();
            assert_eq!(
                (p.records.len(), p.torn_tail, p.good_len),
                (1, true, whole as u64),
                "cut {cut}"
            );
        }
        // A flipped byte in the first record (with another after it) is damage.
        let mut bad = file.clone();
        bad[WAL_HEADER_BYTES as usize + 20] ^= 1;
        assert!(matches!(
            parse_log(&bad, "w", dim, Metric::L2Sq, 3),
            Err(IndexError::Corrupt { .. })
        ));
        // The same flip in the last record is a torn write.
        let mut last = file.clone();
        let n = last.len();
        last[n - 3] ^= 1;
        assert!(
            parse_log(&last, "w", dim, Metric::L2Sq, 3)
                .unwrap()
                .torn_tail
        );
        // Wrong dimension, metric, magic, future version.
        assert!(matches!(
            parse_log(&file, "w", 3, Metric::L2Sq, 3),
            Err(IndexError::ConfigMismatch { .. })
        ));
        assert!(matches!(
            parse_log(&file, "w", 2, Metric::Cosine, 3),
            Err(IndexError::ConfigMismatch { .. })
        ));
        let mut magic = file.clone();
        magic[0] = b'X';
        assert!(matches!(
            parse_log(&magic, "w", 2, Metric::L2Sq, 3),
            Err(IndexError::Corrupt { .. })
        ));
        let mut future = file.clone();
        future[8] = 9;
        assert!(matches!(
            parse_log(&future, "w", 2, Metric::L2Sq, 3),
            Err(IndexError::UnsupportedFormat { found: 9, .. })
        ));
    }

    #[test]
    fn manifests_and_segments_round_trip_and_reject_damage() {
        let m = Manifest {
            version: 9,
            next_auto_id: 100,
            next_uid: 4,
            wal_gen: 2,
            segments: vec![ManifestSegment {
                uid: 3,
                rows: 2,
                growing: false,
                file: "seg-3-2.dat".into(),
                deleted: vec![1],
            }],
        };
        let b = encode_manifest(&m, 2, Metric::InnerProduct);
        assert_eq!(
            decode_manifest(&b, "m", 2, Metric::InnerProduct).unwrap(),
            m
        );
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x10;
            assert!(
                decode_manifest(&bad, "m", 2, Metric::InnerProduct).is_err(),
                "byte {i}"
            );
        }
        assert!(decode_manifest(&b[..b.len() - 1], "m", 2, Metric::InnerProduct).is_err());
        let v = [1.0f32, 2.0, 3.0, 4.0];
        let s = encode_segment(
            2,
            3,
            2,
            |r| 10 + r as u64,
            |r| &v[r * 2..r * 2 + 2],
            |_| None,
            None,
        );
        let seg = decode_segment(&s, "s", 2, 3, 2, Metric::L2Sq).unwrap();
        assert_eq!((seg.ids, seg.vectors), (vec![10, 11], v.to_vec()));
        for cut in 0..s.len() {
            assert!(decode_segment(&s[..cut], "s", 2, 3, 2, Metric::L2Sq).is_err());
        }
        assert!(
            decode_segment(&s, "s", 2, 3, 3, Metric::L2Sq).is_err(),
            "rows differ from the manifest"
        );
    }
}
