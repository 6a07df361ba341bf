//! Rows kept in never-moving chunks, and a gather over them resolved once.
//!
//! A growing index keeps its rows in fixed-size chunks that are allocated as it
//! grows and never move, so a reader can hold plain pointers to them while a writer
//! appends. [`ChunkedRows`] describes such a store (a table of chunk base pointers,
//! a rows-per-chunk shift, a row bound) and is validated once when it is made;
//! [`ChunkedGather`] pairs it with one resolved kernel, so a graph walk pays one
//! indirect call per neighbour list and never rescans its ids: an id at or past the
//! row bound is skipped (its distance is `+inf`) and its row is never read.

use std::fmt;

use crate::elem::Element;
use crate::error::KernelError;
use crate::family::{GATHER_PREFETCH_ROWS, prefetch_lines};
use crate::isa::Isa;
use crate::metric::Metric;
use crate::rows::check_stride;
use crate::scaled::ScaledQuery;
use crate::table::KernelTable;

/// Rows kept in never-moving chunks of `1 << shift` rows: row `r` starts at element
/// `(r & ((1 << shift) - 1)) * stride` of chunk `r >> shift`.
///
/// Made once (validated by [`ChunkedRows::new`]) and then read by
/// [`ChunkedGather`] without further checks. `Copy`: it is a borrowed view.
#[derive(Clone, Copy, Debug)]
pub struct ChunkedRows<'a, T> {
    chunks: &'a [*const T],
    shift: u32,
    dim: usize,
    stride: usize,
    n_rows: usize,
}

// SAFETY: a ChunkedRows only reads rows, and its constructor's contract says no
// element it reads is written during 'a: it is a shared borrow of `[T]` data, like
// `&'a [T]`, which is Send and Sync exactly when T is Sync.
unsafe impl<T: Sync> Send for ChunkedRows<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for ChunkedRows<'_, T> {}

impl<'a, T> ChunkedRows<'a, T> {
    /// Describes `n_rows` rows of `dim` elements, `stride` elements apart within a
    /// chunk, `1 << shift` rows per chunk, chunk `c` starting at `chunks[c]`.
    ///
    /// Errors ([`KernelError::BadShape`]) if `stride < dim`, `shift > 31`,
    /// `n_rows > chunks.len() << shift` (overflow-checked), a chunk's
    /// `(1 << shift) * stride` elements overflow `isize` bytes, or one of the chunk
    /// pointers that rows `< n_rows` use is null or not aligned for `T`. Chunks past
    /// the last one those rows use are never looked at (nor read).
    ///
    /// # Safety
    /// For `'a`, every chunk pointer that rows `< n_rows` use is valid for reads of
    /// `(1 << shift) * stride` elements of `T`, and no element of a row that a gather
    /// through this handle reads is written during `'a` (callers pass only fully
    /// written rows). (Gathers read only the `dim` elements of each row `< n_rows`,
    /// and software-prefetch only those rows, so that is all that must in fact be
    /// readable; `tests/guard.rs` holds them to it.)
    pub unsafe fn new(
        chunks: &'a [*const T],
        shift: u32,
        dim: usize,
        stride: usize,
        n_rows: usize,
    ) -> Result<Self, KernelError> {
        check_stride(dim, stride)?;
        if shift > 31 {
            return Err(KernelError::BadShape(format!(
                "chunk shift {shift} is above 31"
            )));
        }
        let per_chunk = 1usize << shift;
        let capacity = chunks.len().checked_mul(per_chunk);
        if capacity.is_none_or(|cap| n_rows > cap) {
            return Err(KernelError::BadShape(format!(
                "{n_rows} rows do not fit {} chunks of {per_chunk} rows",
                chunks.len()
            )));
        }
        let chunk_bytes = per_chunk
            .checked_mul(stride)
            .and_then(|e| e.checked_mul(size_of::<T>()));
        if chunk_bytes.is_none_or(|b| b > isize::MAX as usize) {
            return Err(KernelError::BadShape(format!(
                "a chunk of {per_chunk} rows of stride {stride} overflows isize bytes"
            )));
        }
        let used = n_rows.div_ceil(per_chunk);
        for (c, &p) in chunks[..used].iter().enumerate() {
            if p.is_null() {
                return Err(KernelError::BadShape(format!(
                    "chunk {c} is a null pointer"
                )));
            }
            if !p.cast::<u8>().addr().is_multiple_of(align_of::<T>()) {
                return Err(KernelError::BadShape(format!(
                    "chunk {c} at {p:p} is not aligned to {} bytes",
                    align_of::<T>()
                )));
            }
        }
        // SAFETY: the shape checks above hold and the caller's contract is ours.
        Ok(unsafe { Self::new_unchecked(chunks, shift, dim, stride, n_rows) })
    }

    /// [`new`](Self::new) without the checks, for descriptions built in this crate.
    ///
    /// # Safety
    /// `stride >= dim`, `shift <= 31`, `n_rows <= chunks.len() << shift`, and for
    /// `'a` the `dim` elements of every row `r < n_rows` (at element
    /// `(r & ((1 << shift) - 1)) * stride` of chunk `r >> shift`) are readable,
    /// aligned and not written.
    pub(crate) unsafe fn new_unchecked(
        chunks: &'a [*const T],
        shift: u32,
        dim: usize,
        stride: usize,
        n_rows: usize,
    ) -> Self {
        ChunkedRows {
            chunks,
            shift,
            dim,
            stride,
            n_rows,
        }
    }

    /// Rows a gather may read: ids `< n_rows`.
    #[inline]
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Elements per row.
    #[inline]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Pointer to the first element of row `r`.
    ///
    /// # Safety
    /// `r < n_rows`.
    #[inline(always)]
    pub(crate) unsafe fn row_ptr(&self, r: usize) -> *const T {
        debug_assert!(r < self.n_rows);
        let mask = (1usize << self.shift) - 1;
        // SAFETY: r < n_rows <= chunks.len() << shift, so r >> shift indexes a chunk.
        let chunk = unsafe { *self.chunks.get_unchecked(r >> self.shift) };
        // Wrapping: with dim 0 nothing is read and the offset need not be in bounds;
        // otherwise the construction contract makes row r's `dim` elements from
        // here readable.
        chunk.wrapping_add((r & mask) * self.stride)
    }
}

/// `out[j] = f(row ids[j])` for ids `< n_rows` (prefetching rows
/// `GATHER_PREFETCH_ROWS` ids ahead, as the slice gather does) and `+inf` for the
/// rest, whose rows are never touched. Inlined into each ISA's kernel so `f` runs
/// with its features. Writes `out[..ids.len().min(out.len())]`. A single chunk
/// (every slice gather, and a store that has not grown past one chunk) takes a
/// loop without the chunk lookup on each row's address.
#[inline(always)]
pub(crate) fn for_each_chunked<T>(
    rows: &ChunkedRows<'_, T>,
    ids: &[u32],
    out: &mut [f32],
    f: impl FnMut(&[T]) -> f32,
) {
    if let [base] = rows.chunks {
        let (base, stride) = (*base, rows.stride);
        // Row r of the only chunk (r < n_rows <= 1 << shift): base + r * stride.
        gather_rows(rows, ids, out, f, |r| base.wrapping_add(r * stride));
    } else {
        let row_ptr = |r: usize| {
            // SAFETY: `gather_rows` passes only r < n_rows.
            unsafe { rows.row_ptr(r) }
        };
        gather_rows(rows, ids, out, f, row_ptr);
    }
}

/// The loop of `for_each_chunked`, with `row_ptr(r)` the address of row `r <
/// n_rows` (which construction makes `dim` readable elements).
#[inline(always)]
fn gather_rows<T>(
    rows: &ChunkedRows<'_, T>,
    ids: &[u32],
    out: &mut [f32],
    mut f: impl FnMut(&[T]) -> f32,
    row_ptr: impl Fn(usize) -> *const T,
) {
    let row_bytes = rows.dim * size_of::<T>();
    for (i, (o, &id)) in out.iter_mut().zip(ids).enumerate() {
        if let Some(&ahead) = ids.get(i + GATHER_PREFETCH_ROWS)
            && (ahead as usize) < rows.n_rows
        {
            prefetch_lines(row_ptr(ahead as usize), row_bytes);
        }
        *o = if (id as usize) < rows.n_rows {
            // SAFETY: id < n_rows, so the row's `dim` elements are readable and
            // unwritten for the handle's lifetime (construction contract).
            f(unsafe { std::slice::from_raw_parts(row_ptr(id as usize), rows.dim) })
        } else {
            f32::INFINITY
        };
    }
}

/// query (a slice of `T::Query`, or a [`ScaledQuery`]), chunked rows, row ids,
/// out (one distance per id, `+inf` past the bound). Safety: the table's ISA is
/// available. Memory-safe for any lengths: it writes `out[..ids.len().min(out.len())]`
/// and reads the query up to the shorter of its and the rows' dimension.
pub(crate) type GatherFn<T, Q> = unsafe fn(&Q, &ChunkedRows<'_, T>, &[u32], &mut [f32]);

/// A query a [`ChunkedGather`] accepts: a slice of the row type's query elements,
/// or a prepared [`ScaledQuery`] for quantized rows. Sealed.
pub trait GatherQuery: sealed::Sealed {
    /// The query's dimension (checked against the rows').
    #[doc(hidden)]
    fn query_dim(&self) -> usize;
}

mod sealed {
    pub trait Sealed {}
    impl<X> Sealed for [X] {}
    impl Sealed for crate::scaled::ScaledQuery {}
}

impl<X> GatherQuery for [X] {
    #[inline(always)]
    fn query_dim(&self) -> usize {
        self.len()
    }
}

impl GatherQuery for ScaledQuery {
    #[inline(always)]
    fn query_dim(&self) -> usize {
        self.dim()
    }
}

/// A gather over [`ChunkedRows`] with the kernel resolved once (metric, element
/// type, ISA), validated when made; each call then costs one indirect call and no
/// scan of the ids.
///
/// Results for L2 and inner product are bit for bit what
/// [`KernelTable::distance`] of the same table gives on that row. Cosine computes
/// the query's norm once per call and a fused dot-and-row-norm per row, exactly as
/// [`KernelTable::distances_gather`] does, which can differ from the one-to-one
/// cosine kernel in the last bits (both are within the crate's cosine bound).
/// `Q` is the query form: `[T::Query]` (the default) or, for i8/u8 rows decoded by
/// per-dimension scales, a [`ScaledQuery`] (see [`KernelTable::scaled_gather`]).
pub struct ChunkedGather<'a, T: Element, Q: ?Sized + GatherQuery = [<T as Element>::Query]> {
    f: GatherFn<T, Q>,
    rows: ChunkedRows<'a, T>,
    metric: Metric,
    isa: Isa,
}

impl<T: Element, Q: ?Sized + GatherQuery> Clone for ChunkedGather<'_, T, Q> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Element, Q: ?Sized + GatherQuery> Copy for ChunkedGather<'_, T, Q> {}

impl<T: Element, Q: ?Sized + GatherQuery> fmt::Debug for ChunkedGather<'_, T, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkedGather")
            .field(
                "kernel",
                &format_args!("{}_{}_{}", self.metric, T::NAME, self.isa),
            )
            .field("rows", &self.rows)
            .finish()
    }
}

impl KernelTable {
    /// A gather for `metric` over `rows`, with this table's kernel resolved now.
    /// `T = f32` (f32 rows) and `T = f16` (f16 rows) take an f32 query; every
    /// [`Element`] has one (its `T::Query`).
    ///
    /// # Panics
    /// If `T` has no kernel for `metric` (see [`Element::METRICS`]).
    #[track_caller]
    pub fn chunked_gather<'a, T: Element>(
        &self,
        metric: Metric,
        rows: ChunkedRows<'a, T>,
    ) -> ChunkedGather<'a, T> {
        ChunkedGather::new(
            T::family(self).expect_metric(metric).chunked,
            rows,
            metric,
            self.isa(),
        )
    }
}

impl<'a, T: Element, Q: ?Sized + GatherQuery> ChunkedGather<'a, T, Q> {
    pub(crate) fn new(
        f: GatherFn<T, Q>,
        rows: ChunkedRows<'a, T>,
        metric: Metric,
        isa: Isa,
    ) -> Self {
        ChunkedGather {
            f,
            rows,
            metric,
            isa,
        }
    }

    /// `out[j] = distance(query, row ids[j])` for `ids[j] < n_rows`, prefetching rows
    /// ahead as [`distances_gather`](KernelTable::distances_gather) does;
    /// `ids[j] >= n_rows` are never read and give `f32::INFINITY`.
    /// `out[ids.len()..]` is left as it was.
    ///
    /// # Panics
    /// If the query's dimension is not the rows' or `out.len() < ids.len()`.
    #[inline]
    pub fn gather(&self, query: &Q, ids: &[u32], out: &mut [f32]) {
        assert_eq!(
            query.query_dim(),
            self.rows.dim,
            "query of dimension {} for rows of dimension {}",
            query.query_dim(),
            self.rows.dim
        );
        assert!(
            out.len() >= ids.len(),
            "out has {} slots for {} ids",
            out.len(),
            ids.len()
        );
        // SAFETY: the pointer came from a KernelTable, which exists only for an ISA
        // that passed detection; the kernel is memory-safe for any lengths and the
        // rows were validated by ChunkedRows::new.
        unsafe { (self.f)(query, &self.rows, ids, out) }
    }

    /// The distance from `query` to row `id` (`f32::INFINITY`, unread, if
    /// `id >= n_rows`): the same kernel and result as a [`gather`](Self::gather)
    /// of `[id]`.
    ///
    /// # Panics
    /// If the query's dimension is not the rows'.
    #[inline]
    pub fn distance(&self, query: &Q, id: u32) -> f32 {
        let mut out = [0.0f32];
        self.gather(query, &[id], &mut out);
        out[0]
    }

    /// The rows this gather reads.
    pub fn rows(&self) -> ChunkedRows<'a, T> {
        self.rows
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The ISA of the kernel.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}
