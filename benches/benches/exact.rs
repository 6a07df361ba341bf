//! Exact batch search on worker pools (`sagevec_index::knn`): Q = 1000 queries ×
//! N = 100 000 rows, k = 10, squared L2 with cached norms, at 1 and 2 workers and on
//! the caller's thread. The faiss counterpart is `IndexFlatL2.search` with
//! `faiss.omp_set_num_threads(t)` (`benches/compare/faiss_kernels.py --threads t`).
//!
//! Ids: `exact_q1000_n100k_k10/{threads}/{dim}` with threads `seq`, `pool1`, `pool2`…
//! up to the machine's cores. Throughput is elements = `2 · Q · N · d` flops.
//!
//! Run: `cargo bench -p sagevec-benches --bench exact`.

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use sagevec_benches::{print_machine_banner, random_rows};
use sagevec_index::{BatchResults, knn};
use sagevec_kernels::{Metric, Rows, kernels};
use sagevec_scheduler::{NumaPool, Par, Policy, Topology, plan};

const N_BASE: usize = 100_000;
const N_QUERIES: usize = 1_000;
const K: usize = 10;

fn main() {
    print_machine_banner("exact");
    let mut c = Criterion::default().configure_from_args();
    let topo = Topology::detect();
    let cores = plan(&topo, &Policy::default())
        .map(|p| p.n_threads())
        .unwrap_or(1);
    for dim in [128usize, 768] {
        let base = random_rows(N_BASE, dim, 0xe0 + dim as u64);
        let queries = random_rows(N_QUERIES, dim, 0xe1 + dim as u64);
        let (x, q) = (
            Rows::contiguous(&base, dim).unwrap(),
            Rows::contiguous(&queries, dim).unwrap(),
        );
        let mut norms = vec![0f32; N_BASE];
        kernels().squared_norms(x, &mut norms).unwrap();
        let mut group = c.benchmark_group(format!("exact_q{N_QUERIES}_n{}k_k{K}", N_BASE / 1000));
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(if dim <= 128 { 5 } else { 20 }))
            .throughput(Throughput::Elements((2 * N_QUERIES * N_BASE * dim) as u64));
        let mut out = BatchResults::new(N_QUERIES, K).unwrap();
        group.bench_function(format!("seq/{dim}"), |b| {
            b.iter(|| knn(Metric::L2Sq, q, x, Some(&norms), K, Par::Seq, &mut out).unwrap())
        });
        for threads in 1..=cores {
            let policy = Policy::default().with_max_threads(threads);
            let pool = NumaPool::new(plan(&topo, &policy).unwrap()).unwrap();
            group.bench_function(format!("pool{threads}/{dim}"), |b| {
                b.iter(|| {
                    knn(
                        Metric::L2Sq,
                        q,
                        x,
                        Some(&norms),
                        K,
                        Par::Pool(&pool),
                        &mut out,
                    )
                    .unwrap()
                })
            });
        }
        group.finish();
    }
    c.final_summary();
}
