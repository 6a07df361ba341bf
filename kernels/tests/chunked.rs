//! The chunked gather (`ChunkedRows` + `KernelTable::chunked_gather`) of every ISA
//! under test, for f32 and f16 rows: bit for bit the one-to-one kernel of the same
//! ISA on each row for L2 and inner product, and the slice gather for cosine; every
//! length 0..=300 and the embedding dims, strides above dim (including ones that
//! leave rows misaligned to a cache line), chunk shifts 0..=6 and a large one,
//! gathers across chunk edges, ids at and past the bound (`+inf`), the panics, and
//! the constructor's refusals. (That ids past the bound are never *read* is proved
//! against unmapped pages in `guard.rs`.)
//!
//! Which ISAs: `SAGEVEC_ISA` if set (the test command runs this binary once per
//! ISA the CPU has), else all available ones.

mod common;

use common::*;
use sagevec_kernels::{
    ChunkedGather, ChunkedRows, Element, KernelError, KernelTable, Metric, Rows, f16,
};

/// Embedding and lane-edge dims beyond 0..=300.
const EXTRA_DIMS: [usize; 12] = [
    383, 384, 385, 511, 512, 513, 767, 768, 769, 1024, 1536, 4099,
];

/// A row element type under test, made from f32 test values.
trait TestElem: Element<Query = f32> {
    fn from_f32(x: f32) -> Self;
}

impl TestElem for f32 {
    fn from_f32(x: f32) -> Self {
        x
    }
}

impl TestElem for f16 {
    fn from_f32(x: f32) -> Self {
        f16::from_f32(x)
    }
}

/// Chunks of `1 << shift` rows in separate allocations, each starting `offset`
/// elements into its own buffer (so chunk bases sit at varied alignments).
struct Store<T> {
    bufs: Vec<Vec<T>>,
    offset: usize,
    shift: u32,
    dim: usize,
    stride: usize,
    n_rows: usize,
}

impl<T: TestElem> Store<T> {
    fn new(
        rng: &mut SplitMix64,
        shift: u32,
        dim: usize,
        stride: usize,
        n_rows: usize,
        offset: usize,
    ) -> Self {
        let per_chunk = 1usize << shift;
        let n_chunks = n_rows.div_ceil(per_chunk).max(1);
        // Random rows where rows < n_rows live, a constant in the rest of each chunk
        // (the large-shift chunks are mostly that rest).
        let bufs = (0..n_chunks)
            .map(|c| {
                let used = n_rows.saturating_sub(c * per_chunk).min(per_chunk);
                let mut buf = vec![T::from_f32(0.25); offset + per_chunk * stride];
                for x in &mut buf[..offset + used * stride] {
                    *x = T::from_f32(rng.unit());
                }
                buf
            })
            .collect();
        Store {
            bufs,
            offset,
            shift,
            dim,
            stride,
            n_rows,
        }
    }

    fn pointers(&self) -> Vec<*const T> {
        self.bufs
            .iter()
            .map(|b| b[self.offset..].as_ptr())
            .collect()
    }

    fn row(&self, r: usize) -> &[T] {
        let per_chunk = 1usize << self.shift;
        let start = self.offset + (r % per_chunk) * self.stride;
        &self.bufs[r / per_chunk][start..start + self.dim]
    }

    /// The rows copied into one contiguous matrix (for the slice gather).
    fn flat(&self) -> Vec<T> {
        (0..self.n_rows)
            .flat_map(|r| self.row(r).to_vec())
            .collect()
    }

    fn rows<'a>(&'a self, ptrs: &'a [*const T]) -> ChunkedRows<'a, T> {
        // SAFETY: every pointer starts `offset` into a buffer of offset + (1 <<
        // shift) * stride elements, owned by `self` and not written while borrowed.
        unsafe { ChunkedRows::new(ptrs, self.shift, self.dim, self.stride, self.n_rows) }
            .expect("valid chunked rows")
    }
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Ids that hit every chunk edge, repeats, random rows, and ids at and past the bound.
fn ids_for(rng: &mut SplitMix64, n_rows: usize, shift: u32) -> Vec<u32> {
    let per_chunk = 1usize << shift;
    let mut ids = Vec::new();
    let mut edge = per_chunk;
    while edge <= n_rows {
        ids.push((edge - 1) as u32);
        if edge < n_rows {
            ids.push(edge as u32);
        }
        edge += per_chunk;
    }
    if n_rows > 0 {
        ids.extend([0, (n_rows - 1) as u32]);
        ids.extend((0..8).map(|_| rng.below(n_rows) as u32));
    }
    ids.extend([n_rows as u32, n_rows as u32 + 1, u32::MAX]);
    // Interleave a past-the-bound id with valid ones (and the prefetch window).
    ids.insert(ids.len() / 2, n_rows as u32 + 7);
    ids
}

/// Every metric: the chunked gather against the one-to-one kernel (L2, IP) and
/// the slice gather (cosine) of the same table, bit for bit; `distance` against
/// `gather`; `+inf` past the bound; `out` past `ids.len()` untouched.
fn check<T: TestElem>(t: &KernelTable, store: &Store<T>, q: &[f32], ids: &[u32], what: &str) {
    let ptrs = store.pointers();
    let rows = store.rows(&ptrs);
    assert_eq!((rows.n_rows(), rows.dim()), (store.n_rows, store.dim));
    let flat = store.flat();
    let dense = Rows::strided(&flat, store.n_rows, store.dim, store.dim).unwrap();
    for metric in FLOAT_METRICS {
        let g: ChunkedGather<'_, T> = t.chunked_gather(metric, rows);
        assert_eq!((g.metric(), g.isa()), (metric, t.isa()));
        let mut out = vec![f32::NAN; ids.len() + 2];
        out[ids.len()..].fill(-7.0);
        g.gather(q, ids, &mut out);
        assert!(
            out[ids.len()..].iter().all(|&o| o == -7.0),
            "{what}: out past ids written"
        );
        let valid: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&id| (id as usize) < store.n_rows)
            .collect();
        let mut slice_out = vec![f32::NAN; valid.len()];
        t.distances_gather(metric, q, dense, &valid, &mut slice_out)
            .unwrap();
        let mut v = 0;
        for (j, &id) in ids.iter().enumerate() {
            let ctx = || {
                format!(
                    "{}_{}_{} {what} id={id} (n_rows {})",
                    metric,
                    T::NAME,
                    t.isa(),
                    store.n_rows
                )
            };
            if id as usize >= store.n_rows {
                assert_eq!(out[j], f32::INFINITY, "{}", ctx());
                assert_eq!(g.distance(q, id), f32::INFINITY, "{}", ctx());
                continue;
            }
            let want = if metric == Metric::Cosine {
                slice_out[v]
            } else {
                t.distance(metric, q, store.row(id as usize)).unwrap()
            };
            assert!(
                same(out[j], want),
                "{}: chunked {:e} != {:e}",
                ctx(),
                out[j],
                want
            );
            // The slice gather agrees too (for every metric).
            assert!(same(out[j], slice_out[v]), "{}: vs slice gather", ctx());
            assert!(
                same(g.distance(q, id), out[j]),
                "{}: distance vs gather",
                ctx()
            );
            v += 1;
        }
        // An empty id list writes nothing.
        let mut none = [5.0f32];
        g.gather(q, &[], &mut none);
        assert_eq!(none, [5.0]);
    }
}

fn every_length_and_shift<T: TestElem>(seed: u64) {
    for t in tables() {
        let mut rng = SplitMix64::new(seed);
        for dim in (0..=300).chain(EXTRA_DIMS) {
            let q = rng.vec(dim, 1.0);
            // Long dims run with fewer shifts (the short ones already cover every shift).
            let shifts: &[u32] = if dim > 300 {
                &[0, 3]
            } else {
                &[0, 1, 2, 3, 4, 5, 6]
            };
            for &shift in shifts {
                let per_chunk = 1usize << shift;
                // Two full chunks and a partial third (or a single row for shift 0).
                let n_rows = 2 * per_chunk + per_chunk.div_ceil(2);
                // dim + 1: rows start at every element offset of a cache line.
                for (stride, offset) in [(dim, 0), (dim + 1, 1 + dim % 3)] {
                    let store = Store::<T>::new(&mut rng, shift, dim, stride, n_rows, offset);
                    let ids = ids_for(&mut rng, n_rows, shift);
                    check(
                        t,
                        &store,
                        &q,
                        &ids,
                        &format!("dim={dim} shift={shift} stride={stride} offset={offset}"),
                    );
                }
            }
        }
    }
}

#[test]
fn f32_rows_bit_for_bit_every_length_and_shift() {
    every_length_and_shift::<f32>(0xC4A1_0001);
}

#[test]
fn f16_rows_bit_for_bit_every_length_and_shift() {
    every_length_and_shift::<f16>(0xC4A1_0002);
}

fn wide_strides_and_a_large_shift<T: TestElem>(seed: u64) {
    for t in tables() {
        let mut rng = SplitMix64::new(seed);
        for dim in [1usize, 7, 16, 17, 33, 128, 768] {
            // Strides well past dim (padded rows, a row every other line, odd gaps).
            for stride in [dim + 3, dim + 16, 2 * dim + 5] {
                for (shift, n_rows) in [(2u32, 9usize), (5, 64), (6, 200)] {
                    let store = Store::<T>::new(&mut rng, shift, dim, stride, n_rows, 3);
                    let q = rng.vec(dim, 1.0);
                    let ids = ids_for(&mut rng, n_rows, shift);
                    check(
                        t,
                        &store,
                        &q,
                        &ids,
                        &format!("dim={dim} stride={stride} shift={shift}"),
                    );
                }
            }
        }
        // A large shift: 2^20 rows per chunk, a few rows used, one chunk.
        for dim in [0usize, 1, 3] {
            let store = Store::<T>::new(&mut rng, 20, dim, dim.max(1), 100, 0);
            let q = rng.vec(dim, 1.0);
            let ids = ids_for(&mut rng, 100, 20);
            check(t, &store, &q, &ids, &format!("dim={dim} shift=20"));
        }
        // No rows at all: every id is past the bound.
        let store = Store::<T>::new(&mut rng, 3, 8, 8, 0, 0);
        let q = rng.vec(8, 1.0);
        check(t, &store, &q, &[0, 1, 2, u32::MAX], "empty");
    }
}

#[test]
fn f32_wide_strides_and_a_large_shift() {
    wide_strides_and_a_large_shift::<f32>(0xC4A1_0003);
}

#[test]
fn f16_wide_strides_and_a_large_shift() {
    wide_strides_and_a_large_shift::<f16>(0xC4A1_0004);
}

#[test]
fn long_neighbour_lists_cross_many_chunks() {
    // The HNSW shape: lists of 32-64 ids over thousands of rows in small chunks.
    for t in tables() {
        let mut rng = SplitMix64::new(0xC4A1_0005);
        let (dim, shift, n_rows) = (96usize, 4u32, 3000usize);
        let store = Store::<f32>::new(&mut rng, shift, dim, dim, n_rows, 0);
        let q = rng.vec(dim, 1.0);
        for len in [1usize, 2, 3, 32, 64] {
            let mut ids: Vec<u32> = (0..len).map(|_| rng.below(n_rows) as u32).collect();
            check(t, &store, &q, &ids, &format!("list {len}"));
            ids.push(n_rows as u32);
            ids.rotate_right(1);
            check(t, &store, &q, &ids, &format!("list {len} led by the bound"));
        }
    }
}

#[test]
fn wrong_query_length_or_short_out_panics() {
    let t = tables()[0];
    let data = vec![0.5f32; 64];
    let ptrs = [data.as_ptr()];
    // SAFETY: one chunk of 64 floats = (1 << 3) * 8; `data` is not written.
    let rows = unsafe { ChunkedRows::new(&ptrs, 3, 8, 8, 8) }.unwrap();
    let g = t.chunked_gather(Metric::L2Sq, rows);
    let q = [0.0f32; 8];
    let short_q = std::panic::catch_unwind(|| g.gather(&q[..7], &[0], &mut [0.0]));
    assert!(
        short_q.is_err(),
        "a query of the wrong dimension must panic"
    );
    let short_out = std::panic::catch_unwind(|| g.gather(&q, &[0, 1], &mut [0.0]));
    assert!(short_out.is_err(), "an out shorter than ids must panic");
    let one = std::panic::catch_unwind(|| g.distance(&q[..7], 0));
    assert!(one.is_err());
    // A longer out is fine: only out[..ids.len()] is written.
    let mut out = [1.0f32; 3];
    g.gather(&q, &[1, 9], &mut out);
    assert_eq!(out, [2.0, f32::INFINITY, 1.0]);
}

#[test]
fn constructor_refusals_are_bad_shape() {
    let data = vec![0.0f32; 256];
    let p = data.as_ptr();
    let misaligned = p.cast::<u8>().wrapping_add(1).cast::<f32>();
    // (chunks, shift, dim, stride, n_rows, what)
    type Case = (Vec<*const f32>, u32, usize, usize, usize, &'static str);
    let cases: Vec<Case> = vec![
        (vec![p], 2, 8, 7, 1, "stride < dim"),
        (vec![p], 32, 1, 1, 1, "shift > 31"),
        (vec![p, p], 3, 8, 8, 17, "n_rows past capacity"),
        (vec![], 0, 1, 1, 1, "no chunks"),
        (vec![p, std::ptr::null()], 2, 4, 4, 5, "a used null chunk"),
        (vec![p, misaligned], 2, 4, 4, 5, "a used misaligned chunk"),
        (vec![p; 4], 31, 1, 1, usize::MAX, "capacity overflows"),
        (
            vec![p],
            31,
            1,
            usize::MAX >> 20,
            1,
            "a chunk's bytes overflow isize",
        ),
        (
            vec![p],
            20,
            1,
            1 << 43,
            1,
            "a chunk's bytes pass isize::MAX",
        ),
    ];
    for (chunks, shift, dim, stride, n_rows, what) in cases {
        // SAFETY: construction fails before any pointer is trusted; the valid ones
        // point at 256 readable floats anyway.
        let got = unsafe { ChunkedRows::new(&chunks, shift, dim, stride, n_rows) };
        assert!(
            matches!(got, Err(KernelError::BadShape(_))),
            "{what}: {got:?}"
        );
    }
    // Unused chunks past the last row's are never looked at.
    let tail = [p, std::ptr::null(), misaligned];
    // SAFETY: only chunk 0 is used: 4 rows of stride 4 = 16 floats of `data`.
    let ok = unsafe { ChunkedRows::new(&tail, 2, 4, 4, 4) };
    assert!(ok.is_ok());
}

#[test]
fn handles_cross_threads() {
    fn send_sync<X: Send + Sync>(_: &X) {}
    let data = [1.0f32; 16];
    let ptrs = [data.as_ptr()];
    // SAFETY: one chunk of 16 floats = (1 << 2) * 4; `data` is not written.
    let rows = unsafe { ChunkedRows::new(&ptrs, 2, 4, 4, 4) }.unwrap();
    let g = tables()[0].chunked_gather(Metric::InnerProduct, rows);
    send_sync(&rows);
    send_sync(&g);
    let q = [1.0f32; 4];
    std::thread::scope(|s| {
        let h = s.spawn(|| g.distance(&q, 3));
        assert_eq!(h.join().unwrap(), -4.0);
    });
}
