//! Cross-check against hnsw_rs, the reference engine: hnsw_rs driven by our kernels
//! through its `Distance` trait (`KernelDist`, the documented way another Rust engine
//! embeds sagevec's kernels) and our own graph, built with the same parameters on
//! the same data, must both find the true neighbours; ours may not trail by more
//! than 0.02 recall@10 at any of a few beam widths.

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::hnsw::Hnsw;
use sagevec_index::graph::{Graph, GraphParams, SearchScratch};
use sagevec_index::{BatchResults, knn};
use sagevec_kernels::{DistanceFn, Metric, Rows, TopK, kernels};
use sagevec_scheduler::Par;

/// hnsw_rs's (anndists') `Distance<f32>` on sagevec's kernels: the kernel for the
/// metric is resolved once (CPU detection, `SAGEVEC_ISA`), so each `eval` is one
/// indirect call into the SIMD loop.
///
/// hnsw_rs asserts that distances are `>= 0`, so the inner-product distance `-a·b`
/// is reported as `1 - a·b` (anndists' `DistDot`), which is `>= 0` on unit vectors,
/// the only input it is meant for; the shift keeps the order. L2 and cosine are the
/// kernels' values unchanged.
#[derive(Clone, Copy, Debug)]
struct KernelDist {
    f: DistanceFn<f32>,
    shift: f32,
}

impl KernelDist {
    fn new(metric: Metric) -> Self {
        let shift = if metric == Metric::InnerProduct {
            1.0
        } else {
            0.0
        };
        KernelDist {
            f: kernels().distance_fn(metric),
            shift,
        }
    }
}

impl Distance<f32> for KernelDist {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        // Rounding can take `1 - a·b` of a unit vector with itself a hair below 0.
        (self.shift + self.f.call(va, vb)).max(0.0)
    }
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f32 {
        let (u, v) = (self.unit(), self.unit());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

/// Base and queries from overlapping gaussian clusters.
fn clustered(n: usize, n_q: usize, dim: usize, clusters: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SplitMix64(seed);
    let centres: Vec<f32> = (0..clusters * dim)
        .map(|_| (rng.unit() * 2.0 - 1.0) as f32)
        .collect();
    let mut draw = |count: usize| -> Vec<f32> {
        let mut out = Vec::with_capacity(count * dim);
        for _ in 0..count {
            let c = (rng.next() % clusters as u64) as usize;
            out.extend((0..dim).map(|j| centres[c * dim + j] + 0.5 * rng.gauss()));
        }
        out
    };
    let base = draw(n);
    (base, draw(n_q))
}

fn normalise(data: &mut [f32], dim: usize) {
    for row in data.chunks_exact_mut(dim) {
        let norm = row
            .iter()
            .map(|&x| f64::from(x).powi(2))
            .sum::<f64>()
            .sqrt();
        row.iter_mut()
            .for_each(|x| *x = (f64::from(*x) / norm) as f32);
    }
}

const K: usize = 10;

#[test]
fn kernel_dist_is_the_kernel_distance() {
    let a = [1.0f32, 2.0, 3.0, 4.0, 5.0];
    let b = [0.5f32, -1.0, 2.0, 0.0, 1.0];
    for metric in [Metric::L2Sq, Metric::Cosine] {
        let want = kernels().distance(metric, &a, &b).unwrap();
        assert_eq!(
            KernelDist::new(metric).eval(&a, &b).to_bits(),
            want.to_bits()
        );
    }
    // Inner product on unit vectors: 1 - a·b.
    let (u, v) = ([0.6f32, 0.8, 0.0], [0.0f32, 0.6, 0.8]);
    let ip = KernelDist::new(Metric::InnerProduct);
    assert_eq!(
        ip.eval(&u, &v),
        1.0 + kernels().distance(Metric::InnerProduct, &u, &v).unwrap()
    );
    assert!(ip.eval(&u, &u) >= 0.0 && ip.eval(&u, &u) < 1e-6);
}

#[test]
fn ours_matches_hnsw_rs_recall() {
    let (n, n_q, dim) = (2000usize, 100usize, 48usize);
    for metric in [Metric::L2Sq, Metric::InnerProduct] {
        let (mut base, mut queries) = clustered(n, n_q, dim, 20, 31);
        if metric == Metric::InnerProduct {
            normalise(&mut base, dim);
            normalise(&mut queries, dim);
        }
        let rows = Rows::contiguous(&base, dim).unwrap();
        let q = Rows::contiguous(&queries, dim).unwrap();
        let mut exact = BatchResults::new(n_q, K).unwrap();
        knn(metric, q, rows, None, K, Par::Seq, &mut exact).unwrap();

        let params = GraphParams::default();
        let ours = Graph::build(metric, &rows, &params, Par::Seq).unwrap();
        let max_layer = 16;
        let theirs = Hnsw::<f32, KernelDist>::new(
            params.m,
            n,
            max_layer,
            params.ef_construction,
            KernelDist::new(metric),
        );
        for (i, row) in base.chunks_exact(dim).enumerate() {
            theirs.insert_slice((row, i));
        }

        let mut scratch = SearchScratch::new();
        for ef in [10usize, 16, 32, 64] {
            let (mut hits_ours, mut hits_theirs) = (0usize, 0usize);
            for (i, query) in queries.chunks_exact(dim).enumerate() {
                let truth = exact.ids(i);
                let mut top = TopK::new(K);
                ours.search(query, ef, |_| true, &mut scratch, &mut top);
                let got = top.into_sorted_vec();
                assert_eq!(got.len(), K);
                hits_ours += got.iter().filter(|n| truth.contains(&n.id)).count();
                let got = theirs.search(query, K, ef);
                hits_theirs += got
                    .iter()
                    .filter(|n| truth.contains(&(n.d_id as u64)))
                    .count();
            }
            let total = (n_q * K) as f64;
            let (r_ours, r_theirs) = (hits_ours as f64 / total, hits_theirs as f64 / total);
            eprintln!("{metric} ef {ef}: recall@10 sagevec {r_ours:.4}, hnsw_rs {r_theirs:.4}");
            assert!(
                r_ours >= r_theirs - 0.02,
                "{metric} ef {ef}: sagevec {r_ours} < hnsw_rs {r_theirs} - 0.02"
            );
            if ef >= 32 {
                assert!(r_theirs >= 0.9, "hnsw_rs on our kernels: recall {r_theirs}");
            }
        }
    }
}
