//! Every f32 kernel of every ISA under test against an f64 reference, within the
//! derived bound of the numeric contract: every length 0..=300, common embedding
//! dimensions, misaligned starts, strided rows, gathers, large and tiny magnitudes,
//! non-finite inputs, and a proptest over lengths up to 4096.
//!
//! Which ISAs: `SAGEVEC_ISA` if set (the test command runs this binary once per
//! ISA the CPU has), else all available ones.

mod common;

use common::*;
use proptest::prelude::*;
use sagevec_kernels::{KernelError, KernelTable, Metric, Rows};

/// Lengths beyond 0..=300 that matter: lane ±1 around 16/64 multiples (the AVX-512
/// unroll is 4 × 16 = 64), and common embedding sizes, plus large and odd.
const EXTRA_DIMS: [usize; 18] = [
    383, 384, 385, 511, 512, 513, 767, 768, 769, 784, 1023, 1024, 1025, 1536, 1537, 3072, 3073,
    4099,
];

fn dims() -> impl Iterator<Item = usize> {
    (0..=300).chain(EXTRA_DIMS)
}

fn isa_name(t: &KernelTable) -> &'static str {
    t.isa().name()
}

fn check_pair(t: &KernelTable, a: &[f32], b: &[f32], what: &str) {
    for metric in FLOAT_METRICS {
        let got = t.distance(metric, a, b).unwrap();
        let exact = reference(metric, a, b);
        let bnd = bound(metric, a, b);
        assert_close(got, exact, bnd, &|| {
            format!("{}_f32_{} n={} {what}", metric, isa_name(t), a.len())
        });
    }
    let dot = -t.distance(Metric::InnerProduct, a, b).unwrap();
    assert_close(
        dot,
        ref_dot(a, b),
        bound(Metric::InnerProduct, a, b),
        &|| format!("dot n={} {what}", a.len()),
    );
}

#[test]
fn pair_every_length_and_common_dims() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5A6E_0001);
        for n in dims() {
            let a = rng.vec(n, 1.0);
            let b = rng.vec(n, 1.0);
            check_pair(t, &a, &b, "uniform");
            // Identical vectors: l2 must be exactly 0, cosine within bound of 0.
            assert_eq!(t.distance(Metric::L2Sq, &a, &a).unwrap(), 0.0);
        }
    }
}

#[test]
fn pair_misaligned_starts() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5A6E_0002);
        for n in [
            1usize, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 129, 300, 769,
        ] {
            let bufa = rng.vec(n + 16, 1.0);
            let bufb = rng.vec(n + 16, 1.0);
            // Offsets of 0..16 floats put the start at every 4-byte position of a line.
            for off_a in 0..16 {
                let off_b = (off_a * 7 + 3) % 16;
                let (a, b) = (&bufa[off_a..off_a + n], &bufb[off_b..off_b + n]);
                check_pair(t, a, b, &format!("offsets {off_a},{off_b}"));
            }
        }
    }
}

#[test]
fn pair_large_and_tiny_magnitudes() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5A6E_0003);
        // 1e15: products reach 1e30, sums of 4099 stay far below f32::MAX.
        // 1e-15: products 1e-30 (normal). 1e-21: products ~1e-42 are subnormal.
        for scale in [1e15f32, 1e5, 1e-15, 1e-21] {
            for n in [1usize, 5, 16, 17, 100, 768, 4099] {
                let a = rng.vec(n, scale);
                let b = rng.vec(n, scale);
                // Cosine's bound assumes norms are normal numbers.
                if scale >= 1e-15 {
                    check_pair(t, &a, &b, &format!("scale {scale:e}"));
                } else {
                    for metric in [Metric::L2Sq, Metric::InnerProduct] {
                        let got = t.distance(metric, &a, &b).unwrap();
                        assert_close(
                            got,
                            reference(metric, &a, &b),
                            bound(metric, &a, &b),
                            &|| format!("{metric} {} n={n} scale {scale:e}", isa_name(t)),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn cosine_zero_vector_is_one() {
    for t in tables() {
        for n in [1usize, 3, 16, 100] {
            let zero = vec![0.0f32; n];
            let v: Vec<f32> = (0..n).map(|i| i as f32 + 1.0).collect();
            assert_eq!(t.distance(Metric::Cosine, &zero, &v).unwrap(), 1.0);
            assert_eq!(t.distance(Metric::Cosine, &v, &zero).unwrap(), 1.0);
            assert_eq!(t.distance(Metric::Cosine, &zero, &zero).unwrap(), 1.0);
            let neg: Vec<f32> = v.iter().map(|x| -x).collect();
            let opposite = t.distance(Metric::Cosine, &v, &neg).unwrap();
            assert!((opposite - 2.0).abs() <= 4.0 * f32::EPSILON, "{opposite}");
            let same = t.distance(Metric::Cosine, &v, &v).unwrap();
            assert!((0.0..=4.0 * f32::EPSILON).contains(&same), "{same}");
        }
        let empty: [f32; 0] = [];
        assert_eq!(t.distance(Metric::Cosine, &empty, &empty).unwrap(), 1.0);
        assert_eq!(t.distance(Metric::L2Sq, &empty, &empty).unwrap(), 0.0);
        assert_eq!(
            t.distance(Metric::InnerProduct, &empty, &empty).unwrap(),
            0.0
        );
    }
}

/// Plants non-finite values into a pair of vectors.
type Poison<'a> = dyn Fn(&mut Vec<f32>, &mut Vec<f32>) + 'a;

#[derive(Debug, PartialEq)]
enum Class {
    Nan,
    PosInf,
    NegInf,
    Finite,
}

fn class(x: f64) -> Class {
    if x.is_nan() {
        Class::Nan
    } else if x == f64::INFINITY {
        Class::PosInf
    } else if x == f64::NEG_INFINITY {
        Class::NegInf
    } else {
        Class::Finite
    }
}

#[test]
fn non_finite_inputs_follow_ieee_like_the_reference() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5A6E_0004);
        for n in [1usize, 8, 17, 64, 100, 769] {
            let cases: [(&str, Box<Poison<'_>>); 5] = [
                ("nan", Box::new(|a: &mut Vec<f32>, _| a[n / 2] = f32::NAN)),
                (
                    "+inf*pos",
                    Box::new(|a: &mut Vec<f32>, b: &mut Vec<f32>| {
                        a[n - 1] = f32::INFINITY;
                        b[n - 1] = 0.5;
                    }),
                ),
                (
                    "-inf*pos",
                    Box::new(|a: &mut Vec<f32>, b: &mut Vec<f32>| {
                        a[0] = f32::NEG_INFINITY;
                        b[0] = 0.5;
                    }),
                ),
                (
                    "inf*0",
                    Box::new(|a: &mut Vec<f32>, b: &mut Vec<f32>| {
                        a[n / 3] = f32::INFINITY;
                        b[n / 3] = 0.0;
                    }),
                ),
                (
                    "inf-inf",
                    Box::new(|a: &mut Vec<f32>, b: &mut Vec<f32>| {
                        a[n - 1] = f32::INFINITY;
                        b[n - 1] = f32::INFINITY;
                    }),
                ),
            ];
            for (name, poison) in &cases {
                let mut a = rng.vec(n, 1.0);
                let mut b = rng.vec(n, 1.0);
                poison(&mut a, &mut b);
                for metric in FLOAT_METRICS {
                    let got = t.distance(metric, &a, &b).unwrap();
                    let want = reference(metric, &a, &b);
                    assert_eq!(
                        class(f64::from(got)),
                        class(want),
                        "{metric} {} n={n} {name}: got {got}, reference {want}",
                        isa_name(t)
                    );
                }
            }
        }
    }
}

#[test]
fn one_to_many_strided_and_gather() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5A6E_0005);
        for dim in [1usize, 3, 8, 15, 16, 17, 33, 64, 100, 128, 130, 768] {
            for (n_rows, pad) in [(1usize, 0usize), (7, 0), (13, 5), (40, 16)] {
                let stride = dim + pad;
                let data = rng.vec(n_rows * stride, 1.0);
                let rows = Rows::strided(&data, n_rows, dim, stride).unwrap();
                let q = rng.vec(dim, 1.0);
                let ids: Vec<u32> = (0..2 * n_rows).map(|_| rng.below(n_rows) as u32).collect();
                for metric in FLOAT_METRICS {
                    let mut out = vec![f32::NAN; n_rows];
                    t.distances(metric, &q, rows, &mut out).unwrap();
                    for (i, &got) in out.iter().enumerate() {
                        let r = rows.row(i);
                        assert_close(got, reference(metric, &q, r), bound(metric, &q, r), &|| {
                            format!("many {metric} {} dim={dim} row={i}", isa_name(t))
                        });
                        // One-to-many agrees with one-to-one exactly for l2 and ip
                        // (same kernel per row); cosine reuses the query norm.
                        if metric != Metric::Cosine {
                            assert_eq!(got, t.distance(metric, &q, r).unwrap());
                        }
                    }
                    let mut gout = vec![f32::NAN; ids.len()];
                    t.distances_gather(metric, &q, rows, &ids, &mut gout)
                        .unwrap();
                    for (j, &id) in ids.iter().enumerate() {
                        assert_eq!(
                            gout[j].to_bits(),
                            out[id as usize].to_bits(),
                            "gather {metric}"
                        );
                    }
                }
                let mut norms = vec![0.0f32; n_rows];
                t.squared_norms(rows, &mut norms).unwrap();
                for (i, &n) in norms.iter().enumerate() {
                    let r = rows.row(i);
                    assert_close(n, ref_dot(r, r), bound(Metric::InnerProduct, r, r), &|| {
                        format!("norms {} dim={dim}", isa_name(t))
                    });
                }
            }
        }
    }
}

#[test]
fn dot_matrix_every_tile_edge() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5A6E_0006);
        for dim in [0usize, 1, 5, 8, 15, 16, 17, 31, 32, 33, 100, 128, 131, 768] {
            for n_q in [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 13] {
                for n_x in [0usize, 1, 3, 4, 5, 8, 11] {
                    let stride = dim + (n_q % 3);
                    let qd = rng.vec(n_q * stride + 1, 1.0);
                    let xd = rng.vec(n_x * stride + 2, 1.0);
                    // Offset starts by one element: no alignment is assumed.
                    let q = Rows::strided(&qd[1..], n_q, dim, stride).unwrap();
                    let x = Rows::strided(&xd[2..], n_x, dim, stride).unwrap();
                    let mut out = vec![f32::NAN; n_q * n_x];
                    t.dot_matrix(q, x, &mut out).unwrap();
                    for i in 0..n_q {
                        for j in 0..n_x {
                            let (a, b) = (q.row(i), x.row(j));
                            assert_close(
                                out[i * n_x + j],
                                ref_dot(a, b),
                                bound(Metric::InnerProduct, a, b),
                                &|| {
                                    format!(
                                        "dot_tile {} d={dim} {n_q}x{n_x} ({i},{j})",
                                        isa_name(t)
                                    )
                                },
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn shapes_are_checked_and_nothing_is_written() {
    for t in tables() {
        let a = [1.0f32; 4];
        let b = [1.0f32; 5];
        assert_eq!(
            t.distance(Metric::L2Sq, &a, &b),
            Err(KernelError::DimensionMismatch {
                expected: 5,
                got: 4
            })
        );
        let data = [0.0f32; 12];
        let rows = Rows::contiguous(&data, 4).unwrap();
        let mut out = [7.0f32; 2];
        assert!(matches!(
            t.distances(Metric::L2Sq, &a, rows, &mut out),
            Err(KernelError::OutputLength {
                expected: 3,
                got: 2,
                ..
            })
        ));
        assert_eq!(out, [7.0; 2]);
        let mut out3 = [7.0f32; 3];
        assert!(matches!(
            t.distances(Metric::L2Sq, &b, rows, &mut out3),
            Err(KernelError::DimensionMismatch { .. })
        ));
        assert!(matches!(
            t.distances_gather(Metric::L2Sq, &a, rows, &[0, 3], &mut [0.0; 2]),
            Err(KernelError::RowOutOfRange { id: 3, n_rows: 3 })
        ));
        assert!(matches!(
            t.dot_matrix(rows, rows, &mut [0.0; 8]),
            Err(KernelError::OutputLength { .. })
        ));
        assert_eq!(out3, [7.0; 3]);
        // n_q * n_x overflowing usize must be an error, not a wrapped length check.
        let none: [f32; 0] = [];
        let huge = Rows::strided(&none, 1 << 32, 0, 0).unwrap();
        assert!(matches!(
            t.dot_matrix(huge, huge, &mut []),
            Err(KernelError::BadShape(_))
        ));
    }
}

#[test]
fn float_metrics_are_the_float_types_metrics() {
    use sagevec_kernels::{Element, bf16, f16};
    assert_eq!(<f32 as Element>::METRICS, FLOAT_METRICS);
    assert_eq!(<f16 as Element>::METRICS, FLOAT_METRICS);
    assert_eq!(<bf16 as Element>::METRICS, FLOAT_METRICS);
}

#[test]
fn dispatched_table_honours_sagevec_isa() {
    let active = sagevec_kernels::kernels();
    match std::env::var(sagevec_kernels::ISA_ENV) {
        Ok(name) if !name.trim().is_empty() => assert_eq!(active.isa().name(), name.trim()),
        _ => assert_eq!(active.isa(), sagevec_kernels::Isa::best()),
    }
    assert_eq!(
        sagevec_kernels::try_kernels().map(|t| t.isa()),
        Ok(active.isa())
    );
    // The default table uses every extension its level has on this host.
    assert_eq!(active.extensions(), active.isa().extensions());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: proptest_cases(96), ..ProptestConfig::default() })]

    #[test]
    fn prop_pair_within_bound(
        n in 0usize..=4096,
        seed in any::<u64>(),
        scale_exp in -10i32..=10,
        off in 0usize..16,
    ) {
        let mut rng = SplitMix64::new(seed);
        let scale = 10f32.powi(scale_exp);
        let buf_a = rng.vec(n + 16, scale);
        let b = rng.vec(n, scale);
        let a = &buf_a[off..off + n];
        for t in tables() {
            for metric in FLOAT_METRICS {
                let got = t.distance(metric, a, &b).unwrap();
                let exact = reference(metric, a, &b);
                let err = (f64::from(got) - exact).abs();
                prop_assert!(err <= bound(metric, a, &b),
                    "{metric} {} n={n}: got {got:e} exact {exact:e}", t.isa());
            }
        }
    }
}
