//! `sagevec bench search`: graph build time, recall@k against QPS over a sweep of
//! beam widths, and QPS against threads, on generated clustered data or on files.
//!
//! What is measured, in order:
//!
//! | phase | what is timed | reported |
//! |---|---|---|
//! | build | `add_batch` of every vector, then `seal` + `wait_for_builds`: one HNSW graph (M = 16, ef_construction = 200; built on, and searched over, the copy `--traversal` picks) on every worker | seconds to a searchable graph (median of `--build-runs`), vectors/s |
//! | ground truth | exact `sagevec_index::knn` on every worker (skipped with `--truth`) | seconds |
//! | sweep, workers | one `batch_search` call over all queries on every worker, per ef, after a warm-up call | recall@k, QPS (median of `--runs`) |
//! | sweep, 1 thread | `search` for each query in turn on the calling thread, per ef | recall@k, QPS (median of `--runs`) |
//! | threads | T OS threads calling `search` on queries in turn for `--duration` seconds, for each T of `--threads`, at the smallest swept ef whose recall@k reaches 0.95 | QPS (median of `--runs`), speedup over 1 thread |
//!
//! QPS is queries / wall time of the whole run. Recall@k is the fraction of the k
//! true nearest neighbours found among the k results, over all queries.
//!
//! Generated data is the same as `sagevec demo`'s for the same `--seed`: vectors
//! around 100 random centres (spread 4, noise 1), the last `--queries` rows of the
//! draw being the queries.
//!
//! Time on the 2-core dev/CI machine (AMD EPYC, AVX2; other builds running) with
//! the defaults (100 000 × 128, 1000 queries, 3 runs, threads 1 and 2 for 1 s
//! each): 30-50 s in all, of which the build 15-30 s, ground truth 0.5-1 s, the
//! sweep about 10 s and the threads phase 6 s. The build grows a little faster than linearly with
//! `--n` and shrinks with workers; the sweep grows with `--queries`, `--runs` and
//! the beam widths; the threads phase lasts `--duration` × `--runs` × the number
//! of thread counts.
//!
//! A hidden `--tiny` flag (tests) uses 2000 × 16, 100 queries and 20 ms runs:
//! 0.4 s.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use clap::Args;
use sagevec_cli::formats::IdMatrix;
use sagevec_index::graph::Traversal;
use sagevec_index::{BatchResults, GraphParams, Index, IndexConfig, MAX_K, SearchParams, knn};
use sagevec_kernels::{Metric, Rows};
use sagevec_scheduler::{NumaPool, Par};
use serde_json::{Value, json};

use crate::error::CliError;
use crate::files::{self, index_error};
use crate::generate::clustered;
use crate::info::Info;
use crate::progress::Progress;

use super::report::fmt_time;

/// HNSW links per node of the benchmarked graph (level 0 keeps 2·M).
pub(crate) const M: usize = 16;
/// HNSW beam width while inserting.
pub(crate) const EF_CONSTRUCTION: usize = 200;
/// Recall@k the QPS-vs-threads phase aims for when it picks its ef.
pub(crate) const TARGET_RECALL: f64 = 0.95;

/// Options of the search benchmark, shared by `bench search` and `bench all`.
#[derive(Debug, Args)]
pub(crate) struct SearchOpts {
    /// Vectors to generate [default: 100000]; ignored with --data.
    #[arg(long, value_name = "N")]
    n: Option<usize>,
    /// Dimension of the generated vectors [default: 128]; ignored with --data.
    #[arg(long, value_name = "D")]
    dim: Option<usize>,
    /// Queries: how many to generate [default: 1000], or with --data the query
    /// file (.npy, .fvecs or .bvecs, of the data's dimension).
    #[arg(long, value_name = "N|FILE")]
    queries: Option<OsString>,
    /// Seed of the generated data (the same seed gives `sagevec demo`'s vectors).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Index the vectors of FILE (.npy, .fvecs or .bvecs) instead of generated
    /// data; needs --queries FILE.
    #[arg(long, value_name = "FILE", requires = "queries")]
    data: Option<PathBuf>,
    /// True neighbour ids per query, nearest first, as row numbers of --data
    /// (.npy of integers or .ivecs, at least k columns) [default: computed
    /// exactly with a scan of every vector].
    #[arg(long, value_name = "FILE", requires = "data")]
    truth: Option<PathBuf>,
    /// Distance: l2 (squared Euclidean), ip (inner product) or cosine.
    #[arg(long, default_value = "l2")]
    metric: Metric,
    /// Which copy of the vectors graph searches walk: f32 (the vectors
    /// themselves), f16 (a half-precision copy, half the bytes per hop; the beam
    /// is re-ranked with f32, so distances stay exact) or auto (f16 from 96
    /// dimensions).
    #[arg(long, default_value = "auto", value_name = "auto|f32|f16")]
    traversal: Traversal,
    /// Neighbours per query (recall@k).
    #[arg(short, long, default_value_t = 10, value_parser = parse_k)]
    k: usize,
    /// Beam widths to sweep, comma-separated (values below k are raised to k).
    #[arg(long, value_delimiter = ',', value_name = "EF,...",
          default_value = "10,16,24,32,48,64,96,128,256", value_parser = parse_ef)]
    ef: Vec<usize>,
    /// Thread counts of the QPS-vs-threads phase, comma-separated [default: 1, 2,
    /// 4, ... below the number of logical CPUs, and that number].
    #[arg(long, value_delimiter = ',', value_name = "T,...", value_parser = parse_threads)]
    threads: Vec<usize>,
    /// Timed runs per measurement (the median is reported).
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = parse_runs)]
    runs: usize,
    /// Index builds to time (the median is reported; the last index is searched).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = parse_runs)]
    build_runs: usize,
    /// Seconds of each timed run of the QPS-vs-threads phase.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS", value_parser = parse_duration)]
    duration: f64,
}

/// Options of `sagevec bench search`.
#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    #[command(flatten)]
    pub(crate) opts: SearchOpts,
    /// Also write the build, sweep and threads results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Test mode: tiny sizes, meaningless numbers, finishes in about a second.
    #[arg(long, hide = true)]
    tiny: bool,
}

fn parse_k(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(k) if (1..=1024).contains(&k) => Ok(k),
        _ => Err(format!("invalid k {s:?}: expected an integer in 1..=1024")),
    }
}

fn parse_ef(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(ef) if (1..=MAX_K).contains(&ef) => Ok(ef),
        _ => Err(format!(
            "invalid ef {s:?}: expected an integer in 1..={MAX_K}"
        )),
    }
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(t) if (1..=4096).contains(&t) => Ok(t),
        _ => Err(format!(
            "invalid thread count {s:?}: expected an integer in 1..=4096"
        )),
    }
}

fn parse_runs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(r) if (1..=1000).contains(&r) => Ok(r),
        _ => Err(format!(
            "invalid run count {s:?}: expected an integer in 1..=1000"
        )),
    }
}

fn parse_duration(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(d) if d.is_finite() && d > 0.0 && d <= 600.0 => Ok(d),
        _ => Err(format!(
            "invalid duration {s:?}: expected seconds in (0, 600]"
        )),
    }
}

/// One point of the ef sweep.
#[derive(Clone, Debug)]
pub(crate) struct SweepPoint {
    /// Beam width used (at least k).
    pub(crate) ef: usize,
    /// Recall@k and QPS of one `batch_search` over all queries on every worker.
    pub(crate) recall: f64,
    pub(crate) qps: f64,
    pub(crate) spread: f64,
    /// Recall@k and QPS of `search` per query on one thread.
    pub(crate) recall_1t: f64,
    pub(crate) qps_1t: f64,
    pub(crate) spread_1t: f64,
}

/// One point of QPS against threads.
#[derive(Clone, Debug)]
pub(crate) struct ThreadPoint {
    pub(crate) threads: usize,
    pub(crate) qps: f64,
    pub(crate) spread: f64,
}

/// Everything `bench search` measured, for the tables, the JSON and the plots.
#[derive(Clone, Debug)]
pub(crate) struct SearchOutcome {
    /// One line naming the data set: `100000 x 128 clustered (seed 42), l2`.
    pub(crate) data_label: String,
    pub(crate) k: usize,
    /// Workers of batch search and of the build.
    pub(crate) workers: usize,
    pub(crate) logical_cpus: usize,
    pub(crate) sweep: Vec<SweepPoint>,
    /// The ef of the threads phase and its recall@k.
    pub(crate) threads_ef: usize,
    pub(crate) threads_recall: f64,
    pub(crate) threads: Vec<ThreadPoint>,
    /// The JSON report (`bench search --json`, the `search` member of `bench all`).
    pub(crate) json: Value,
}

/// Sizes after the defaults and `--tiny`.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    n: usize,
    dim: usize,
    nq: usize,
    duration: Duration,
}

/// The vectors, the queries, and the ground truth if a file gave it.
struct Data {
    base: Vec<f32>,
    queries: Vec<f32>,
    dim: usize,
    n: usize,
    nq: usize,
    truth: Option<IdMatrix>,
    /// The data file (for error messages naming rows), if any.
    path: Option<PathBuf>,
    label: String,
    json: Value,
}

/// Thread counts 1, 2, 4, ... below `logical`, then `logical`.
fn default_threads(logical: usize) -> Vec<usize> {
    let mut threads: Vec<usize> = std::iter::successors(Some(1usize), |&t| t.checked_mul(2))
        .take_while(|&t| t < logical)
        .collect();
    threads.push(logical.max(1));
    threads
}

/// Median, and `(max - min) / median`, of run times in seconds.
fn median_spread(mut secs: Vec<f64>) -> (f64, f64) {
    secs.sort_by(f64::total_cmp);
    let n = secs.len();
    let median = if n % 2 == 1 {
        secs[n / 2]
    } else {
        0.5 * (secs[n / 2 - 1] + secs[n / 2])
    };
    let spread = if median > 0.0 {
        (secs[n - 1] - secs[0]) / median
    } else {
        0.0
    };
    (median, spread)
}

/// Queries per second from a time (0 for a time of 0, which a coarse clock can
/// give a tiny run).
fn per_second(count: usize, secs: f64) -> f64 {
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

impl Data {
    /// Generated data or the files of `opts`.
    fn load(opts: &SearchOpts, sizes: Sizes, progress: Progress) -> Result<Data, CliError> {
        let Some(path) = &opts.data else {
            let Sizes { n, dim, nq, .. } = sizes;
            let mut base = {
                let _step =
                    progress.spinner(&format!("generating {} x {dim} clustered vectors", n + nq));
                clustered(n + nq, dim, opts.seed)
            };
            let queries = base.split_off(n * dim);
            return Ok(Data {
                base,
                queries,
                dim,
                n,
                nq,
                truth: None,
                path: None,
                label: format!(
                    "{n} x {dim} clustered (seed {}), {} queries, {}",
                    opts.seed, nq, opts.metric
                ),
                json: json!({
                    "source": "generated",
                    "generator": "clustered: 100 centres, spread 4, noise 1 (as sagevec demo)",
                    "seed": opts.seed,
                    "n": n,
                    "dim": dim,
                    "queries": nq,
                    "metric": opts.metric.to_string(),
                }),
            });
        };
        let queries_path = PathBuf::from(opts.queries.clone().unwrap_or_default());
        let data = files::read_vectors(path, None, progress)?;
        let queries = files::read_vectors(&queries_path, None, progress)?;
        files::check_dim(&queries_path, &queries, data.dim)?;
        if data.rows == 0 {
            return Err(CliError::Usage(format!("{}: no rows", path.display())));
        }
        let truth = match &opts.truth {
            Some(truth_path) => {
                let truth = files::read_ids(truth_path)?;
                if truth.rows < queries.rows || truth.cols < opts.k {
                    return Err(CliError::Usage(format!(
                        "{}: {} x {} ids, need at least {} x {} (a row per query, k columns)",
                        truth_path.display(),
                        truth.rows,
                        truth.cols,
                        queries.rows,
                        opts.k
                    )));
                }
                Some(truth)
            }
            None => None,
        };
        Ok(Data {
            label: format!(
                "{} x {} from {}, {} queries, {}",
                data.rows,
                data.dim,
                path.display(),
                queries.rows,
                opts.metric
            ),
            json: json!({
                "source": "files",
                "data": path.display().to_string(),
                "queries_file": queries_path.display().to_string(),
                "truth": opts.truth.as_ref().map(|p| p.display().to_string()),
                "n": data.rows,
                "dim": data.dim,
                "queries": queries.rows,
                "metric": opts.metric.to_string(),
            }),
            dim: data.dim,
            n: data.rows,
            nq: queries.rows,
            base: data.data,
            queries: queries.data,
            truth,
            path: Some(path.clone()),
        })
    }

    fn query(&self, q: usize) -> &[f32] {
        &self.queries[q * self.dim..(q + 1) * self.dim]
    }

    fn query_rows(&self) -> Result<Rows<'_, f32>, CliError> {
        Rows::contiguous(&self.queries, self.dim)
            .map_err(|e| CliError::Runtime(format!("query rows: {e}")))
    }
}

/// Build timings.
struct Build {
    /// Seconds from the first `add_batch` to a searchable graph, per build.
    seconds: Vec<f64>,
    /// Seconds of `add_batch` alone, per build.
    add_seconds: Vec<f64>,
    graph_segments: usize,
    memory_bytes: usize,
}

/// Builds the index `runs` times on `pool`; returns the last one.
fn build(
    data: &Data,
    metric: Metric,
    traversal: Traversal,
    pool: &Arc<NumaPool>,
    runs: usize,
    progress: Progress,
) -> Result<(Index, Build), CliError> {
    let mut timings = Build {
        seconds: Vec::with_capacity(runs),
        add_seconds: Vec::with_capacity(runs),
        graph_segments: 0,
        memory_bytes: 0,
    };
    let mut last: Option<Index> = None;
    for run in 0..runs {
        drop(last.take()); // free the previous index before building the next
        let step = progress.spinner(&format!(
            "build {}/{runs}: adding {} vectors",
            run + 1,
            data.n
        ));
        let mut config = IndexConfig::new(data.dim, metric);
        config.graph = GraphParams {
            m: M,
            ef_construction: EF_CONSTRUCTION,
            traversal,
            ..GraphParams::default()
        };
        config.pool = Some(pool.clone());
        let index = Index::new(config).map_err(index_error)?;
        let t = Instant::now();
        index
            .add_batch(None, &data.base, None)
            .map_err(|e| match &data.path {
                Some(path) => files::row_error(path, 0, e),
                None => index_error(e),
            })?;
        timings.add_seconds.push(t.elapsed().as_secs_f64());
        step.set_message(format!(
            "build {}/{runs}: the graph (M = {M}, ef_construction = {EF_CONSTRUCTION})",
            run + 1
        ));
        let stats = files::finish_build(&index)?;
        timings.seconds.push(t.elapsed().as_secs_f64());
        timings.graph_segments = stats.segments.graph;
        timings.memory_bytes = stats.memory.total();
        last = Some(index);
    }
    let index = last.ok_or_else(|| CliError::Usage("--build-runs must be at least 1".into()))?;
    Ok((index, timings))
}

/// Exact ground truth on every worker, and its time in seconds.
fn exact_truth(
    data: &Data,
    metric: Metric,
    k: usize,
    pool: &NumaPool,
    progress: Progress,
) -> Result<(IdMatrix, f64), CliError> {
    let _step = progress.spinner(&format!(
        "exact ground truth: {} queries x {} vectors",
        data.nq, data.n
    ));
    let base = Rows::contiguous(&data.base, data.dim)
        .map_err(|e| CliError::Runtime(format!("data rows: {e}")))?;
    let mut truth = BatchResults::new(data.nq, k).map_err(index_error)?;
    let t = Instant::now();
    knn(
        metric,
        data.query_rows()?,
        base,
        None,
        k,
        Par::Pool(pool),
        &mut truth,
    )
    .map_err(index_error)?;
    Ok((files::result_ids(&truth), t.elapsed().as_secs_f64()))
}

/// Recall@k and QPS at each ef: batch search on every worker, then `search` per
/// query on this thread.
fn sweep(
    index: &Index,
    data: &Data,
    truth: &IdMatrix,
    k: usize,
    efs: &[usize],
    runs: usize,
    progress: Progress,
) -> Result<Vec<SweepPoint>, CliError> {
    let rows = data.query_rows()?;
    let bar = progress.bar((efs.len() * (2 * runs + 1)) as u64, "recall vs QPS", "runs");
    let mut got = BatchResults::new(data.nq, k).map_err(index_error)?;
    let mut ids_1t = vec![u64::MAX; data.nq * k];
    let mut points = Vec::with_capacity(efs.len());
    for &ef in efs {
        let params = SearchParams::new(k).ef(ef);
        let mut secs = Vec::with_capacity(runs);
        for run in 0..=runs {
            let t = Instant::now();
            index
                .batch_search(rows, &params, &mut got)
                .map_err(index_error)?;
            if run > 0 {
                secs.push(t.elapsed().as_secs_f64()); // run 0 warms caches
            }
            bar.inc(1);
        }
        let (batch_secs, spread) = median_spread(secs);
        let recall = files::recall(truth, &got, k);

        let mut secs = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            for q in 0..data.nq {
                let hits = index.search(data.query(q), &params).map_err(index_error)?;
                let row = &mut ids_1t[q * k..(q + 1) * k];
                row.fill(u64::MAX);
                for (slot, hit) in row.iter_mut().zip(&hits.hits) {
                    *slot = hit.id;
                }
            }
            secs.push(t.elapsed().as_secs_f64());
            bar.inc(1);
        }
        let (secs_1t, spread_1t) = median_spread(secs);
        points.push(SweepPoint {
            ef,
            recall,
            qps: per_second(data.nq, batch_secs),
            spread,
            recall_1t: files::recall_of_rows(truth, ids_1t.chunks_exact(k), k),
            qps_1t: per_second(data.nq, secs_1t),
            spread_1t,
        });
    }
    Ok(points)
}

/// `threads` OS threads calling `search` on the queries in turn (a shared
/// counter hands them out) from a common start until `duration` after it;
/// returns the searches done and the wall time from that start to the last
/// thread's end.
///
/// The start is the moment the first thread leaves the barrier, shared through
/// a `OnceLock`, so a thread the OS schedules late (more threads than CPUs)
/// searches for less time instead of stretching the window, and no thread's
/// late wake-up shortens the measured time.
fn timed_threads(
    index: &Index,
    data: &Data,
    params: &SearchParams,
    threads: usize,
    duration: Duration,
) -> Result<(usize, f64), CliError> {
    let next = AtomicUsize::new(0);
    let start_line = Barrier::new(threads);
    let start = OnceLock::new();
    let (total, end) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    start_line.wait();
                    let deadline = *start.get_or_init(Instant::now) + duration;
                    let mut done = 0usize;
                    while Instant::now() < deadline {
                        let q = next.fetch_add(1, Ordering::Relaxed) % data.nq;
                        index.search(data.query(q), params)?;
                        done += 1;
                    }
                    Ok::<_, sagevec_index::IndexError>((done, Instant::now()))
                })
            })
            .collect();
        let mut total = 0usize;
        let mut end: Option<Instant> = None;
        for handle in handles {
            let (done, finished) = handle
                .join()
                .map_err(|_| CliError::Runtime("a search thread panicked".into()))?
                .map_err(index_error)?;
            total += done;
            end = Some(end.map_or(finished, |e| e.max(finished)));
        }
        Ok::<_, CliError>((total, end))
    })?;
    let secs = match (start.get(), end) {
        (Some(&start), Some(end)) => end.duration_since(start).as_secs_f64(),
        _ => 0.0,
    };
    Ok((total, secs))
}

/// The ef of the threads phase: the smallest swept ef reaching the target
/// recall, else the one with the highest recall; with the reason.
fn pick_ef(sweep: &[SweepPoint], k: usize) -> Option<(&SweepPoint, String)> {
    if let Some(p) = sweep.iter().find(|p| p.recall >= TARGET_RECALL) {
        return Some((
            p,
            format!("smallest swept ef with recall@{k} >= {TARGET_RECALL}"),
        ));
    }
    sweep
        .iter()
        .max_by(|a, b| a.recall.total_cmp(&b.recall).then(b.ef.cmp(&a.ef)))
        .map(|p| {
            (
                p,
                format!("no swept ef reaches recall@{k} >= {TARGET_RECALL}: the one with the highest recall"),
            )
        })
}

/// Runs the search benchmark, printing its tables to `out`.
pub(crate) fn measure(
    opts: &SearchOpts,
    tiny: bool,
    progress: Progress,
    out: &mut dyn Write,
) -> Result<SearchOutcome, CliError> {
    // Check every option before spending minutes building.
    let info = Info::gather()?;
    let count = match (&opts.data, &opts.queries) {
        (None, Some(q)) => Some(
            q.to_str()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .filter(|&n| n >= 1)
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "--queries {}: expected a count of queries to generate (at least 1); \
                         a query file needs --data",
                        q.to_string_lossy()
                    ))
                })?,
        ),
        _ => None,
    };
    let sizes = Sizes {
        n: opts.n.unwrap_or(if tiny { 2000 } else { 100_000 }),
        dim: opts.dim.unwrap_or(if tiny { 16 } else { 128 }),
        nq: count.unwrap_or(if tiny { 100 } else { 1000 }),
        duration: if tiny {
            Duration::from_millis(20)
        } else {
            Duration::from_secs_f64(opts.duration)
        },
    };
    if opts.data.is_none() && (sizes.n == 0 || !(1..=sagevec_index::MAX_DIM).contains(&sizes.dim)) {
        return Err(CliError::Usage(format!(
            "--n must be at least 1 and --dim in 1..={}",
            sagevec_index::MAX_DIM
        )));
    }
    let k = opts.k;
    let mut efs: Vec<usize> = opts.ef.iter().map(|&ef| ef.max(k)).collect();
    efs.sort_unstable();
    efs.dedup();
    if efs.is_empty() {
        return Err(CliError::Usage("--ef: give at least one beam width".into()));
    }
    let logical_cpus = info.logical_cpus;
    let threads = if opts.threads.is_empty() {
        default_threads(logical_cpus)
    } else {
        super::dedup(&opts.threads)
    };
    let pool = files::pool(None)?;

    let mut data = Data::load(opts, sizes, progress)?;
    writeln!(out, "sagevec bench search: {}, k = {k}", data.label)?;
    writeln!(
        out,
        "cpu: {} ({} logical CPUs) | isa: {} ({}) | pool: {} workers on {} node(s)",
        info.cpu_model,
        logical_cpus,
        info.active,
        info.source.describe(),
        pool.n_threads(),
        pool.n_nodes()
    )?;
    out.flush()?;

    let (index, built) = build(
        &data,
        opts.metric,
        opts.traversal,
        &pool,
        opts.build_runs,
        progress,
    )?;
    let walks = files::walked(opts.traversal, data.dim);
    let (build_secs, build_spread) = median_spread(built.seconds.clone());
    let (add_secs, _) = median_spread(built.add_seconds.clone());
    writeln!(
        out,
        "\nbuild: {} (M = {M}, ef_construction = {EF_CONSTRUCTION}, searches walk {walks} \
         (--traversal {}), {} workers, median of {} build(s)): \
         {:.0} vectors/s; add_batch {}, {} graph segment(s), {:.1} MiB",
        fmt_time(build_secs),
        opts.traversal,
        pool.n_threads(),
        opts.build_runs,
        per_second(data.n, build_secs),
        fmt_time(add_secs),
        built.graph_segments,
        built.memory_bytes as f64 / f64::from(1u32 << 20)
    )?;
    out.flush()?;

    let (truth, truth_secs) = match data.truth.take() {
        Some(truth) => (truth, None),
        None => {
            let (truth, secs) = exact_truth(&data, opts.metric, k, &pool, progress)?;
            (truth, Some(secs))
        }
    };
    match truth_secs {
        Some(secs) => writeln!(
            out,
            "ground truth: exact knn on {} workers in {}",
            pool.n_threads(),
            fmt_time(secs)
        )?,
        None => writeln!(out, "ground truth: from --truth")?,
    }

    let points = sweep(&index, &data, &truth, k, &efs, opts.runs, progress)?;
    let workers_col = format!("QPS ({} workers)", pool.n_threads());
    writeln!(
        out,
        "\nrecall@{k} vs QPS, median of {} runs: one batch_search over all {} queries on every \
         worker (after a warm-up), and search() per query on 1 thread",
        opts.runs, data.nq
    )?;
    writeln!(
        out,
        "{:>6} {:>10} {:>18} {:>7} {:>14} {:>7}",
        "ef",
        format!("recall@{k}"),
        workers_col,
        "spread",
        "QPS (1 thread)",
        "spread"
    )?;
    for p in &points {
        writeln!(
            out,
            "{:>6} {:>10.4} {:>18.0} {:>6.0}% {:>14.0} {:>6.0}%",
            p.ef,
            p.recall,
            p.qps,
            100.0 * p.spread,
            p.qps_1t,
            100.0 * p.spread_1t
        )?;
    }
    out.flush()?;

    let (chosen, ef_reason) = pick_ef(&points, k)
        .ok_or_else(|| CliError::Runtime("the ef sweep measured nothing".into()))?;
    let (threads_ef, threads_recall) = (chosen.ef, chosen.recall);
    let params = SearchParams::new(k).ef(threads_ef);
    let bar = progress.bar((threads.len() * opts.runs) as u64, "QPS vs threads", "runs");
    let mut thread_points = Vec::with_capacity(threads.len());
    for &t in &threads {
        let mut secs_per_query = Vec::with_capacity(opts.runs);
        for _ in 0..opts.runs {
            let (done, secs) = timed_threads(&index, &data, &params, t, sizes.duration)?;
            secs_per_query.push(secs / done.max(1) as f64);
            bar.inc(1);
        }
        let (per_query, spread) = median_spread(secs_per_query);
        thread_points.push(ThreadPoint {
            threads: t,
            qps: if per_query > 0.0 {
                1.0 / per_query
            } else {
                0.0
            },
            spread,
        });
    }
    drop(bar);
    let qps_1 = thread_points.iter().find(|p| p.threads == 1).map(|p| p.qps);
    writeln!(
        out,
        "\nQPS vs threads: search() from T threads for {} per run, median of {} runs, \
         ef = {threads_ef} (recall@{k} {threads_recall:.4}; {ef_reason})",
        fmt_time(sizes.duration.as_secs_f64()),
        opts.runs
    )?;
    writeln!(
        out,
        "{:>7} {:>12} {:>12} {:>8} {:>7}",
        "threads", "QPS", "per thread", "speedup", "spread"
    )?;
    for p in &thread_points {
        let speedup = qps_1
            .filter(|&q| q > 0.0)
            .map_or_else(|| "-".to_owned(), |q| format!("{:.2}", p.qps / q));
        writeln!(
            out,
            "{:>7} {:>12.0} {:>12.0} {:>8} {:>6.0}%",
            p.threads,
            p.qps,
            p.qps / p.threads as f64,
            speedup,
            100.0 * p.spread
        )?;
    }
    out.flush()?;

    let json = json!({
        "tool": "sagevec bench search",
        "version": env!("CARGO_PKG_VERSION"),
        "machine": info.to_json(),
        "mode": if tiny { "tiny" } else { "normal" },
        "data": data.json,
        "k": k,
        "workers": pool.n_threads(),
        "numa_nodes": pool.n_nodes(),
        "runs": opts.runs,
        "conventions": {
            "qps": "queries / wall seconds of a whole run; the median run of `runs`",
            "recall": "fraction of the k true nearest neighbours among the k results, over all queries",
            "spread": "(slowest - fastest run) / median run",
            "sweep_workers": "one batch_search call over all queries on every worker, after a warm-up call",
            "sweep_single_thread": "search() per query in turn on one thread",
            "threads": "T OS threads calling search() on queries in turn for `seconds_per_run`",
        },
        "build": {
            "m": M,
            "ef_construction": EF_CONSTRUCTION,
            "traversal": opts.traversal.name(),
            "walks": walks,
            "workers": pool.n_threads(),
            "runs": opts.build_runs,
            "seconds": build_secs,
            "seconds_runs": built.seconds,
            "spread": build_spread,
            "add_batch_seconds": add_secs,
            "vectors_per_second": per_second(data.n, build_secs),
            "graph_segments": built.graph_segments,
            "memory_bytes": built.memory_bytes,
        },
        "truth": {
            "source": if truth_secs.is_some() { "exact knn" } else { "file" },
            "seconds": truth_secs,
        },
        "sweep": points.iter().map(|p| json!({
            "ef": p.ef,
            "recall": p.recall,
            "qps": p.qps,
            "spread": p.spread,
            "recall_single_thread": p.recall_1t,
            "qps_single_thread": p.qps_1t,
            "spread_single_thread": p.spread_1t,
        })).collect::<Vec<_>>(),
        "threads": {
            "ef": threads_ef,
            "recall": threads_recall,
            "ef_choice": ef_reason,
            "seconds_per_run": sizes.duration.as_secs_f64(),
            "logical_cpus": logical_cpus,
            "points": thread_points.iter().map(|p| json!({
                "threads": p.threads,
                "qps": p.qps,
                "qps_per_thread": p.qps / p.threads as f64,
                "speedup": qps_1.filter(|&q| q > 0.0).map(|q| p.qps / q),
                "spread": p.spread,
            })).collect::<Vec<_>>(),
        },
    });
    Ok(SearchOutcome {
        data_label: data.label.clone(),
        k,
        workers: pool.n_threads(),
        logical_cpus,
        sweep: points,
        threads_ef,
        threads_recall,
        threads: thread_points,
        json,
    })
}

/// Runs `sagevec bench search`.
pub(crate) fn run(
    args: &SearchArgs,
    progress: Progress,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut json_file = args
        .json
        .as_deref()
        .map(|path| super::create_output(path, "--json file"))
        .transpose()?;
    let mut outcome = measure(&args.opts, args.tiny, progress, out)?;
    if let (Some(file), Some(path)) = (json_file.as_mut(), &args.json) {
        if let Value::Object(map) = &mut outcome.json {
            map.insert("unix_time".into(), json!(super::unix_time()));
        }
        super::write_json(file, path, &outcome.json)?;
        writeln!(out, "\nwrote {}", path.display())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_threads_are_powers_of_two_then_the_cpu_count() {
        assert_eq!(default_threads(1), [1]);
        assert_eq!(default_threads(2), [1, 2]);
        assert_eq!(default_threads(6), [1, 2, 4, 6]);
        assert_eq!(default_threads(8), [1, 2, 4, 8]);
    }

    #[test]
    fn median_and_spread() {
        assert_eq!(median_spread(vec![3.0, 1.0, 2.0]), (2.0, 1.0));
        assert_eq!(median_spread(vec![2.0, 4.0]).0, 3.0);
    }

    #[test]
    fn ef_choice_prefers_the_smallest_reaching_the_target() {
        let point = |ef, recall| SweepPoint {
            ef,
            recall,
            qps: 1.0,
            spread: 0.0,
            recall_1t: recall,
            qps_1t: 1.0,
            spread_1t: 0.0,
        };
        let sweep = [point(10, 0.8), point(32, 0.96), point(64, 0.99)];
        assert_eq!(pick_ef(&sweep, 10).unwrap().0.ef, 32);
        let low = [point(10, 0.5), point(32, 0.7), point(64, 0.7)];
        let (p, why) = pick_ef(&low, 10).unwrap();
        assert_eq!(p.ef, 32);
        assert!(why.contains("no swept ef"), "{why}");
        assert!(pick_ef(&[], 10).is_none());
    }

    #[test]
    fn recall_counts_true_neighbours_and_skips_padding() {
        let truth = IdMatrix {
            rows: 2,
            cols: 2,
            data: vec![0, 1, 2, 3],
        };
        assert_eq!(
            files::recall_of_rows(&truth, [1, 0, 2, u64::MAX].chunks_exact(2), 2),
            0.75
        );
    }
}
