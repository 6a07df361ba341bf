//! `sagevec build`: reads a vector file, builds an index (one HNSW graph over all
//! rows, on every worker) and saves it to a directory that `search` and `eval`
//! load (and that `sagevec_index::Index::load`/`open` and Python's
//! `sagevec.Index.load` read too).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use sagevec_index::graph::Traversal;
use sagevec_index::{GraphParams, Index, IndexConfig, IndexError};
use sagevec_kernels::Metric;

use crate::error::CliError;
use crate::files::{self, index_error};
use crate::progress::Progress;

/// Options of `sagevec build`.
#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Vectors to index: .npy (f32, f16, f64, i8, u8), .fvecs or .bvecs.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Ids of the rows (.npy of integers or .ivecs, one per row, in [0, 2^63));
    /// default: the row numbers 0, 1, 2, ...
    #[arg(long, value_name = "FILE")]
    ids: Option<PathBuf>,
    /// Distance: l2 (squared Euclidean), ip (inner product) or cosine.
    #[arg(long, default_value = "l2")]
    metric: Metric,
    /// Directory to save the index in (must be absent or empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// HNSW links per node (level 0 keeps 2·M).
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// HNSW beam width while inserting.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// Seed of the graph's level generator (the same seed gives the same graph).
    #[arg(long)]
    seed: Option<u64>,
    /// Which copy of the vectors the graph is built on: f16 (a half-precision
    /// copy, half the bytes per distance), f32, or auto (f16 from 96 dimensions).
    /// Searches choose what they walk with their own --traversal.
    #[arg(long, default_value = "auto", value_name = "auto|f32|f16")]
    traversal: Traversal,
    /// Index only the first N rows.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Worker threads (default: every core the placement policy gives).
    #[arg(long)]
    threads: Option<usize>,
}

/// Fails early, before minutes of building, if `out` cannot take the index.
fn check_out_dir(out: &Path) -> Result<(), CliError> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(CliError::Usage(format!(
                    "{}: directory is not empty (give a new or empty directory)",
                    out.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CliError::Usage(format!(
            "{}: cannot use as the output directory: {e}",
            out.display()
        ))),
    }
}

/// The ids in `path` as one id per row of the data (`rows` of them).
fn row_ids(path: &Path, rows: usize) -> Result<Vec<u64>, CliError> {
    let ids = files::read_ids(path)?;
    if ids.cols != 1 {
        return Err(CliError::Usage(format!(
            "{}: expected one id per row, found {} columns",
            path.display(),
            ids.cols
        )));
    }
    if ids.rows < rows {
        return Err(CliError::Usage(format!(
            "{}: {} ids for {rows} vectors",
            path.display(),
            ids.rows
        )));
    }
    ids.data[..rows]
        .iter()
        .enumerate()
        .map(|(row, &id)| {
            u64::try_from(id).map_err(|_| {
                CliError::Usage(format!("{}: row {row}: negative id {id}", path.display()))
            })
        })
        .collect()
}

pub(crate) fn run(
    args: &BuildArgs,
    progress: Progress,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    check_out_dir(&args.out)?;
    let mut graph = GraphParams::default()
        .m(args.m)
        .ef_construction(args.ef_construction)
        .traversal(args.traversal);
    if let Some(seed) = args.seed {
        graph.seed = seed;
    }
    graph.validate().map_err(index_error)?;
    let pool = files::pool(args.threads)?;

    let t = Instant::now();
    let data = files::read_vectors(&args.data, args.limit, progress)?;
    let (rows, vectors) = (data.rows, &data.data[..]);
    let ids = args.ids.as_deref().map(|p| row_ids(p, rows)).transpose()?;
    let read = t.elapsed();

    let mut config = IndexConfig::new(data.dim, args.metric);
    config.graph = graph;
    config.pool = Some(pool.clone());
    let index = Index::new(config).map_err(index_error)?;
    let t = Instant::now();
    {
        let _step = progress.spinner(&format!("adding {rows} vectors"));
        index
            .add_batch(ids.as_deref(), vectors, None)
            .map_err(|e| match (&e, &args.ids) {
                // Duplicate and out-of-range ids are the id file's fault.
                (IndexError::DuplicateId { .. } | IndexError::IdOutOfRange { .. }, Some(p)) => {
                    files::row_error(p, 0, e)
                }
                _ => files::row_error(&args.data, 0, e),
            })?;
    }
    let added = t.elapsed();
    let stats = {
        let _step = progress.spinner(&format!(
            "building the graph of {rows} x {} (M = {}, ef_construction = {}) on {} workers",
            data.dim,
            args.m,
            args.ef_construction,
            pool.n_threads()
        ));
        files::finish_build(&index)?
    };
    let built = t.elapsed();
    let t = Instant::now();
    {
        let _step = progress.spinner(&format!("saving to {}", args.out.display()));
        index.save(&args.out).map_err(index_error)?;
    }
    let saved = t.elapsed();
    writeln!(
        out,
        "built {rows} x {} ({}) from {} in {:.2} s ({:.0} vectors/s; read {:.2} s, add {:.2} s) \
         on {} workers: one graph of {} slots, M = {}, ef_construction = {}\n\
         saved to {} in {:.2} s ({:.1} MiB in memory)",
        data.dim,
        args.metric,
        args.data.display(),
        built.as_secs_f64(),
        rows as f64 / built.as_secs_f64(),
        read.as_secs_f64(),
        added.as_secs_f64(),
        pool.n_threads(),
        stats.graph.slots,
        args.m,
        args.ef_construction,
        args.out.display(),
        saved.as_secs_f64(),
        stats.memory.total() as f64 / f64::from(1u32 << 20),
    )?;
    Ok(())
}
