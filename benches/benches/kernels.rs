//! Distance kernels, one-to-one and one-to-many, for every ISA this host supports,
//! the dispatched entry, and the peers (simsimd, anndists) side by side.
//!
//! Groups and ids (`{group}/{metric}/{elem}/{isa|peer}/{dim}`):
//!
//! | group | shape | data | bytes counted |
//! |---|---|---|---|
//! | `one_to_one` | `distance(a, b)` | one hot pair (L1) | both vectors |
//! | `one_to_many_hot` | `distances(q, rows)` | a 256 KiB block of rows (fits L2) | the rows |
//! | `one_to_many_cold` | `distances(q, rows)` | 1 000 rows per call, rotating over 100 000 rows at d = 768 (307 MB, far past LLC) | the rows |
//! | `gather_cold` | `distances_gather(q, rows, ids)` | 64 random ids per call into the same 100 000 rows (the HNSW shape) | the gathered rows |
//!
//! `{isa}` is `scalar`, `avx2`, `avx512` (each table taken explicitly with
//! [`KernelTable::for_isa`]) or `dispatch` ([`kernels`], which is what callers
//! get). The other element types (f16, bf16, i8, u8, bits) are `benches/family.rs`. Peers are called once per row in a loop, the way a
//! caller without a batch kernel would: `simsimd` is
//! `SpatialSimilarity::{sqeuclidean, dot, cos}` (C, with its own runtime dispatch),
//! `anndists` is `DistL2` / `DistDot` / `DistCosine` with default features, as hnsw_rs
//! embeds it. Peers compute slightly different things (simsimd returns f64 and a raw
//! dot; anndists `DistL2` takes a square root and `DistDot` returns `1 - dot`); the
//! memory traffic and arithmetic are the same, which is what these benches compare.
//!
//! Run: `cargo bench -p sagevec-benches --bench kernels` (add a filter such as
//! `one_to_many_cold` and `--quick` for a short run).

use std::hint::black_box;

use anndists::dist::{DistCosine, DistDot, DistL2, Distance};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use sagevec_benches::{ELEM, SplitMix64, print_machine_banner, random_unit_rows};
use sagevec_kernels::{Isa, KernelTable, Metric, Rows, kernels};
use simsimd::SpatialSimilarity;

/// The metrics of f32 rows.
const FLOAT_METRICS: [Metric; 3] = [Metric::L2Sq, Metric::InnerProduct, Metric::Cosine];
/// One-to-one and L2-hot one-to-many dimensions: a small, a common, a large embedding.
const DIMS: [usize; 3] = [128, 768, 1536];
/// The hot block: half of Zen 3's 512 KiB L2 (Intel server cores have 1–2 MiB), so
/// rows stay in L2 across calls while the query stays in L1.
const HOT_BLOCK_BYTES: usize = 256 * 1024;
/// Out-of-cache corpus: 100 000 × 768 f32 = 307 MB, ten times a 32 MiB L3.
const COLD_DIM: usize = 768;
const COLD_ROWS: usize = 100_000;
/// Rows per timed call in the cold group; calls rotate through the corpus
/// (`i = (i + 1) % n_chunks`, Qdrant's pattern), so a chunk comes back only after
/// the whole 307 MB has streamed past.
const COLD_CHUNK_ROWS: usize = 1_000;
/// Ids per gather call (a typical HNSW neighbour list at M0 = 2 × 32).
const GATHER_IDS: usize = 64;
/// Pre-drawn id lists for the gather group, rotated per call.
const GATHER_LISTS: usize = 4_096;

/// A contender in a group.
#[derive(Clone, Copy, Debug)]
enum Contender {
    /// One ISA's table, taken explicitly.
    Table(&'static KernelTable),
    /// The active table, resolved once (`kernels()`).
    Dispatch,
    /// The `simsimd` crate.
    SimSimd,
    /// The `anndists` crate (hnsw_rs's distances).
    AnnDists,
}

impl Contender {
    fn all() -> Vec<Contender> {
        let mut all: Vec<Contender> = Isa::available()
            .into_iter()
            .map(|isa| {
                Contender::Table(
                    KernelTable::for_isa(isa).expect("Isa::available() lists supported ISAs"),
                )
            })
            .collect();
        all.extend([Contender::Dispatch, Contender::SimSimd, Contender::AnnDists]);
        all
    }

    fn name(self) -> &'static str {
        match self {
            Contender::Table(t) => t.isa().name(),
            Contender::Dispatch => "dispatch",
            Contender::SimSimd => "simsimd",
            Contender::AnnDists => "anndists",
        }
    }
}

fn bench_id(metric: Metric, who: Contender, dim: usize) -> String {
    format!("{metric}/{ELEM}/{}/{dim}", who.name())
}

/// Binds `$f` to a peer's one-to-one distance closure (a concrete, inlinable type per
/// arm) and evaluates `$body` with it.
macro_rules! with_peer_fn {
    ($who:expr, $metric:expr, |$f:ident| $body:expr) => {
        match ($who, $metric) {
            (Contender::SimSimd, Metric::L2Sq) => {
                let $f = |a: &[f32], b: &[f32]| {
                    <f32 as SpatialSimilarity>::sqeuclidean(a, b).unwrap_or(f64::NAN) as f32
                };
                $body
            }
            (Contender::SimSimd, Metric::InnerProduct) => {
                let $f = |a: &[f32], b: &[f32]| {
                    -(<f32 as SpatialSimilarity>::dot(a, b).unwrap_or(f64::NAN) as f32)
                };
                $body
            }
            (Contender::SimSimd, Metric::Cosine) => {
                let $f = |a: &[f32], b: &[f32]| {
                    <f32 as SpatialSimilarity>::cos(a, b).unwrap_or(f64::NAN) as f32
                };
                $body
            }
            (Contender::AnnDists, Metric::L2Sq) => {
                let $f = |a: &[f32], b: &[f32]| DistL2.eval(a, b);
                $body
            }
            (Contender::AnnDists, Metric::InnerProduct) => {
                let $f = |a: &[f32], b: &[f32]| DistDot.eval(a, b);
                $body
            }
            (Contender::AnnDists, Metric::Cosine) => {
                let $f = |a: &[f32], b: &[f32]| DistCosine.eval(a, b);
                $body
            }
            (Contender::Table(_) | Contender::Dispatch, _) | (_, _) => {
                unreachable!("with_peer_fn! is for peers and f32 metrics only")
            }
        }
    };
}

fn run_pair(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: String,
    a: &[f32],
    b: &[f32],
    f: impl Fn(&[f32], &[f32]) -> f32,
) {
    group.bench_function(id, |bench| bench.iter(|| f(black_box(a), black_box(b))));
}

/// `one_to_one`: the same pair every call (both vectors stay in L1).
fn one_to_one(c: &mut Criterion, contenders: &[Contender]) {
    let mut group = c.benchmark_group("one_to_one");
    for dim in DIMS {
        let pair = random_unit_rows(2, dim, 0x5eed_0001 + dim as u64);
        let (a, b) = pair.split_at(dim);
        group.throughput(Throughput::Bytes((2 * dim * size_of::<f32>()) as u64));
        for metric in FLOAT_METRICS {
            for &who in contenders {
                let id = bench_id(metric, who, dim);
                match who {
                    // Through the checked table method, as a caller would.
                    Contender::Table(t) => run_pair(&mut group, id, a, b, |x, y| {
                        t.distance(metric, x, y).unwrap_or(f32::NAN)
                    }),
                    Contender::Dispatch => run_pair(&mut group, id, a, b, |x, y| {
                        kernels().distance(metric, x, y).unwrap_or(f32::NAN)
                    }),
                    peer => with_peer_fn!(peer, metric, |f| run_pair(&mut group, id, a, b, f)),
                }
            }
        }
    }
    group.finish();
}

/// Times `f(query, rows[i], out)`, with `i` rotating over `chunks` (one entry for a
/// hot block). `out` is allocated here, outside the timed closure.
fn run_many(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: String,
    query: &[f32],
    chunks: &[Rows<'_, f32>],
    f: impl Fn(&[f32], Rows<'_, f32>, &mut [f32]),
) {
    let mut out = vec![0.0f32; chunks[0].n_rows()];
    let mut i = 0;
    group.bench_function(id, |bench| {
        bench.iter(|| {
            i += 1;
            if i == chunks.len() {
                i = 0;
            }
            f(black_box(query), chunks[i], &mut out);
            black_box(&mut out);
        });
    });
}

/// Benches every contender on one query against `chunks` (each call takes the next chunk).
fn many_contenders(
    group: &mut BenchmarkGroup<'_, WallTime>,
    contenders: &[Contender],
    dim: usize,
    query: &[f32],
    chunks: &[Rows<'_, f32>],
) {
    for metric in FLOAT_METRICS {
        for &who in contenders {
            let id = bench_id(metric, who, dim);
            match who {
                Contender::Table(t) => run_many(group, id, query, chunks, |q, rows, out| {
                    t.distances(metric, q, rows, out)
                        .expect("shapes are consistent");
                }),
                Contender::Dispatch => run_many(group, id, query, chunks, |q, rows, out| {
                    kernels()
                        .distances(metric, q, rows, out)
                        .expect("shapes are consistent");
                }),
                peer => with_peer_fn!(peer, metric, |f| run_many(
                    group,
                    id,
                    query,
                    chunks,
                    |q, rows, out| {
                        for (o, row) in out.iter_mut().zip(rows.iter()) {
                            *o = f(q, row);
                        }
                    }
                )),
            }
        }
    }
}

/// `one_to_many_hot`: one query against a 256 KiB block of rows that stays in L2.
fn one_to_many_hot(c: &mut Criterion, contenders: &[Contender]) {
    let mut group = c.benchmark_group("one_to_many_hot");
    for dim in DIMS {
        let n_rows = HOT_BLOCK_BYTES / (dim * size_of::<f32>());
        let data = random_unit_rows(n_rows, dim, 0x5eed_0002 + dim as u64);
        let query = random_unit_rows(1, dim, 0x5eed_0003 + dim as u64);
        let rows = Rows::contiguous(&data, dim).expect("whole rows");
        group.throughput(Throughput::Bytes((n_rows * dim * size_of::<f32>()) as u64));
        many_contenders(&mut group, contenders, dim, &query, &[rows]);
    }
    group.finish();
}

/// `one_to_many_cold`: one query against 1 000 rows per call, rotating over 307 MB.
fn one_to_many_cold(c: &mut Criterion, contenders: &[Contender], corpus: &[f32]) {
    let rows = Rows::contiguous(corpus, COLD_DIM).expect("whole rows");
    let chunks: Vec<Rows<'_, f32>> = (0..COLD_ROWS / COLD_CHUNK_ROWS)
        .map(|i| rows.slice_rows(i * COLD_CHUNK_ROWS, (i + 1) * COLD_CHUNK_ROWS))
        .collect();
    let query = random_unit_rows(1, COLD_DIM, 0x5eed_0004);
    let mut group = c.benchmark_group("one_to_many_cold");
    group.throughput(Throughput::Bytes(
        (COLD_CHUNK_ROWS * COLD_DIM * size_of::<f32>()) as u64,
    ));
    many_contenders(&mut group, contenders, COLD_DIM, &query, &chunks);
    group.finish();
}

/// Times `f(query, list, out)` with `list` rotating over the `GATHER_IDS`-long id
/// lists in `ids`; `out` is allocated here, outside the timed closure.
fn run_gather(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: String,
    query: &[f32],
    ids: &[u32],
    f: impl Fn(&[f32], &[u32], &mut [f32]),
) {
    let mut out = vec![0.0f32; GATHER_IDS];
    let mut lists = ids.chunks_exact(GATHER_IDS).cycle();
    group.bench_function(id, |bench| {
        bench.iter(|| {
            let list = lists.next().unwrap_or(&[]);
            f(black_box(query), list, &mut out);
            black_box(&mut out);
        });
    });
}

/// `gather_cold`: one query against 64 random rows of the 307 MB corpus per call
/// (squared L2 only: the gather path is metric-independent).
fn gather_cold(c: &mut Criterion, contenders: &[Contender], corpus: &[f32]) {
    let rows = Rows::contiguous(corpus, COLD_DIM).expect("whole rows");
    let mut rng = SplitMix64::new(0x5eed_0005);
    let ids: Vec<u32> = (0..GATHER_LISTS * GATHER_IDS)
        .map(|_| rng.next_index(COLD_ROWS) as u32)
        .collect();
    let query = random_unit_rows(1, COLD_DIM, 0x5eed_0006);
    let metric = Metric::L2Sq;
    let mut group = c.benchmark_group("gather_cold");
    group.throughput(Throughput::Bytes(
        (GATHER_IDS * COLD_DIM * size_of::<f32>()) as u64,
    ));
    for &who in contenders {
        let id = bench_id(metric, who, COLD_DIM);
        match who {
            Contender::Table(t) => run_gather(&mut group, id, &query, &ids, |q, list, out| {
                t.distances_gather(metric, q, rows, list, out)
                    .expect("ids in range");
            }),
            Contender::Dispatch => run_gather(&mut group, id, &query, &ids, |q, list, out| {
                kernels()
                    .distances_gather(metric, q, rows, list, out)
                    .expect("ids in range");
            }),
            peer => with_peer_fn!(peer, metric, |f| run_gather(
                &mut group,
                id,
                &query,
                &ids,
                |q, list, out| {
                    for (o, &id) in out.iter_mut().zip(list) {
                        *o = f(q, rows.row(id as usize));
                    }
                }
            )),
        }
    }
    group.finish();
}

fn main() {
    print_machine_banner("kernels");
    eprintln!(
        "   simsimd: dynamic dispatch = {}, haswell = {}, skylake = {}, genoa = {}",
        simsimd::capabilities::uses_dynamic_dispatch(),
        simsimd::capabilities::uses_haswell(),
        simsimd::capabilities::uses_skylake(),
        simsimd::capabilities::uses_genoa(),
    );
    let contenders = Contender::all();
    let mut c = Criterion::default().configure_from_args();
    one_to_one(&mut c, &contenders);
    one_to_many_hot(&mut c, &contenders);
    let corpus = random_unit_rows(COLD_ROWS, COLD_DIM, 0x5eed_0007);
    one_to_many_cold(&mut c, &contenders, &corpus);
    gather_cold(&mut c, &contenders, &corpus);
    drop(corpus);
    c.final_summary();
}
