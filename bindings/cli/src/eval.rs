//! `sagevec eval`: recall@k and QPS of a saved index against ground truth, over a
//! sweep of beam widths (and exact search), each timed as one batch call on every
//! worker, the median of several runs.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use sagevec_index::BatchResults;
use sagevec_index::graph::Traversal;
use sagevec_kernels::Rows;
use serde_json::json;

use crate::bench::timing::Sample;
use crate::error::CliError;
use crate::files::{self, index_error};
use crate::progress::Progress;
use crate::search::search_params;

/// Options of `sagevec eval`.
#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Directory of a saved index (`sagevec build --out`).
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
    /// Query vectors: .npy, .fvecs or .bvecs, of the index's dimension.
    #[arg(long, value_name = "FILE")]
    queries: PathBuf,
    /// True neighbour ids per query, nearest first (.npy of integers or .ivecs),
    /// at least k columns.
    #[arg(long, value_name = "FILE")]
    truth: PathBuf,
    /// Neighbours per query (recall@k).
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Beam widths to sweep, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10,16,24,32,48,64,96,128,256"
    )]
    ef: Vec<usize>,
    /// Also evaluate exact search (a scan of every vector).
    #[arg(long)]
    exact: bool,
    /// Which copy of the vectors graph searches walk: f32 (the vectors
    /// themselves), f16 (a half-precision copy, half the bytes per hop; the beam
    /// is re-ranked with f32, so distances stay exact) or auto (f16 from 96
    /// dimensions). Index files do not record it.
    #[arg(long, default_value = "auto", value_name = "auto|f32|f16")]
    traversal: Traversal,
    /// Timed runs per setting (the median is reported), after one warm-up run.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Worker threads (default: every core the placement policy gives).
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// One row of the sweep.
struct Point {
    setting: String,
    ef: Option<usize>,
    recall: f64,
    qps: f64,
}

pub(crate) fn run(
    args: &EvalArgs,
    progress: Progress,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if args.runs == 0 {
        return Err(CliError::Usage("--runs must be at least 1".into()));
    }
    if args.ef.is_empty() && !args.exact {
        return Err(CliError::Usage(
            "nothing to evaluate: give --ef or --exact".into(),
        ));
    }
    files::check_k(args.k)?;
    let pool = files::pool(args.threads)?;
    let index = files::load_index(&args.index, pool.clone(), args.traversal, progress)?;
    let queries = files::read_vectors(&args.queries, None, progress)?;
    files::check_dim(&args.queries, &queries, index.dim())?;
    let truth = files::read_ids(&args.truth)?;
    if truth.rows < queries.rows || truth.cols < args.k {
        return Err(CliError::Usage(format!(
            "{}: {} x {} ids, need at least {} x {} (a row per query, k columns)",
            args.truth.display(),
            truth.rows,
            truth.cols,
            queries.rows,
            args.k
        )));
    }
    let rows = Rows::contiguous(&queries.data, queries.dim)
        .map_err(|e| CliError::Runtime(format!("query rows: {e}")))?;

    let settings: Vec<(String, Option<usize>, bool)> = args
        .exact
        .then(|| ("exact".to_owned(), None, true))
        .into_iter()
        .chain(
            args.ef
                .iter()
                .map(|&ef| (format!("ef={ef}"), Some(ef), false)),
        )
        .collect();
    let bar = progress.bar(
        (settings.len() * (args.runs + 1)) as u64,
        "evaluating",
        "runs",
    );
    let mut got = BatchResults::new(queries.rows, args.k).map_err(index_error)?;
    let mut points = Vec::with_capacity(settings.len());
    for (setting, ef, exact) in settings {
        let params = search_params(args.k, ef, exact);
        let mut times = Vec::with_capacity(args.runs);
        for run in 0..=args.runs {
            let t = Instant::now();
            index
                .batch_search(rows, &params, &mut got)
                .map_err(|e| files::row_error(&args.queries, 0, e))?;
            if run > 0 {
                times.push(t.elapsed().as_secs_f64()); // run 0 warms caches
            }
            bar.inc(1);
        }
        points.push(Point {
            setting,
            ef: ef.map(|e| e.max(args.k)),
            recall: files::recall(&truth, &got, args.k),
            qps: queries.rows as f64 / Sample::from_secs(times, 1).median,
        });
    }
    drop(bar);
    let k = args.k;
    let best = points
        .iter()
        .filter(|p| p.ef.is_some() && p.recall >= 0.95)
        .max_by(|a, b| a.qps.total_cmp(&b.qps));
    let walks = files::walked(args.traversal, index.dim());
    let memory = index.stats().memory;
    if args.json {
        let report = json!({
            "index": args.index.display().to_string(),
            "vectors": index.len(),
            "dim": index.dim(),
            "metric": index.metric().to_string(),
            "queries": queries.rows,
            "k": k,
            "workers": pool.n_threads(),
            "runs": args.runs,
            "traversal": args.traversal.name(),
            "walks": walks,
            // Heap bytes: the f16 copy of a graph's vectors counts in "graphs".
            "memory_bytes": {
                "graphs": memory.graphs,
                "total": memory.total(),
            },
            "points": points.iter().map(|p| json!({
                "setting": p.setting,
                "ef": p.ef,
                "recall": p.recall,
                "qps": p.qps,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{report:#}")?;
        return Ok(());
    }
    writeln!(
        out,
        "eval: {} queries against {} x {} ({}), k = {k}, {} workers, graphs walk {walks} \
         (--traversal {}), median of {} runs\n\n\
         {:<10} {:>10} {:>12}",
        queries.rows,
        index.len(),
        index.dim(),
        index.metric(),
        pool.n_threads(),
        args.traversal,
        args.runs,
        "search",
        format!("recall@{k}"),
        "QPS"
    )?;
    for p in &points {
        writeln!(out, "{:<10} {:>10.4} {:>12.0}", p.setting, p.recall, p.qps)?;
    }
    match best {
        Some(p) => writeln!(
            out,
            "\nfastest graph setting with recall@{k} >= 0.95: {} ({:.0} QPS)",
            p.setting, p.qps
        )?,
        None if args.ef.is_empty() => {}
        None => writeln!(out, "\nno swept ef reaches recall@{k} >= 0.95")?,
    }
    Ok(())
}
