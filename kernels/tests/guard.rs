//! No kernel reads outside its slices: inputs are placed flush against `PROT_NONE`
//! guard pages (the last element of one input is the last byte before a guard, the
//! first element of another is the first byte after one), and every shape of every
//! ISA under test (f32 kernels, f16-row stored kernels and `encode`) runs over every
//! tail length. An over-read (or over-write) would fault and kill this test binary.
//! The chunked gather runs with its last row flush against a guard, the rows past
//! the bound inside it, and the chunk table's unused tail pointing at unmapped
//! pages: a read of any row at or past the bound would fault. The bf16, i8, u8 and
//! bits families and the scaled (i8/u8 codes, f32 query) kernels run every shape
//! with rows and queries flush against guards too.

mod common;

use common::*;
use sagevec_kernels::{
    Bits64, ChunkedRows, Element, KernelTable, Metric, Quantized, Rows, ScaledQuery, bf16, f16,
};

const PAGE: usize = 4096;
const RW_PAGES: usize = 24;

/// An anonymous mapping `[guard | RW_PAGES read-write | guard]`.
struct Guarded {
    base: *mut u8,
    len: usize,
}

impl Guarded {
    fn new() -> Self {
        Self::with_pages(RW_PAGES)
    }

    /// `[guard | rw_pages read-write | guard]`.
    fn with_pages(rw_pages: usize) -> Self {
        let len = (rw_pages + 2) * PAGE;
        // SAFETY: an anonymous private mapping with no address hint has no
        // preconditions; the result is checked against MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED, "mmap failed");
        let base = base.cast::<u8>();
        // SAFETY: both ranges are whole pages inside the mapping just created.
        unsafe {
            assert_eq!(libc::mprotect(base.cast(), PAGE, libc::PROT_NONE), 0);
            assert_eq!(
                libc::mprotect(base.add(len - PAGE).cast(), PAGE, libc::PROT_NONE),
                0
            );
        }
        Guarded { base, len }
    }

    fn rw_bytes(&self) -> usize {
        self.len - 2 * PAGE
    }

    /// The read-write pages as f32s.
    fn floats(&mut self) -> &mut [f32] {
        self.elems()
    }

    /// The read-write pages as f16s.
    fn halves(&mut self) -> &mut [f16] {
        self.elems()
    }

    /// The read-write pages as `T`s (f32 or f16: plain data, any bit pattern valid).
    fn elems<T: Element>(&mut self) -> &mut [T] {
        // SAFETY: the RW pages are mapped, page-aligned (so aligned for T), owned by
        // self and borrowed mutably once through &mut self; T is f32 or f16.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.base.add(PAGE).cast::<T>(),
                self.rw_bytes() / size_of::<T>(),
            )
        }
    }

    /// Fills the read-write pages with `f(byte index)`.
    fn fill_bytes(&mut self, f: impl Fn(usize) -> u8) {
        for (i, b) in self.elems::<u8>().iter_mut().enumerate() {
            *b = f(i);
        }
    }

    /// The first byte of the lower guard page (unmapped).
    fn lower_guard(&self) -> *const u8 {
        self.base
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `new`.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

#[test]
fn no_kernel_reads_past_its_slices() {
    let mut g = Guarded::new();
    let mut rng = SplitMix64::new(0x6A2D_0001);
    let all = g.floats();
    let total = all.len();
    for (i, x) in all.iter_mut().enumerate() {
        *x = ((i * 7919) % 101) as f32 / 50.0 - 1.0;
    }
    let all: &[f32] = all;
    let lens = (0..=300usize).chain([383, 512, 767, 768, 769, 1024, 1536, 4099]);
    for t in tables() {
        for n in lens.clone() {
            // `tail`: n floats ending at the upper guard; `head`: n starting at the lower one.
            let tail = &all[total - n..];
            let head = &all[..n];
            for metric in FLOAT_METRICS {
                let d = t.distance(metric, tail, head).unwrap();
                let d2 = t.distance(metric, head, tail).unwrap();
                assert!(d.is_finite() && d2.is_finite());
            }
            if n == 0 {
                continue;
            }
            // Five rows flush against each guard (tiles of 3/4 rows leave edges).
            let rows_tail = Rows::contiguous(&all[total - 5 * n..], n).unwrap();
            let rows_head = Rows::contiguous(&all[..5 * n], n).unwrap();
            let mut out = [0.0f32; 5];
            let mut gout = [0.0f32; 3];
            let ids = [4u32, 0, rng.below(5) as u32];
            for metric in FLOAT_METRICS {
                t.distances(metric, head, rows_tail, &mut out).unwrap();
                t.distances(metric, tail, rows_head, &mut out).unwrap();
                t.distances_gather(metric, head, rows_tail, &ids, &mut gout)
                    .unwrap();
                t.distances_gather(metric, tail, rows_head, &ids, &mut gout)
                    .unwrap();
            }
            t.squared_norms(rows_tail, &mut out).unwrap();
            t.squared_norms(rows_head, &mut out).unwrap();
            let mut m = [0.0f32; 25];
            t.dot_matrix(rows_head, rows_tail, &mut m).unwrap();
            t.dot_matrix(rows_tail, rows_head, &mut m).unwrap();
            let (mut kid, mut kd) = ([0u64; 15], [0.0f32; 15]);
            for metric in FLOAT_METRICS {
                t.knn(metric, rows_head, rows_tail, None, 3, &mut kid, &mut kd)
                    .unwrap();
                t.knn(metric, rows_tail, rows_head, None, 3, &mut kid, &mut kd)
                    .unwrap();
            }
        }
    }
}

#[test]
fn no_stored_kernel_reads_past_its_slices() {
    // Queries (f32) and rows (f16) flush against guards, in two separate mappings.
    let mut gq = Guarded::new();
    let mut gx = Guarded::new();
    let mut rng = SplitMix64::new(0x6A2D_0002);
    let qs = gq.floats();
    let q_total = qs.len();
    for (i, x) in qs.iter_mut().enumerate() {
        *x = ((i * 7919) % 101) as f32 / 50.0 - 1.0;
    }
    let qs: &[f32] = qs;
    let x_total = gx.halves().len();
    for (i, x) in gx.halves().iter_mut().enumerate() {
        *x = f16::from_f32(((i * 104_729) % 97) as f32 / 48.0 - 1.0);
    }
    let lens = (0..=300usize).chain([383, 512, 767, 768, 769, 1024, 1536, 4099]);
    for t in tables() {
        let xs: &[f16] = gx.halves();
        for n in lens.clone() {
            let (q_tail, q_head) = (&qs[q_total - n..], &qs[..n]);
            let (x_tail, x_head) = (&xs[x_total - n..], &xs[..n]);
            for metric in FLOAT_METRICS {
                for (q, x) in [(q_tail, x_head), (q_head, x_tail), (q_tail, x_tail)] {
                    assert!(t.distance(metric, q, x).unwrap().is_finite());
                }
            }
            if n == 0 {
                continue;
            }
            // Five rows flush against each guard.
            let rows_tail = Rows::contiguous(&xs[x_total - 5 * n..], n).unwrap();
            let rows_head = Rows::contiguous(&xs[..5 * n], n).unwrap();
            let mut out = [0.0f32; 5];
            let mut gout = [0.0f32; 3];
            let ids = [4u32, 0, rng.below(5) as u32];
            for metric in FLOAT_METRICS {
                for (q, rows) in [(q_head, rows_tail), (q_tail, rows_head)] {
                    t.distances(metric, q, rows, &mut out).unwrap();
                    t.distances_gather(metric, q, rows, &ids, &mut gout)
                        .unwrap();
                }
            }
        }
        // Encode: source and destination each flush against a guard, both ends.
        for n in (0..=300usize).chain([1024, 4099]) {
            let xs = gx.halves();
            t.encode(&qs[q_total - n..], 0.5, &mut xs[..n]).unwrap();
            t.encode(&qs[..n], 0.5, &mut xs[x_total - n..]).unwrap();
            t.encode(&qs[q_total - n..], 0.5, &mut xs[x_total - n..])
                .unwrap();
        }
    }
}

/// Chunked gathers over three chunks of two rows each, for every length: chunk 0
/// starts at the first byte after the lower guard, chunk 2 ends flush against the
/// upper guard, and the chunk table has a fourth entry pointing into the lower
/// guard. With `n_rows = 5` row 5 (chunk 2's second row) lies in the upper guard;
/// with `n_rows = 4` chunk 2's rows and everything past them are reached only by
/// ids past the bound; `n_rows = 6` makes id 6 a pointer into unmapped memory. Every
/// id past the bound must come back `+inf` without a read (a read would fault).
fn chunked_guarded<T: Element<Query = f32>>(g: &mut Guarded, qs: &[f32], from: fn(f32) -> T) {
    let lens = (0..=300usize).chain([383, 512, 767, 768, 769, 1024, 1536, 4099]);
    let guard = g.lower_guard().cast::<T>();
    let xs: &mut [T] = g.elems();
    let total = xs.len();
    for (i, x) in xs.iter_mut().enumerate() {
        *x = from(((i * 104_729) % 97) as f32 / 48.0 - 1.0);
    }
    let xs: &[T] = xs;
    let tables: Vec<&KernelTable> = tables();
    for dim in lens {
        let q = &qs[qs.len() - dim..];
        for stride in [dim, dim + 3] {
            let per_chunk = 2usize;
            let chunk = per_chunk * stride;
            assert!(
                3 * chunk <= total,
                "guarded mapping too small for dim {dim}"
            );
            for n_rows in [4usize, 5, 6] {
                // Chunk 2 holds rows 4 and 5; place it so the last row < n_rows ends
                // at the guard (row 4 when n_rows is 5, row 5 when it is 6).
                let last_used = n_rows.saturating_sub(4).max(1) - 1; // 0 or 1
                let c2 = total - (last_used * stride + dim);
                let ptrs: [*const T; 4] =
                    [xs.as_ptr(), xs[chunk..].as_ptr(), xs[c2..].as_ptr(), guard];
                // SAFETY: chunks 0 and 1 lie in the read-write pages; chunk 2 holds
                // the used rows (< n_rows) in them, and the rest of it and chunk 3
                // are reached only by ids past the bound, which the gather never
                // reads (the property under test). Nothing writes `xs` meanwhile.
                let rows = unsafe { ChunkedRows::new(&ptrs, 1, dim, stride, n_rows) }.unwrap();
                let ids: Vec<u32> = (0..8u32).chain([u32::MAX, 5, 3]).collect();
                for &t in &tables {
                    for metric in FLOAT_METRICS {
                        let gather = t.chunked_gather(metric, rows);
                        let mut out = vec![0.0f32; ids.len()];
                        gather.gather(q, &ids, &mut out);
                        for (j, &id) in ids.iter().enumerate() {
                            let past = id as usize >= n_rows;
                            assert_eq!(
                                out[j] == f32::INFINITY,
                                past,
                                "{metric} {} dim={dim} id={id} n_rows={n_rows}: {}",
                                t.isa(),
                                out[j]
                            );
                            assert_eq!(gather.distance(q, id).to_bits(), out[j].to_bits());
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn no_chunked_gather_reads_a_row_at_or_past_the_bound() {
    // Six rows of the longest stride (4102) fit in 24 pages of f32; more for margin.
    let mut gq = Guarded::with_pages(8);
    let qs = gq.floats();
    let n = qs.len();
    for (i, x) in qs.iter_mut().enumerate() {
        *x = ((i * 7919) % 101) as f32 / 50.0 - 1.0;
    }
    let qs: &[f32] = &qs[..n];
    let mut g = Guarded::with_pages(32);
    chunked_guarded::<f32>(&mut g, qs, |x| x);
    chunked_guarded::<f16>(&mut g, qs, f16::from_f32);
}

/// Every shape of `T`'s family (one-to-one, one-to-many, gathers, and many-to-many
/// where it has them) flush against the guards: rows in `gx` (one mapping),
/// queries in `gq` (another), both filled with arbitrary bytes (NaNs included for
/// 16-bit floats: only faults matter here).
fn flush_shapes<T: Element>(gx: &mut Guarded, gq: &mut Guarded)
where
    T::Query: Element,
{
    gx.fill_bytes(|i| (i * 7919 % 251) as u8);
    gq.fill_bytes(|i| (i * 104_729 % 241) as u8);
    let xs: &[T] = gx.elems();
    let qs: &[T::Query] = gq.elems();
    let (xt, qt) = (xs.len(), qs.len());
    let lens = (0..=300usize).chain([383, 512, 767, 768, 769, 1024, 1536, 4099]);
    for t in tables() {
        for n in lens.clone() {
            if 5 * n > xt || n > qt {
                continue;
            }
            let (q_tail, q_head) = (&qs[qt - n..], &qs[..n]);
            let (x_tail, x_head) = (&xs[xt - n..], &xs[..n]);
            let rows_tail = Rows::strided(&xs[xt - 5 * n..], 5, n, n).unwrap();
            let rows_head = Rows::strided(&xs[..5 * n], 5, n, n).unwrap();
            let ptrs = [rows_tail.row(0).as_ptr(), rows_tail.row(4).as_ptr()];
            // SAFETY: chunk 0 holds rows 0..4 of rows_tail and chunk 1 its row 4, all
            // inside the read-write pages, which nothing writes meanwhile.
            let chunked = unsafe { ChunkedRows::new(&ptrs, 2, n, n, 5) }.unwrap();
            let mut out = [0.0f32; 5];
            let mut gout = [0.0f32; 4];
            for &metric in T::METRICS {
                for (q, x) in [(q_tail, x_head), (q_head, x_tail), (q_tail, x_tail)] {
                    t.distance(metric, q, x).unwrap();
                }
                for (q, rows) in [(q_head, rows_tail), (q_tail, rows_head)] {
                    t.distances(metric, q, rows, &mut out).unwrap();
                    t.distances_gather(metric, q, rows, &[4, 0, 2, 4], &mut gout)
                        .unwrap();
                }
                t.chunked_gather(metric, chunked)
                    .gather(q_tail, &[4, 0, 9, 3], &mut gout);
            }
            // Many-to-many (queries are rows of T), where the type has it: the tiles
            // read both operands flush against the guards.
            let mut norms = [0.0f32; 5];
            match t.squared_norms(rows_tail, &mut norms) {
                Err(sagevec_kernels::KernelError::Unsupported { .. }) => continue,
                other => other.unwrap(),
            }
            t.squared_norms(rows_head, &mut norms).unwrap();
            let mut m = [0.0f32; 25];
            t.dot_matrix(rows_head, rows_tail, &mut m).unwrap();
            t.dot_matrix(rows_tail, rows_head, &mut m).unwrap();
            let (mut kid, mut kd) = ([0u64; 15], [0.0f32; 15]);
            for &metric in T::METRICS {
                t.knn(metric, rows_head, rows_tail, None, 3, &mut kid, &mut kd)
                    .unwrap();
                t.knn(metric, rows_tail, rows_head, None, 3, &mut kid, &mut kd)
                    .unwrap();
            }
        }
    }
}

#[test]
fn no_bf16_int_or_bit_kernel_reads_past_its_slices() {
    let (mut gx, mut gq) = (Guarded::with_pages(48), Guarded::with_pages(16));
    flush_shapes::<bf16>(&mut gx, &mut gq);
    flush_shapes::<i8>(&mut gx, &mut gq);
    flush_shapes::<u8>(&mut gx, &mut gq);
    flush_shapes::<Bits64>(&mut gx, &mut gq);
}

/// The scaled kernels with codes flush against the guards (the prepared query's own
/// buffers are heap vectors; the code rows are what the kernels index).
fn scaled_flush<T: Quantized>(g: &mut Guarded) {
    g.fill_bytes(|i| (i * 7919 % 253) as u8);
    let xs: &[T] = g.elems();
    let total = xs.len();
    for t in tables() {
        for n in (0..=300usize).chain([512, 768, 769, 4099]) {
            let q = ScaledQuery::new(&vec![0.5; n], &vec![0.01; n], &vec![-0.2; n]).unwrap();
            let rows_tail = Rows::strided(&xs[total - 3 * n..], 3, n, n).unwrap();
            let rows_head = Rows::strided(&xs[..3 * n], 3, n, n).unwrap();
            let ptrs = [rows_tail.row(0).as_ptr()];
            // SAFETY: one chunk of 4 rows' room holding rows_tail's 3 rows, inside
            // the read-write pages, which nothing writes meanwhile.
            let chunked = unsafe { ChunkedRows::new(&ptrs, 2, n, n, 3) }.unwrap();
            let mut out = [0.0f32; 3];
            for metric in [Metric::L2Sq, Metric::InnerProduct] {
                t.scaled_distance(metric, &q, &xs[total - n..]).unwrap();
                t.scaled_distance(metric, &q, &xs[..n]).unwrap();
                t.scaled_distances(metric, &q, rows_tail, &mut out).unwrap();
                t.scaled_distances(metric, &q, rows_head, &mut out).unwrap();
                t.scaled_gather(metric, chunked)
                    .gather(&q, &[2, 0, 3, 1], &mut [0.0; 4]);
            }
        }
    }
}

#[test]
fn no_scaled_kernel_reads_past_its_rows() {
    let mut g = Guarded::with_pages(4);
    scaled_flush::<i8>(&mut g);
    scaled_flush::<u8>(&mut g);
}
