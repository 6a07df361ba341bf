//! Exact batch knn over worker pools equals the single-threaded kernel result bit for
//! bit (each pair's distance does not depend on how the work is split), on real and
//! synthetic multi-node pools, on both split strategies; bad input changes nothing;
//! and on the real Fashion-MNIST set it returns the published ground truth.

use sagevec_index::{BatchResults, IndexError, knn};
use sagevec_kernels::{Metric, Rows, kernels};
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
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            .collect()
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

fn reference(metric: Metric, q: Rows<'_, f32>, x: Rows<'_, f32>, k: usize) -> (Vec<u64>, Vec<f32>) {
    let mut ids = vec![0u64; q.n_rows() * k];
    let mut d = vec![0f32; q.n_rows() * k];
    kernels()
        .knn(metric, q, x, None, k, &mut ids, &mut d)
        .unwrap();
    (ids, d)
}

fn assert_same(out: &BatchResults, want: &(Vec<u64>, Vec<f32>), k: usize, ctx: &str) {
    for q in 0..out.n_queries() {
        assert_eq!(out.ids(q), &want.0[q * k..(q + 1) * k], "{ctx} q={q}");
        let got: Vec<u32> = out.distances(q).iter().map(|d| d.to_bits()).collect();
        let exp: Vec<u32> = want.1[q * k..(q + 1) * k]
            .iter()
            .map(|d| d.to_bits())
            .collect();
        assert_eq!(got, exp, "{ctx} q={q}");
    }
}

#[test]
fn pools_and_splits_match_the_single_threaded_kernel() {
    let pools = pools();
    let mut rng = SplitMix64(7);
    // (n_q, n_x, dim): few queries (base split), many (query split), k beyond n_x.
    for &(n_q, n_x, dim) in &[
        (1usize, 300usize, 16usize),
        (5, 1000, 33),
        (200, 700, 64),
        (97, 40, 8),
    ] {
        let qd = rng.vec(n_q * dim);
        let xd = rng.vec(n_x * dim);
        let q = Rows::contiguous(&qd, dim).unwrap();
        let x = Rows::contiguous(&xd, dim).unwrap();
        for metric in [Metric::L2Sq, Metric::InnerProduct, Metric::Cosine] {
            for k in [1usize, 10, n_x + 2] {
                let want = reference(metric, q, x, k);
                let mut out = BatchResults::new(n_q, k).unwrap();
                knn(metric, q, x, None, k, Par::Seq, &mut out).unwrap();
                assert_same(
                    &out,
                    &want,
                    k,
                    &format!("seq {metric} {n_q}x{n_x}x{dim} k={k}"),
                );
                for (p, pool) in pools.iter().enumerate() {
                    let mut out = BatchResults::new(n_q, k).unwrap();
                    knn(metric, q, x, None, k, Par::Pool(pool), &mut out).unwrap();
                    let ctx = format!("pool{p} {metric} {n_q}x{n_x}x{dim} k={k}");
                    assert_same(&out, &want, k, &ctx);
                }
            }
        }
    }
}

#[test]
fn cached_norms_give_the_same_answer() {
    let pool = &pools()[1];
    let mut rng = SplitMix64(8);
    let (n_q, n_x, dim, k) = (60usize, 500usize, 24usize, 7usize);
    let qd = rng.vec(n_q * dim);
    let xd = rng.vec(n_x * dim);
    let (q, x) = (
        Rows::contiguous(&qd, dim).unwrap(),
        Rows::contiguous(&xd, dim).unwrap(),
    );
    let mut norms = vec![0f32; n_x];
    kernels().squared_norms(x, &mut norms).unwrap();
    for metric in [Metric::L2Sq, Metric::Cosine] {
        let mut a = BatchResults::new(n_q, k).unwrap();
        let mut b = BatchResults::new(n_q, k).unwrap();
        knn(metric, q, x, None, k, Par::Pool(pool), &mut a).unwrap();
        knn(metric, q, x, Some(&norms), k, Par::Pool(pool), &mut b).unwrap();
        for i in 0..n_q {
            assert_eq!(a.ids(i), b.ids(i));
            assert_eq!(a.distances(i), b.distances(i));
        }
    }
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let x = vec![1.0f32; 12];
    let xr = Rows::contiguous(&x, 4).unwrap();
    let q = vec![1.0f32; 6];
    let qr3 = Rows::contiguous(&q, 3).unwrap();
    let qr2 = Rows::contiguous(&q, 2).unwrap();
    let mut out = BatchResults::new(2, 2).unwrap();
    assert_eq!(
        knn(Metric::L2Sq, qr3, xr, None, 2, Par::Seq, &mut out),
        Err(IndexError::DimensionMismatch {
            expected: 4,
            got: 3
        })
    );
    assert!(matches!(
        knn(Metric::L2Sq, qr2, xr, None, 2, Par::Seq, &mut out),
        Err(IndexError::ResultsShape {
            expected: (3, 2),
            got: (2, 2)
        })
    ));
    assert_eq!(
        knn(Metric::L2Sq, xr, xr, None, 0, Par::Seq, &mut out),
        Err(IndexError::ZeroK)
    );
    let mut out3 = BatchResults::new(3, 2).unwrap();
    assert!(matches!(
        knn(Metric::L2Sq, xr, xr, Some(&[1.0]), 2, Par::Seq, &mut out3),
        Err(IndexError::Kernel(_))
    ));
    for i in 0..3 {
        assert_eq!(out3.ids(i), &[u64::MAX; 2]);
    }
    // Empty base: all padding; no queries: nothing to do.
    let empty = Rows::strided(&x[..0], 0, 4, 4).unwrap();
    knn(Metric::L2Sq, xr, empty, None, 2, Par::Seq, &mut out3).unwrap();
    assert_eq!(out3.distances(2), &[f32::INFINITY; 2]);
    let mut none = BatchResults::new(0, 2).unwrap();
    let noq = Rows::strided(&x[..0], 0, 4, 4).unwrap();
    knn(
        Metric::L2Sq,
        noq,
        xr,
        None,
        2,
        Par::Pool(&pools()[0]),
        &mut none,
    )
    .unwrap();
}

/// Reads a little-endian, C-order `.npy` array of `f4`/`i4` as raw bytes + shape.
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
fn fashion_mnist_matches_the_published_ground_truth() {
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
    let (Some(base), Some(queries), Some(gt), Some(gt_d)) = (
        read_npy(&dir.join("base.npy")),
        read_npy(&dir.join("queries.npy")),
        read_npy(&dir.join("gt_ids.npy")),
        read_npy(&dir.join("gt_dist.npy")),
    ) else {
        panic!("{}: the data set is incomplete", dir.display());
    };
    assert_eq!(
        (base.0.as_str(), queries.0.as_str(), gt.0.as_str()),
        ("<f4", "<f4", "<i4")
    );
    let f32s = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let (x, dim) = (f32s(&base.2), base.1[1]);
    let n_q = 200; // a sample of the 1000 queries keeps the test fast
    let q = f32s(&queries.2);
    let gt_ids: Vec<i32> =
        gt.2.chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect();
    let gt_dist = f32s(&gt_d.2);
    let gt_k = gt.1[1];
    let k = 10;
    let xr = Rows::contiguous(&x, dim).unwrap();
    let qr = Rows::contiguous(&q[..n_q * dim], dim).unwrap();
    let mut out = BatchResults::new(n_q, k).unwrap();
    knn(
        Metric::L2Sq,
        qr,
        xr,
        None,
        k,
        Par::Pool(&pools()[0]),
        &mut out,
    )
    .unwrap();
    // Squared distances reach ~5e7 here, beyond f32's exact integers, and the norm
    // expansion errs by up to γ_{d+3}(|q|² + |x|² + 2Σ|qᵢxᵢ|) (the kernels' derived
    // bound). So: every returned row must be within that bound of the true 10th
    // distance, and where the true 10th and 11th are further apart than the bounds,
    // the set must be exactly the ground truth.
    let u = f64::from(f32::EPSILON) / 2.0;
    let gamma = |n: usize| n as f64 * u / (1.0 - n as f64 * u);
    let bound = |a: &[f32], b: &[f32]| -> f64 {
        let (mut s, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
        for (&x, &y) in a.iter().zip(b) {
            s += (f64::from(x) * f64::from(y)).abs();
            na += f64::from(x) * f64::from(x);
            nb += f64::from(y) * f64::from(y);
        }
        gamma(a.len() + 3) * (na + nb + 2.0 * s)
    };
    let exact = |a: &[f32], b: &[f32]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum()
    };
    let (mut separable, mut hits) = (0usize, 0usize);
    for i in 0..n_q {
        let qi = qr.row(i);
        let row = |id: usize| xr.row(id);
        let want: Vec<u64> = gt_ids[i * gt_k..i * gt_k + k]
            .iter()
            .map(|&v| v as u64)
            .collect();
        let tenth_id = want[k - 1] as usize;
        let tenth = f64::from(gt_dist[i * gt_k + k - 1]).powi(2);
        let eleventh = f64::from(gt_dist[i * gt_k + k]).powi(2);
        let got = out.ids(i).to_vec();
        let mut distinct = got.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), k, "query {i}: duplicate or missing ids");
        for &id in &got {
            let r = row(id as usize);
            let slack = bound(qi, r) + bound(qi, row(tenth_id));
            assert!(
                exact(qi, r) <= tenth + slack,
                "query {i}: row {id} is not a top-{k} row"
            );
        }
        hits += got.iter().filter(|id| want.contains(id)).count();
        let gap_bound = bound(qi, row(tenth_id)) + bound(qi, row(gt_ids[i * gt_k + k] as usize));
        if eleventh - tenth > gap_bound {
            let mut w = want.clone();
            w.sort_unstable();
            assert_eq!(distinct, w, "query {i}");
            separable += 1;
        }
    }
    eprintln!(
        "fashion-mnist: recall@{k} = {:.4} over {n_q} queries; {separable} separable queries match exactly",
        hits as f64 / (n_q * k) as f64
    );
}
