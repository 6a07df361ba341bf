//! Stored (f16-row) kernels of every ISA under test against that ISA's f32 kernels
//! on the widened rows, bit for bit: every length 0..=300 and the parity dims,
//! misaligned starts, strided rows, gathers, large, tiny and non-finite values,
//! and a proptest. `encode` against `half::f16::from_f32(x · scale)` bit for bit,
//! over random finite values, every f16 rounding midpoint, overflow, subnormal
//! results, ±0 and ±inf. Plus the f32 bound against an f64 reference of the
//! widened row, and the shape errors.
//!
//! Which ISAs: `SAGEVEC_ISA` if set (the test command runs this binary once per
//! ISA the CPU has), else all available ones.

mod common;

use common::*;
use proptest::prelude::*;
use sagevec_kernels::{F16_MAX, KernelError, KernelTable, Metric, Rows, f16, f16_scale_for};

/// The lengths of `parity.rs` beyond 0..=300.
const EXTRA_DIMS: [usize; 18] = [
    383, 384, 385, 511, 512, 513, 767, 768, 769, 784, 1023, 1024, 1025, 1536, 1537, 3072, 3073,
    4099,
];

fn dims() -> impl Iterator<Item = usize> {
    (0..=300).chain(EXTRA_DIMS)
}

/// Each element widened exactly to f32.
fn widen(x: &[f16]) -> Vec<f32> {
    x.iter().map(|h| h.to_f32()).collect()
}

/// Rounded to f16 elementwise (the reference encoding).
fn narrow(x: &[f32]) -> Vec<f16> {
    x.iter().map(|&v| f16::from_f32(v)).collect()
}

/// Bit-for-bit equal, where any NaN matches any NaN.
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn assert_same(got: f32, want: f32, ctx: &dyn Fn() -> String) {
    assert!(
        same(got, want),
        "{}: stored {got:e} ({:#010x}) != f32 on widened row {want:e} ({:#010x})",
        ctx(),
        got.to_bits(),
        want.to_bits()
    );
}

/// `stored_distance(q, x)` is `distance(q, widen(x))` bit for bit under every metric.
fn check_pair(t: &KernelTable, q: &[f32], x: &[f16], what: &str) {
    let w = widen(x);
    for metric in Metric::ALL {
        let got = t.stored_distance(metric, q, x).unwrap();
        let want = t.distance(metric, q, &w).unwrap();
        assert_same(got, want, &|| {
            format!(
                "{}_f16_{} n={} {what}",
                metric.kernel_prefix(),
                t.isa(),
                q.len()
            )
        });
    }
}

/// One-to-many and gather over `rows` (f16) against the same layout widened.
fn check_many(t: &KernelTable, q: &[f32], rows: Rows<'_, f16>, wide: Rows<'_, f32>, ids: &[u32]) {
    let n = rows.n_rows();
    for metric in Metric::ALL {
        let mut got = vec![f32::NAN; n];
        let mut want = vec![-1.0f32; n];
        t.stored_distances(metric, q, rows, &mut got).unwrap();
        t.distances(metric, q, wide, &mut want).unwrap();
        for i in 0..n {
            assert_same(got[i], want[i], &|| {
                format!("many {metric} {} dim={} row={i}", t.isa(), rows.dim())
            });
        }
        let mut gout = vec![f32::NAN; ids.len()];
        let mut gwant = vec![-1.0f32; ids.len()];
        t.stored_distances_gather(metric, q, rows, ids, &mut gout)
            .unwrap();
        t.distances_gather(metric, q, wide, ids, &mut gwant)
            .unwrap();
        for j in 0..ids.len() {
            assert_same(gout[j], gwant[j], &|| {
                format!(
                    "gather {metric} {} dim={} id={}",
                    t.isa(),
                    rows.dim(),
                    ids[j]
                )
            });
        }
    }
}

#[test]
fn pair_many_gather_bit_for_bit_every_length() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5107_0001);
        for n in dims() {
            // Values up to 2¹⁵ (f16 keeps 11 bits; products stay far from f32 overflow).
            for scale in [1.0f32, 30000.0] {
                let q = rng.vec(n, scale);
                let x = narrow(&rng.vec(n, scale));
                check_pair(t, &q, &x, &format!("scale {scale}"));
            }
            // Three rows, stride dim + 1, starting one element in: every length also
            // runs through the one-to-many and gather loops.
            let stride = n + 1;
            let data = narrow(&rng.vec(1 + 3 * stride, 1.0));
            let wide = widen(&data);
            let rows = Rows::strided(&data[1..], 3, n, stride).unwrap();
            let wrows = Rows::strided(&wide[1..], 3, n, stride).unwrap();
            let q = rng.vec(n, 1.0);
            check_many(t, &q, rows, wrows, &[2, 0, 1, 1]);
        }
    }
}

#[test]
fn pair_misaligned_starts() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5107_0002);
        for n in [
            1usize, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 129, 300, 769,
        ] {
            let bufq = rng.vec(n + 16, 1.0);
            let bufx = narrow(&rng.vec(n + 32, 1.0));
            // f16 offsets put a row at every 2-byte position of a 64-byte line.
            for off_x in 0..32 {
                let off_q = (off_x * 7 + 3) % 16;
                let (q, x) = (&bufq[off_q..off_q + n], &bufx[off_x..off_x + n]);
                check_pair(t, q, x, &format!("offsets {off_q},{off_x}"));
            }
        }
    }
}

#[test]
fn strided_rows_and_gathers() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5107_0003);
        for dim in [1usize, 3, 8, 15, 16, 17, 33, 64, 100, 128, 130, 768] {
            for (n_rows, pad, off) in [(1usize, 0usize, 0usize), (7, 0, 1), (13, 5, 3), (40, 16, 7)]
            {
                let stride = dim + pad;
                let data = narrow(&rng.vec(off + n_rows * stride, 1.0));
                let wide = widen(&data);
                let rows = Rows::strided(&data[off..], n_rows, dim, stride).unwrap();
                let wrows = Rows::strided(&wide[off..], n_rows, dim, stride).unwrap();
                let q = rng.vec(dim, 1.0);
                // Repeats, every row, and more ids than rows (prefetch runs past the end).
                let ids: Vec<u32> = (0..2 * n_rows).map(|_| rng.below(n_rows) as u32).collect();
                check_many(t, &q, rows, wrows, &ids);
                check_many(t, &q, rows, wrows, &[]);
                // One-to-many agrees with one-to-one exactly for l2 and ip.
                let mut out = vec![0.0f32; n_rows];
                for metric in [Metric::L2Sq, Metric::InnerProduct] {
                    t.stored_distances(metric, &q, rows, &mut out).unwrap();
                    for (i, &o) in out.iter().enumerate() {
                        assert_same(
                            o,
                            t.stored_distance(metric, &q, rows.row(i)).unwrap(),
                            &|| format!("many vs pair {metric} {} dim={dim} row={i}", t.isa()),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn extreme_and_non_finite_values() {
    let specials = [
        0.0f32,
        -0.0,
        F16_MAX,
        -F16_MAX,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        5.960_464_5e-8, // smallest f16 subnormal
        -6.097_555e-5,  // largest f16 subnormal
        6.103_515_6e-5, // smallest normal f16
    ];
    for t in tables() {
        let mut rng = SplitMix64::new(0x5107_0004);
        for n in [1usize, 8, 15, 16, 17, 33, 64, 65, 100, 769] {
            for (s, &v) in specials.iter().enumerate() {
                // The special value in the row at a body lane and at a tail lane.
                for pos in [0, n / 2, n - 1] {
                    let q = rng.vec(n, 2.0);
                    let mut x = narrow(&rng.vec(n, 1.0));
                    x[pos] = f16::from_f32(v);
                    check_pair(t, &q, &x, &format!("row[{pos}] = special {s}"));
                    // ... and in the query (inf · 0, inf - inf across both).
                    let mut q2 = q.clone();
                    q2[pos] = v;
                    check_pair(t, &q2, &x, &format!("query[{pos}] = special {s}"));
                }
            }
            // Whole rows of tiny (f16-subnormal) and of huge values.
            for scale in [1e-6f32, 6e-8, 60000.0] {
                let q = rng.vec(n, scale);
                let x = narrow(&rng.vec(n, scale));
                check_pair(t, &q, &x, &format!("scale {scale:e}"));
            }
        }
    }
}

#[test]
fn stored_meets_the_f32_bound_of_the_widened_row() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5107_0005);
        for n in dims().step_by(7).chain(EXTRA_DIMS) {
            for scale in [1.0f32, 1000.0, 1e-3] {
                let q = rng.vec(n, scale);
                let x = narrow(&rng.vec(n, scale));
                let w = widen(&x);
                for metric in Metric::ALL {
                    let got = t.stored_distance(metric, &q, &x).unwrap();
                    assert_close(
                        got,
                        reference(metric, &q, &w),
                        bound(metric, &q, &w),
                        &|| {
                            format!(
                                "{}_f16_{} n={n} scale {scale:e}",
                                metric.kernel_prefix(),
                                t.isa()
                            )
                        },
                    );
                }
            }
        }
    }
}

/// `t.encode(src, scale)` into a slice framed by sentinels: the result equals
/// `f16::from_f32(src[i] * scale)` bit for bit (NaN: some NaN), and the frame is
/// untouched.
fn check_encode(t: &KernelTable, src: &[f32], scale: f32, what: &str) {
    const SENTINEL: u16 = 0x7e5a;
    let n = src.len();
    let mut buf = vec![f16::from_bits(SENTINEL); n + 16];
    t.encode(src, scale, &mut buf[3..3 + n]).unwrap();
    for (i, (&s, &got)) in src.iter().zip(&buf[3..3 + n]).enumerate() {
        let want = f16::from_f32(s * scale);
        let ok = got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan());
        assert!(
            ok,
            "encode_f16_{} {what} n={n} i={i}: {s:e} · {scale:e} gave {:#06x}, want {:#06x}",
            t.isa(),
            got.to_bits(),
            want.to_bits()
        );
    }
    assert!(
        buf[..3]
            .iter()
            .chain(&buf[3 + n..])
            .all(|h| h.to_bits() == SENTINEL),
        "encode_f16_{} {what} n={n} wrote outside dst",
        t.isa()
    );
}

/// Runs `check_encode` over `src` whole and in chunks of every length 0..=40 (so
/// every value passes through both the vector body and the tail).
fn check_encode_chunks(t: &KernelTable, src: &[f32], scale: f32, what: &str) {
    check_encode(t, src, scale, what);
    let mut start = 0;
    let mut len = 0;
    while start < src.len() {
        let end = (start + len).min(src.len());
        check_encode(t, &src[start..end], scale, what);
        start = end;
        len = (len + 1) % 41;
    }
}

#[test]
fn encode_random_finite_values() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5107_0006);
        // Any finite f32 bit pattern: f32 subnormals, everything that overflows f16,
        // and everything that lands in f16's subnormal range.
        let src: Vec<f32> = (0..20_000)
            .map(|_| f32::from_bits(rng.next_u64() as u32))
            .filter(|v| v.is_finite())
            .collect();
        // Values whose products land mostly inside f16's range.
        let moderate = rng.vec(5_000, 70_000.0);
        for scale in [
            1.0f32,
            0.5,
            2.0,
            3.0,
            1.0 / 3.0,
            2f32.powi(-20),
            2f32.powi(20),
        ] {
            check_encode_chunks(t, &src, scale, &format!("random bits, scale {scale:e}"));
            check_encode_chunks(t, &moderate, scale, &format!("uniform, scale {scale:e}"));
        }
    }
}

#[test]
fn encode_every_rounding_midpoint() {
    // For every pair of adjacent finite f16 values (and the step past F16_MAX), the
    // exact midpoint (a tie: even wins) and the f32 values just either side of it.
    let mut src = Vec::new();
    for bits in 0u16..0x7c00 {
        let lo = f64::from(f16::from_bits(bits).to_f32());
        let hi = if bits == 0x7bff {
            65536.0 // where the next step would be: the overflow threshold is 65520
        } else {
            f64::from(f16::from_bits(bits + 1).to_f32())
        };
        let mid = ((lo + hi) / 2.0) as f32; // exact: 12 significant bits
        assert_eq!(f64::from(mid), (lo + hi) / 2.0);
        for v in [
            f32::from_bits(mid.to_bits() - 1),
            mid,
            f32::from_bits(mid.to_bits() + 1),
            lo as f32,
        ] {
            src.push(v);
            src.push(-v);
        }
    }
    for t in tables() {
        check_encode(t, &src, 1.0, "midpoints");
        // The same values reached through a power-of-two scale (exact products).
        let halved: Vec<f32> = src.iter().map(|v| v * 2.0).collect();
        check_encode(t, &halved, 0.5, "midpoints via scale 0.5");
    }
}

#[test]
fn encode_special_values() {
    let specials = [
        0.0f32,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        65504.0,
        65519.99,
        65520.0, // the first value that rounds to inf
        65536.0,
        1e6,
        f32::MAX,
        -65504.0,
        -65519.99,
        -65520.0,
        -1e6,
        -f32::MAX,
        2f32.powi(-24), // smallest f16 subnormal
        2f32.powi(-25), // half of it: a tie that rounds to +0
        2f32.powi(-25) * 1.000_001,
        3.0 * 2f32.powi(-25), // a tie between 1 and 2 · 2⁻²⁴: rounds to even (2)
        2f32.powi(-14),       // smallest normal f16
        2f32.powi(-14) - 2f32.powi(-25),
        -2f32.powi(-26),
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        -f32::from_bits(1),
        1.0,
        -1.0,
        0.1,
        2049.0, // a tie between 2048 and 2050
        2051.0,
    ];
    for t in tables() {
        for scale in [1.0f32, 2.0, 0.5, -1.0, 0.0, f32::INFINITY] {
            for n in [specials.len(), 8, 16, 7, 1] {
                check_encode(t, &specials[..n], scale, &format!("specials scale {scale}"));
            }
            // Each special at every lane of a body block and of a tail.
            for &v in &specials {
                for len in [1usize, 9, 16, 17, 31] {
                    for pos in 0..len {
                        let mut src = vec![0.25f32; len];
                        src[pos] = v;
                        check_encode(t, &src, scale, &format!("{v:e} at {pos}/{len}"));
                    }
                }
            }
        }
        let mut out = [f16::ZERO; 3];
        t.encode(&[f32::NAN, 1.0, f32::NAN], 1.0, &mut out).unwrap();
        assert!(out[0].is_nan() && out[2].is_nan() && out[1].to_f32() == 1.0);
    }
}

#[test]
fn encode_with_f16_scale_for_keeps_eleven_bits() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5107_0007);
        for magnitude in [1e-9f32, 1e-3, 1.0, 7.5, 1e4, 1e12] {
            let src = rng.vec(1000, magnitude);
            let max_abs = src.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = f16_scale_for(max_abs);
            let mut dst = vec![f16::ZERO; src.len()];
            t.encode(&src, scale, &mut dst).unwrap();
            for (&s, &h) in src.iter().zip(&dst) {
                let back = f64::from(h.to_f32()) / f64::from(scale);
                let scaled = f64::from(s) * f64::from(scale);
                // Normal f16 range: relative error 2⁻¹¹; below it, half the subnormal step.
                let tol = if scaled.abs() >= 2f64.powi(-14) {
                    f64::from(s).abs() * 2f64.powi(-11)
                } else {
                    2f64.powi(-25) / f64::from(scale)
                };
                assert!(
                    (back - f64::from(s)).abs() <= tol,
                    "{s:e} scaled by {scale:e}"
                );
            }
        }
    }
}

#[test]
fn shapes_are_checked_and_nothing_is_written() {
    for t in tables() {
        let q = [1.0f32; 4];
        let x = [f16::ONE; 5];
        for metric in Metric::ALL {
            assert_eq!(
                t.stored_distance(metric, &q, &x),
                Err(KernelError::DimensionMismatch {
                    expected: 5,
                    got: 4
                })
            );
        }
        let data = [f16::ONE; 12];
        let rows = Rows::contiguous(&data, 4).unwrap();
        let mut out2 = [7.0f32; 2];
        assert!(matches!(
            t.stored_distances(Metric::L2Sq, &q, rows, &mut out2),
            Err(KernelError::OutputLength {
                expected: 3,
                got: 2,
                ..
            })
        ));
        assert_eq!(out2, [7.0; 2]);
        let mut out3 = [7.0f32; 3];
        assert!(matches!(
            t.stored_distances(Metric::Cosine, &q[..3], rows, &mut out3),
            Err(KernelError::DimensionMismatch {
                expected: 4,
                got: 3
            })
        ));
        assert_eq!(out3, [7.0; 3]);
        assert!(matches!(
            t.stored_distances_gather(Metric::L2Sq, &q, rows, &[0, 3], &mut out2),
            Err(KernelError::RowOutOfRange { id: 3, n_rows: 3 })
        ));
        assert!(matches!(
            t.stored_distances_gather(Metric::L2Sq, &q, rows, &[0, 1, 2], &mut out2),
            Err(KernelError::OutputLength {
                expected: 3,
                got: 2,
                ..
            })
        ));
        assert!(matches!(
            t.stored_distances_gather(Metric::InnerProduct, &q[..2], rows, &[0], &mut out2[..1]),
            Err(KernelError::DimensionMismatch { .. })
        ));
        assert_eq!(out2, [7.0; 2]);
        let mut dst = [f16::from_bits(0x1234); 3];
        assert!(matches!(
            t.encode(&q, 1.0, &mut dst),
            Err(KernelError::OutputLength {
                what: "dst",
                expected: 4,
                got: 3
            })
        ));
        assert!(dst.iter().all(|h| h.to_bits() == 0x1234));
        // Empty shapes are fine.
        let none: [f16; 0] = [];
        assert_eq!(t.stored_distance(Metric::L2Sq, &[], &none), Ok(0.0));
        assert_eq!(t.stored_distance(Metric::Cosine, &[], &none), Ok(1.0));
        t.encode::<f16>(&[], 2.0, &mut []).unwrap();
        t.stored_distances_gather(Metric::L2Sq, &q, rows, &[], &mut [])
            .unwrap();
    }
}

#[test]
fn decode_widens_every_f16_exactly_at_every_length_and_offset() {
    // Every one of the 65536 bit patterns, in one call, then every length 0..=40 at
    // every start 0..3, into a buffer framed by sentinels (nothing outside dst).
    let all: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
    for t in tables() {
        let mut out = vec![0.0f32; all.len()];
        t.decode(&all, &mut out).unwrap();
        for (h, &got) in all.iter().zip(&out) {
            let want = h.to_f32();
            assert!(
                same(got, want),
                "decode_f16_{} {:#06x}: {got:e} vs {want:e}",
                t.isa().name(),
                h.to_bits()
            );
        }
        for n in 0..=40 {
            for start in 0..3 {
                let src = &all[1000 + start..1000 + start + n];
                let mut buf = vec![f32::from_bits(0xDEAD_BEEF); n + 6];
                t.decode(src, &mut buf[3..3 + n]).unwrap();
                assert_eq!(widen(src), buf[3..3 + n].to_vec(), "n={n} start={start}");
                assert!(
                    buf[..3]
                        .iter()
                        .chain(&buf[3 + n..])
                        .all(|x| x.to_bits() == 0xDEAD_BEEF),
                    "decode_f16_{} n={n} wrote outside dst",
                    t.isa().name()
                );
            }
        }
        assert!(matches!(
            t.decode(&all[..4], &mut [0.0; 3]),
            Err(KernelError::OutputLength { .. })
        ));
    }
}

#[test]
fn table_lists_the_f16_family() {
    for t in tables() {
        assert!(t.families().contains(&("f16", t.isa().name())));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: proptest_cases(96), ..ProptestConfig::default() })]

    #[test]
    fn prop_stored_is_f32_on_widened_rows(
        n in 0usize..=2048,
        seed in any::<u64>(),
        scale_exp in -6i32..=4,
        off_q in 0usize..16,
        off_x in 0usize..32,
    ) {
        let mut rng = SplitMix64::new(seed);
        let scale = 10f32.powi(scale_exp);
        let buf_q = rng.vec(n + 16, scale);
        let buf_x = narrow(&rng.vec(n + 32, scale));
        let (q, x) = (&buf_q[off_q..off_q + n], &buf_x[off_x..off_x + n]);
        let w = widen(x);
        let src = rng.vec(n, scale * 7.0);
        for t in tables() {
            for metric in Metric::ALL {
                let got = t.stored_distance(metric, q, x).unwrap();
                let want = t.distance(metric, q, &w).unwrap();
                prop_assert!(same(got, want),
                    "{metric} {} n={n}: stored {got:e} != f32 {want:e}", t.isa());
            }
            let mut dst = vec![f16::ZERO; n];
            t.encode(&src, 1.0 / scale, &mut dst).unwrap();
            for (&s, &h) in src.iter().zip(&dst) {
                let want = f16::from_f32(s * (1.0 / scale));
                prop_assert!(h.to_bits() == want.to_bits() || (h.is_nan() && want.is_nan()),
                    "encode {} n={n}: {s:e}", t.isa());
            }
        }
    }
}
