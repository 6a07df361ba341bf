//! Bit-vector kernels (Hamming, Jaccard on packed u64 words) of every ISA and
//! extension variant under test (the AVX-512 nibble-table path and its VPOPCNTDQ
//! path both run where the host has VPOPCNTDQ) against `count_ones`, with exact
//! equality: every length 0..=300 words and the 1024/4096-bit shapes, densities
//! from empty to all ones, misaligned word starts, one-to-many, slice and chunked
//! gathers, and the unsupported-metric errors.

mod common;

use common::*;
use proptest::prelude::*;
use sagevec_kernels::{Bits64, ChunkedRows, Element, KernelError, Metric, Rows};

const METRICS: [Metric; 2] = [Metric::Hamming, Metric::Jaccard];

/// The exact distance: popcounts in u64, Hamming as f32, Jaccard in f64 then f32.
fn exact(metric: Metric, a: &[Bits64], b: &[Bits64]) -> f32 {
    let count = |f: fn(u64, u64) -> u64| -> u64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| u64::from(f(x.0, y.0).count_ones()))
            .sum()
    };
    match metric {
        Metric::Hamming => count(|x, y| x ^ y) as f32,
        Metric::Jaccard => {
            let (inter, union) = (count(|x, y| x & y), count(|x, y| x | y));
            if union == 0 {
                0.0
            } else {
                (1.0 - inter as f64 / union as f64) as f32
            }
        }
        other => panic!("no bit reference for {other}"),
    }
}

/// Random words with each bit set with probability about `density` / 8.
fn words(rng: &mut SplitMix64, n: usize, density: u32) -> Vec<Bits64> {
    (0..n)
        .map(|_| {
            let mut w = 0u64;
            for _ in 0..density {
                w |= rng.next_u64() & rng.next_u64() & rng.next_u64();
            }
            Bits64(w)
        })
        .collect()
}

fn check(t: &sagevec_kernels::KernelTable, a: &[Bits64], b: &[Bits64], what: &str) {
    for metric in METRICS {
        let got = t.distance(metric, a, b).unwrap();
        let want = exact(metric, a, b);
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "{metric}_bits_{} words={} {what}: {got} != {want}",
            table_name(t),
            a.len()
        );
    }
}

#[test]
fn exact_every_length_and_density() {
    for t in variant_tables() {
        let mut rng = SplitMix64::new(0xB175_0001);
        for n in (0..=300).chain([511, 512, 513, 1024, 4099]) {
            for density in [0u32, 1, 4, 8, 16] {
                let (a, b) = (words(&mut rng, n, density), words(&mut rng, n, 8));
                check(t, &a, &b, &format!("density {density}"));
            }
            let ones = vec![Bits64(u64::MAX); n];
            let zeros = vec![Bits64(0); n];
            check(t, &ones, &ones, "all ones");
            check(t, &ones, &zeros, "ones vs zeros");
            check(t, &zeros, &zeros, "empty sets");
            if n > 0 {
                assert_eq!(
                    t.distance(Metric::Hamming, &ones, &zeros).unwrap(),
                    (64 * n) as f32
                );
                assert_eq!(t.distance(Metric::Jaccard, &zeros, &zeros).unwrap(), 0.0);
                assert_eq!(t.distance(Metric::Jaccard, &ones, &zeros).unwrap(), 1.0);
            }
        }
    }
}

#[test]
fn misaligned_word_starts() {
    for t in variant_tables() {
        let mut rng = SplitMix64::new(0xB175_0002);
        for n in [1usize, 3, 4, 5, 7, 8, 9, 16, 17, 64, 65] {
            let (ba, bb) = (words(&mut rng, n + 8, 8), words(&mut rng, n + 8, 8));
            for off in 0..8 {
                check(
                    t,
                    &ba[off..off + n],
                    &bb[(off * 3) % 8..(off * 3) % 8 + n],
                    "offsets",
                );
            }
        }
    }
}

#[test]
fn one_to_many_and_gathers() {
    for t in variant_tables() {
        let mut rng = SplitMix64::new(0xB175_0003);
        // 1024 and 4096 bits, and odd word counts.
        for dim in [1usize, 3, 9, 16, 64, 65] {
            for (n_rows, pad) in [(1usize, 0usize), (9, 1), (40, 7)] {
                let stride = dim + pad;
                let data = words(&mut rng, n_rows * stride, 8);
                let rows = Rows::strided(&data, n_rows, dim, stride).unwrap();
                let q = words(&mut rng, dim, 8);
                let ids: Vec<u32> = (0..2 * n_rows).map(|_| rng.below(n_rows) as u32).collect();
                let ptrs: Vec<*const Bits64> = (0..n_rows.div_ceil(8))
                    .map(|c| rows.row(8 * c).as_ptr())
                    .collect();
                // SAFETY: chunk c's rows are rows 8c.. of `rows`, inside `data`, which
                // is not written while borrowed.
                let chunked = unsafe { ChunkedRows::new(&ptrs, 3, dim, stride, n_rows) }.unwrap();
                for metric in METRICS {
                    let mut out = vec![f32::NAN; n_rows];
                    t.distances(metric, &q, rows, &mut out).unwrap();
                    for (i, &o) in out.iter().enumerate() {
                        assert_eq!(o.to_bits(), exact(metric, &q, rows.row(i)).to_bits());
                    }
                    let mut gout = vec![f32::NAN; ids.len()];
                    t.distances_gather(metric, &q, rows, &ids, &mut gout)
                        .unwrap();
                    let mut cout = vec![f32::NAN; ids.len() + 1];
                    let mut cids = ids.clone();
                    cids.push(u32::MAX);
                    t.chunked_gather(metric, chunked)
                        .gather(&q, &cids, &mut cout);
                    for (j, &id) in ids.iter().enumerate() {
                        assert_eq!(gout[j].to_bits(), out[id as usize].to_bits());
                        assert_eq!(cout[j].to_bits(), out[id as usize].to_bits());
                    }
                    assert_eq!(cout[ids.len()], f32::INFINITY);
                }
            }
        }
    }
}

#[test]
fn float_metrics_and_many_to_many_are_errors() {
    for t in variant_tables() {
        let x = [Bits64(3); 4];
        for metric in [Metric::L2Sq, Metric::InnerProduct, Metric::Cosine] {
            assert_eq!(
                t.distance(metric, &x, &x),
                Err(KernelError::UnsupportedMetric {
                    metric,
                    elem: "bits"
                })
            );
        }
        let rows = Rows::contiguous(&x, 4).unwrap();
        assert!(matches!(
            t.squared_norms(rows, &mut [0.0]),
            Err(KernelError::Unsupported { elem: "bits", .. })
        ));
        // Hamming is a metric bits have, just not in the fused top-k: the error says
        // which kernel is missing, not that the metric is.
        let (mut ids, mut dists) = ([0u64; 1], [0.0f32; 1]);
        for metric in [Metric::Hamming, Metric::Jaccard] {
            let e = t
                .knn(metric, rows, rows, None, 1, &mut ids, &mut dists)
                .unwrap_err();
            assert!(
                matches!(e, KernelError::Unsupported { elem: "bits", .. }),
                "{e:?}"
            );
            assert!(e.to_string().contains("many-to-many knn"), "{e}");
        }
        assert_eq!(<Bits64 as Element>::METRICS, METRICS);
        let want = if t
            .extensions()
            .contains(sagevec_kernels::Extensions::VPOPCNTDQ)
        {
            "avx512vpopcntdq".to_owned()
        } else {
            t.isa().name().to_owned()
        };
        assert!(t.families().contains(&("bits", want.as_str())));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: proptest_cases(64), ..ProptestConfig::default() })]

    #[test]
    fn prop_exact(n in 0usize..=512, seed in any::<u64>(), density in 0u32..12) {
        let mut rng = SplitMix64::new(seed);
        let (a, b) = (words(&mut rng, n, density), words(&mut rng, n, 12 - density));
        for t in variant_tables() {
            for metric in METRICS {
                prop_assert_eq!(t.distance(metric, &a, &b).unwrap().to_bits(), exact(metric, &a, &b).to_bits());
            }
        }
    }
}
