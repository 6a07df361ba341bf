//! `sagevec bench search`: graph build time, recall@k against QPS over a sweep of
//! beam widths, and QPS against threads, on generated clustered data or on files.
//!
//! What is measured, in order:
//!
//! | phase | what is timed | reported |
//! |---|---|---|
//! | build | `add_batch` of every vector (linked into the graph before it returns), then `wait_for_builds`: one HNSW graph (M = 16, ef_construction = 200; built on, and searched over, the copy `--traversal` picks) on every worker | seconds to a searchable graph (median of `--build-runs`), vectors/s |
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
//!
//! Layout: `options` (the flags, resolved into a checked `Plan` before any work),
//! `data` (generated or read), `phases` (the four timed phases, each returning
//! what it measured) and `render` (each phase's table, printed as it ends, and
//! the serde JSON report); [`measure`] runs them in order.

use std::io::Write;

use sagevec_index::SearchParams;

use crate::error::CliError;
use crate::files;
use crate::info::Info;
use crate::progress::Progress;

mod data;
mod options;
mod phases;
mod render;

use data::Data;
use options::Plan;
pub(crate) use options::{SearchArgs, SearchOpts};
pub(crate) use phases::{SweepPoint, ThreadPoint};
use render::{BuildReport, Report, Results, ThreadsReport, TruthReport};

/// HNSW links per node of the benchmarked graph (level 0 keeps 2·M).
pub(crate) const M: usize = 16;
/// HNSW beam width while inserting.
pub(crate) const EF_CONSTRUCTION: usize = 200;
/// Recall@k the QPS-vs-threads phase aims for when it picks its ef.
pub(crate) const TARGET_RECALL: f64 = 0.95;

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
    pub(crate) report: Report,
}

/// Runs the search benchmark, printing its tables to `out` as each phase ends.
pub(crate) fn measure(
    opts: &SearchOpts,
    tiny: bool,
    progress: Progress,
    out: &mut dyn Write,
) -> Result<SearchOutcome, CliError> {
    // Check every option before spending minutes building.
    let info = Info::gather()?;
    let plan = Plan::new(opts, tiny, info.logical_cpus)?;
    let pool = files::pool(None)?;
    let k = plan.k;

    let mut data = Data::load(opts, plan.sizes, progress)?;
    render::header(out, &data, k, &info, &pool)?;

    let (index, built) = phases::build(
        &data,
        opts.metric,
        opts.traversal,
        &pool,
        opts.build_runs,
        progress,
    )?;
    let walks = files::walked(opts.traversal, data.dim);
    let build = BuildReport::new(built, data.n, opts.traversal, walks, pool.n_threads());
    render::build(out, &build)?;

    let (truth_ids, truth) = match data.truth.take() {
        Some(ids) => (ids, TruthReport::new(None)),
        None => {
            let (ids, secs) = phases::exact_truth(&data, opts.metric, k, &pool, progress)?;
            (ids, TruthReport::new(Some(secs)))
        }
    };
    render::truth(out, &truth, pool.n_threads())?;

    let sweep = phases::sweep(&index, &data, &truth_ids, k, &plan.efs, opts.runs, progress)?;
    render::sweep(out, &sweep, k, opts.runs, data.nq, pool.n_threads())?;

    let (chosen, ef_choice) = phases::pick_ef(&sweep, k)
        .ok_or_else(|| CliError::Runtime("the ef sweep measured nothing".into()))?;
    let chosen = chosen.clone();
    let points = phases::qps_vs_threads(
        &index,
        &data,
        &SearchParams::new(k).ef(chosen.ef),
        &plan.threads,
        opts.runs,
        plan.sizes.duration,
        progress,
    )?;
    let threads = ThreadsReport::new(
        &chosen,
        ef_choice,
        plan.sizes.duration.as_secs_f64(),
        info.logical_cpus,
        &points,
    );
    render::threads(out, &threads, k, opts.runs)?;

    Ok(SearchOutcome {
        data_label: data.label.clone(),
        k,
        workers: pool.n_threads(),
        logical_cpus: info.logical_cpus,
        sweep: sweep.clone(),
        threads_ef: chosen.ef,
        threads_recall: chosen.recall,
        threads: points,
        report: Report::new(
            &info,
            tiny,
            data.report,
            k,
            &pool,
            opts.runs,
            Results {
                build,
                truth,
                sweep,
                threads,
            },
        ),
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
        outcome.report.unix_time = Some(super::unix_time());
        super::write_json(file, path, &outcome.report)?;
        writeln!(out, "\nwrote {}", path.display())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sagevec_cli::formats::IdMatrix;

    use super::*;

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
