//! Reading the version-1 format (segments), so directories written before the
//! live graph still open: `seg-<uid>-<rows>[-g].dat` files (ids, vectors,
//! metadata, and a frozen graph that is checked and not used) listed by a
//! manifest with per-segment removed rows. Nothing here writes; `super::open`
//! converts such a directory to version 2.
//!
//! **Segment file**: `"SAGEVSEG" 1:u32 dim:u32 uid:u64 rows:u64 ids:u64[rows]
//! vectors:f32[rows*dim] metadata[rows] has_graph:u8 [graph] crc:u32`.
//! **Manifest**: `"SAGEVMAN" 1:u32 dim:u32 metric:u8 snapshot_version:u64
//! next_auto_id:u64 next_uid:u64 wal_gen:u64 n:u64` then per segment
//! `uid:u64 rows:u64 growing:u8 file:str n_deleted:u64 deleted_rows:u64[n]`,
//! then `crc:u32`.

use sagevec_kernels::Metric;

use super::format::{
    MAN_MAGIC, RowBlockData, SEG_MAGIC, check_shape, check_trailing_crc, corrupt, decode_err,
    metric_from, open_checked, open_header,
};
use crate::error::IndexError;

/// Decodes and checks a version-1 segment file (its frozen graph is checked and
/// dropped: the conversion builds one graph over every segment's rows).
pub(crate) fn decode_segment(
    bytes: &[u8],
    path: &str,
    dim: usize,
    uid: u64,
    rows: usize,
    graph_metric: Metric,
) -> Result<RowBlockData, IndexError> {
    let mut d2 = open_checked(bytes, SEG_MAGIC, path)?;
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
    match d2.u8("graph flag").map_err(e)? {
        0 => {}
        1 => {
            crate::graph::Graph::decode_links(graph_metric, &vectors, dim, &mut d2).map_err(e)?;
        }
        f => return Err(corrupt(path, d2.pos(), format!("bad graph flag {f}"))),
    }
    if d2.remaining() != 0 {
        return Err(corrupt(path, d2.pos(), "bytes after the last row"));
    }
    Ok(RowBlockData {
        ids,
        vectors,
        metadata,
    })
}

/// One segment as the manifest lists it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ManifestSegment {
    pub(crate) uid: u64,
    pub(crate) rows: usize,
    pub(crate) growing: bool,
    pub(crate) file: String,
    pub(crate) deleted: Vec<u64>,
}

/// What a version-1 checkpoint made durable.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Manifest {
    pub(crate) version: u64,
    pub(crate) next_auto_id: u64,
    pub(crate) next_uid: u64,
    pub(crate) wal_gen: u64,
    pub(crate) segments: Vec<ManifestSegment>,
}

pub(crate) fn decode_manifest(
    bytes: &[u8],
    path: &str,
    dim: usize,
    metric: Metric,
) -> Result<Manifest, IndexError> {
    let (mut d, _) = open_header(bytes, MAN_MAGIC, path)?;
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

/// The rows live at a version-1 checkpoint, in segment order, as one add (ids
/// given): what the conversion inserts into the new graph before replaying the
/// logs. An id live in two segments is corruption.
pub(crate) fn live_rows(
    m: &Manifest,
    dim: usize,
    metric: Metric,
    read: &dyn Fn(&str) -> Result<Vec<u8>, IndexError>,
    shown: &dyn Fn(&str) -> String,
) -> Result<crate::write::CheckedAdd<'static>, IndexError> {
    let graph_metric = match metric {
        Metric::Cosine => Metric::InnerProduct,
        m => m,
    };
    let mut ids = Vec::new();
    let mut rows = Vec::new();
    let mut metadata = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for ms in &m.segments {
        let data = decode_segment(
            &read(&ms.file)?,
            &shown(&ms.file),
            dim,
            ms.uid,
            ms.rows,
            graph_metric,
        )?;
        let deleted: std::collections::HashSet<u64> = ms.deleted.iter().copied().collect();
        for (r, (id, meta)) in data.ids.iter().zip(data.metadata).enumerate() {
            if deleted.contains(&(r as u64)) {
                continue;
            }
            if !seen.insert(*id) {
                return Err(corrupt(
                    &shown(super::MANIFEST),
                    0,
                    format!("id {id} is live in two segments"),
                ));
            }
            let v = &data.vectors[r * dim..(r + 1) * dim];
            if !crate::shared::all_finite(v) {
                return Err(corrupt(
                    &shown(&ms.file),
                    0,
                    "a vector holds NaN or an infinity",
                ));
            }
            ids.push(*id);
            rows.extend_from_slice(v);
            metadata.push(meta);
        }
    }
    Ok(crate::write::CheckedAdd {
        n: ids.len(),
        ids: Some(ids),
        rows: std::borrow::Cow::Owned(rows),
        metadata: Some(metadata),
    })
}
