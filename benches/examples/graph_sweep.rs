//! Build time and recall@10-vs-QPS sweep of sagevec's HNSW graph, printing the same
//! table as `benches/compare/hnsw_peers.py` prints for hnswlib, faiss and usearch,
//! so the numbers can be put side by side.
//!
//! ```sh
//! cargo run --release -p sagevec-benches --example graph_sweep -- \
//!     --base ../shared/data/fashion-mnist-784-l2/base.npy \
//!     --queries ../shared/data/fashion-mnist-784-l2/queries.npy
//! # or a seeded clustered set written by the peers script (--save-synthetic DIR):
//! cargo run --release -p sagevec-benches --example graph_sweep -- \
//!     --base /tmp/clustered/base.npy --queries /tmp/clustered/queries.npy
//! ```
//!
//! Options: `--metric l2|ip|cosine` (default l2), `--m 16`, `--efc 200`,
//! `--ef 10,20,40,80,160`, `--threads 1,2` (search threads), `--build-threads 1,2`
//! (`1` also measures `Par::Seq`), `--runs 3` (search runs per point, median),
//! `--build-runs 1` (builds per thread count, median), `--nq N` (first N queries),
//! `--nb N` (first N base rows). Inputs: `.npy` (`<f4`, C order) or `.fvecs`.
//! Ground truth is computed exactly with `sagevec_index::knn` on every core.

use std::path::Path;
use std::time::{Duration, Instant};

use sagevec_benches::print_machine_banner;
use sagevec_index::graph::{Graph, GraphParams, SearchScratch, SearchStats, Traversal};
use sagevec_index::{BatchResults, knn};
use sagevec_kernels::{Metric, Rows, TopK};
use sagevec_scheduler::{NumaPool, Par, Policy, Topology, plan, rayon};
use sagevec_testkit::{median, normalize_rows, recall_at_k};

const K: usize = 10;

struct Args {
    base: String,
    queries: String,
    metric: Metric,
    m: usize,
    efc: usize,
    efs: Vec<usize>,
    threads: Vec<usize>,
    build_threads: Vec<usize>,
    runs: usize,
    build_runs: usize,
    nq: Option<usize>,
    nb: Option<usize>,
    traversals: Vec<Traversal>,
}

fn list(s: &str) -> Vec<usize> {
    s.split(',')
        .map(|x| x.trim().parse().expect("a number"))
        .collect()
}

fn parse_args() -> Args {
    let mut a = Args {
        base: String::new(),
        queries: String::new(),
        metric: Metric::L2Sq,
        m: 16,
        efc: 200,
        efs: vec![10, 20, 40, 80, 160],
        threads: vec![1, 2],
        build_threads: vec![1, 2],
        runs: 3,
        build_runs: 1,
        nq: None,
        nb: None,
        traversals: vec![Traversal::Auto],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--base" => a.base = val,
            "--queries" => a.queries = val,
            "--metric" => a.metric = val.parse().expect("l2, ip or cosine"),
            "--m" => a.m = val.parse().expect("a number"),
            "--efc" => a.efc = val.parse().expect("a number"),
            "--ef" => a.efs = list(&val),
            "--threads" => a.threads = list(&val),
            "--build-threads" => a.build_threads = list(&val),
            "--runs" => a.runs = val.parse().expect("a number"),
            "--build-runs" => a.build_runs = val.parse().expect("a number"),
            "--nq" => a.nq = Some(val.parse().expect("a number")),
            "--nb" => a.nb = Some(val.parse().expect("a number")),
            "--traversal" => {
                a.traversals = val
                    .split(',')
                    .map(|t| t.parse().expect("auto, f32 or f16"))
                    .collect()
            }
            other => panic!("unknown option {other}"),
        }
    }
    assert!(
        !a.base.is_empty() && !a.queries.is_empty(),
        "--base and --queries are required"
    );
    a
}

/// `(rows, dim)` from a `.npy` (`<f4`, C order) or `.fvecs` file.
fn load(path: &str) -> (Vec<f32>, usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let f32s = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    if Path::new(path).extension().is_some_and(|e| e == "fvecs") {
        let dim = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        let rec = 4 + 4 * dim;
        let data = bytes
            .chunks_exact(rec)
            .flat_map(|r| f32s(&r[4..]))
            .collect();
        return (data, dim);
    }
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{path}: not .npy or .fvecs");
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).unwrap();
    assert!(
        header.contains("'<f4'") && header.contains("'fortran_order': False"),
        "{path}: need float32 C-order, header {header}"
    );
    let shape: Vec<usize> = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap()
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    (f32s(&bytes[start + hlen..]), shape[1])
}

/// Median seconds of `times` (at least one).
fn median_secs(times: &[Duration]) -> f64 {
    median(times.iter().map(Duration::as_secs_f64)).expect("at least one run")
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (Linux), so a
/// busy shared box (others' compilers taking turns on our cores) does not count as
/// our search time. `None` elsewhere.
fn thread_cpu_time() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn pool_of(threads: usize) -> NumaPool {
    let policy = Policy::default().with_max_threads(threads);
    NumaPool::new(plan(&Topology::detect(), &policy).unwrap()).unwrap()
}

fn main() {
    print_machine_banner("graph_sweep");
    let a = parse_args();
    let (mut base, dim) = load(&a.base);
    let (mut queries, qdim) = load(&a.queries);
    assert_eq!(dim, qdim, "base and queries differ in dimension");
    if let Some(nb) = a.nb {
        base.truncate(nb * dim);
    }
    if let Some(nq) = a.nq {
        queries.truncate(nq * dim);
    }
    if a.metric == Metric::Cosine {
        // As the index does: unit rows, inner product.
        normalize_rows(&mut base, dim);
        normalize_rows(&mut queries, dim);
    }
    let metric = if a.metric == Metric::Cosine {
        Metric::InnerProduct
    } else {
        a.metric
    };
    let rows = Rows::contiguous(&base, dim).unwrap();
    let q = Rows::contiguous(&queries, dim).unwrap();
    let (nb, nq) = (rows.n_rows(), q.n_rows());
    let max_threads = a
        .threads
        .iter()
        .chain(&a.build_threads)
        .copied()
        .max()
        .unwrap_or(1);
    let gt_pool = pool_of(max_threads);
    let mut truth = BatchResults::new(nq, K).unwrap();
    knn(metric, q, rows, None, K, Par::Pool(&gt_pool), &mut truth).unwrap();
    drop(gt_pool);

    // The first traversal listed is also what the graph is built on.
    let params = GraphParams::default()
        .m(a.m)
        .ef_construction(a.efc)
        .traversal(a.traversals[0]);
    println!(
        "# sagevec graph: n={nb} nq={nq} dim={dim} metric={} M={} efC={} runs={} build_runs={} (median)",
        a.metric, a.m, a.efc, a.runs, a.build_runs
    );
    println!("{:<10} {:>8} {:>10}", "engine", "threads", "build_s");
    let mut graph = None;
    for &t in &a.build_threads {
        let mut variants: Vec<(String, Option<NumaPool>)> = Vec::new();
        if t == 1 {
            variants.push(("seq".into(), None));
        }
        variants.push((format!("pool{t}"), Some(pool_of(t))));
        for (name, pool) in variants {
            let par = pool.as_ref().map_or(Par::Seq, Par::Pool);
            let mut times = Vec::new();
            for _ in 0..a.build_runs {
                let t0 = Instant::now();
                let g = Graph::build(metric, &rows, &params, par).unwrap();
                times.push(t0.elapsed());
                graph = Some(g);
            }
            println!(
                "{:<10} {:>8} {:>10.3}",
                format!("sagevec-{name}"),
                t,
                median_secs(&times)
            );
        }
    }
    let mut graph = graph.expect("--build-threads is empty");
    println!(
        "{:<10} {:>8} {:>6} {:>10} {:>12} {:>8} {:>6} {:>10}",
        "engine", "threads", "ef", "recall@10", "QPS", "dist/q", "hops/q", "cpu_QPS"
    );
    for &t in &a.threads {
        for &traversal in &a.traversals {
            graph.set_traversal(traversal);
            let engine = format!("sv-{}", if graph.walks_f16() { "f16" } else { "f32" });
            println!(
                "# {engine}: memory {:.1} MiB, max level {}",
                graph.memory_bytes() as f64 / f64::from(1u32 << 20),
                graph.max_level()
            );
            let pool = pool_of(t);
            for &ef in &a.efs {
                let mut times = Vec::new();
                let mut ids = vec![u64::MAX; nq * K];
                let mut stats = SearchStats::default();
                let mut cpu_times = Vec::new();
                for _ in 0..a.runs {
                    let t0 = Instant::now();
                    let parts = pool.install(0, || {
                        rayon::broadcast(|ctx| {
                            let cpu0 = thread_cpu_time();
                            let mut scratch = SearchScratch::new();
                            let mut top = TopK::new(K);
                            let mut mine = Vec::with_capacity(nq / ctx.num_threads() + 1);
                            let (mut row_ids, mut row_d) = ([0u64; K], [0f32; K]);
                            for i in (ctx.index()..nq).step_by(ctx.num_threads()) {
                                graph.search(q.row(i), ef, |_| true, &mut scratch, &mut top);
                                top.drain_sorted_into(&mut row_ids, &mut row_d);
                                mine.push((i, row_ids));
                            }
                            let cpu = cpu0
                                .zip(thread_cpu_time())
                                .map(|(a, b)| b.saturating_sub(a));
                            (mine, scratch.take_stats(), cpu)
                        })
                    });
                    times.push(t0.elapsed());
                    stats = SearchStats::default();
                    let mut cpu = Some(Duration::ZERO);
                    for (mine, st, c) in parts {
                        stats.distances += st.distances;
                        stats.hops += st.hops;
                        cpu = cpu.zip(c).map(|(a, b)| a + b);
                        for (i, res) in mine {
                            ids[i * K..(i + 1) * K].copy_from_slice(&res);
                        }
                    }
                    cpu_times.extend(cpu);
                }
                let recall = recall_at_k(ids.chunks(K), (0..nq).map(|i| truth.ids(i)), K);
                let secs = median_secs(&times);
                println!(
                    "{:<10} {:>8} {:>6} {:>10.4} {:>12.0} {:>8.0} {:>6.0} {:>10}",
                    engine,
                    t,
                    ef,
                    recall,
                    nq as f64 / secs,
                    stats.distances as f64 / nq as f64,
                    stats.hops as f64 / nq as f64,
                    if cpu_times.is_empty() {
                        "-".to_string()
                    } else {
                        // Queries per CPU-second of the workers, times the thread count:
                        // the QPS an otherwise idle box would give if the threads scale.
                        let cpu_s = median_secs(&cpu_times);
                        format!("{:.0}", nq as f64 * t as f64 / cpu_s)
                    }
                );
            }
        }
    }
}
