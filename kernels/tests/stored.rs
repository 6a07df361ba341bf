//! Stored (f16- and bf16-row) kernels of every ISA under test against that ISA's f32
//! kernels on the widened rows, bit for bit: every length 0..=300 and the parity
//! dims, misaligned starts, strided rows, gathers, large, tiny and non-finite
//! values, and a proptest. `encode` against `half`'s `from_f32(x · scale)` bit for
//! bit, over random finite values, every rounding midpoint of each type, overflow,
//! subnormal results, ±0, ±inf and NaN payloads; `decode` of every bit pattern.
//! Plus the f32 bound against an f64 reference of the widened row, and the shape
//! errors. Each check is one generic body run for f16 and for bf16.
//!
//! Which ISAs: `SAGEVEC_ISA` if set (the test command runs this binary once per
//! ISA the CPU has), else all available ones.

mod common;

use common::*;
use proptest::prelude::*;
use sagevec_kernels::{
    F16_MAX, KernelError, KernelTable, Metric, Rows, StoredElement, bf16, f16, f16_scale_for,
};

/// f16 or bf16, with the bit-level facts the tests need.
trait Half: StoredElement + PartialEq {
    /// `half`'s rounding (the reference encoding).
    fn from_f32(x: f32) -> Self;
    fn to_bits(self) -> u16;
    fn from_bits(bits: u16) -> Self;
    fn is_nan(self) -> bool {
        self.to_f32().is_nan()
    }
    /// The first positive bit pattern that is not finite (+inf).
    const INF_BITS: u16;
    /// Where the step after the largest finite value would land (the overflow
    /// threshold is halfway to it).
    const NEXT_AFTER_MAX: f64;
    /// A scale at which random values span most of the type's range without
    /// overflowing f32 products.
    const BIG: f32;
}

impl Half for f16 {
    fn from_f32(x: f32) -> Self {
        f16::from_f32(x)
    }
    fn to_bits(self) -> u16 {
        f16::to_bits(self)
    }
    fn from_bits(bits: u16) -> Self {
        f16::from_bits(bits)
    }
    const INF_BITS: u16 = 0x7c00;
    const NEXT_AFTER_MAX: f64 = 65536.0;
    const BIG: f32 = 30000.0;
}

impl Half for bf16 {
    fn from_f32(x: f32) -> Self {
        bf16::from_f32(x)
    }
    fn to_bits(self) -> u16 {
        bf16::to_bits(self)
    }
    fn from_bits(bits: u16) -> Self {
        bf16::from_bits(bits)
    }
    const INF_BITS: u16 = 0x7f80;
    const NEXT_AFTER_MAX: f64 = 3.402_823_669_209_385e38; // 2^128
    const BIG: f32 = 1e18;
}

/// `#[test]`s running one generic body for f16 and for bf16.
macro_rules! both {
    ($body:ident: $f16:ident, $bf16:ident) => {
        #[test]
        fn $f16() {
            $body::<f16>();
        }
        #[test]
        fn $bf16() {
            $body::<bf16>();
        }
    };
}

/// The lengths of `parity.rs` beyond 0..=300.
const EXTRA_DIMS: [usize; 18] = [
    383, 384, 385, 511, 512, 513, 767, 768, 769, 784, 1023, 1024, 1025, 1536, 1537, 3072, 3073,
    4099,
];

fn dims() -> impl Iterator<Item = usize> {
    (0..=300).chain(EXTRA_DIMS)
}

/// Each element widened exactly to f32.
fn widen<T: Half>(x: &[T]) -> Vec<f32> {
    x.iter().map(|h| h.to_f32()).collect()
}

/// Rounded elementwise (the reference encoding).
fn narrow<T: Half>(x: &[f32]) -> Vec<T> {
    x.iter().map(|&v| T::from_f32(v)).collect()
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
fn check_pair<T: Half>(t: &KernelTable, q: &[f32], x: &[T], what: &str) {
    let w = widen(x);
    for metric in FLOAT_METRICS {
        let got = t.distance(metric, q, x).unwrap();
        let want = t.distance(metric, q, &w).unwrap();
        assert_same(got, want, &|| {
            format!("{}_{}_{} n={} {what}", metric, T::NAME, t.isa(), q.len())
        });
    }
}

/// One-to-many and gather over `rows` (f16) against the same layout widened.
fn check_many<T: Half>(
    t: &KernelTable,
    q: &[f32],
    rows: Rows<'_, T>,
    wide: Rows<'_, f32>,
    ids: &[u32],
) {
    let n = rows.n_rows();
    for metric in FLOAT_METRICS {
        let mut got = vec![f32::NAN; n];
        let mut want = vec![-1.0f32; n];
        t.distances(metric, q, rows, &mut got).unwrap();
        t.distances(metric, q, wide, &mut want).unwrap();
        for i in 0..n {
            assert_same(got[i], want[i], &|| {
                format!("many {metric} {} dim={} row={i}", t.isa(), rows.dim())
            });
        }
        let mut gout = vec![f32::NAN; ids.len()];
        let mut gwant = vec![-1.0f32; ids.len()];
        t.distances_gather(metric, q, rows, ids, &mut gout).unwrap();
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

fn bit_for_bit_every_length<T: Half>() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5107_0001);
        for n in dims() {
            // Values up to T::BIG (inside the type's range; products far from f32
            // overflow).
            for scale in [1.0f32, T::BIG] {
                let q = rng.vec(n, scale);
                let x = narrow::<T>(&rng.vec(n, scale));
                check_pair(t, &q, &x, &format!("scale {scale}"));
            }
            // Three rows, stride dim + 1, starting one element in: every length also
            // runs through the one-to-many and gather loops.
            let stride = n + 1;
            let data = narrow::<T>(&rng.vec(1 + 3 * stride, 1.0));
            let wide = widen(&data);
            let rows = Rows::strided(&data[1..], 3, n, stride).unwrap();
            let wrows = Rows::strided(&wide[1..], 3, n, stride).unwrap();
            let q = rng.vec(n, 1.0);
            check_many(t, &q, rows, wrows, &[2, 0, 1, 1]);
        }
    }
}

fn misaligned_starts<T: Half>() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5107_0002);
        for n in [
            1usize, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 129, 300, 769,
        ] {
            let bufq = rng.vec(n + 16, 1.0);
            let bufx = narrow::<T>(&rng.vec(n + 32, 1.0));
            // f16 offsets put a row at every 2-byte position of a 64-byte line.
            for off_x in 0..32 {
                let off_q = (off_x * 7 + 3) % 16;
                let (q, x) = (&bufq[off_q..off_q + n], &bufx[off_x..off_x + n]);
                check_pair(t, q, x, &format!("offsets {off_q},{off_x}"));
            }
        }
    }
}

fn strided<T: Half>() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5107_0003);
        for dim in [1usize, 3, 8, 15, 16, 17, 33, 64, 100, 128, 130, 768] {
            for (n_rows, pad, off) in [(1usize, 0usize, 0usize), (7, 0, 1), (13, 5, 3), (40, 16, 7)]
            {
                let stride = dim + pad;
                let data = narrow::<T>(&rng.vec(off + n_rows * stride, 1.0));
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
                    t.distances(metric, &q, rows, &mut out).unwrap();
                    for (i, &o) in out.iter().enumerate() {
                        assert_same(o, t.distance(metric, &q, rows.row(i)).unwrap(), &|| {
                            format!("many vs pair {metric} {} dim={dim} row={i}", t.isa())
                        });
                    }
                }
            }
        }
    }
}

fn extremes<T: Half>() {
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
        1e-40,          // an f32 (and bf16) subnormal
        3.38e38,        // near the largest bf16
    ];
    for t in tables() {
        let mut rng = SplitMix64::new(0x5107_0004);
        for n in [1usize, 8, 15, 16, 17, 33, 64, 65, 100, 769] {
            for (s, &v) in specials.iter().enumerate() {
                // The special value in the row at a body lane and at a tail lane.
                for pos in [0, n / 2, n - 1] {
                    let q = rng.vec(n, 2.0);
                    let mut x = narrow::<T>(&rng.vec(n, 1.0));
                    x[pos] = T::from_f32(v);
                    check_pair(t, &q, &x, &format!("row[{pos}] = special {s}"));
                    // ... and in the query (inf · 0, inf - inf across both).
                    let mut q2 = q.clone();
                    q2[pos] = v;
                    check_pair(t, &q2, &x, &format!("query[{pos}] = special {s}"));
                }
            }
            // Whole rows of tiny (f16-subnormal, bf16 subnormal) and of huge values.
            for scale in [1e-6f32, 6e-8, 1e-39, 60000.0, T::BIG] {
                let q = rng.vec(n, scale);
                let x = narrow::<T>(&rng.vec(n, scale));
                check_pair(t, &q, &x, &format!("scale {scale:e}"));
            }
        }
    }
}

fn bound_of_widened<T: Half>() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5107_0005);
        for n in dims().step_by(7).chain(EXTRA_DIMS) {
            for scale in [1.0f32, 1000.0, 1e-3] {
                let q = rng.vec(n, scale);
                let x = narrow::<T>(&rng.vec(n, scale));
                let w = widen(&x);
                for metric in FLOAT_METRICS {
                    let got = t.distance(metric, &q, &x).unwrap();
                    assert_close(
                        got,
                        reference(metric, &q, &w),
                        bound(metric, &q, &w),
                        &|| format!("{}_{}_{} n={n} scale {scale:e}", metric, T::NAME, t.isa()),
                    );
                }
            }
        }
    }
}

/// `t.encode(src, scale)` into a slice framed by sentinels: the result equals
/// `T::from_f32(src[i] * scale)` bit for bit (NaN too: both quiet the same way), and
/// the frame is untouched.
fn check_encode<T: Half>(t: &KernelTable, src: &[f32], scale: f32, what: &str) {
    const SENTINEL: u16 = 0x7e5a;
    let n = src.len();
    let mut buf = vec![T::from_bits(SENTINEL); n + 16];
    t.encode(src, scale, &mut buf[3..3 + n]).unwrap();
    for (i, (&s, &got)) in src.iter().zip(&buf[3..3 + n]).enumerate() {
        let want = T::from_f32(s * scale);
        let ok =
            got.to_bits() == want.to_bits() || (T::NAME == "f16" && got.is_nan() && want.is_nan());
        assert!(
            ok,
            "encode_{}_{} {what} n={n} i={i}: {s:e} · {scale:e} gave {:#06x}, want {:#06x}",
            T::NAME,
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
        "encode_{}_{} {what} n={n} wrote outside dst",
        T::NAME,
        t.isa()
    );
}

/// Runs `check_encode` over `src` whole and in chunks of every length 0..=40 (so
/// every value passes through both the vector body and the tail).
fn check_encode_chunks<T: Half>(t: &KernelTable, src: &[f32], scale: f32, what: &str) {
    check_encode::<T>(t, src, scale, what);
    let mut start = 0;
    let mut len = 0;
    while start < src.len() {
        let end = (start + len).min(src.len());
        check_encode::<T>(t, &src[start..end], scale, what);
        start = end;
        len = (len + 1) % 41;
    }
}

fn encode_random<T: Half>() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5107_0006);
        // Any finite f32 bit pattern: f32 subnormals, everything that overflows f16,
        // and everything that lands in f16's subnormal range; and NaN payloads.
        let src: Vec<f32> = (0..20_000)
            .map(|_| f32::from_bits(rng.next_u64() as u32))
            .filter(|v| v.is_finite() || v.is_nan())
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
            check_encode_chunks::<T>(t, &src, scale, &format!("random bits, scale {scale:e}"));
            check_encode_chunks::<T>(t, &moderate, scale, &format!("uniform, scale {scale:e}"));
        }
    }
}

fn encode_midpoints<T: Half>() {
    // For every pair of adjacent finite values (and the step past the largest), the
    // exact midpoint (a tie: even wins) and the f32 values just either side of it.
    let mut src = Vec::new();
    for bits in 0u16..T::INF_BITS {
        let lo = f64::from(T::from_bits(bits).to_f32());
        let hi = if bits == T::INF_BITS - 1 {
            T::NEXT_AFTER_MAX // the overflow threshold is halfway to it
        } else {
            f64::from(T::from_bits(bits + 1).to_f32())
        };
        let mid = ((lo + hi) / 2.0) as f32; // exact: one bit more than T keeps
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
        check_encode::<T>(t, &src, 1.0, "midpoints");
        // The same values reached through a power-of-two scale (exact products; the
        // largest bf16 ones overflow when doubled, so halve them instead).
        let halved: Vec<f32> = src.iter().map(|v| v * 0.5).collect();
        check_encode::<T>(t, &halved, 2.0, "midpoints via scale 2");
    }
}

fn encode_specials<T: Half>() {
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
        // bf16: ties at 1 + 2⁻⁸ (to 1) and 1 + 3·2⁻⁸ (to 1 + 2⁻⁶), its overflow
        // threshold, signalling and payload NaNs, f32 subnormals.
        1.0 + 2f32.powi(-8),
        1.0 + 3.0 * 2f32.powi(-8),
        3.396_115e38,
        f32::from_bits(0x7f7f_8000),
        f32::from_bits(0x7f80_0001),
        f32::from_bits(0xffc0_1234),
        f32::from_bits(0x0000_8000),
        f32::from_bits(0x0001_8000),
        f32::from_bits(0x8000_7fff),
    ];
    for t in tables() {
        for scale in [1.0f32, 2.0, 0.5, -1.0, 0.0, f32::INFINITY] {
            for n in [specials.len(), 8, 16, 7, 1] {
                check_encode::<T>(t, &specials[..n], scale, &format!("specials scale {scale}"));
            }
            // Each special at every lane of a body block and of a tail.
            for &v in &specials {
                for len in [1usize, 9, 16, 17, 31] {
                    for pos in 0..len {
                        let mut src = vec![0.25f32; len];
                        src[pos] = v;
                        check_encode::<T>(t, &src, scale, &format!("{v:e} at {pos}/{len}"));
                    }
                }
            }
        }
        let mut out = [T::from_f32(0.0); 3];
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

fn shapes<T: Half>() {
    for t in tables() {
        let q = [1.0f32; 4];
        let x = [T::from_f32(1.0); 5];
        for metric in FLOAT_METRICS {
            assert_eq!(
                t.distance(metric, &q, &x),
                Err(KernelError::DimensionMismatch {
                    expected: 5,
                    got: 4
                })
            );
        }
        let data = [T::from_f32(1.0); 12];
        let rows = Rows::contiguous(&data, 4).unwrap();
        let mut out2 = [7.0f32; 2];
        assert!(matches!(
            t.distances(Metric::L2Sq, &q, rows, &mut out2),
            Err(KernelError::OutputLength {
                expected: 3,
                got: 2,
                ..
            })
        ));
        assert_eq!(out2, [7.0; 2]);
        let mut out3 = [7.0f32; 3];
        assert!(matches!(
            t.distances(Metric::Cosine, &q[..3], rows, &mut out3),
            Err(KernelError::DimensionMismatch {
                expected: 4,
                got: 3
            })
        ));
        assert_eq!(out3, [7.0; 3]);
        assert!(matches!(
            t.distances_gather(Metric::L2Sq, &q, rows, &[0, 3], &mut out2),
            Err(KernelError::RowOutOfRange { id: 3, n_rows: 3 })
        ));
        assert!(matches!(
            t.distances_gather(Metric::L2Sq, &q, rows, &[0, 1, 2], &mut out2),
            Err(KernelError::OutputLength {
                expected: 3,
                got: 2,
                ..
            })
        ));
        assert!(matches!(
            t.distances_gather(Metric::InnerProduct, &q[..2], rows, &[0], &mut out2[..1]),
            Err(KernelError::DimensionMismatch { .. })
        ));
        assert_eq!(out2, [7.0; 2]);
        let mut dst = [T::from_bits(0x1234); 3];
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
        let none: [T; 0] = [];
        assert_eq!(t.distance(Metric::L2Sq, &[], &none), Ok(0.0));
        assert_eq!(t.distance(Metric::Cosine, &[], &none), Ok(1.0));
        t.encode::<T>(&[], 2.0, &mut []).unwrap();
        t.distances_gather(Metric::L2Sq, &q, rows, &[], &mut [])
            .unwrap();
    }
}

fn decode_every_pattern<T: Half>() {
    // Every one of the 65536 bit patterns, in one call, then every length 0..=40 at
    // every start 0..3, into a buffer framed by sentinels (nothing outside dst).
    let all: Vec<T> = (0..=u16::MAX).map(T::from_bits).collect();
    for t in tables() {
        let mut out = vec![0.0f32; all.len()];
        t.decode(&all, &mut out).unwrap();
        for (h, &got) in all.iter().zip(&out) {
            let want = h.to_f32();
            assert!(
                same(got, want),
                "decode_{}_{} {:#06x}: {got:e} vs {want:e}",
                T::NAME,
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
                    "decode_{}_{} n={n} wrote outside dst",
                    T::NAME,
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
        let buf_x: Vec<f16> = narrow(&rng.vec(n + 32, scale));
        let buf_b: Vec<bf16> = narrow(&rng.vec(n + 32, scale));
        let (q, x) = (&buf_q[off_q..off_q + n], &buf_x[off_x..off_x + n]);
        let b = &buf_b[off_x..off_x + n];
        let (w, wb) = (widen(x), widen(b));
        let src = rng.vec(n, scale * 7.0);
        for t in tables() {
            for metric in FLOAT_METRICS {
                let got = t.distance(metric, q, x).unwrap();
                let want = t.distance(metric, q, &w).unwrap();
                prop_assert!(same(got, want),
                    "{metric} {} n={n}: f16 {got:e} != f32 {want:e}", t.isa());
                let got = t.distance(metric, q, b).unwrap();
                let want = t.distance(metric, q, &wb).unwrap();
                prop_assert!(same(got, want),
                    "{metric} {} n={n}: bf16 {got:e} != f32 {want:e}", t.isa());
            }
            let mut dst = vec![f16::ZERO; n];
            t.encode(&src, 1.0 / scale, &mut dst).unwrap();
            for (&s, &h) in src.iter().zip(&dst) {
                let want = f16::from_f32(s * (1.0 / scale));
                prop_assert!(h.to_bits() == want.to_bits() || (h.is_nan() && want.is_nan()),
                    "encode {} n={n}: {s:e}", t.isa());
            }
            let mut dst = vec![bf16::ZERO; n];
            t.encode(&src, 1.0 / scale, &mut dst).unwrap();
            for (&s, &h) in src.iter().zip(&dst) {
                prop_assert!(h.to_bits() == bf16::from_f32(s * (1.0 / scale)).to_bits(),
                    "encode bf16 {} n={n}: {s:e}", t.isa());
            }
        }
    }
}

both!(bit_for_bit_every_length: f16_bit_for_bit_every_length, bf16_bit_for_bit_every_length);

both!(misaligned_starts: f16_pair_misaligned_starts, bf16_pair_misaligned_starts);

both!(strided: f16_strided_rows_and_gathers, bf16_strided_rows_and_gathers);

both!(extremes: f16_extreme_and_non_finite_values, bf16_extreme_and_non_finite_values);

both!(bound_of_widened: f16_meets_the_f32_bound_of_the_widened_row, bf16_meets_the_f32_bound_of_the_widened_row);

both!(encode_random: f16_encode_random_finite_values, bf16_encode_random_finite_values);

both!(encode_midpoints: f16_encode_every_rounding_midpoint, bf16_encode_every_rounding_midpoint);

both!(encode_specials: f16_encode_special_values, bf16_encode_special_values);

both!(shapes: f16_shapes_are_checked_and_nothing_is_written, bf16_shapes_are_checked_and_nothing_is_written);

both!(decode_every_pattern: f16_decode_widens_every_pattern_exactly, bf16_decode_widens_every_pattern_exactly);

/// bf16 many-to-many (bf16 queries and rows) within the bound of a dot product of
/// the widened values: γₙ₊₁ Σ|aᵢbᵢ| (the `vdpbf16ps` path adds pairs then the
/// accumulator, one more rounding), plus the knn distances within the
/// norm-expansion bound and in the reference's order up to it. Every variant: the
/// widened FMA path and, where the host has AVX-512 BF16, `vdpbf16ps`.
#[test]
fn bf16_many_to_many_within_bound() {
    for t in variant_tables() {
        let mut rng = SplitMix64::new(0x5107_00B1);
        for dim in [1usize, 31, 32, 33, 64, 100, 129, 768, 1025] {
            let (n_q, n_x) = (7usize, 13usize);
            let qd: Vec<bf16> = narrow(&rng.vec(n_q * dim, 1.0));
            let xd: Vec<bf16> = narrow(&rng.vec(n_x * dim, 1.0));
            let (qs, xs) = (
                Rows::contiguous(&qd, dim).unwrap(),
                Rows::contiguous(&xd, dim).unwrap(),
            );
            let (dots, norms) = dots_and_norms(t, qs, xs);
            let (wq, wx) = (widen(&qd), widen(&xd));
            let wrow = |w: &[f32], i: usize| w[i * dim..(i + 1) * dim].to_vec();
            for j in 0..n_x {
                let x = wrow(&wx, j);
                assert_close(
                    norms[j],
                    ref_dot(&x, &x),
                    gamma(dim + 1) * ref_dot(&x, &x) + 1e-30,
                    &|| format!("bf16 norms {} dim={dim}", table_name(t)),
                );
                for i in 0..n_q {
                    let q = wrow(&wq, i);
                    let b = gamma(dim + 1) * ref_abs_dot(&q, &x) + 1e-30;
                    assert_close(dots[i * n_x + j], ref_dot(&q, &x), b, &|| {
                        format!("bf16 dot_matrix {} dim={dim} ({i},{j})", table_name(t))
                    });
                }
            }
            let k = 4;
            for metric in FLOAT_METRICS {
                let (mut ids, mut dist) = (vec![0u64; n_q * k], vec![0.0f32; n_q * k]);
                t.knn(metric, qs, xs, None, k, &mut ids, &mut dist).unwrap();
                for i in 0..n_q {
                    let q = wrow(&wq, i);
                    let exact: Vec<f64> = (0..n_x)
                        .map(|j| reference(metric, &q, &wrow(&wx, j)))
                        .collect();
                    let slack: Vec<f64> = (0..n_x)
                        .map(|j| 2.0 * bound_tiled(metric, &q, &wrow(&wx, j)) + 1e-6)
                        .collect();
                    let got = &ids[i * k..(i + 1) * k];
                    for (r, &id) in got.iter().enumerate() {
                        let id = id as usize;
                        assert_close(dist[i * k + r], exact[id], slack[id], &|| {
                            format!("bf16 knn {metric} {} dim={dim}", table_name(t))
                        });
                    }
                    // Nothing left out is nearer than the k-th returned, beyond the slack.
                    let kth = got
                        .iter()
                        .map(|&id| exact[id as usize])
                        .fold(f64::MIN, f64::max);
                    for j in (0..n_x).filter(|j| !got.contains(&(*j as u64))) {
                        assert!(
                            exact[j] >= kth - slack[j] - slack[got[k - 1] as usize],
                            "bf16 knn {metric} {} dim={dim}: row {j} left out",
                            table_name(t)
                        );
                    }
                }
            }
        }
        let want = if t.extensions().contains(sagevec_kernels::Extensions::BF16) {
            "avx512bf16".to_owned()
        } else {
            t.isa().name().to_owned()
        };
        assert!(t.families().contains(&("bf16", want.as_str())));
    }
}
