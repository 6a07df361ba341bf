//! One-to-many kernels of every member of the element family (f32 as the baseline,
//! f16, bf16, i8, u8, bits, scaled i8 codes; `benches/kernels.rs` has more f32
//! shapes and peers), for every ISA and extension
//! path this host has, the dispatched table, and simsimd's kernel of the same type
//! side by side; and many-to-many knn on i8/u8 rows beside f32's.
//!
//! Groups and ids (`{group}/{metric}/{elem}/{path|peer}/{dim}`; `{dim}` counts
//! elements, bits for `bits`):
//!
//! | group | shape | data | throughput |
//! |---|---|---|---|
//! | `family_hot` | `distances(q, rows)` | a 256 KiB block of rows (stays in L2) | bytes of rows |
//! | `family_cold` | `distances(q, rows)` | 1 MiB of rows per call, rotating over 256 MiB (8× a 32 MiB LLC) | bytes of rows |
//! | `family_knn` | `knn(Q, N, k = 10)` over f32, bf16, i8, u8 | Q = 256, N = 20 000, d = 768 | element products (Q·N·d) |
//!
//! `{path}` is each table's family path (`avx2`, `avx512`, `avx512vnni`,
//! `avx512vpopcntdq`, ...; `KernelTable::for_isa_with` reaches the base paths on a
//! host with the extensions; the scalar path is left out of the cold group, where
//! it only measures itself) or `dispatch` (`kernels()`). Peers are called once per
//! row, as a caller without a batch kernel would: `simsimd`'s `sqeuclidean` (f16,
//! bf16, i8, with a query of the row type converted once outside the timing, so the
//! same row bytes stream) and `hamming` (bits, over bytes). simsimd has no u8
//! kernel and no asymmetric one: those rows have no peer.
//!
//! Run: `cargo bench -p sagevec-benches --bench family` (add a filter such as
//! `family_cold` and `--quick` for a short run).

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use sagevec_benches::{SplitMix64, print_machine_banner};
use sagevec_kernels::{
    AlignedVec, Bits64, Element, Extensions, Isa, KernelTable, Metric, Rows, ScaledQuery, bf16,
    f16, kernels,
};
use simsimd::{BinarySimilarity, SpatialSimilarity};

/// Elements per row of the float and integer members (bits rows: 1024 and 4096).
const DIM: usize = 768;
const BIT_DIMS: [usize; 2] = [1024, 4096];
/// The hot block (half of Zen 3's L2; Zen 4/5 have 1 MiB per core).
const HOT_BYTES: usize = 256 * 1024;
/// The cold corpus and the bytes each call reads from it.
const COLD_BYTES: usize = 256 << 20;
const COLD_CALL_BYTES: usize = 1 << 20;

/// Every table of this host: each ISA with and, where it has extensions, without.
fn tables() -> Vec<&'static KernelTable> {
    let mut out = Vec::new();
    for isa in Isa::available() {
        let full = KernelTable::for_isa(isa).expect("available");
        if full.extensions() != Extensions::NONE {
            out.push(KernelTable::for_isa_with(isa, Extensions::NONE).expect("base path"));
        }
        out.push(full);
    }
    out
}

/// A family's path in `t` (its name in bench ids).
fn path<T: Element>(t: &KernelTable) -> &'static str {
    t.families()
        .into_iter()
        .find(|&(elem, _)| elem == T::NAME)
        .map_or("?", |(_, p)| p)
}

/// `n` random elements from 64-bit draws.
fn draw<T: Element>(rng: &mut SplitMix64, n: usize, f: impl Fn(u64) -> T) -> AlignedVec<T> {
    let mut v = AlignedVec::<T>::zeroed(n);
    for x in v.iter_mut() {
        *x = f(rng.next_u64());
    }
    v
}

/// A value in [-1, 1) from a draw.
fn unit(r: u64) -> f32 {
    ((r >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// A peer's distance from its own (captured) query to one row.
type Peer<'a, T> = &'a dyn Fn(&[T]) -> f32;

/// Times `f(chunk, out)` with the chunk rotating over `chunks`; `out` is allocated
/// here, outside the timed closure.
fn run<T: Element>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: String,
    chunks: &[Rows<'_, T>],
    f: impl Fn(Rows<'_, T>, &mut [f32]),
) {
    let mut out = vec![0.0f32; chunks[0].n_rows()];
    let mut i = 0;
    group.bench_function(id, |bench| {
        bench.iter(|| {
            i = (i + 1) % chunks.len();
            f(black_box(chunks[i]), &mut out);
            black_box(&mut out);
        });
    });
}

/// Every path, the dispatched table and the peer on one query against `chunks`
/// (`cold`: leave the scalar path out).
fn contenders<T: Element>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    metric: Metric,
    dim_label: usize,
    q: &[T::Query],
    chunks: &[Rows<'_, T>],
    cold: bool,
    peer: Option<Peer<'_, T>>,
) {
    let mut seen = Vec::new();
    for t in tables() {
        // One row per distinct path (a table without extensions runs the same
        // f16 kernel as one with them).
        if (cold && t.isa() == Isa::Scalar) || seen.contains(&path::<T>(t)) {
            continue;
        }
        seen.push(path::<T>(t));
        let id = format!("{metric}/{}/{}/{dim_label}", T::NAME, path::<T>(t));
        run(group, id, chunks, |rows, out| {
            t.distances(metric, q, rows, out).expect("shapes agree");
        });
    }
    let id = format!("{metric}/{}/dispatch/{dim_label}", T::NAME);
    run(group, id, chunks, |rows, out| {
        kernels()
            .distances(metric, q, rows, out)
            .expect("shapes agree");
    });
    if let Some(f) = peer {
        let id = format!("{metric}/{}/simsimd/{dim_label}", T::NAME);
        run(group, id, chunks, |rows, out| {
            for (o, row) in out.iter_mut().zip(rows.iter()) {
                *o = f(row);
            }
        });
    }
}

/// The scaled (asymmetric) i8 kernel on the same chunks.
fn scaled_contenders(
    group: &mut BenchmarkGroup<'_, WallTime>,
    q: &ScaledQuery,
    chunks: &[Rows<'_, i8>],
    cold: bool,
) {
    for t in tables() {
        if (cold && t.isa() == Isa::Scalar) || t.extensions() != t.isa().extensions() {
            continue; // the scaled kernels use no extension: one row per ISA
        }
        let id = format!("l2/scaled_i8/{}/{DIM}", t.isa());
        run(group, id, chunks, |rows, out| {
            t.scaled_distances(Metric::L2Sq, q, rows, out)
                .expect("shapes agree");
        });
    }
}

/// simsimd's f16 and bf16 types are `repr(transparent)` u16 wrappers, as are
/// `half`'s: the same bytes.
fn as_simsimd_f16(x: &[f16]) -> &[simsimd::f16] {
    // SAFETY: both types are repr(transparent) over u16 (same size, alignment and
    // validity for every bit pattern); the slice covers the same bytes.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast(), x.len()) }
}

fn as_simsimd_bf16(x: &[bf16]) -> &[simsimd::bf16] {
    // SAFETY: as for `as_simsimd_f16`.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast(), x.len()) }
}

fn as_bytes(x: &[Bits64]) -> &[u8] {
    // SAFETY: Bits64 is repr(transparent) over u64: 8 plain bytes each.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast(), x.len() * 8) }
}

/// The rows of `data` (`dim` elements each) in calls of `call_bytes`.
fn chunks<T: Element>(data: &[T], dim: usize, call_bytes: usize) -> Vec<Rows<'_, T>> {
    let rows = Rows::contiguous(data, dim).expect("whole rows");
    let per = (call_bytes / (dim * size_of::<T>())).max(1);
    (0..rows.n_rows() / per)
        .map(|i| rows.slice_rows(i * per, (i + 1) * per))
        .collect()
}

/// One member in both the hot and the cold group.
struct Case<'a, T: Element> {
    metric: Metric,
    dim: usize,
    dim_label: usize,
    q: &'a [T::Query],
    peer: Option<Peer<'a, T>>,
}

impl<'a, T: Element> Case<'a, T> {
    /// A case of `DIM`-element rows.
    fn of(metric: Metric, q: &'a [T::Query], peer: Option<Peer<'a, T>>) -> Self {
        Case {
            metric,
            dim: DIM,
            dim_label: DIM,
            q,
            peer,
        }
    }
}

fn bench_member<T: Element>(
    c: &mut Criterion,
    case: &Case<'_, T>,
    seed: u64,
    make: impl Fn(u64) -> T + Copy,
) {
    let mut rng = SplitMix64::new(seed);
    for (group_name, total, call, cold) in [
        ("family_hot", HOT_BYTES, HOT_BYTES, false),
        ("family_cold", COLD_BYTES, COLD_CALL_BYTES, true),
    ] {
        let n_rows = total / (case.dim * size_of::<T>());
        let data = draw(&mut rng, n_rows * case.dim, make);
        let parts = chunks(&data, case.dim, call);
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Bytes(
            (parts[0].n_rows() * case.dim * size_of::<T>()) as u64,
        ));
        contenders(
            &mut group,
            case.metric,
            case.dim_label,
            case.q,
            &parts,
            cold,
            case.peer,
        );
        group.finish();
    }
}

fn bench_scaled(c: &mut Criterion) {
    let mut rng = SplitMix64::new(0xFA_0006);
    let scale: Vec<f32> = (0..DIM)
        .map(|_| 0.01 + 0.01 * unit(rng.next_u64()).abs())
        .collect();
    let offset: Vec<f32> = (0..DIM).map(|_| unit(rng.next_u64())).collect();
    let query: Vec<f32> = (0..DIM).map(|_| unit(rng.next_u64())).collect();
    let q = ScaledQuery::new(&query, &scale, &offset).expect("same lengths");
    for (group_name, total, call, cold) in [
        ("family_hot", HOT_BYTES, HOT_BYTES, false),
        ("family_cold", COLD_BYTES, COLD_CALL_BYTES, true),
    ] {
        let data = draw(&mut rng, total / DIM * DIM, |r| r as i8);
        let parts = chunks(&data, DIM, call);
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Bytes((parts[0].n_rows() * DIM) as u64));
        scaled_contenders(&mut group, &q, &parts, cold);
        group.finish();
    }
}

/// One knn row of `family_knn`: `metric` over queries `q` and rows `x` of `T`.
fn knn_case<T: Element>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    t: &KernelTable,
    metric: Metric,
    q: &[T],
    x: &[T],
) {
    const K: usize = 10;
    let (qs, xs) = (
        Rows::contiguous(q, DIM).expect("whole rows"),
        Rows::contiguous(x, DIM).expect("whole rows"),
    );
    let (mut ids, mut dists) = (vec![0u64; qs.n_rows() * K], vec![0.0f32; qs.n_rows() * K]);
    let id = format!("{metric}/{}/{}/{DIM}", T::NAME, path::<T>(t));
    group.bench_function(id, |bench| {
        bench.iter(|| {
            t.knn(metric, qs, xs, None, K, &mut ids, &mut dists)
                .expect("shapes agree");
            black_box(&mut ids);
        });
    });
}

/// `family_knn`: exact knn (k = 10) of 256 queries against 20 000 rows at d = 768 for
/// i8 and u8 beside f32, in element products per second.
fn bench_knn(c: &mut Criterion) {
    const Q: usize = 256;
    const N: usize = 20_000;
    let mut group = c.benchmark_group("family_knn");
    group.throughput(Throughput::Elements((Q * N * DIM) as u64));
    group.sample_size(10);
    let mut rng = SplitMix64::new(0xFA_0009);
    let f32s = (draw(&mut rng, Q * DIM, unit), draw(&mut rng, N * DIM, unit));
    let i8s = (
        draw(&mut rng, Q * DIM, |r| r as i8),
        draw(&mut rng, N * DIM, |r| r as i8),
    );
    let bf16s = (
        draw(&mut rng, Q * DIM, |r| bf16::from_f32(unit(r))),
        draw(&mut rng, N * DIM, |r| bf16::from_f32(unit(r))),
    );
    let u8s = (
        draw(&mut rng, Q * DIM, |r| r as u8),
        draw(&mut rng, N * DIM, |r| r as u8),
    );
    for t in tables() {
        if t.isa() == Isa::Scalar {
            continue;
        }
        // f32's path is the same with or without extensions: bench it once.
        if t.extensions() == t.isa().extensions() {
            knn_case(&mut group, t, Metric::L2Sq, &f32s.0, &f32s.1);
        }
        knn_case(&mut group, t, Metric::InnerProduct, &i8s.0, &i8s.1);
        knn_case(&mut group, t, Metric::InnerProduct, &bf16s.0, &bf16s.1);
        knn_case(&mut group, t, Metric::InnerProduct, &u8s.0, &u8s.1);
    }
    group.finish();
}

fn main() {
    print_machine_banner("family");
    let mut c = Criterion::default().configure_from_args();
    let mut rng = SplitMix64::new(0xFA_0001);

    let q16: Vec<f32> = (0..DIM).map(|_| unit(rng.next_u64())).collect();
    // f32 on the same harness, the baseline the other rows compare with.
    let peer_f32 =
        |x: &[f32]| <f32 as SpatialSimilarity>::sqeuclidean(&q16, x).unwrap_or(f64::NAN) as f32;
    bench_member(
        &mut c,
        &Case::of(Metric::L2Sq, &q16, Some(&peer_f32)),
        0xFA_000F,
        unit,
    );
    let q16_simsimd: Vec<simsimd::f16> = q16.iter().map(|&v| simsimd::f16::from_f32(v)).collect();
    let peer_f16 = |x: &[f16]| {
        <simsimd::f16 as SpatialSimilarity>::sqeuclidean(&q16_simsimd, as_simsimd_f16(x))
            .unwrap_or(f64::NAN) as f32
    };
    bench_member(
        &mut c,
        &Case::of(Metric::L2Sq, &q16, Some(&peer_f16)),
        0xFA_0002,
        |r| f16::from_f32(unit(r)),
    );

    let qbf_simsimd: Vec<simsimd::bf16> = q16.iter().map(|&v| simsimd::bf16::from_f32(v)).collect();
    let peer_bf16 = |x: &[bf16]| {
        <simsimd::bf16 as SpatialSimilarity>::sqeuclidean(&qbf_simsimd, as_simsimd_bf16(x))
            .unwrap_or(f64::NAN) as f32
    };
    bench_member(
        &mut c,
        &Case::of(Metric::L2Sq, &q16, Some(&peer_bf16)),
        0xFA_0003,
        |r| bf16::from_f32(unit(r)),
    );

    let qi8: Vec<i8> = (0..DIM).map(|_| rng.next_u64() as i8).collect();
    let peer_i8 =
        |x: &[i8]| <i8 as SpatialSimilarity>::sqeuclidean(&qi8, x).unwrap_or(f64::NAN) as f32;
    for metric in [Metric::L2Sq, Metric::InnerProduct] {
        let peer: Option<Peer<'_, i8>> = (metric == Metric::L2Sq).then_some(&peer_i8);
        bench_member(
            &mut c,
            &Case {
                metric,
                dim: DIM,
                dim_label: DIM,
                q: &qi8,
                peer,
            },
            0xFA_0004,
            |r| r as i8,
        );
    }
    let qu8: Vec<u8> = (0..DIM).map(|_| rng.next_u64() as u8).collect();
    bench_member(
        &mut c,
        &Case::of(Metric::L2Sq, &qu8, None),
        0xFA_0005,
        |r| r as u8,
    );

    for bits in BIT_DIMS {
        let words = bits / 64;
        let qb: Vec<Bits64> = (0..words).map(|_| Bits64(rng.next_u64())).collect();
        let qb_bytes = as_bytes(&qb).to_vec();
        let peer_bits = |x: &[Bits64]| {
            <u8 as BinarySimilarity>::hamming(&qb_bytes, as_bytes(x)).unwrap_or(f64::NAN) as f32
        };
        bench_member(
            &mut c,
            &Case {
                metric: Metric::Hamming,
                dim: words,
                dim_label: bits,
                q: &qb,
                peer: Some(&peer_bits),
            },
            0xFA_0007 + bits as u64,
            Bits64,
        );
    }
    bench_scaled(&mut c);
    bench_knn(&mut c);
    c.final_summary();
}
