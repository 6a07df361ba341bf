//! HNSW graph build and search (`sagevec_index::graph`) beside hnsw_rs, the reference
//! engine, driven by the same kernels (`KernelDist`), on 10 000 × 128 clustered rows
//! (100 gaussian clusters, seeded) at M = 16, ef_construction = 200.
//!
//! Ids:
//! - `graph_build_10k/l2sq/f32/{engine}/128`, engine `sagevec-seq` (`Par::Seq`),
//!   `sagevec-pool{t}` (a `NumaPool` of `t` workers), `hnsw_rs-seq` (`insert_slice`
//!   in a loop) and `hnsw_rs-par` (`parallel_insert_slice`, on rayon's global pool).
//! - `graph_search_10k/l2sq/f32/{engine}-ef{ef}/128`: one query per iteration,
//!   rotating over 1 000 queries, one thread; throughput in elements is queries/s.
//!
//! Recall@10 at each ef is printed to stderr before measuring, so a faster search is
//! never quoted without its recall. For hnswlib, faiss and usearch, see
//! `benches/compare/hnsw_peers.py` and the `graph_sweep` example.
//!
//! Run: `cargo bench -p sagevec-benches --bench graph`.

use std::time::Duration;

use anndists::dist::Distance;
use criterion::{Criterion, SamplingMode, Throughput};
use hnsw_rs::hnsw::Hnsw;
use sagevec_benches::print_machine_banner;
use sagevec_index::graph::{Graph, GraphParams, SearchScratch};
use sagevec_index::{BatchResults, knn};
use sagevec_kernels::{DistanceFn, Metric, Rows, TopK, kernels};
use sagevec_scheduler::{NumaPool, Par, Policy, Topology, plan};
use sagevec_testkit::{Clusters, Noise, recall_at_k};

const N_BASE: usize = 10_000;
const N_QUERIES: usize = 1_000;
const DIM: usize = 128;
const K: usize = 10;

/// hnsw_rs's `Distance<f32>` on our kernels (L2 here: no shift needed, see
/// `index/tests/hnsw_rs_reference.rs` for inner product).
#[derive(Clone, Copy, Debug)]
struct KernelDist(DistanceFn<f32>);

impl Distance<f32> for KernelDist {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        self.0.call(va, vb)
    }
}

fn hnsw_rs_build(
    base: &[f32],
    params: &GraphParams,
    parallel: bool,
) -> Hnsw<'static, f32, KernelDist> {
    let h = Hnsw::new(
        params.m,
        N_BASE,
        16,
        params.ef_construction,
        KernelDist(kernels().distance_fn(Metric::L2Sq)),
    );
    if parallel {
        let items: Vec<(&[f32], usize)> = base.chunks_exact(DIM).zip(0..).collect();
        h.parallel_insert_slice(&items);
    } else {
        for (i, row) in base.chunks_exact(DIM).enumerate() {
            h.insert_slice((row, i));
        }
    }
    h
}

fn main() {
    print_machine_banner("graph");
    let mut c = Criterion::default().configure_from_args();
    let clusters = Clusters::new(100, DIM, Noise::Gaussian(0.5), 0x6a);
    let base = clusters.sample(N_BASE, 0x6b);
    let queries = clusters.sample(N_QUERIES, 0x6c);
    let rows = Rows::contiguous(&base, DIM).unwrap();
    let qrows = Rows::contiguous(&queries, DIM).unwrap();
    let params = GraphParams::default();
    let topo = Topology::detect();
    let cores = plan(&topo, &Policy::default()).map_or(1, |p| p.n_threads());

    let mut group = c.benchmark_group(format!("graph_build_{}k", N_BASE / 1000));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(10));
    group.bench_function(format!("l2sq/f32/sagevec-seq/{DIM}"), |b| {
        b.iter(|| Graph::build(Metric::L2Sq, &rows, &params, Par::Seq).unwrap())
    });
    for threads in 1..=cores {
        let policy = Policy::default().with_max_threads(threads);
        let pool = NumaPool::new(plan(&topo, &policy).unwrap()).unwrap();
        group.bench_function(format!("l2sq/f32/sagevec-pool{threads}/{DIM}"), |b| {
            b.iter(|| Graph::build(Metric::L2Sq, &rows, &params, Par::Pool(&pool)).unwrap())
        });
    }
    group.bench_function(format!("l2sq/f32/hnsw_rs-seq/{DIM}"), |b| {
        b.iter(|| hnsw_rs_build(&base, &params, false))
    });
    group.bench_function(format!("l2sq/f32/hnsw_rs-par/{DIM}"), |b| {
        b.iter(|| hnsw_rs_build(&base, &params, true))
    });
    group.finish();

    let ours = Graph::build(Metric::L2Sq, &rows, &params, Par::Seq).unwrap();
    let theirs = hnsw_rs_build(&base, &params, false);
    let mut truth = BatchResults::new(N_QUERIES, K).unwrap();
    knn(Metric::L2Sq, qrows, rows, None, K, Par::Seq, &mut truth).unwrap();
    let mut group = c.benchmark_group(format!("graph_search_{}k", N_BASE / 1000));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    let mut scratch = SearchScratch::new();
    let mut top = TopK::new(K);
    for ef in [10usize, 40, 160] {
        let ours_ids: Vec<Vec<u64>> = (0..N_QUERIES)
            .map(|i| {
                top.clear();
                ours.search(qrows.row(i), ef, |_| true, &mut scratch, &mut top);
                top.clone().into_sorted_vec().iter().map(|n| n.id).collect()
            })
            .collect();
        let theirs_ids: Vec<Vec<u64>> = (0..N_QUERIES)
            .map(|i| {
                let found = theirs.search(qrows.row(i), K, ef);
                found.iter().map(|n| n.d_id as u64).collect()
            })
            .collect();
        let truth_rows = || (0..N_QUERIES).map(|i| truth.ids(i));
        eprintln!(
            "   ef {ef}: recall@10 sagevec {:.4}, hnsw_rs {:.4}",
            recall_at_k(ours_ids.iter().map(Vec::as_slice), truth_rows(), K),
            recall_at_k(theirs_ids.iter().map(Vec::as_slice), truth_rows(), K)
        );
        let mut i = 0;
        group.bench_function(format!("l2sq/f32/sagevec-ef{ef}/{DIM}"), |b| {
            b.iter(|| {
                i = (i + 1) % N_QUERIES;
                top.clear();
                ours.search(qrows.row(i), ef, |_| true, &mut scratch, &mut top);
                top.len()
            })
        });
        let mut i = 0;
        group.bench_function(format!("l2sq/f32/hnsw_rs-ef{ef}/{DIM}"), |b| {
            b.iter(|| {
                i = (i + 1) % N_QUERIES;
                theirs.search(qrows.row(i), K, ef).len()
            })
        });
    }
    group.finish();
    c.final_summary();
}
