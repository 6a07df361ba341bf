//! Many-to-many exact search with fused top-k against brute force + sort, for every
//! ISA under test: exact equality (ids, distances, tie order) on integer data where
//! f32 arithmetic is exact, and bound-aware equality on random float data.

mod common;

use common::*;
use sagevec_kernels::{
    KernelError, KernelTable, Metric, Neighbor, PAD_ID, Rows, TopK, cmp_neighbors,
};

fn run_knn(
    t: &KernelTable,
    metric: Metric,
    q: Rows<'_, f32>,
    x: Rows<'_, f32>,
    k: usize,
) -> (Vec<u64>, Vec<f32>) {
    let mut ids = vec![0u64; q.n_rows() * k];
    let mut dists = vec![0.0f32; q.n_rows() * k];
    t.knn(metric, q, x, None, k, &mut ids, &mut dists).unwrap();
    (ids, dists)
}

/// Brute force with the kernels' own one-to-one distances, sorted by the result order.
fn brute(t: &KernelTable, metric: Metric, q: &[f32], x: Rows<'_, f32>, k: usize) -> Vec<Neighbor> {
    let mut all: Vec<Neighbor> = (0..x.n_rows())
        .map(|i| Neighbor {
            id: i as u64,
            distance: t.distance(metric, q, x.row(i)).unwrap(),
        })
        .collect();
    all.sort_by(cmp_neighbors);
    all.truncate(k);
    all
}

#[test]
fn exact_on_integer_data_with_ties() {
    // Entries in [-3, 3] and d <= 64: every product, norm and dot is an integer
    // below 2^24, so each path computes exactly and ties are real ties.
    for t in tables() {
        let mut rng = SplitMix64::new(0x4B4E_0001);
        for &(n_q, n_x, dim) in &[
            (1usize, 1usize, 1usize),
            (3, 50, 2),
            (5, 700, 3),
            (24, 130, 16),
            (25, 1030, 17),
            (7, 64, 64),
        ] {
            let qd = rng.ints(n_q * dim, 3);
            let xd = rng.ints(n_x * dim, 3);
            let q = Rows::contiguous(&qd, dim).unwrap();
            let x = Rows::contiguous(&xd, dim).unwrap();
            for metric in [Metric::L2Sq, Metric::InnerProduct] {
                for k in [1usize, 10, n_x, n_x + 3] {
                    let (ids, dists) = run_knn(t, metric, q, x, k);
                    for i in 0..n_q {
                        let want = brute(t, metric, q.row(i), x, k);
                        for slot in 0..k {
                            let (gid, gd) = (ids[i * k + slot], dists[i * k + slot]);
                            match want.get(slot) {
                                Some(w) => assert_eq!(
                                    (gid, gd),
                                    (w.id, w.distance),
                                    "{} {metric} {n_q}x{n_x}x{dim} k={k} q={i} slot={slot}",
                                    t.isa()
                                ),
                                None => assert_eq!((gid, gd), (PAD_ID, f32::INFINITY)),
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn bounded_on_random_data_every_metric() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x4B4E_0002);
        for &(n_q, n_x, dim) in &[
            (1usize, 5usize, 1usize),
            (2, 17, 7),
            (3, 100, 15),
            (4, 515, 16),
            (13, 1200, 33),
            (26, 300, 128),
            (5, 150, 768),
            (2, 20, 1537),
        ] {
            let qd = rng.vec(n_q * dim, 1.0);
            let xd = rng.vec(n_x * dim, 1.0);
            let q = Rows::contiguous(&qd, dim).unwrap();
            let x = Rows::contiguous(&xd, dim).unwrap();
            for metric in FLOAT_METRICS {
                for k in [1usize, 10, n_x] {
                    let (ids, dists) = run_knn(t, metric, q, x, k);
                    for i in 0..n_q {
                        let qi = q.row(i);
                        let got_ids = &ids[i * k..(i + 1) * k];
                        let got_d = &dists[i * k..(i + 1) * k];
                        let ctx = || format!("{} {metric} {n_q}x{n_x}x{dim} k={k} q={i}", t.isa());
                        let kk = k.min(n_x);
                        // Sorted by (distance, id), distinct ids, each distance within bound.
                        for s in 0..kk {
                            let id = got_ids[s] as usize;
                            assert!(id < n_x, "{}", ctx());
                            let xr = x.row(id);
                            assert_close(
                                got_d[s],
                                reference(metric, qi, xr),
                                bound_tiled(metric, qi, xr),
                                &ctx,
                            );
                            if s > 0 {
                                let prev = Neighbor {
                                    id: got_ids[s - 1],
                                    distance: got_d[s - 1],
                                };
                                let cur = Neighbor {
                                    id: got_ids[s],
                                    distance: got_d[s],
                                };
                                assert!(cmp_neighbors(&prev, &cur).is_lt(), "{} not sorted", ctx());
                            }
                        }
                        // Nothing left out was clearly better than the worst kept.
                        let kept: std::collections::HashSet<u64> =
                            got_ids[..kk].iter().copied().collect();
                        assert_eq!(kept.len(), kk, "{} duplicate ids", ctx());
                        let worst_exact = got_ids[..kk]
                            .iter()
                            .map(|&id| reference(metric, qi, x.row(id as usize)))
                            .fold(f64::NEG_INFINITY, f64::max);
                        for j in 0..n_x {
                            if !kept.contains(&(j as u64)) {
                                let xr = x.row(j);
                                let e = reference(metric, qi, xr);
                                let slack = 2.0 * bound_tiled(metric, qi, xr)
                                    + got_ids[..kk]
                                        .iter()
                                        .map(|&id| {
                                            2.0 * bound_tiled(metric, qi, x.row(id as usize))
                                        })
                                        .fold(0.0, f64::max);
                                assert!(
                                    e + slack >= worst_exact,
                                    "{}: row {j} ({e}) beats kept worst {worst_exact}",
                                    ctx()
                                );
                            }
                        }
                        assert!(got_ids[kk..].iter().all(|&id| id == PAD_ID));
                    }
                }
            }
        }
    }
}

#[test]
fn cosine_zero_vectors_in_knn() {
    for t in tables() {
        let dim = 9;
        let mut xd = vec![0.0f32; 5 * dim];
        xd[dim..2 * dim].fill(1.0); // row 1 parallel to the query
        xd[3 * dim..4 * dim].fill(-1.0); // row 3 opposite
        let q = vec![2.0f32; dim];
        let x = Rows::contiguous(&xd, dim).unwrap();
        let (ids, dists) = run_knn(t, Metric::Cosine, Rows::contiguous(&q, dim).unwrap(), x, 5);
        assert_eq!(ids, vec![1, 0, 2, 4, 3], "{}", t.isa());
        assert!(dists[0].abs() < 1e-6);
        assert_eq!(&dists[1..4], &[1.0, 1.0, 1.0]);
        assert!((dists[4] - 2.0).abs() < 1e-6);
        let zq = vec![0.0f32; dim];
        let (_, zd) = run_knn(t, Metric::Cosine, Rows::contiguous(&zq, dim).unwrap(), x, 5);
        assert_eq!(zd, vec![1.0; 5]);
    }
}

#[test]
fn accumulate_over_chunks_equals_whole_and_cached_norms_agree() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x4B4E_0003);
        let (n_q, n_x, dim, k) = (9usize, 777usize, 40usize, 7usize);
        let qd = rng.ints(n_q * dim, 3);
        let xd = rng.ints(n_x * dim, 3);
        let q = Rows::contiguous(&qd, dim).unwrap();
        let x = Rows::contiguous(&xd, dim).unwrap();
        let mut norms = vec![0.0f32; n_x];
        t.squared_norms(x, &mut norms).unwrap();
        for metric in [Metric::L2Sq, Metric::InnerProduct] {
            let (want_ids, want_d) = run_knn(t, metric, q, x, k);
            let mut heaps: Vec<TopK> = (0..n_q).map(|_| TopK::new(k)).collect();
            for (lo, hi) in [(0usize, 300usize), (300, 301), (301, 777)] {
                let chunk = x.slice_rows(lo, hi);
                t.knn_accumulate(
                    metric,
                    q,
                    chunk,
                    Some(&norms[lo..hi]),
                    lo as u64,
                    &mut heaps,
                )
                .unwrap();
            }
            for (i, heap) in heaps.iter_mut().enumerate() {
                let (mut ids, mut d) = (vec![0u64; k], vec![0.0f32; k]);
                heap.drain_sorted_into(&mut ids, &mut d);
                assert_eq!(ids, &want_ids[i * k..(i + 1) * k], "{} {metric}", t.isa());
                assert_eq!(d, &want_d[i * k..(i + 1) * k]);
            }
        }
    }
}

#[test]
fn knn_errors_change_nothing() {
    for t in tables() {
        let x = [0.0f32; 8];
        let xr = Rows::contiguous(&x, 4).unwrap();
        let q = [0.0f32; 3];
        let qr = Rows::contiguous(&q, 3).unwrap();
        let (mut ids, mut d) = ([9u64; 2], [9.0f32; 2]);
        assert_eq!(
            t.knn(Metric::L2Sq, xr, xr, None, 0, &mut ids, &mut d),
            Err(KernelError::ZeroK)
        );
        assert!(matches!(
            t.knn(Metric::L2Sq, qr, xr, None, 2, &mut ids, &mut d),
            Err(KernelError::DimensionMismatch { .. })
        ));
        assert!(matches!(
            t.knn(Metric::L2Sq, xr, xr, Some(&[1.0]), 1, &mut ids, &mut d),
            Err(KernelError::OutputLength {
                what: "base_norms",
                ..
            })
        ));
        assert_eq!((ids, d), ([9; 2], [9.0; 2]));
        // An empty base pads every row.
        let empty = Rows::strided(&x[..0], 0, 4, 4).unwrap();
        t.knn(Metric::L2Sq, xr, empty, None, 1, &mut ids, &mut d)
            .unwrap();
        assert_eq!((ids, d), ([PAD_ID; 2], [f32::INFINITY; 2]));
        // Ids that would reach the padding id are refused.
        let mut heaps = vec![TopK::new(1); 2];
        assert!(matches!(
            t.knn_accumulate(Metric::L2Sq, xr, xr, None, u64::MAX - 1, &mut heaps),
            Err(KernelError::BadShape(_))
        ));
        t.knn_accumulate(Metric::L2Sq, xr, xr, None, u64::MAX - 2, &mut heaps)
            .unwrap();
    }
}

#[test]
fn cosine_with_infinite_norm_is_nan_like_the_pair_kernel() {
    for t in tables() {
        let x = [1.0f32, 0.0, 0.0, 1.0, 3.0, 4.0];
        let xr = Rows::contiguous(&x, 2).unwrap();
        for q in [[f32::INFINITY, 0.0], [3e19, 3e19]] {
            let qr = Rows::contiguous(&q, 2).unwrap();
            let (_, d) = run_knn(t, Metric::Cosine, qr, xr, 3);
            assert!(d.iter().all(|v| v.is_nan()), "{} {q:?}: {d:?}", t.isa());
            for row in xr.iter() {
                assert!(t.distance(Metric::Cosine, &q, row).unwrap().is_nan());
            }
        }
    }
}
