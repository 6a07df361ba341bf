//! The HNSW engine (`sagevec_index::graph`) against brute force: recall@10 on seeded
//! clustered data for every metric, on one thread and on worker pools (a real one
//! and a synthetic two-node one); reproducibility of sequential builds; filters;
//! edge cases (empty, one and two rows, duplicates, bad parameters, wrong query
//! length); and recall on a sample of the real Fashion-MNIST set when it is there.

use sagevec_index::graph::{
    AUTO_F16_MIN_DIM, Graph, GraphParams, SearchScratch, SearchStats, Traversal, VectorRows,
};
use sagevec_index::{BatchResults, IndexError, knn};
use sagevec_kernels::{Metric, Rows, TopK, kernels};
use sagevec_scheduler::{NumaPool, Par, Pin, Policy, Topology, plan};

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
    /// Standard normal (Box-Muller).
    fn gauss(&mut self) -> f32 {
        let (u, v) = (self.unit(), self.unit());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

/// `n` base rows and `n_q` query rows drawn from `clusters` gaussian clusters
/// (centres uniform in [-1, 1]^dim, spread `sigma`), rows in random cluster order.
fn clustered(n: usize, n_q: usize, dim: usize, clusters: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SplitMix64(seed);
    let centres: Vec<f32> = (0..clusters * dim)
        .map(|_| (rng.unit() * 2.0 - 1.0) as f32)
        .collect();
    let sigma = 0.5f32;
    let mut draw = |count: usize| -> Vec<f32> {
        let mut out = Vec::with_capacity(count * dim);
        for _ in 0..count {
            let c = (rng.next() % clusters as u64) as usize;
            for j in 0..dim {
                out.push(centres[c * dim + j] + sigma * rng.gauss());
            }
        }
        out
    };
    let base = draw(n);
    let queries = draw(n_q);
    (base, queries)
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

/// Exact top-k ids per query.
fn brute(metric: Metric, base: &[f32], queries: &[f32], dim: usize, k: usize) -> Vec<Vec<u64>> {
    let (x, q) = (
        Rows::contiguous(base, dim).unwrap(),
        Rows::contiguous(queries, dim).unwrap(),
    );
    let mut out = BatchResults::new(q.n_rows(), k).unwrap();
    knn(metric, q, x, None, k, Par::Seq, &mut out).unwrap();
    (0..q.n_rows()).map(|i| out.ids(i).to_vec()).collect()
}

/// Searches every query: the results, best first.
fn search_all(g: &Graph, queries: &[f32], k: usize, ef: usize) -> Vec<Vec<(u64, f32)>> {
    let mut scratch = SearchScratch::new();
    queries
        .chunks_exact(g.dim())
        .map(|q| {
            let mut top = TopK::new(k);
            g.search(q, ef, |_| true, &mut scratch, &mut top);
            top.into_sorted_vec()
                .into_iter()
                .map(|n| (n.id, n.distance))
                .collect()
        })
        .collect()
}

fn recall(found: &[Vec<(u64, f32)>], truth: &[Vec<u64>], k: usize) -> f64 {
    let hits: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| f.iter().filter(|(id, _)| t[..k].contains(id)).count())
        .sum();
    hits as f64 / (truth.len() * k) as f64
}

/// Every returned distance is the kernels' distance for that row, bit for bit.
fn assert_kernel_distances(g: &Graph, queries: &[f32], found: &[Vec<(u64, f32)>]) {
    for (q, res) in queries.chunks_exact(g.dim()).zip(found) {
        for &(id, d) in res {
            let want = kernels()
                .distance(g.metric(), q, g.vector(id as usize))
                .unwrap();
            assert_eq!(d.to_bits(), want.to_bits(), "row {id}");
        }
    }
}

/// Pools to test on: this machine's, and a synthetic 2-node one (4 workers mapped
/// round-robin onto the real CPUs).
fn pools() -> Vec<NumaPool> {
    let real = NumaPool::new(plan(&Topology::detect(), &Policy::default()).unwrap()).unwrap();
    let topo = Topology::synthetic("pack:2 numa:1 core:2 pu:1").unwrap();
    let two = NumaPool::new(plan(&topo, &Policy::default().with_pin(Pin::Off)).unwrap()).unwrap();
    assert_eq!(two.n_nodes(), 2);
    vec![real, two]
}

const K: usize = 10;

#[test]
fn recall_at_10_for_every_metric() {
    let dim = 64;
    let (mut base, mut queries) = clustered(6000, 200, dim, 100, 1);
    for metric in [Metric::L2Sq, Metric::InnerProduct, Metric::Cosine] {
        if metric != Metric::L2Sq {
            normalise(&mut base, dim);
            normalise(&mut queries, dim);
        }
        let rows = Rows::contiguous(&base, dim).unwrap();
        let t = std::time::Instant::now();
        let g = Graph::build(metric, &rows, &GraphParams::default(), Par::Seq).unwrap();
        let built = t.elapsed();
        let truth = brute(metric, &base, &queries, dim, K);
        // A narrow beam (ef 16) must already pass 0.95; a wider one nearly 1.
        let r16 = recall(&search_all(&g, &queries, K, 16), &truth, K);
        let found = search_all(&g, &queries, K, 64);
        let r = recall(&found, &truth, K);
        eprintln!("{metric}: recall@10 = {r16:.4} (ef 16), {r:.4} (ef 64), built in {built:?}");
        assert!(r16 >= 0.95, "{metric}: recall@10 at ef 16 = {r16}");
        assert!(r >= 0.99, "{metric}: recall@10 at ef 64 = {r}");
        assert!(found.iter().all(|f| f.len() == K));
        assert_kernel_distances(&g, &queries, &found);
    }
}

#[test]
fn f16_and_f32_walks_reach_the_same_recall_with_exact_distances() {
    // Below the auto threshold so both walks are asked for explicitly.
    let dim = 40;
    assert!(dim < AUTO_F16_MIN_DIM);
    let (mut base, mut queries) = clustered(4000, 150, dim, 60, 21);
    for metric in [Metric::L2Sq, Metric::InnerProduct, Metric::Cosine] {
        if metric != Metric::L2Sq {
            normalise(&mut base, dim);
            normalise(&mut queries, dim);
        }
        let rows = Rows::contiguous(&base, dim).unwrap();
        let mut g = Graph::build(metric, &rows, &GraphParams::default(), Par::Seq).unwrap();
        assert!(
            !g.walks_f16(),
            "auto below {AUTO_F16_MIN_DIM} dims walks f32"
        );
        let f32_bytes = g.memory_bytes();
        let truth = brute(metric, &base, &queries, dim, K);
        let on_f32 = search_all(&g, &queries, K, 32);
        g.set_traversal(Traversal::F16);
        assert!(g.walks_f16() && g.params().traversal == Traversal::F16);
        // The copy is half the padded f32 vectors (40 f16 = 80 bytes: 2 lines vs 3).
        assert!(g.memory_bytes() > f32_bytes, "the copy is counted");
        let mut scratch = SearchScratch::new();
        let mut top = TopK::new(K);
        for q in queries.chunks_exact(dim) {
            top.clear();
            g.search(q, 32, |_| true, &mut scratch, &mut top);
        }
        let st = scratch.take_stats();
        assert_eq!(
            st.reranked,
            150 * 32,
            "every beam row is re-ranked once: {st:?}"
        );
        let on_f16 = search_all(&g, &queries, K, 32);
        let (r32, r16) = (recall(&on_f32, &truth, K), recall(&on_f16, &truth, K));
        eprintln!("{metric}: recall@10 at ef 32: f32 walk {r32:.4}, f16 walk {r16:.4}");
        assert!(r16 >= 0.95 && r16 >= r32 - 0.01, "{metric}: {r16} vs {r32}");
        // Re-ranked: every distance is the f32 kernel's, and results come best first.
        assert_kernel_distances(&g, &queries, &on_f16);
        for res in &on_f16 {
            assert!(res.windows(2).all(|w| w[0].1 <= w[1].1));
        }
        g.set_traversal(Traversal::F32);
        assert!(!g.walks_f16());
        assert_eq!(g.memory_bytes(), f32_bytes);
        assert_eq!(
            search_all(&g, &queries, K, 32),
            on_f32,
            "back to the same walk"
        );
    }
}

#[test]
fn graphs_built_on_the_f16_copy_for_every_metric() {
    // What `Auto` gives the index from 64 dimensions (cosine arrives as inner
    // product on unit vectors; `Graph::build` also takes cosine itself), at a
    // dimension that is not a multiple of 8 or 16 so every kernel tail runs.
    let dim = 67;
    let (mut base, mut queries) = clustered(3000, 100, dim, 50, 23);
    let f16 = GraphParams::default().traversal(Traversal::F16);
    for metric in [Metric::L2Sq, Metric::InnerProduct, Metric::Cosine] {
        if metric != Metric::L2Sq {
            normalise(&mut base, dim);
            normalise(&mut queries, dim);
        }
        let rows = Rows::contiguous(&base, dim).unwrap();
        let g = Graph::build(metric, &rows, &f16, Par::Seq).unwrap();
        assert!(g.walks_f16());
        let truth = brute(metric, &base, &queries, dim, K);
        let found = search_all(&g, &queries, K, 32);
        let r = recall(&found, &truth, K);
        eprintln!("{metric}: built and walked on f16, recall@10 at ef 32 = {r:.4}");
        assert!(r >= 0.95, "{metric}: {r}");
        assert_kernel_distances(&g, &queries, &found);
        // A filter: never a refused row, and k results while k pass (every third).
        let mut scratch = SearchScratch::new();
        for q in queries.chunks_exact(dim).take(20) {
            let mut top = TopK::new(K);
            g.search(q, 32, |row| row % 3 == 0, &mut scratch, &mut top);
            let hits = top.into_sorted_vec();
            assert_eq!(hits.len(), K, "{metric}");
            assert!(hits.iter().all(|n| n.id % 3 == 0), "{metric}");
        }
    }
    // k beyond the graph, one row, and an empty graph.
    for n in [0usize, 1, 5] {
        let rows = Rows::strided(&base, n, dim, dim).unwrap();
        let g = Graph::build(Metric::L2Sq, &rows, &f16, Par::Seq).unwrap();
        let mut top = TopK::new(K);
        g.search(
            &queries[..dim],
            16,
            |_| true,
            &mut SearchScratch::new(),
            &mut top,
        );
        let hits = top.into_sorted_vec();
        assert_eq!(hits.len(), n, "{n} rows");
        assert_kernel_distances(
            &g,
            &queries[..dim],
            &[hits.iter().map(|h| (h.id, h.distance)).collect()],
        );
    }
}

#[test]
fn f16_walk_keeps_recall_at_extreme_magnitudes() {
    // Rows far outside f16's range (and far below its smallest subnormal) are scaled
    // by a power of two into it: the same data at 1e-15, 1, and 1e15 (whose squared
    // distances f32 still holds) finds the same neighbours. A query far larger than every row walks the f32 rows instead.
    let dim = 64;
    let (base, queries) = clustered(3000, 100, dim, 40, 22);
    let truth = brute(Metric::L2Sq, &base, &queries, dim, K);
    let mut recalls = Vec::new();
    for scale in [1e-15f32, 1.0, 1e15] {
        let b: Vec<f32> = base.iter().map(|x| x * scale).collect();
        let q: Vec<f32> = queries.iter().map(|x| x * scale).collect();
        let rows = Rows::contiguous(&b, dim).unwrap();
        let p = GraphParams::default().traversal(Traversal::F16);
        let g = Graph::build(Metric::L2Sq, &rows, &p, Par::Seq).unwrap();
        assert!(g.walks_f16());
        let found = search_all(&g, &q, K, 48);
        assert_kernel_distances(&g, &q, &found);
        recalls.push(recall(&found, &truth, K));
        // One element 1024 times the largest row element: beyond what an f16 walk
        // takes (2^24 against rows below 2^15 after scaling); still answered,
        // exactly, by the f32 walk (and still finite in f32 at the 1e15 scale).
        let max_abs = b.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let mut far = q[..dim].to_vec();
        far[0] = max_abs * 1024.0;
        let mut top = TopK::new(K);
        let mut scratch = SearchScratch::new();
        g.search(&far, 48, |_| true, &mut scratch, &mut top);
        assert_eq!(scratch.take_stats().reranked, 0, "scale {scale}: f32 walk");
        let hits = top.into_sorted_vec();
        assert_eq!(hits.len(), K);
        assert!(hits.iter().all(|n| n.distance.is_finite()), "scale {scale}");
        assert_kernel_distances(
            &g,
            &far,
            &[hits.iter().map(|n| (n.id, n.distance)).collect()],
        );
    }
    eprintln!("f16 walk recall@10 at ef 48 for scales 1e-15, 1, 1e15: {recalls:?}");
    assert!(recalls.iter().all(|&r| r >= 0.95), "{recalls:?}");
    assert!((recalls[0] - recalls[1]).abs() < 0.01 && (recalls[2] - recalls[1]).abs() < 0.01);
}

#[test]
fn inner_product_on_unnormalised_rows() {
    // Maximum inner product on rows of varied norms is not a metric space; the graph
    // must still find the true top-10 (rows scaled by up to 2x).
    let dim = 48;
    let (mut base, queries) = clustered(4000, 100, dim, 50, 11);
    let mut rng = SplitMix64(12);
    for row in base.chunks_exact_mut(dim) {
        let s = 0.5 + 1.5 * rng.unit() as f32;
        row.iter_mut().for_each(|x| *x *= s);
    }
    let rows = Rows::contiguous(&base, dim).unwrap();
    let g = Graph::build(
        Metric::InnerProduct,
        &rows,
        &GraphParams::default(),
        Par::Seq,
    )
    .unwrap();
    let truth = brute(Metric::InnerProduct, &base, &queries, dim, K);
    let found = search_all(&g, &queries, K, 128);
    let r = recall(&found, &truth, K);
    eprintln!("ip (unnormalised): recall@10 = {r:.4} (ef 128)");
    assert!(r >= 0.95, "recall@10 = {r}");
}

#[test]
fn every_row_finds_itself_first() {
    let dim = 32;
    let (base, _) = clustered(3000, 0, dim, 60, 2);
    let rows = Rows::contiguous(&base, dim).unwrap();
    for metric in [Metric::L2Sq, Metric::Cosine] {
        let g = Graph::build(metric, &rows, &GraphParams::default(), Par::Seq).unwrap();
        let found = search_all(&g, &base, 1, 200);
        for (row, f) in found.iter().enumerate() {
            assert_eq!(f[0].0, row as u64, "{metric}: row {row} found {:?}", f[0]);
        }
    }
}

#[test]
fn search_stats_count_the_work_and_reset() {
    let dim = 16;
    let (base, queries) = clustered(2_000, 20, dim, 10, 11);
    let rows = Rows::contiguous(&base, dim).unwrap();
    let g = Graph::build(Metric::L2Sq, &rows, &GraphParams::default(), Par::Seq).unwrap();
    let mut scratch = SearchScratch::new();
    assert_eq!(scratch.take_stats(), SearchStats::default());
    let mut per_ef = Vec::new();
    for ef in [10, 80] {
        let mut top = TopK::new(10);
        for q in queries.chunks_exact(dim) {
            top.clear();
            g.search(q, ef, |_| true, &mut scratch, &mut top);
        }
        let st = scratch.take_stats();
        // Every query computes at least its entry distance and expands a node; no
        // more distances than links read (at most 2m per level-0 hop) plus the entry.
        assert!(st.hops >= 20 && st.distances > st.hops, "{st:?}");
        assert!(st.distances <= 20 + st.hops * 2 * 16, "{st:?}");
        assert_eq!(scratch.take_stats(), SearchStats::default());
        per_ef.push(st);
    }
    // A wider beam expands more nodes and computes more distances.
    assert!(per_ef[1].hops > per_ef[0].hops && per_ef[1].distances > per_ef[0].distances);
}

#[test]
fn same_seed_same_graph_and_another_seed_another() {
    let dim = 24;
    let (base, queries) = clustered(2000, 50, dim, 30, 3);
    let rows = Rows::contiguous(&base, dim).unwrap();
    let p = GraphParams::default().m(8).ef_construction(64);
    let a = Graph::build(Metric::L2Sq, &rows, &p, Par::Seq).unwrap();
    let b = Graph::build(Metric::L2Sq, &rows, &p, Par::Seq).unwrap();
    assert_eq!(a.max_level(), b.max_level());
    for row in 0..a.len() {
        assert_eq!(a.neighbors(row), b.neighbors(row), "row {row}");
    }
    let fa = search_all(&a, &queries, K, 40);
    assert_eq!(fa, search_all(&b, &queries, K, 40));
    let other = p.clone().seed(p.seed ^ 1);
    let c = Graph::build(Metric::L2Sq, &rows, &other, Par::Seq).unwrap();
    assert!((0..c.len()).any(|row| c.neighbors(row) != a.neighbors(row)));
}

#[test]
fn bad_parameters_are_errors() {
    let data = vec![0.5f32; 40];
    let rows = Rows::contiguous(&data, 4).unwrap();
    let ok = GraphParams::default();
    let cases: Vec<(GraphParams, &str)> = vec![
        (ok.clone().m(0), "m"),
        (ok.clone().m(1), "m"),
        (ok.clone().m(10_000), "m"),
        (ok.clone().ef_construction(0), "ef_construction"),
        (ok.clone().ef_construction(usize::MAX), "ef_construction"),
        (ok.clone().level_multiplier(f64::NAN), "level_multiplier"),
        (ok.clone().level_multiplier(0.0), "level_multiplier"),
        (ok.clone().level_multiplier(-0.5), "level_multiplier"),
    ];
    for (p, field) in cases {
        match Graph::build(Metric::L2Sq, &rows, &p, Par::Seq) {
            Err(IndexError::InvalidParameter { name, reason }) => {
                assert_eq!(name, field, "{p:?}");
                assert!(!reason.is_empty());
            }
            other => panic!("{p:?}: {other:?}"),
        }
    }
}

#[test]
fn empty_one_and_two_rows() {
    let mut scratch = SearchScratch::new();
    let empty = Rows::contiguous(&[] as &[f32], 8).unwrap();
    let g = Graph::build(Metric::L2Sq, &empty, &GraphParams::default(), Par::Seq).unwrap();
    assert!(g.is_empty() && g.dim() == 8 && g.memory_bytes() < 4096);
    assert_eq!(g.len(), 0);
    let mut top = TopK::new(5);
    g.search(&[0.0; 8], 10, |_| true, &mut scratch, &mut top);
    assert!(top.is_empty());

    for metric in [Metric::L2Sq, Metric::InnerProduct, Metric::Cosine] {
        let one = [1.0f32, 2.0, 3.0];
        let g = Graph::build(
            metric,
            &Rows::contiguous(&one, 3).unwrap(),
            &GraphParams::default(),
            Par::Seq,
        )
        .unwrap();
        let mut top = TopK::new(5);
        g.search(&[1.0, 0.0, 0.0], 1, |_| true, &mut scratch, &mut top);
        let got = top.into_sorted_vec();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, 0);

        let two = [1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0];
        let g = Graph::build(
            metric,
            &Rows::contiguous(&two, 3).unwrap(),
            &GraphParams::default(),
            Par::Seq,
        )
        .unwrap();
        assert_eq!(g.neighbors(0), &[1]);
        assert_eq!(g.neighbors(1), &[0]);
        for (q, want) in [([0.9f32, 0.1, 0.0], [0u64, 1]), ([0.1, 0.9, 0.0], [1, 0])] {
            let mut top = TopK::new(5);
            g.search(&q, 1, |_| true, &mut scratch, &mut top);
            let ids: Vec<u64> = top.into_sorted_vec().iter().map(|n| n.id).collect();
            assert_eq!(ids, want, "{metric}");
        }
    }
}

#[test]
fn wrong_query_length_and_k_zero_return_nothing() {
    let dim = 16;
    let (base, _) = clustered(300, 0, dim, 5, 4);
    let g = Graph::build(
        Metric::L2Sq,
        &Rows::contiguous(&base, dim).unwrap(),
        &GraphParams::default(),
        Par::Seq,
    )
    .unwrap();
    let mut scratch = SearchScratch::new();
    for len in [0usize, dim - 1, dim + 1] {
        let mut top = TopK::new(3);
        g.search(&vec![0.0; len], 10, |_| true, &mut scratch, &mut top);
        assert!(top.is_empty(), "len {len}");
    }
    let mut top = TopK::new(0);
    g.search(&base[..dim], 10, |_| true, &mut scratch, &mut top);
    assert!(top.is_empty());
}

#[test]
fn duplicate_vectors_are_all_found() {
    // 40 copies of one vector among clustered rows: a query at that vector gets
    // copies only, at distance 0, and the other rows keep their recall.
    let dim = 32;
    let (mut base, queries) = clustered(3000, 100, dim, 40, 5);
    let dup: Vec<f32> = base[..dim].to_vec();
    let copies: Vec<usize> = (0..40).map(|i| 17 + i * 71).collect();
    for &c in &copies {
        base[c * dim..(c + 1) * dim].copy_from_slice(&dup);
    }
    let rows = Rows::contiguous(&base, dim).unwrap();
    let g = Graph::build(Metric::L2Sq, &rows, &GraphParams::default(), Par::Seq).unwrap();
    let mut scratch = SearchScratch::new();
    let mut top = TopK::new(41);
    g.search(&dup, 100, |_| true, &mut scratch, &mut top);
    let got = top.into_sorted_vec();
    let mut ids: Vec<usize> = got.iter().map(|n| n.id as usize).collect();
    ids.sort_unstable();
    let mut want = copies.clone();
    want.push(0);
    want.sort_unstable();
    assert_eq!(ids, want);
    assert!(got.iter().all(|n| n.distance == 0.0));
    let truth = brute(Metric::L2Sq, &base, &queries, dim, K);
    let r = recall(&search_all(&g, &queries, K, 64), &truth, K);
    assert!(r >= 0.95, "recall@10 with duplicates = {r}");
}

#[test]
fn filters_never_return_a_refused_row_and_fill_k() {
    let dim = 32;
    let (base, queries) = clustered(5000, 100, dim, 50, 6);
    let rows = Rows::contiguous(&base, dim).unwrap();
    let g = Graph::build(Metric::L2Sq, &rows, &GraphParams::default(), Par::Seq).unwrap();
    let mut scratch = SearchScratch::new();
    // About 30% admitted, scattered (a hash of the row), and a sparse 2% filter.
    for (pct, min_recall) in [(30u64, 0.95), (2, 0.9)] {
        let admit =
            |row: u32| (u64::from(row).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 100 < pct;
        let kept: Vec<f32> = base
            .chunks_exact(dim)
            .enumerate()
            .filter(|(i, _)| admit(*i as u32))
            .flat_map(|(_, r)| r.iter().copied())
            .collect();
        let kept_ids: Vec<u64> = (0..g.len() as u32)
            .filter(|&i| admit(i))
            .map(u64::from)
            .collect();
        let truth: Vec<Vec<u64>> = brute(Metric::L2Sq, &kept, &queries, dim, K)
            .into_iter()
            .map(|t| t.iter().map(|&j| kept_ids[j as usize]).collect())
            .collect();
        let mut found = Vec::new();
        for q in queries.chunks_exact(dim) {
            let mut top = TopK::new(K);
            g.search(q, 64, admit, &mut scratch, &mut top);
            let res: Vec<(u64, f32)> = top
                .into_sorted_vec()
                .into_iter()
                .map(|n| (n.id, n.distance))
                .collect();
            assert_eq!(res.len(), K, "{pct}%: fewer than k results");
            assert!(
                res.iter().all(|&(id, _)| admit(id as u32)),
                "{pct}%: refused row"
            );
            found.push(res);
        }
        let r = recall(&found, &truth, K);
        eprintln!("filter {pct}%: recall@10 = {r:.4}");
        assert!(r >= min_recall, "{pct}%: recall@10 = {r}");
    }
    // A filter that admits nothing returns nothing; one that admits 3 rows returns them.
    let mut top = TopK::new(K);
    g.search(&queries[..dim], 64, |_| false, &mut scratch, &mut top);
    assert!(top.is_empty());
    let three = [5u32, 2500, 4999];
    let mut top = TopK::new(K);
    g.search(
        &queries[..dim],
        64,
        |r| three.contains(&r),
        &mut scratch,
        &mut top,
    );
    let mut ids: Vec<u64> = top.into_sorted_vec().iter().map(|n| n.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![5, 2500, 4999]);
}

#[test]
fn pool_builds_reach_the_same_recall() {
    let dim = 64;
    let (base, queries) = clustered(6000, 200, dim, 100, 7);
    let rows = Rows::contiguous(&base, dim).unwrap();
    let truth = brute(Metric::L2Sq, &base, &queries, dim, K);
    let seq = Graph::build(Metric::L2Sq, &rows, &GraphParams::default(), Par::Seq).unwrap();
    let r_seq = recall(&search_all(&seq, &queries, K, 16), &truth, K);
    for pool in pools() {
        let g = Graph::build(
            Metric::L2Sq,
            &rows,
            &GraphParams::default(),
            Par::Pool(&pool),
        )
        .unwrap();
        assert_eq!((g.len(), g.max_level()), (seq.len(), seq.max_level()));
        let found = search_all(&g, &queries, K, 16);
        let r = recall(&found, &truth, K);
        eprintln!(
            "pool ({} nodes, {} workers): recall@10 = {r:.4} (seq {r_seq:.4})",
            pool.n_nodes(),
            pool.n_threads()
        );
        assert!(
            r >= 0.95 && r >= r_seq - 0.02,
            "pool recall {r} vs seq {r_seq} (ef 16)"
        );
        // Every row is linked: no node is left without level-0 links.
        assert!((0..g.len()).all(|row| !g.neighbors(row).is_empty()));
        assert_kernel_distances(&g, &queries, &found);
    }
}

/// A chunked arena, as the index's growing segment stores rows.
struct Chunked {
    dim: usize,
    chunks: Vec<Vec<f32>>,
    rows_per_chunk: usize,
    len: usize,
}

impl VectorRows for Chunked {
    fn dim(&self) -> usize {
        self.dim
    }
    fn len(&self) -> usize {
        self.len
    }
    fn row(&self, i: usize) -> &[f32] {
        let (c, r) = (i / self.rows_per_chunk, i % self.rows_per_chunk);
        &self.chunks[c][r * self.dim..(r + 1) * self.dim]
    }
}

#[test]
fn chunked_rows_build_the_same_graph_as_a_slice() {
    let dim = 20;
    let (base, queries) = clustered(1000, 20, dim, 10, 8);
    let per = 96;
    let chunked = Chunked {
        dim,
        chunks: base.chunks(per * dim).map(<[f32]>::to_vec).collect(),
        rows_per_chunk: per,
        len: 1000,
    };
    let p = GraphParams::default();
    let a = Graph::build(Metric::L2Sq, &chunked, &p, Par::Seq).unwrap();
    let b = Graph::build(
        Metric::L2Sq,
        &Rows::contiguous(&base, dim).unwrap(),
        &p,
        Par::Seq,
    )
    .unwrap();
    for row in 0..a.len() {
        assert_eq!(a.vector(row), &base[row * dim..(row + 1) * dim]);
        assert_eq!(a.neighbors(row), b.neighbors(row));
    }
    assert_eq!(
        search_all(&a, &queries, 5, 20),
        search_all(&b, &queries, 5, 20)
    );
    assert!(a.memory_bytes() >= 1000 * dim * 4 + 1000 * (1 + 2 * p.m) * 4);
    // A row of the wrong length is an error, not a panic.
    struct Ragged;
    impl VectorRows for Ragged {
        fn dim(&self) -> usize {
            4
        }
        fn len(&self) -> usize {
            2
        }
        fn row(&self, i: usize) -> &[f32] {
            if i == 0 { &[1.0; 4] } else { &[1.0; 3] }
        }
    }
    assert!(matches!(
        Graph::build(Metric::L2Sq, &Ragged, &p, Par::Seq),
        Err(IndexError::DimensionMismatch {
            expected: 4,
            got: 3
        })
    ));
    // Rows of dimension 0 are refused too.
    let zero_dim = Chunked {
        dim: 0,
        chunks: vec![Vec::new()],
        rows_per_chunk: 5,
        len: 5,
    };
    assert!(matches!(
        Graph::build(Metric::L2Sq, &zero_dim, &p, Par::Seq),
        Err(IndexError::InvalidParameter { name: "dim", .. })
    ));
}

#[test]
fn graph_is_shareable_and_searches_from_many_threads() {
    fn shared<T: Send + Sync + std::fmt::Debug>() {}
    shared::<Graph>();
    fn sendable<T: Send>() {}
    sendable::<SearchScratch>();
    let dim = 16;
    let (base, queries) = clustered(2000, 64, dim, 20, 9);
    let g = Graph::build(
        Metric::L2Sq,
        &Rows::contiguous(&base, dim).unwrap(),
        &GraphParams::default(),
        Par::Seq,
    )
    .unwrap();
    let want = search_all(&g, &queries, K, 50);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(search_all(&g, &queries, K, 50), want));
        }
    });
}

/// Reads a little-endian, C-order `.npy` array as raw bytes + shape.
fn read_npy(path: &std::path::Path) -> Option<(String, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).ok()?;
    assert_eq!(
        &bytes[..6],
        b"\x93NUMPY",
        "{}: not an .npy file",
        path.display()
    );
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    let descr = header
        .split("'descr': '")
        .nth(1)?
        .split('\'')
        .next()?
        .to_owned();
    assert!(header.contains("'fortran_order': False"));
    let shape: Vec<usize> = header
        .split("'shape': (")
        .nth(1)?
        .split(')')
        .next()?
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some((descr, shape, bytes[10 + header_len..].to_vec()))
}

#[test]
fn fashion_mnist_sample_recall() {
    // The shared data sits beside the checkout (../shared/data), or where
    // SAGEVEC_DATA_DIR points; a checkout without it skips this test, loudly.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = [
        std::env::var_os("SAGEVEC_DATA_DIR").map(std::path::PathBuf::from),
        Some(root.join("../shared/data")),
        Some(root.join("shared/data")),
    ];
    let Some(dir) = candidates
        .into_iter()
        .flatten()
        .map(|d| d.join("fashion-mnist-784-l2"))
        .find(|d| d.join("base.npy").exists())
    else {
        eprintln!("SKIP: fashion-mnist-784-l2 not found (../shared/data or SAGEVEC_DATA_DIR)");
        return;
    };
    let (Some(base), Some(queries)) = (
        read_npy(&dir.join("base.npy")),
        read_npy(&dir.join("queries.npy")),
    ) else {
        panic!("{}: the data set is incomplete", dir.display());
    };
    assert_eq!((base.0.as_str(), queries.0.as_str()), ("<f4", "<f4"));
    let f32s = |b: &[u8], n: usize| -> Vec<f32> {
        b.chunks_exact(4)
            .take(n)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let dim = base.1[1];
    let (n, n_q) = (5000, 200);
    let x = f32s(&base.2, n * dim);
    let q = f32s(&queries.2, n_q * dim);
    let rows = Rows::contiguous(&x, dim).unwrap();
    let t = std::time::Instant::now();
    let g = Graph::build(Metric::L2Sq, &rows, &GraphParams::default(), Par::Seq).unwrap();
    let built = t.elapsed();
    let truth = brute(Metric::L2Sq, &x, &q, dim, K);
    let found = search_all(&g, &q, K, 64);
    let r = recall(&found, &truth, K);
    eprintln!("fashion-mnist 5k: recall@10 = {r:.4} (ef 64), built in {built:?}");
    assert!(r >= 0.95, "recall@10 = {r}");
}
