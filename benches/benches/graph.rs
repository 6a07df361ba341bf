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
use sagevec_benches::{SplitMix64, print_machine_banner};
use sagevec_index::graph::{Graph, GraphParams, SearchScratch};
use sagevec_index::{BatchResults, knn};
use sagevec_kernels::{DistanceFn, Metric, Rows, TopK, kernels};
use sagevec_scheduler::{NumaPool, Par, Policy, Topology, plan};

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

/// A standard normal draw (Box-Muller).
fn gauss(rng: &mut SplitMix64) -> f32 {
    let u = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let v = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// `n` rows from gaussian clusters around `centres` (spread 0.5).
fn clustered(n: usize, dim: usize, rng: &mut SplitMix64, centres: &[f32]) -> Vec<f32> {
    let clusters = centres.len() / dim;
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.next_index(clusters);
        for j in 0..dim {
            out.push(centres[c * dim + j] + 0.5 * gauss(rng));
        }
    }
    out
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
    let mut rng = SplitMix64::new(0x6a);
    let mut centres = vec![0f32; 100 * DIM];
    rng.fill(&mut centres);
    let base = clustered(N_BASE, DIM, &mut rng, &centres);
    let queries = clustered(N_QUERIES, DIM, &mut rng, &centres);
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
        let (mut hits_ours, mut hits_theirs) = (0usize, 0usize);
        for i in 0..N_QUERIES {
            top.clear();
            ours.search(qrows.row(i), ef, |_| true, &mut scratch, &mut top);
            let truth_i = truth.ids(i);
            hits_ours += top
                .clone()
                .into_sorted_vec()
                .iter()
                .filter(|n| truth_i.contains(&n.id))
                .count();
            hits_theirs += theirs
                .search(qrows.row(i), K, ef)
                .iter()
                .filter(|n| truth_i.contains(&(n.d_id as u64)))
                .count();
        }
        let total = (N_QUERIES * K) as f64;
        eprintln!(
            "   ef {ef}: recall@10 sagevec {:.4}, hnsw_rs {:.4}",
            hits_ours as f64 / total,
            hits_theirs as f64 / total
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
