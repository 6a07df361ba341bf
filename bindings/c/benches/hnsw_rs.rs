//! hnsw_rs with anndists' default `DistL2` against hnsw_rs with
//! `sagevec_kernels::anndists::KernelDist` (the one-line switch), same data, same
//! parameters (M 16, ef_construction 200, one thread): build time, and search QPS
//! and recall@10 at several ef; the variants alternate, `SAGEVEC_EMBED_ROUNDS`
//! times (default 3), and medians are printed with the ratio at the first ef
//! where both reach recall@10 >= 0.95.
//!
//! Data: the first `SAGEVEC_EMBED_N` rows (default 5000) of Fashion-MNIST's
//! base.npy (`SAGEVEC_EMBED_DATA`, default ../shared/data/fashion-mnist-784-l2)
//! and its first 200 queries, with the exact top 10 over that subset computed by
//! the kernels' knn; without the data files, clustered random rows (784-d).
//!
//! `cargo bench -p sagevec-capi --bench hnsw_rs`

use std::path::Path;
use std::time::Instant;

use anndists::dist::{DistL2, Distance};
use hnsw_rs::hnsw::Hnsw;
use sagevec_kernels::anndists::KernelDist;
use sagevec_kernels::{Metric, Rows, kernels};

const K: usize = 10;
const EFS: [usize; 6] = [16, 24, 32, 48, 64, 96];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (base, queries, dim) from the data set, or generated.
fn data(n: usize, n_q: usize) -> (Vec<f32>, Vec<f32>, usize, String) {
    let dir = std::env::var("SAGEVEC_EMBED_DATA").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/fashion-mnist-784-l2"
        )
        .into()
    });
    let dir = Path::new(&dir);
    match (
        sagevec_cli::formats::read_vectors_with_limit(&dir.join("base.npy"), Some(n)),
        sagevec_cli::formats::read_vectors_with_limit(&dir.join("queries.npy"), Some(n_q)),
    ) {
        (Ok(b), Ok(q)) => (
            b.data,
            q.data,
            b.dim,
            format!("{} (first {n} rows)", dir.display()),
        ),
        _ => {
            let dim = 784;
            let base = sagevec_benches::random_rows(n, dim, 7).to_vec();
            let queries = sagevec_benches::random_rows(n_q, dim, 8).to_vec();
            (
                base,
                queries,
                dim,
                "random rows (no data files found)".into(),
            )
        }
    }
}

struct Run {
    build_s: f64,
    /// (ef, recall@10, QPS)
    search: Vec<(usize, f64, f64)>,
}

fn run<D: Distance<f32> + Send + Sync>(
    dist: D,
    base: &[f32],
    queries: &[f32],
    dim: usize,
    truth: &[u64],
) -> Run {
    let n = base.len() / dim;
    let t = Instant::now();
    let h = Hnsw::<f32, D>::new(16, n, 16, 200, dist);
    for (i, row) in base.chunks_exact(dim).enumerate() {
        h.insert_slice((row, i));
    }
    let build_s = t.elapsed().as_secs_f64();
    let n_q = queries.len() / dim;
    let search = EFS
        .iter()
        .map(|&ef| {
            let t = Instant::now();
            let mut hits = 0usize;
            for (qi, q) in queries.chunks_exact(dim).enumerate() {
                let want = &truth[qi * K..(qi + 1) * K];
                hits += h
                    .search(q, K, ef)
                    .iter()
                    .filter(|n| want.contains(&(n.d_id as u64)))
                    .count();
            }
            let secs = t.elapsed().as_secs_f64();
            (ef, hits as f64 / (n_q * K) as f64, n_q as f64 / secs)
        })
        .collect();
    Run { build_s, search }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo bench --no-run` / `cargo test --benches` harness probes
    }
    sagevec_benches::print_machine_banner("hnsw_rs: DistL2 vs KernelDist");
    let n = env_usize("SAGEVEC_EMBED_N", 5000);
    let rounds = env_usize("SAGEVEC_EMBED_ROUNDS", 3);
    let (base, queries, dim, source) = data(n, 200);
    let n_q = queries.len() / dim;
    println!(
        "data: {source}: {} x {dim}, {n_q} queries; M 16, ef_construction 200, 1 thread",
        base.len() / dim
    );
    let mut truth = vec![0u64; n_q * K];
    let mut d = vec![0.0f32; n_q * K];
    kernels()
        .knn(
            Metric::L2Sq,
            Rows::contiguous(&queries, dim).unwrap(),
            Rows::contiguous(&base, dim).unwrap(),
            None,
            K,
            &mut truth,
            &mut d,
        )
        .unwrap();

    let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    for r in 0..rounds {
        runs[0].push(run(DistL2 {}, &base, &queries, dim, &truth));
        runs[1].push(run(
            KernelDist::new(Metric::L2Sq),
            &base,
            &queries,
            dim,
            &truth,
        ));
        println!(
            "round {}/{rounds}: build {:.2} s (DistL2) vs {:.2} s (KernelDist)",
            r + 1,
            runs[0][r].build_s,
            runs[1][r].build_s
        );
    }
    let names = ["DistL2 (anndists default)", "KernelDist (sagevec)"];
    let build: Vec<f64> = runs
        .iter()
        .map(|rs| median(rs.iter().map(|r| r.build_s).collect()))
        .collect();
    println!(
        "\n{:<28} {:>9}  ef: recall@10 / QPS (medians)",
        "distance", "build s"
    );
    let at = |v: usize, i: usize| {
        let recall = median(runs[v].iter().map(|r| r.search[i].1).collect());
        let qps = median(runs[v].iter().map(|r| r.search[i].2).collect());
        (recall, qps)
    };
    for (v, name) in names.iter().enumerate() {
        let cells: Vec<String> = EFS
            .iter()
            .enumerate()
            .map(|(i, ef)| {
                let (recall, qps) = at(v, i);
                format!("{ef}: {recall:.3}/{qps:.0}")
            })
            .collect();
        println!("{name:<28} {:>9.3}  {}", build[v], cells.join("  "));
    }
    match (0..EFS.len()).find(|&i| at(0, i).0 >= 0.95 && at(1, i).0 >= 0.95) {
        Some(i) => println!(
            "KernelDist vs DistL2: build {:.2}x faster; QPS {:.2}x at ef {} (recall {:.3} vs {:.3})",
            build[0] / build[1],
            at(1, i).1 / at(0, i).1,
            EFS[i],
            at(1, i).0,
            at(0, i).0
        ),
        None => println!(
            "KernelDist vs DistL2: build {:.2}x faster; no ef reached recall 0.95 for both",
            build[0] / build[1]
        ),
    }
}
