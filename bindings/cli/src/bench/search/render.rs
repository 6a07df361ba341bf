//! What the search benchmark prints, table by table as each phase ends, and the
//! JSON report built from the same results.

use std::io::Write;

use sagevec_index::graph::Traversal;
use sagevec_scheduler::NumaPool;
use serde::Serialize;
use serde_json::Value;

use super::data::{Data, DataReport};
use super::phases::{Build, SweepPoint, ThreadPoint, median_spread, per_second};
use super::{EF_CONSTRUCTION, M};
use crate::bench::report::fmt_time;
use crate::error::CliError;
use crate::info::Info;

/// The first two lines: the data set, and the machine and pool.
pub(super) fn header(
    out: &mut dyn Write,
    data: &Data,
    k: usize,
    info: &Info,
    pool: &NumaPool,
) -> Result<(), CliError> {
    writeln!(out, "sagevec bench search: {}, k = {k}", data.label)?;
    writeln!(
        out,
        "cpu: {} ({} logical CPUs) | isa: {} ({}) | pool: {} workers on {} node(s)",
        info.cpu_model,
        info.logical_cpus,
        info.active,
        info.source.describe(),
        pool.n_threads(),
        pool.n_nodes()
    )?;
    out.flush()?;
    Ok(())
}

/// The build phase, summarised for the line and the report.
#[derive(Clone, Debug, Serialize)]
pub(super) struct BuildReport {
    m: usize,
    ef_construction: usize,
    /// What `--traversal` asked for, and the copy searches walk.
    traversal: &'static str,
    walks: &'static str,
    workers: usize,
    runs: usize,
    /// Median seconds to a searchable graph, every build's, and their spread.
    seconds: f64,
    seconds_runs: Vec<f64>,
    spread: f64,
    /// Median seconds of `add_batch` alone.
    add_batch_seconds: f64,
    vectors_per_second: f64,
    graph_segments: usize,
    memory_bytes: usize,
}

impl BuildReport {
    pub(super) fn new(
        built: Build,
        n: usize,
        traversal: Traversal,
        walks: &'static str,
        workers: usize,
    ) -> BuildReport {
        let runs = built.seconds.len();
        let (seconds, spread) = median_spread(built.seconds.clone());
        let (add_batch_seconds, _) = median_spread(built.add_seconds);
        BuildReport {
            m: M,
            ef_construction: EF_CONSTRUCTION,
            traversal: traversal.name(),
            walks,
            workers,
            runs,
            seconds,
            seconds_runs: built.seconds,
            spread,
            add_batch_seconds,
            vectors_per_second: per_second(n, seconds),
            graph_segments: built.graph_segments,
            memory_bytes: built.memory_bytes,
        }
    }
}

/// The build line.
pub(super) fn build(out: &mut dyn Write, b: &BuildReport) -> Result<(), CliError> {
    writeln!(
        out,
        "\nbuild: {} (M = {M}, ef_construction = {EF_CONSTRUCTION}, searches walk {} \
         (--traversal {}), {} workers, median of {} build(s)): \
         {:.0} vectors/s; add_batch {}, {} graph segment(s), {:.1} MiB",
        fmt_time(b.seconds),
        b.walks,
        b.traversal,
        b.workers,
        b.runs,
        b.vectors_per_second,
        fmt_time(b.add_batch_seconds),
        b.graph_segments,
        b.memory_bytes as f64 / f64::from(1u32 << 20)
    )?;
    out.flush()?;
    Ok(())
}

/// Where the ground truth came from (`source` is `exact knn` or `file`).
#[derive(Clone, Debug, Serialize)]
pub(super) struct TruthReport {
    source: &'static str,
    /// Seconds of the exact knn; none for a file.
    seconds: Option<f64>,
}

impl TruthReport {
    pub(super) fn new(exact_seconds: Option<f64>) -> TruthReport {
        TruthReport {
            source: if exact_seconds.is_some() {
                "exact knn"
            } else {
                "file"
            },
            seconds: exact_seconds,
        }
    }
}

/// The ground-truth line.
pub(super) fn truth(out: &mut dyn Write, t: &TruthReport, workers: usize) -> Result<(), CliError> {
    match t.seconds {
        Some(secs) => writeln!(
            out,
            "ground truth: exact knn on {workers} workers in {}",
            fmt_time(secs)
        )?,
        None => writeln!(out, "ground truth: from --truth")?,
    }
    Ok(())
}

/// The recall-vs-QPS table.
pub(super) fn sweep(
    out: &mut dyn Write,
    points: &[SweepPoint],
    k: usize,
    runs: usize,
    n_queries: usize,
    workers: usize,
) -> Result<(), CliError> {
    writeln!(
        out,
        "\nrecall@{k} vs QPS, median of {runs} runs: one batch_search over all {n_queries} \
         queries on every worker (after a warm-up), and search() per query on 1 thread"
    )?;
    writeln!(
        out,
        "{:>6} {:>10} {:>18} {:>7} {:>14} {:>7}",
        "ef",
        format!("recall@{k}"),
        format!("QPS ({workers} workers)"),
        "spread",
        "QPS (1 thread)",
        "spread"
    )?;
    for p in points {
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
    Ok(())
}

/// One point of QPS against threads, as the report gives it.
#[derive(Clone, Debug, Serialize)]
struct ThreadPointReport {
    threads: usize,
    qps: f64,
    qps_per_thread: f64,
    /// QPS over the 1-thread QPS; none without a (non-zero) 1-thread point.
    speedup: Option<f64>,
    spread: f64,
}

/// The threads phase: its ef, why that one, and its points.
#[derive(Clone, Debug, Serialize)]
pub(super) struct ThreadsReport {
    ef: usize,
    recall: f64,
    ef_choice: String,
    seconds_per_run: f64,
    logical_cpus: usize,
    points: Vec<ThreadPointReport>,
}

impl ThreadsReport {
    pub(super) fn new(
        chosen: &SweepPoint,
        ef_choice: String,
        seconds_per_run: f64,
        logical_cpus: usize,
        points: &[ThreadPoint],
    ) -> ThreadsReport {
        let qps_1 = points
            .iter()
            .find(|p| p.threads == 1)
            .map(|p| p.qps)
            .filter(|&q| q > 0.0);
        ThreadsReport {
            ef: chosen.ef,
            recall: chosen.recall,
            ef_choice,
            seconds_per_run,
            logical_cpus,
            points: points
                .iter()
                .map(|p| ThreadPointReport {
                    threads: p.threads,
                    qps: p.qps,
                    qps_per_thread: p.qps / p.threads as f64,
                    speedup: qps_1.map(|q| p.qps / q),
                    spread: p.spread,
                })
                .collect(),
        }
    }
}

/// The QPS-vs-threads table.
pub(super) fn threads(
    out: &mut dyn Write,
    t: &ThreadsReport,
    k: usize,
    runs: usize,
) -> Result<(), CliError> {
    writeln!(
        out,
        "\nQPS vs threads: search() from T threads for {} per run, median of {runs} runs, \
         ef = {} (recall@{k} {:.4}; {})",
        fmt_time(t.seconds_per_run),
        t.ef,
        t.recall,
        t.ef_choice
    )?;
    writeln!(
        out,
        "{:>7} {:>12} {:>12} {:>8} {:>7}",
        "threads", "QPS", "per thread", "speedup", "spread"
    )?;
    for p in &t.points {
        let speedup = p
            .speedup
            .map_or_else(|| "-".to_owned(), |s| format!("{s:.2}"));
        writeln!(
            out,
            "{:>7} {:>12.0} {:>12.0} {:>8} {:>6.0}%",
            p.threads,
            p.qps,
            p.qps_per_thread,
            speedup,
            100.0 * p.spread
        )?;
    }
    out.flush()?;
    Ok(())
}

/// What each figure of the report means.
#[derive(Clone, Copy, Debug, Serialize)]
struct Conventions {
    qps: &'static str,
    recall: &'static str,
    spread: &'static str,
    sweep_workers: &'static str,
    sweep_single_thread: &'static str,
    threads: &'static str,
}

const CONVENTIONS: Conventions = Conventions {
    qps: "queries / wall seconds of a whole run; the median run of `runs`",
    recall: "fraction of the k true nearest neighbours among the k results, over all queries",
    spread: "(slowest - fastest run) / median run",
    sweep_workers: "one batch_search call over all queries on every worker, after a warm-up call",
    sweep_single_thread: "search() per query in turn on one thread",
    threads: "T OS threads calling search() on queries in turn for `seconds_per_run`",
};

/// The JSON report of `bench search --json` (and the `search` member of
/// `bench all`'s report).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Report {
    tool: &'static str,
    version: &'static str,
    machine: Value,
    /// `tiny` or `normal`.
    mode: &'static str,
    data: DataReport,
    k: usize,
    workers: usize,
    numa_nodes: usize,
    runs: usize,
    conventions: Conventions,
    build: BuildReport,
    truth: TruthReport,
    sweep: Vec<SweepPoint>,
    threads: ThreadsReport,
    /// When the run ended (`bench search --json` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) unix_time: Option<u64>,
}

/// The phases' results, for [`Report::new`].
pub(super) struct Results {
    pub(super) build: BuildReport,
    pub(super) truth: TruthReport,
    pub(super) sweep: Vec<SweepPoint>,
    pub(super) threads: ThreadsReport,
}

impl Report {
    pub(super) fn new(
        info: &Info,
        tiny: bool,
        data: DataReport,
        k: usize,
        pool: &NumaPool,
        runs: usize,
        results: Results,
    ) -> Report {
        Report {
            tool: "sagevec bench search",
            version: env!("CARGO_PKG_VERSION"),
            machine: info.to_json(),
            mode: if tiny { "tiny" } else { "normal" },
            data,
            k,
            workers: pool.n_threads(),
            numa_nodes: pool.n_nodes(),
            runs,
            conventions: CONVENTIONS,
            build: results.build,
            truth: results.truth,
            sweep: results.sweep,
            threads: results.threads,
            unix_time: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread_point(threads: usize, qps: f64) -> ThreadPoint {
        ThreadPoint {
            threads,
            qps,
            spread: 0.1,
        }
    }

    #[test]
    fn speedup_is_over_the_one_thread_point_when_there_is_one() {
        let chosen = SweepPoint::at(32, 0.97);
        let t = ThreadsReport::new(
            &chosen,
            "why".into(),
            0.5,
            4,
            &[thread_point(1, 100.0), thread_point(4, 300.0)],
        );
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(
            (v["ef"].as_u64(), v["recall"].as_f64()),
            (Some(32), Some(0.97))
        );
        assert_eq!(v["points"][1]["speedup"], 3.0);
        assert_eq!(v["points"][1]["qps_per_thread"], 75.0);
        let mut text = Vec::new();
        threads(&mut text, &t, 10, 3).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("ef = 32 (recall@10 0.9700; why)"), "{text}");
        assert!(text.contains("   3.00 "), "{text}");
        // No 1-thread point, or one that measured nothing: no speedup ("-").
        for points in [
            vec![thread_point(2, 10.0)],
            vec![thread_point(1, 0.0), thread_point(2, 10.0)],
        ] {
            let t = ThreadsReport::new(&chosen, "why".into(), 0.5, 4, &points);
            let v = serde_json::to_value(&t).unwrap();
            assert!(
                v["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|p| p["speedup"].is_null()),
                "{v}"
            );
            let mut text = Vec::new();
            threads(&mut text, &t, 10, 3).unwrap();
            assert!(String::from_utf8(text).unwrap().contains("       - "));
        }
    }

    #[test]
    fn truth_reports_its_source() {
        let exact = serde_json::to_value(TruthReport::new(Some(0.25))).unwrap();
        assert_eq!(
            exact,
            serde_json::json!({"source": "exact knn", "seconds": 0.25})
        );
        let file = serde_json::to_value(TruthReport::new(None)).unwrap();
        assert_eq!(file, serde_json::json!({"source": "file", "seconds": null}));
    }
}
