//! `sagevec search`: loads a saved index, searches a file of queries on every
//! worker and writes the ids (and optionally distances) of the k nearest per
//! query, nearest first.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use sagevec_cli::formats::{self, Format, IdMatrix, Matrix};
use sagevec_index::graph::Traversal;
use sagevec_index::{BatchResults, Index, SearchParams};
use sagevec_kernels::Rows;

use crate::error::CliError;
use crate::files::{self, index_error};
use crate::progress::Progress;

/// Options of `sagevec search`.
#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// Directory of a saved index (`sagevec build --out`).
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
    /// Query vectors: .npy, .fvecs or .bvecs, of the index's dimension.
    #[arg(long, value_name = "FILE")]
    queries: PathBuf,
    /// Neighbours per query.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Where to write the ids: .npy (int64, queries x k) or .ivecs; -1 where the
    /// index holds fewer than k vectors.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Also write the distances: .npy (float32) or .fvecs; +inf for padding.
    #[arg(long, value_name = "FILE")]
    distances: Option<PathBuf>,
    /// Beam width of the graph search (default 64; raised to k when smaller).
    #[arg(long)]
    ef: Option<usize>,
    /// Scan every vector instead of walking the graph (exact results).
    #[arg(long)]
    exact: bool,
    /// Which copy of the vectors graph searches walk: f32 (the vectors
    /// themselves), f16 (a half-precision copy, half the bytes per hop; the beam
    /// is re-ranked with f32, so distances stay exact) or auto (f16 from 96
    /// dimensions). Index files do not record it.
    #[arg(long, default_value = "auto", value_name = "auto|f32|f16")]
    traversal: Traversal,
    /// Worker threads (default: every core the placement policy gives).
    #[arg(long)]
    threads: Option<usize>,
}

/// Queries per batch call: large enough to keep every worker busy, small
/// enough that the progress bar moves.
const CHUNK: usize = 2048;

/// The search parameters `k`, `ef` and `exact` ask for, checked by the index.
pub(crate) fn search_params(k: usize, ef: Option<usize>, exact: bool) -> SearchParams {
    let mut params = SearchParams::new(k).exact(exact);
    params.ef = ef;
    params
}

/// Searches every row of `queries` (read from `path`) in chunks, advancing a
/// bar; returns the ids and, when `with_distances`, the distances, one row per
/// query.
fn search_chunks(
    index: &Index,
    path: &std::path::Path,
    queries: &Matrix,
    params: &SearchParams,
    with_distances: bool,
    progress: Progress,
) -> Result<(IdMatrix, Option<Matrix>), CliError> {
    let (n, k) = (queries.rows, params.k);
    let bar = progress.bar(n as u64, "searching", "queries");
    let mut ids = Vec::with_capacity(n * k);
    let mut distances = Vec::with_capacity(if with_distances { n * k } else { 0 });
    let mut got = BatchResults::new(CHUNK.min(n), k).map_err(index_error)?;
    for (c, chunk) in queries.data.chunks(CHUNK * queries.dim).enumerate() {
        let rows_here = chunk.len() / queries.dim;
        if rows_here != got.n_queries() {
            got = BatchResults::new(rows_here, k).map_err(index_error)?;
        }
        let rows = Rows::contiguous(chunk, queries.dim)
            .map_err(|e| CliError::Runtime(format!("query rows: {e}")))?;
        index
            .batch_search(rows, params, &mut got)
            .map_err(|e| files::row_error(path, c * CHUNK, e))?;
        for q in 0..rows_here {
            ids.extend(files::file_ids(&got, q));
            if with_distances {
                distances.extend_from_slice(got.distances(q));
            }
        }
        bar.inc(rows_here as u64);
    }
    let ids = IdMatrix {
        rows: n,
        cols: k,
        data: ids,
    };
    let distances = with_distances.then_some(Matrix {
        rows: n,
        dim: k,
        data: distances,
    });
    Ok((ids, distances))
}

pub(crate) fn run(
    args: &SearchArgs,
    progress: Progress,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let params = search_params(args.k, args.ef, args.exact);
    files::check_k(args.k)?; // before loading anything
    let id_format = Format::from_path(&args.out)?;
    let dist_format = args
        .distances
        .as_deref()
        .map(Format::from_path)
        .transpose()?;
    let pool = files::pool(args.threads)?;
    let index = files::load_index(&args.index, pool.clone(), args.traversal, progress)?;
    let queries = files::read_vectors(&args.queries, None, progress)?;
    files::check_dim(&args.queries, &queries, index.dim())?;

    let t = Instant::now();
    let (ids, distances) = search_chunks(
        &index,
        &args.queries,
        &queries,
        &params,
        args.distances.is_some(),
        progress,
    )?;
    let took = t.elapsed();
    formats::write_ids(&args.out, &ids, id_format)?;
    if let (Some(path), Some(format), Some(distances)) = (&args.distances, dist_format, distances) {
        formats::write_vectors(path, &distances, format)?;
    }
    writeln!(
        out,
        "searched {} queries against {} vectors in {:.3} s ({:.0} QPS on {} workers; k = {}, {}); \
         wrote {}{}",
        queries.rows,
        index.len(),
        took.as_secs_f64(),
        queries.rows as f64 / took.as_secs_f64(),
        pool.n_threads(),
        args.k,
        if args.exact {
            "exact".to_owned()
        } else {
            format!(
                "ef = {}, walking {}",
                args.ef.unwrap_or_else(files::default_ef).max(args.k),
                files::walked(args.traversal, index.dim())
            )
        },
        args.out.display(),
        args.distances
            .as_ref()
            .map(|p| format!(" and {}", p.display()))
            .unwrap_or_default()
    )?;
    Ok(())
}
