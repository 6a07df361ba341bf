//! i8 × i8 and u8 × u8 kernels of every ISA and extension variant under test (the
//! AVX-512 base path and its VNNI path both run where the host has VNNI) against an
//! exact i64 reference, with *exact* equality: every length 0..=300 and the
//! embedding dims, lengths past the 2¹⁵-element i32 block (where a single i32 sum
//! would overflow), the extreme values (-128, 127, 0, 255), misaligned starts,
//! strided rows, gathers over slices and chunks, many-to-many (`dot_matrix`,
//! `knn`), and the unsupported-metric errors.

mod common;

use common::*;
use proptest::prelude::*;
use sagevec_kernels::{ChunkedRows, Element, KernelError, KernelTable, Metric, Rows};

/// Lengths beyond 0..=300: lane and unroll edges of 32/64/128-byte steps, embedding
/// dims, and lengths around and far past the 2¹⁵ block.
const EXTRA_DIMS: [usize; 14] = [
    383, 384, 511, 512, 513, 767, 768, 769, 1024, 4099, 32767, 32768, 32769, 100_003,
];

/// An integer row type under test.
trait Int: Element<Query = Self> + Into<i64> + PartialEq {
    const MIN: Self;
    const MAX: Self;
    fn from_u64(bits: u64) -> Self;
}

impl Int for i8 {
    const MIN: i8 = i8::MIN;
    const MAX: i8 = i8::MAX;
    fn from_u64(bits: u64) -> i8 {
        bits as i8
    }
}

impl Int for u8 {
    const MIN: u8 = u8::MIN;
    const MAX: u8 = u8::MAX;
    fn from_u64(bits: u64) -> u8 {
        bits as u8
    }
}

fn random<T: Int>(rng: &mut SplitMix64, n: usize) -> Vec<T> {
    (0..n).map(|_| T::from_u64(rng.next_u64() >> 17)).collect()
}

/// The exact distance, rounded once to f32 (what every kernel must return; the
/// inner product is the negated rounded dot, so a zero dot gives -0.0 as f32's does).
fn exact<T: Int>(metric: Metric, q: &[T], x: &[T]) -> f32 {
    match metric {
        Metric::L2Sq => q
            .iter()
            .zip(x)
            .map(|(&a, &b)| (a.into() - b.into()).pow(2))
            .sum::<i64>() as f32,
        Metric::InnerProduct => {
            -(q.iter()
                .zip(x)
                .map(|(&a, &b)| a.into() * b.into())
                .sum::<i64>() as f32)
        }
        other => panic!("no integer reference for {other}"),
    }
}

const METRICS: [Metric; 2] = [Metric::L2Sq, Metric::InnerProduct];

fn check_pair<T: Int>(t: &KernelTable, q: &[T], x: &[T], what: &str) {
    for metric in METRICS {
        let got = t.distance(metric, q, x).unwrap();
        let want = exact(metric, q, x);
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "{metric}_{}_{} n={} {what}: {got} != {want}",
            T::NAME,
            table_name(t),
            q.len()
        );
    }
}

fn every_length<T: Int>(seed: u64) {
    for t in variant_tables() {
        let mut rng = SplitMix64::new(seed);
        for n in (0..=300).chain(EXTRA_DIMS) {
            let (q, x) = (random::<T>(&mut rng, n), random::<T>(&mut rng, n));
            check_pair(t, &q, &x, "random");
            // The extremes: every product and every difference at its largest.
            for (a, b) in [(T::MIN, T::MIN), (T::MIN, T::MAX), (T::MAX, T::MAX)] {
                check_pair(t, &vec![a; n], &vec![b; n], "extremes");
            }
        }
    }
}

#[test]
fn i8_exact_every_length_and_extremes() {
    every_length::<i8>(0x1_8001);
}

#[test]
fn u8_exact_every_length_and_extremes() {
    every_length::<u8>(0x1_8002);
}

fn misaligned<T: Int>(seed: u64) {
    for t in variant_tables() {
        let mut rng = SplitMix64::new(seed);
        for n in [
            1usize, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 300, 769,
        ] {
            let (bq, bx) = (random::<T>(&mut rng, n + 64), random::<T>(&mut rng, n + 64));
            // A row at every byte offset of a 64-byte line.
            for off_x in 0..64 {
                let off_q = (off_x * 7 + 3) % 64;
                check_pair(t, &bq[off_q..off_q + n], &bx[off_x..off_x + n], "offsets");
            }
        }
    }
}

#[test]
fn i8_misaligned_starts() {
    misaligned::<i8>(0x1_8003);
}

#[test]
fn u8_misaligned_starts() {
    misaligned::<u8>(0x1_8004);
}

fn one_to_many_and_gathers<T: Int>(seed: u64) {
    for t in variant_tables() {
        let mut rng = SplitMix64::new(seed);
        for dim in [1usize, 7, 31, 32, 33, 64, 100, 128, 768, 1025] {
            for (n_rows, pad) in [(1usize, 0usize), (7, 3), (40, 64)] {
                let stride = dim + pad;
                let data = random::<T>(&mut rng, 1 + n_rows * stride);
                let rows = Rows::strided(&data[1..], n_rows, dim, stride).unwrap();
                let q = random::<T>(&mut rng, dim);
                let ids: Vec<u32> = (0..2 * n_rows).map(|_| rng.below(n_rows) as u32).collect();
                // The same rows as chunks of 4 (chunk c starts at row 4c).
                let ptrs: Vec<*const T> = (0..n_rows.div_ceil(4))
                    .map(|c| rows.row(4 * c).as_ptr())
                    .collect();
                // SAFETY: chunk c's rows 0..4 (those < n_rows) are rows 4c.. of
                // `rows`, inside `data`, which is not written while borrowed.
                let chunked = unsafe { ChunkedRows::new(&ptrs, 2, dim, stride, n_rows) }.unwrap();
                for metric in METRICS {
                    let mut out = vec![f32::NAN; n_rows];
                    t.distances(metric, &q, rows, &mut out).unwrap();
                    for (i, &o) in out.iter().enumerate() {
                        let want = exact(metric, &q, rows.row(i));
                        assert_eq!(o.to_bits(), want.to_bits(), "many {metric} dim={dim}");
                    }
                    let mut gout = vec![f32::NAN; ids.len()];
                    t.distances_gather(metric, &q, rows, &ids, &mut gout)
                        .unwrap();
                    let mut cout = vec![f32::NAN; ids.len() + 1];
                    let mut cids = ids.clone();
                    cids.push(n_rows as u32);
                    t.chunked_gather(metric, chunked)
                        .gather(&q, &cids, &mut cout);
                    for (j, &id) in ids.iter().enumerate() {
                        assert_eq!(gout[j], out[id as usize], "gather {metric}");
                        assert_eq!(
                            cout[j].to_bits(),
                            out[id as usize].to_bits(),
                            "chunked {metric}"
                        );
                    }
                    assert_eq!(cout[ids.len()], f32::INFINITY);
                }
            }
        }
    }
}

#[test]
fn i8_one_to_many_and_gathers() {
    one_to_many_and_gathers::<i8>(0x1_8005);
}

#[test]
fn u8_one_to_many_and_gathers() {
    one_to_many_and_gathers::<u8>(0x1_8006);
}

fn many_to_many<T: Int>(seed: u64) {
    for t in variant_tables() {
        let mut rng = SplitMix64::new(seed);
        // Tile edges (13 x 57 is not a multiple of 4 either way), the 64-byte steps
        // and their tails, and rows past one i32 block (the pairwise fallback).
        for (dim, n_q, n_x) in [
            (1usize, 13usize, 57usize),
            (5, 13, 57),
            (64, 13, 57),
            (100, 13, 57),
            (768, 13, 57),
            (129, 8, 8),
            (32_769, 5, 6),
        ] {
            let qd = random::<T>(&mut rng, n_q * dim);
            let xd = random::<T>(&mut rng, n_x * dim);
            let (qs, xs) = (
                Rows::contiguous(&qd, dim).unwrap(),
                Rows::contiguous(&xd, dim).unwrap(),
            );
            let (dots, norms) = dots_and_norms(t, qs, xs);
            for j in 0..n_x {
                assert_eq!(-norms[j], exact(Metric::InnerProduct, xs.row(j), xs.row(j)));
                for i in 0..n_q {
                    assert_eq!(
                        -dots[i * n_x + j],
                        exact(Metric::InnerProduct, qs.row(i), xs.row(j))
                    );
                }
            }
            // knn: the ids of the k nearest by the exact distances (ties to the
            // smaller id). Inner product is exact here (|dot| < 2²⁴); L2 uses the
            // norm expansion, exact while |q|² + |x|² < 2²⁴ (dims ≤ 100 for u8).
            let k = 5;
            for metric in METRICS {
                if (metric == Metric::L2Sq && dim > 100) || dim > 1024 {
                    continue;
                }
                let (mut ids, mut dist) = (vec![0u64; n_q * k], vec![0.0f32; n_q * k]);
                t.knn(metric, qs, xs, None, k, &mut ids, &mut dist).unwrap();
                for i in 0..n_q {
                    let mut want: Vec<(f32, u64)> = (0..n_x)
                        .map(|j| (exact(metric, qs.row(i), xs.row(j)), j as u64))
                        .collect();
                    want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                    let got: Vec<(f32, u64)> =
                        (0..k).map(|r| (dist[i * k + r], ids[i * k + r])).collect();
                    assert_eq!(
                        got,
                        want[..k].to_vec(),
                        "knn {metric} {} dim={dim}",
                        table_name(t)
                    );
                }
            }
        }
    }
}

#[test]
fn i8_many_to_many() {
    many_to_many::<i8>(0x1_8007);
}

#[test]
fn u8_many_to_many() {
    many_to_many::<u8>(0x1_8008);
}

#[test]
fn unsupported_metrics_are_errors() {
    for t in variant_tables() {
        let (q, x) = ([1i8; 4], [2i8; 4]);
        for metric in [Metric::Cosine, Metric::Hamming, Metric::Jaccard] {
            assert_eq!(
                t.distance(metric, &q, &x),
                Err(KernelError::UnsupportedMetric { metric, elem: "i8" })
            );
            let rows = Rows::contiguous(&x, 4).unwrap();
            assert!(matches!(
                t.distances(metric, &q, rows, &mut [0.0]),
                Err(KernelError::UnsupportedMetric { .. })
            ));
            let (mut ids, mut d) = ([0u64], [0.0f32]);
            assert!(matches!(
                t.knn(metric, rows, rows, None, 1, &mut ids, &mut d),
                Err(KernelError::UnsupportedMetric { .. })
            ));
            let ptrs = [x.as_ptr()];
            // SAFETY: one chunk of 4 readable bytes for one row of 4.
            let chunked = unsafe { ChunkedRows::new(&ptrs, 0, 4, 4, 1) }.unwrap();
            let made = std::panic::catch_unwind(|| t.chunked_gather(metric, chunked));
            assert!(
                made.is_err(),
                "chunked_gather({metric}) on i8 rows must panic"
            );
        }
        assert_eq!(<i8 as Element>::METRICS, METRICS);
        assert_eq!(<u8 as Element>::METRICS, METRICS);
    }
}

#[test]
fn families_name_their_path() {
    for t in variant_tables() {
        let fam = t.families();
        let want = if t.extensions().contains(sagevec_kernels::Extensions::VNNI) {
            "avx512vnni".to_owned()
        } else {
            t.isa().name().to_owned()
        };
        assert!(fam.contains(&("i8", want.as_str())), "{fam:?}");
        assert!(fam.contains(&("u8", want.as_str())), "{fam:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: proptest_cases(64), ..ProptestConfig::default() })]

    #[test]
    fn prop_exact(n in 0usize..=4096, seed in any::<u64>(), off in 0usize..64) {
        let mut rng = SplitMix64::new(seed);
        let (bq, bx) = (random::<i8>(&mut rng, n + 64), random::<i8>(&mut rng, n + 64));
        let (uq, ux) = (random::<u8>(&mut rng, n + 64), random::<u8>(&mut rng, n + 64));
        for t in variant_tables() {
            for metric in METRICS {
                let (q, x) = (&bq[..n], &bx[off..off + n]);
                prop_assert_eq!(t.distance(metric, q, x).unwrap().to_bits(), exact(metric, q, x).to_bits());
                let (q, x) = (&uq[off..off + n], &ux[..n]);
                prop_assert_eq!(t.distance(metric, q, x).unwrap().to_bits(), exact(metric, q, x).to_bits());
            }
        }
    }
}
