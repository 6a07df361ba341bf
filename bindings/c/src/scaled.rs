//! Scaled codes behind the C ABI: i8 or u8 rows that stand for `scale[i] * x[i] +
//! offset[i]`, searched with an f32 query prepared once (`sagevec_scaled_query`,
//! the kernels crate's `ScaledQuery`), one-to-one and one-to-many, L2 and inner
//! product.
//!
//! The prepared query is the only state: a handle the library allocates
//! (`sagevec_scaled_query_new`), refills in place (`_set`, no allocation once it
//! has grown to the dimension) and frees (`_free`). The distance calls only read
//! it, so any number of threads may use one handle at once; `_set` and `_free`
//! must not race other calls on the same handle.

use std::ffi::c_void;

use ::sagevec_kernels::{KernelTable, Metric, ScaledQuery};

use crate::args;
use crate::elements::{sagevec_elem, with_quantized};
use crate::kernels::{
    one_to_many, one_to_one, rows, sagevec_kernels, sagevec_matrix, sagevec_metric,
};
use crate::status::{Error, call, sagevec_status};

/// An f32 query prepared against scaled i8 or u8 codes (opaque; from
/// `sagevec_scaled_query_new`, freed with `sagevec_scaled_query_free`).
#[derive(Debug)]
pub struct sagevec_scaled_query {
    query: ScaledQuery,
}

/// The prepared query behind a handle.
///
/// # Safety
/// `q` is NULL or a live handle from `sagevec_scaled_query_new`, not being set
/// or freed during `'a`.
unsafe fn query_of<'a>(q: *const sagevec_scaled_query) -> Result<&'a ScaledQuery, Error> {
    if q.is_null() {
        return Err(Error::null("q"));
    }
    // SAFETY: non-NULL, and a live handle nobody writes during 'a (the caller's
    // contract).
    Ok(unsafe { &(*q).query })
}

/// The three `dim`-float inputs of a prepared query.
///
/// # Safety
/// Each pointer is NULL (only with `dim == 0`) or holds `dim` floats.
unsafe fn inputs<'a>(
    query: *const f32,
    scale: *const f32,
    offset: *const f32,
    dim: usize,
) -> Result<[&'a [f32]; 3], Error> {
    // SAFETY: the caller's contract, for each pointer.
    let q = unsafe { args::slice(query, dim, "query") }?;
    // SAFETY: as above.
    let s = unsafe { args::slice(scale, dim, "scale") }?;
    // SAFETY: as above.
    let o = unsafe { args::slice(offset, dim, "offset") }?;
    Ok([q, s, o])
}

/// Prepares the f32 `query` (`dim` floats) against codes `x` that stand for
/// `scale[i] * x[i] + offset[i]` (`dim` floats each) into a new handle `*out`.
///
/// # Safety
/// `query`, `scale` and `offset` are NULL (only with `dim == 0`) or hold `dim`
/// floats; `out` is NULL or points to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_scaled_query_new(
    query: *const f32,
    scale: *const f32,
    offset: *const f32,
    dim: usize,
    out: *mut *mut sagevec_scaled_query,
) -> sagevec_status {
    call(|| {
        args::require(out, "out")?;
        // SAFETY: the caller's contract.
        let [q, s, o] = unsafe { inputs(query, scale, offset, dim) }?;
        let handle = Box::new(sagevec_scaled_query {
            query: ScaledQuery::new(q, s, o)?,
        });
        let raw = Box::into_raw(handle);
        // SAFETY: the caller's contract.
        let written = unsafe { args::write(out, raw, "out") };
        if written.is_err() {
            // SAFETY: `raw` came from `Box::into_raw` just above and was not handed out.
            drop(unsafe { Box::from_raw(raw) });
        }
        written
    })
}

/// Prepares another query into an existing handle, reusing its buffers. On an
/// error the handle is unchanged.
///
/// # Safety
/// `q` is NULL or a live handle that no other call uses meanwhile; the inputs
/// are as in `sagevec_scaled_query_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_scaled_query_set(
    q: *mut sagevec_scaled_query,
    query: *const f32,
    scale: *const f32,
    offset: *const f32,
    dim: usize,
) -> sagevec_status {
    call(|| {
        if q.is_null() {
            return Err(Error::null("q"));
        }
        // SAFETY: the caller's contract.
        let [qv, s, o] = unsafe { inputs(query, scale, offset, dim) }?;
        // `ScaledQuery::set` checks the lengths before it writes anything, and
        // they are equal here, so it cannot fail half-way.
        // SAFETY: non-NULL, live, and used by no other call meanwhile (the
        // caller's contract).
        unsafe { (*q).query.set(qv, s, o) }?;
        Ok(())
    })
}

/// Frees a prepared query. NULL is ignored; another pointer, or one twice, is
/// undefined behaviour, as with `free(3)`, and so is a free that races another
/// call on the handle.
///
/// # Safety
/// `q` is NULL or a handle from `sagevec_scaled_query_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_scaled_query_free(q: *mut sagevec_scaled_query) {
    if !q.is_null() {
        // SAFETY: `q` came from `Box::into_raw` in `sagevec_scaled_query_new` (the
        // caller's contract), and is freed once.
        drop(unsafe { Box::from_raw(q) });
    }
}

/// The dimension of a prepared query into `*out`.
///
/// # Safety
/// `q` is NULL or a live handle; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_scaled_query_dim(
    q: *const sagevec_scaled_query,
    out: *mut usize,
) -> sagevec_status {
    call(|| {
        // SAFETY: the caller's contract.
        let dim = unsafe { query_of(q) }?.dim();
        // SAFETY: the caller's contract.
        unsafe { args::write(out, dim, "out") }
    })
}

/// One-to-one: the `metric` (L2 or inner product) distance between the prepared
/// query `q` and one row of `dim` codes of `elem` (`SAGEVEC_ELEM_I8` or `_U8`)
/// into `*out`. Another element type is `SAGEVEC_ERR_UNSUPPORTED`, and so is
/// cosine; `dim` must equal the query's.
///
/// # Safety
/// `q` is NULL or a live handle not being set or freed; `row` is NULL (only with
/// `dim == 0`) or holds `dim` codes; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_scaled_distance(
    kernels: *const sagevec_kernels,
    metric: sagevec_metric,
    elem: sagevec_elem,
    q: *const sagevec_scaled_query,
    row: *const c_void,
    dim: usize,
    out: *mut f32,
) -> sagevec_status {
    let distance = |table: &'static KernelTable, metric: Metric| {
        // SAFETY: the caller's contract.
        let query = unsafe { query_of(q) }?;
        with_quantized!(elem, T => {
            // SAFETY: the caller's contract: `dim` codes.
            let row = unsafe { args::slice(row.cast::<T>(), dim, "row") }?;
            table.scaled_distance::<T>(metric, query, row).map_err(Error::from)
        })
    };
    // SAFETY: the caller's contract for `out`.
    unsafe { one_to_one(kernels, metric, out, distance) }
}

/// One-to-many: `out[i]` = the `metric` distance between the prepared query `q`
/// and row `i` of `rows` (codes of `elem`), for every row; `out_len` must equal
/// `rows.n_rows` and the query's dimension `rows.dim`.
///
/// # Safety
/// `q` is NULL or a live handle not being set or freed; `rows` is as
/// `sagevec_matrix` says; `out` holds `out_len` writable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_scaled_distances(
    kernels: *const sagevec_kernels,
    metric: sagevec_metric,
    elem: sagevec_elem,
    q: *const sagevec_scaled_query,
    rows: sagevec_matrix,
    out: *mut f32,
    out_len: usize,
) -> sagevec_status {
    let distances = |table: &'static KernelTable, metric: Metric, out: &mut [f32]| {
        // SAFETY: the caller's contract.
        let query = unsafe { query_of(q) }?;
        with_quantized!(elem, T => {
            // SAFETY: the caller's contract for the rows.
            let r = unsafe { self::rows::<T>(&rows, "rows") }?;
            table.scaled_distances::<T>(metric, query, r, out).map_err(Error::from)
        })
    };
    // SAFETY: the caller's contract for `out`.
    unsafe { one_to_many(kernels, metric, out, out_len, distances) }
}
