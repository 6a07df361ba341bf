//! The four timed phases of the search benchmark: build, ground truth, the ef
//! sweep and QPS against threads. Each returns what it measured; printing and
//! the report are `render`'s.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use sagevec_cli::formats::IdMatrix;
use sagevec_index::graph::Traversal;
use sagevec_index::{BatchResults, GraphParams, Index, IndexConfig, SearchParams, knn};
use sagevec_kernels::{Metric, Rows};
use sagevec_scheduler::{NumaPool, Par};
use serde::Serialize;

use super::data::Data;
use super::{EF_CONSTRUCTION, M, TARGET_RECALL};
use crate::bench::timing::Sample;
use crate::error::CliError;
use crate::files::{self, index_error};
use crate::progress::Progress;

/// One point of the ef sweep (serialised as a `sweep` entry of the report).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SweepPoint {
    /// Beam width used (at least k).
    pub(crate) ef: usize,
    /// Recall@k and QPS of one `batch_search` over all queries on every worker.
    pub(crate) recall: f64,
    pub(crate) qps: f64,
    pub(crate) spread: f64,
    /// Recall@k and QPS of `search` per query on one thread.
    #[serde(rename = "recall_single_thread")]
    pub(crate) recall_1t: f64,
    #[serde(rename = "qps_single_thread")]
    pub(crate) qps_1t: f64,
    #[serde(rename = "spread_single_thread")]
    pub(crate) spread_1t: f64,
}

/// One point of QPS against threads.
#[derive(Clone, Debug)]
pub(crate) struct ThreadPoint {
    pub(crate) threads: usize,
    pub(crate) qps: f64,
    pub(crate) spread: f64,
}

/// Build timings.
pub(super) struct Build {
    /// Seconds from the first `add_batch` to a searchable graph, per build.
    pub(super) seconds: Vec<f64>,
    /// Seconds of `add_batch` alone, per build.
    pub(super) add_seconds: Vec<f64>,
    pub(super) graph_segments: usize,
    pub(super) memory_bytes: usize,
}

/// Builds the index `runs` times on `pool`; returns the last one.
pub(super) fn build(
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
        config.graph = GraphParams::default()
            .m(M)
            .ef_construction(EF_CONSTRUCTION)
            .traversal(traversal);
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
        // One live graph holds every row.
        timings.graph_segments = usize::from(stats.graph.slots > 0);
        timings.memory_bytes = stats.memory.total();
        last = Some(index);
    }
    let index = last.ok_or_else(|| CliError::Usage("--build-runs must be at least 1".into()))?;
    Ok((index, timings))
}

/// Exact ground truth on every worker, and its time in seconds.
pub(super) fn exact_truth(
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
pub(super) fn sweep(
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
pub(super) fn pick_ef(sweep: &[SweepPoint], k: usize) -> Option<(&SweepPoint, String)> {
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

/// QPS against threads: for each count of `threads`, `runs` timed runs of
/// [`timed_threads`] at `params`; QPS is the inverse of the median time per
/// search.
pub(super) fn qps_vs_threads(
    index: &Index,
    data: &Data,
    params: &SearchParams,
    threads: &[usize],
    runs: usize,
    duration: Duration,
    progress: Progress,
) -> Result<Vec<ThreadPoint>, CliError> {
    let bar = progress.bar((threads.len() * runs) as u64, "QPS vs threads", "runs");
    let mut points = Vec::with_capacity(threads.len());
    for &t in threads {
        let mut secs_per_query = Vec::with_capacity(runs);
        for _ in 0..runs {
            let (done, secs) = timed_threads(index, data, params, t, duration)?;
            secs_per_query.push(secs / done.max(1) as f64);
            bar.inc(1);
        }
        let (per_query, spread) = median_spread(secs_per_query);
        points.push(ThreadPoint {
            threads: t,
            qps: if per_query > 0.0 {
                1.0 / per_query
            } else {
                0.0
            },
            spread,
        });
    }
    Ok(points)
}

/// Median, and `(max - min) / median`, of run times in seconds (at least one).
pub(super) fn median_spread(secs: Vec<f64>) -> (f64, f64) {
    let sample = Sample::from_secs(secs, 1);
    (sample.median, sample.spread())
}

/// Queries per second from a time (0 for a time of 0, which a coarse clock can
/// give a tiny run).
pub(super) fn per_second(count: usize, secs: f64) -> f64 {
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

#[cfg(test)]
impl SweepPoint {
    /// A test point: `recall` on both paths, 1 QPS, no spread.
    pub(super) fn at(ef: usize, recall: f64) -> SweepPoint {
        SweepPoint {
            ef,
            recall,
            qps: 1.0,
            spread: 0.0,
            recall_1t: recall,
            qps_1t: 1.0,
            spread_1t: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        assert_eq!(median_spread(vec![3.0, 1.0, 2.0]), (2.0, 1.0));
        assert_eq!(median_spread(vec![2.0, 4.0]).0, 3.0);
        assert_eq!(median_spread(vec![0.0, 0.0]), (0.0, 0.0));
        assert_eq!(per_second(10, 0.5), 20.0);
        assert_eq!(per_second(10, 0.0), 0.0);
    }

    #[test]
    fn ef_choice_prefers_the_smallest_reaching_the_target() {
        let point = SweepPoint::at;
        let sweep = [point(10, 0.8), point(32, 0.96), point(64, 0.99)];
        assert_eq!(pick_ef(&sweep, 10).unwrap().0.ef, 32);
        let low = [point(10, 0.5), point(32, 0.7), point(64, 0.7)];
        let (p, why) = pick_ef(&low, 10).unwrap();
        assert_eq!(p.ef, 32);
        assert!(why.contains("no swept ef"), "{why}");
        assert!(pick_ef(&[], 10).is_none());
    }

    #[test]
    fn sweep_points_serialise_under_the_report_names() {
        let p = SweepPoint {
            ef: 16,
            recall: 0.5,
            qps: 2.0,
            spread: 0.25,
            recall_1t: 0.75,
            qps_1t: 3.0,
            spread_1t: 0.125,
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({
                "ef": 16, "recall": 0.5, "qps": 2.0, "spread": 0.25,
                "recall_single_thread": 0.75, "qps_single_thread": 3.0,
                "spread_single_thread": 0.125,
            })
        );
    }
}
