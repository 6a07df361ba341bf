//! Scaled (asymmetric) kernels: an f32 query against i8/u8 codes decoded as
//! `vᵢ = sᵢ·xᵢ + oᵢ`, for every ISA under test, against an f64 reference of the
//! decoded vector within the bound derived in `src/scaled.rs` (widened so it also
//! covers the scalar path, which rounds `a - s·x` twice): every length 0..=300 and
//! the embedding dims, extreme codes, misaligned starts, one-to-many and chunked
//! gathers (bit for bit the one-to-one kernel), buffer reuse, and the errors.

mod common;

use common::*;
use sagevec_kernels::{
    ChunkedRows, KernelError, KernelTable, Metric, Quantized, Rows, ScaledQuery,
};

const METRICS: [Metric; 2] = [Metric::L2Sq, Metric::InnerProduct];
const EXTRA_DIMS: [usize; 8] = [383, 384, 511, 512, 767, 768, 769, 4099];

trait Code: Quantized {
    fn from_u64(bits: u64) -> Self;
    const EXTREMES: [Self; 2];
}

impl Code for i8 {
    fn from_u64(bits: u64) -> i8 {
        bits as i8
    }
    const EXTREMES: [i8; 2] = [i8::MIN, i8::MAX];
}

impl Code for u8 {
    fn from_u64(bits: u64) -> u8 {
        bits as u8
    }
    const EXTREMES: [u8; 2] = [u8::MIN, u8::MAX];
}

/// A random quantizer for `n` dimensions: scales in (0, 0.02], offsets in [-1, 1].
fn quantizer(rng: &mut SplitMix64, n: usize) -> (Vec<f32>, Vec<f32>) {
    let scale = (0..n).map(|_| (rng.unit().abs() + 1e-3) * 0.02).collect();
    (scale, rng.vec(n, 1.0))
}

/// The exact distance of `q` to the decoded row, and the derived error bound.
fn reference<T: Code>(metric: Metric, q: &[f32], s: &[f32], o: &[f32], x: &[T]) -> (f64, f64) {
    let n = q.len();
    let u = U;
    let v = |i: usize| f64::from(s[i]) * f64::from(x[i].to_f32()) + f64::from(o[i]);
    match metric {
        Metric::L2Sq => {
            let (mut exact, mut spread, mut sq) = (0.0f64, 0.0f64, 0.0f64);
            for i in 0..n {
                let d = f64::from(q[i]) - v(i);
                let sx = (f64::from(s[i]) * f64::from(x[i].to_f32())).abs();
                let qo = (f64::from(q[i]) - f64::from(o[i])).abs();
                // One rounding of a = q - o, one or two of a - s·x.
                let e = 2.0 * u * (qo + sx + d.abs());
                exact += d * d;
                spread += 2.0 * d.abs() * e + e * e;
                sq += (d.abs() + e).powi(2);
            }
            (exact, spread + gamma(n + 2) * sq + 1e-30)
        }
        Metric::InnerProduct => {
            let (mut dot, mut abs, mut bias) = (0.0f64, 0.0f64, 0.0f64);
            for i in 0..n {
                let qsx = f64::from(q[i]) * f64::from(s[i]) * f64::from(x[i].to_f32());
                dot += f64::from(q[i]) * v(i);
                abs += qsx.abs();
                bias += f64::from(q[i]) * f64::from(o[i]);
            }
            (
                -dot,
                gamma(n + 2) * abs + 2.0 * u * bias.abs() + 2.0 * u * dot.abs() + 1e-30,
            )
        }
        other => panic!("no scaled reference for {other}"),
    }
}

fn check<T: Code>(
    t: &KernelTable,
    q: &ScaledQuery,
    raw: (&[f32], &[f32], &[f32]),
    x: &[T],
    what: &str,
) {
    let (qv, s, o) = raw;
    for metric in METRICS {
        let got = t.scaled_distance(metric, q, x).unwrap();
        let (want, bound) = reference(metric, qv, s, o, x);
        assert_close(got, want, bound, &|| {
            format!(
                "scaled {metric}_{}_{} n={} {what}",
                T::NAME,
                t.isa(),
                x.len()
            )
        });
    }
}

fn every_length<T: Code>(seed: u64) {
    for t in tables() {
        let mut rng = SplitMix64::new(seed);
        for n in (0..=300).chain(EXTRA_DIMS) {
            let (s, o) = quantizer(&mut rng, n);
            let qv = rng.vec(n, 2.0);
            let q = ScaledQuery::new(&qv, &s, &o).unwrap();
            assert_eq!(q.dim(), n);
            let x: Vec<T> = (0..n).map(|_| T::from_u64(rng.next_u64())).collect();
            check(t, &q, (&qv, &s, &o), &x, "random");
            for e in T::EXTREMES {
                check(t, &q, (&qv, &s, &o), &vec![e; n], "extreme codes");
            }
        }
    }
}

#[test]
fn i8_within_bound_every_length() {
    every_length::<i8>(0x5CA1_0001);
}

#[test]
fn u8_within_bound_every_length() {
    every_length::<u8>(0x5CA1_0002);
}

fn many_and_gathers<T: Code>(seed: u64) {
    for t in tables() {
        let mut rng = SplitMix64::new(seed);
        let mut q = ScaledQuery::default();
        for dim in [1usize, 15, 16, 17, 64, 100, 768] {
            let (s, o) = quantizer(&mut rng, dim);
            let qv = rng.vec(dim, 1.0);
            // Reused buffers: the result is the same as a fresh query's.
            q.set(&qv, &s, &o).unwrap();
            let fresh = ScaledQuery::new(&qv, &s, &o).unwrap();
            let (n_rows, stride) = (23usize, dim + 5);
            let data: Vec<T> = (0..1 + n_rows * stride)
                .map(|_| T::from_u64(rng.next_u64()))
                .collect();
            let rows = Rows::strided(&data[1..], n_rows, dim, stride).unwrap();
            let ptrs: Vec<*const T> = (0..n_rows.div_ceil(4))
                .map(|c| rows.row(4 * c).as_ptr())
                .collect();
            // SAFETY: chunk c's rows are rows 4c.. of `rows`, inside `data`, which is
            // not written while borrowed.
            let chunked = unsafe { ChunkedRows::new(&ptrs, 2, dim, stride, n_rows) }.unwrap();
            let ids: Vec<u32> = (0..40).map(|_| rng.below(n_rows + 2) as u32).collect();
            for metric in METRICS {
                let mut out = vec![f32::NAN; n_rows];
                t.scaled_distances(metric, &q, rows, &mut out).unwrap();
                let gather = t.scaled_gather(metric, chunked);
                let mut gout = vec![f32::NAN; ids.len()];
                gather.gather(&q, &ids, &mut gout);
                for (i, &o) in out.iter().enumerate() {
                    let one = t.scaled_distance(metric, &fresh, rows.row(i)).unwrap();
                    assert_eq!(o.to_bits(), one.to_bits(), "many vs one {metric} dim={dim}");
                }
                for (j, &id) in ids.iter().enumerate() {
                    let want = out.get(id as usize).copied().unwrap_or(f32::INFINITY);
                    assert_eq!(
                        gout[j].to_bits(),
                        want.to_bits(),
                        "gather {metric} dim={dim} id={id}"
                    );
                    assert_eq!(gather.distance(&q, id).to_bits(), want.to_bits());
                }
            }
        }
    }
}

#[test]
fn i8_one_to_many_and_gathers() {
    many_and_gathers::<i8>(0x5CA1_0003);
}

#[test]
fn u8_one_to_many_and_gathers() {
    many_and_gathers::<u8>(0x5CA1_0004);
}

#[test]
fn misaligned_starts() {
    for t in tables() {
        let mut rng = SplitMix64::new(0x5CA1_0005);
        for n in [1usize, 7, 15, 16, 17, 33, 64, 65, 300] {
            let (s, o) = quantizer(&mut rng, n);
            let qv = rng.vec(n, 1.0);
            let q = ScaledQuery::new(&qv, &s, &o).unwrap();
            let buf: Vec<i8> = (0..n + 64).map(|_| rng.next_u64() as i8).collect();
            for off in 0..64 {
                check(t, &q, (&qv, &s, &o), &buf[off..off + n], "offset");
            }
        }
    }
}

#[test]
fn errors() {
    let t = tables()[0];
    assert!(matches!(
        ScaledQuery::new(&[1.0; 3], &[1.0; 2], &[0.0; 3]),
        Err(KernelError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        ScaledQuery::new(&[1.0; 3], &[1.0; 3], &[0.0; 4]),
        Err(KernelError::DimensionMismatch { .. })
    ));
    let q = ScaledQuery::new(&[1.0; 3], &[1.0; 3], &[0.0; 3]).unwrap();
    assert!(matches!(
        t.scaled_distance(Metric::L2Sq, &q, &[1i8; 4]),
        Err(KernelError::DimensionMismatch {
            expected: 4,
            got: 3
        })
    ));
    assert!(matches!(
        t.scaled_distance(Metric::Cosine, &q, &[1u8; 3]),
        Err(KernelError::UnsupportedMetric { .. })
    ));
    let rows = Rows::contiguous(&[0u8; 6], 3).unwrap();
    assert!(matches!(
        t.scaled_distances(Metric::L2Sq, &q, rows, &mut [0.0; 3]),
        Err(KernelError::OutputLength { .. })
    ));
    // With unit scales and zero offsets the codes are the vector: exact small ints.
    assert_eq!(
        t.scaled_distance(Metric::L2Sq, &q, &[1i8, 2, 3]).unwrap(),
        5.0
    );
    assert_eq!(
        t.scaled_distance(Metric::InnerProduct, &q, &[1u8, 2, 3])
            .unwrap(),
        -6.0
    );
}
