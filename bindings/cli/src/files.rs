//! What `build`, `search` and `eval` share: reading data files with their errors
//! mapped to exit codes, the worker pool, opening a saved index, recall, and
//! writing result ids.
//!
//! Bad files (unreadable, wrong format, wrong shape, a directory that holds no
//! index or a damaged one) are the user's input, so they are usage errors (exit
//! code 2) naming the file; only failures while running are exit code 1.

use std::path::Path;
use std::sync::Arc;

use sagevec_cli::formats::{self, FormatError, IdMatrix, Matrix};
use sagevec_index::graph::Traversal;
use sagevec_index::{BatchResults, Index, IndexConfig, IndexError, IndexStats};
use sagevec_kernels::{Metric, PAD_ID};
use sagevec_scheduler::{NumaPool, Policy, Topology, plan};

use crate::error::CliError;
use crate::progress::Progress;

/// Result ids written for rows past the end of the index (fewer than `k` live
/// vectors), as faiss does.
pub(crate) const MISSING_ID: i64 = -1;

impl From<FormatError> for CliError {
    fn from(err: FormatError) -> Self {
        CliError::Usage(err.to_string())
    }
}

/// Reads a vector file (`.npy`, `.fvecs`, `.bvecs`), its first `limit` rows
/// when given, with a spinner.
pub(crate) fn read_vectors(
    path: &Path,
    limit: Option<usize>,
    progress: Progress,
) -> Result<Matrix, CliError> {
    let _step = progress.spinner(&format!("reading {}", path.display()));
    Ok(formats::read_vectors_with_limit(path, limit)?)
}

/// `k` = 0 is refused before anything is loaded.
pub(crate) fn check_k(k: usize) -> Result<(), CliError> {
    if k == 0 {
        return Err(index_error(IndexError::ZeroK));
    }
    Ok(())
}

/// Reads an id file (`.npy` of integers, `.ivecs`).
pub(crate) fn read_ids(path: &Path) -> Result<IdMatrix, CliError> {
    Ok(formats::read_ids(path)?)
}

/// Checks that a query file matches the index's dimension.
pub(crate) fn check_dim(path: &Path, queries: &Matrix, dim: usize) -> Result<(), CliError> {
    if queries.dim != dim {
        return Err(CliError::Usage(format!(
            "{}: vectors have dimension {}, the index has {dim}",
            path.display(),
            queries.dim
        )));
    }
    if queries.rows == 0 {
        return Err(CliError::Usage(format!(
            "{}: no query rows",
            path.display()
        )));
    }
    Ok(())
}

/// The worker pool: this machine's topology and `SAGEVEC_*` policy, capped at
/// `threads` workers when given.
pub(crate) fn pool(threads: Option<usize>) -> Result<Arc<NumaPool>, CliError> {
    let sched = |e: sagevec_scheduler::SchedError| CliError::Usage(e.to_string());
    let mut policy = Policy::from_env().map_err(sched)?;
    if let Some(n) = threads {
        if n == 0 {
            return Err(CliError::Usage("--threads must be at least 1".into()));
        }
        policy = policy.with_max_threads(n);
    }
    let topo = Topology::from_env().map_err(sched)?;
    Ok(Arc::new(
        NumaPool::new(plan(&topo, &policy).map_err(sched)?).map_err(sched)?,
    ))
}

/// Maps an index error: problems with the files given are usage errors.
pub(crate) fn index_error(err: IndexError) -> CliError {
    match err {
        IndexError::Io {
            kind: std::io::ErrorKind::StorageFull,
            ..
        } => CliError::Runtime(err.to_string()),
        IndexError::Io { .. }
        | IndexError::Corrupt { .. }
        | IndexError::UnsupportedFormat { .. }
        | IndexError::ConfigMismatch { .. }
        | IndexError::DimensionMismatch { .. }
        | IndexError::NonFinite { .. }
        | IndexError::ZeroVector { .. }
        | IndexError::DuplicateId { .. }
        | IndexError::IdOutOfRange { .. }
        | IndexError::LengthMismatch { .. }
        | IndexError::Isa(_)
        | IndexError::InvalidParameter { .. }
        | IndexError::ZeroK => CliError::Usage(err.to_string()),
        other => CliError::Runtime(format!("index: {other}")),
    }
}

/// Waits for the builder's work after a bulk add (its reachability check); a
/// failed background job is an error.
pub(crate) fn finish_build(index: &Index) -> Result<IndexStats, CliError> {
    index.wait_for_builds();
    let stats = index.stats();
    if stats.builder_errors > 0 {
        return Err(CliError::Runtime(format!(
            "the graph build failed: {}",
            stats
                .last_builder_error
                .as_deref()
                .unwrap_or("unknown error")
        )));
    }
    Ok(stats)
}

/// Maps an error about rows of a data file (the batch began at `first_row` of
/// `path`) to a usage error naming the file and the row.
pub(crate) fn row_error(path: &Path, first_row: usize, err: IndexError) -> CliError {
    let at = |row: usize| format!("{}: row {}", path.display(), first_row + row);
    match err {
        IndexError::NonFinite { row } => {
            CliError::Usage(format!("{}: holds NaN or an infinity", at(row)))
        }
        IndexError::ZeroVector { row } => CliError::Usage(format!(
            "{}: zero vector (the cosine metric needs a direction)",
            at(row)
        )),
        e @ (IndexError::DuplicateId { .. } | IndexError::IdOutOfRange { .. }) => {
            CliError::Usage(format!("{}: {e}", path.display()))
        }
        e => index_error(e),
    }
}

/// The beam width a graph search uses when none is given.
pub(crate) fn default_ef() -> usize {
    IndexConfig::new(1, Metric::L2Sq).ef_search
}

/// Loads the index saved in `dir` (by `sagevec build` or `Index::save`) into
/// memory, with its graphs, searching on `pool` and walking what `traversal`
/// asks for (index files do not record it).
pub(crate) fn load_index(
    dir: &Path,
    pool: Arc<NumaPool>,
    traversal: Traversal,
    progress: Progress,
) -> Result<Index, CliError> {
    let _step = progress.spinner(&format!("loading {}", dir.display()));
    let (dim, metric): (usize, Metric) =
        sagevec_index::durable::stored_shape(dir).map_err(index_error)?;
    let mut config = IndexConfig::new(dim, metric);
    config.graph.traversal = traversal;
    config.pool = Some(pool);
    Index::load(dir, config).map_err(index_error)
}

/// The copy of the vectors graph searches of `dim`-element vectors walk under
/// `traversal`: `"f16"` or `"f32"` (what `auto` resolves to).
pub(crate) fn walked(traversal: Traversal, dim: usize) -> &'static str {
    if traversal.uses_f16(dim) {
        "f16"
    } else {
        "f32"
    }
}

/// Fraction of the first `k` true neighbours of each query found among its
/// result ids (`rows`: one slice of `k` ids per query, best first, [`PAD_ID`]
/// for padding). `truth` has a row per query and at least `k` columns.
pub(crate) fn recall_of_rows<'a>(
    truth: &IdMatrix,
    rows: impl Iterator<Item = &'a [u64]>,
    k: usize,
) -> f64 {
    let (mut hit, mut n) = (0usize, 0usize);
    for (q, row) in rows.enumerate() {
        let t = &truth.row(q)[..k];
        hit += row[..k]
            .iter()
            .filter(|&&id| id != PAD_ID && t.contains(&(id as i64)))
            .count();
        n += 1;
    }
    hit as f64 / (n * k).max(1) as f64
}

/// [`recall_of_rows`] over a batch's results.
pub(crate) fn recall(truth: &IdMatrix, got: &BatchResults, k: usize) -> f64 {
    recall_of_rows(truth, (0..got.n_queries()).map(|q| got.ids(q)), k)
}

/// The result ids of query `q` as written to files (`MISSING_ID` for padding).
pub(crate) fn file_ids(got: &BatchResults, q: usize) -> impl Iterator<Item = i64> + '_ {
    got.ids(q)
        .iter()
        .map(|&id| if id == PAD_ID { MISSING_ID } else { id as i64 })
}

/// The result ids as a matrix (`MISSING_ID` for padding).
pub(crate) fn result_ids(got: &BatchResults) -> IdMatrix {
    let (rows, cols) = (got.n_queries(), got.k());
    let data = (0..rows).flat_map(|q| file_ids(got, q)).collect();
    IdMatrix { rows, cols, data }
}
