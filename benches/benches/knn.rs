//! Many-to-many exact search with fused top-k: `Q` queries × `N = 100 000` rows,
//! `k = 10`, squared L2 with cached row norms (what an index keeps), single thread.
//! This is the shape of faiss `IndexFlatL2::search` (`benches/compare/faiss_kernels.py`
//! measures that side by side with the same Q, N, d and k).
//!
//! Groups and ids (`{group}/{metric}/{elem}/{isa}/{dim}`):
//!
//! | group | Q | dims | contenders |
//! |---|---|---|---|
//! | `knn_q1000_n100k_k10` | 1 000 | 128, 768 | every SIMD ISA + `dispatch` |
//! | `knn_q100_n100k_k10` | 100 | 128 | `scalar` (too slow for Q = 1000: ~10 s a call) and the SIMD ISAs again, for a same-run ratio |
//!
//! Throughput is reported as *elements* = `2 · Q · N · d` floating-point operations
//! (one multiply and one add per query, row and dimension), so criterion's
//! "Gelem/s" reads directly as GFLOP/s. Queries/s = Q / time.
//!
//! One call takes 0.1–5 s, so groups use `sample_size(10)` with flat sampling and
//! short warm-up: the whole bench stays within a few minutes on a 2-core AVX2 box.
//!
//! Run: `cargo bench -p sagevec-benches --bench knn` (filter e.g. `/128` for d = 128 only).

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use sagevec_benches::{ELEM, print_machine_banner, random_rows};
use sagevec_kernels::{Isa, KernelTable, Metric, Rows, kernels};

const N_BASE: usize = 100_000;
const K: usize = 10;
const DIMS: [usize; 2] = [128, 768];
const Q_FULL: usize = 1_000;
/// Query count for the scalar oracle (and the SIMD ISAs beside it, for a ratio).
const Q_SCALAR: usize = 100;
const METRIC: Metric = Metric::L2Sq;

/// The base rows, their cached squared norms, and the queries for one dimension.
struct Data {
    dim: usize,
    base: sagevec_kernels::AlignedVec<f32>,
    norms: Vec<f32>,
    queries: sagevec_kernels::AlignedVec<f32>,
}

impl Data {
    fn new(dim: usize, n_queries: usize) -> Data {
        let base = random_rows(N_BASE, dim, 0x6b6e_0001 + dim as u64);
        let queries = random_rows(n_queries, dim, 0x6b6e_0002 + dim as u64);
        let mut norms = vec![0.0f32; N_BASE];
        kernels()
            .squared_norms(
                Rows::contiguous(&base, dim).expect("whole rows"),
                &mut norms,
            )
            .expect("one norm per row");
        Data {
            dim,
            base,
            norms,
            queries,
        }
    }

    fn queries(&self, n_queries: usize) -> Rows<'_, f32> {
        Rows::contiguous(&self.queries[..n_queries * self.dim], self.dim).expect("whole rows")
    }

    fn base(&self) -> Rows<'_, f32> {
        Rows::contiguous(&self.base, self.dim).expect("whole rows")
    }
}

/// `(label, table)`: each ISA explicitly, then the dispatched table.
fn tables(include_scalar: bool) -> Vec<(&'static str, &'static KernelTable)> {
    let mut out: Vec<(&'static str, &'static KernelTable)> = Isa::available()
        .into_iter()
        .filter(|&isa| include_scalar || isa != Isa::Scalar)
        .map(|isa| {
            (
                isa.name(),
                KernelTable::for_isa(isa).expect("Isa::available() lists supported ISAs"),
            )
        })
        .collect();
    if !include_scalar {
        out.push(("dispatch", kernels()));
    }
    out
}

fn bench_group(
    c: &mut Criterion,
    data: &Data,
    n_queries: usize,
    include_scalar: bool,
    measurement: Duration,
) {
    let group_name = format!("knn_q{n_queries}_n{}k_k{K}", N_BASE / 1000);
    let mut group = c.benchmark_group(group_name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(measurement);
    // 2·Q·N·d flops per call (one FMA = 2 flops per query, row and dimension):
    // criterion's elements/s is GFLOP/s.
    group.throughput(Throughput::Elements(
        (2 * n_queries * N_BASE * data.dim) as u64,
    ));
    // Outputs allocated once, outside the timed loop (the kernel allocates its own
    // small per-call scratch: heaps, a 24-row dot block and norms).
    let mut ids = vec![0u64; n_queries * K];
    let mut dists = vec![0.0f32; n_queries * K];
    for (label, table) in tables(include_scalar) {
        let id = format!("{METRIC}/{ELEM}/{label}/{}", data.dim);
        group.bench_function(id, |bench| {
            bench.iter(|| {
                table
                    .knn(
                        METRIC,
                        data.queries(n_queries),
                        data.base(),
                        Some(&data.norms),
                        K,
                        &mut ids,
                        &mut dists,
                    )
                    .expect("shapes are consistent");
            });
        });
    }
    group.finish();
}

fn main() {
    print_machine_banner("knn");
    eprintln!("   shape: Q x N = {Q_FULL} x {N_BASE}, k = {K}, metric l2sq with cached norms");
    let mut c = Criterion::default().configure_from_args();
    for dim in DIMS {
        let data = Data::new(dim, Q_FULL);
        // ~0.5 s a call at d = 128 and ~3 s at d = 768 with AVX2 on Zen 3: the
        // measurement time asks for about one call per sample.
        let measurement = Duration::from_secs(if dim <= 128 { 5 } else { 30 });
        bench_group(&mut c, &data, Q_FULL, false, measurement);
        if dim == 128 {
            bench_group(&mut c, &data, Q_SCALAR, true, Duration::from_secs(10));
        }
    }
    c.final_summary();
}
