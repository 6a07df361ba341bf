//! The kernels behind the C ABI: ISA report and selection, then one-to-one,
//! one-to-many over strided rows, gather by row ids, squared norms, exact
//! many-to-many knn with fused top-k, and resolved function pointers.
//!
//! Every entry point is the kernels crate's generic `KernelTable` method
//! (`distance`, `distances`, `distances_gather`, `squared_norms`, `knn`,
//! `distance_fn`) instantiated for the element code's type by
//! [`with_element!`](crate::elements::with_element), so each element type gets every shape the
//! kernels crate gives it (a shape it lacks is `SAGEVEC_ERR_UNSUPPORTED`).

use std::ffi::{c_char, c_void};
use std::sync::OnceLock;

use ::sagevec_kernels::{Caps, Element, Isa, KernelError, KernelTable, Metric, Rows};

use crate::args::{self, product};
use crate::elements::{sagevec_elem, with_element};
use crate::owned;
use crate::status::{Error, SAGEVEC_ERR_UNSUPPORTED, call, sagevec_status};

/// An instruction-set level of the kernels.
pub type sagevec_isa = u32;
/// Plain loops: the reference and the fallback (every x86-64 CPU).
pub const SAGEVEC_ISA_SCALAR: sagevec_isa = 0;
/// AVX2 + FMA + F16C, 8 f32 lanes (Haswell, Zen 1 and later).
pub const SAGEVEC_ISA_AVX2: sagevec_isa = 1;
/// AVX-512 F + BW + VL, 16 f32 lanes (Skylake-SP, Zen 4 and later).
pub const SAGEVEC_ISA_AVX512: sagevec_isa = 2;

/// A distance metric. Every metric is a distance: smaller is closer.
pub type sagevec_metric = u32;
/// Squared Euclidean distance (no square root).
pub const SAGEVEC_METRIC_L2: sagevec_metric = 0;
/// The negative dot product `-a.b`.
pub const SAGEVEC_METRIC_IP: sagevec_metric = 1;
/// `1 - cos(a, b)`, 1.0 when either vector is zero.
pub const SAGEVEC_METRIC_COSINE: sagevec_metric = 2;
/// Bits rows: the number of bit positions that differ, `popcount(a ^ b)`.
pub const SAGEVEC_METRIC_HAMMING: sagevec_metric = 3;
/// Bits rows: `1 - |a & b| / |a | b|` (as sets of their 1 bits), 0.0 when both
/// are all zeros.
pub const SAGEVEC_METRIC_JACCARD: sagevec_metric = 4;

/// The kernels of one ISA, resolved once (opaque; static, never freed). Get one
/// with `sagevec_kernels_active` or `sagevec_kernels_for_isa`.
#[derive(Debug)]
pub struct sagevec_kernels {
    _opaque: [u8; 0],
}

/// A row-major matrix the caller owns: `n_rows` rows of `dim` elements, row `i`
/// starting `i * stride` elements after `data`. `data` holds at least
/// `(n_rows - 1) * stride + dim` elements (none when `n_rows` is 0, when it may be
/// NULL); `stride >= dim`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sagevec_matrix {
    /// The first element of row 0, aligned for its element type.
    pub data: *const c_void,
    /// Rows.
    pub n_rows: usize,
    /// Elements per row.
    pub dim: usize,
    /// Elements from the start of one row to the start of the next (`>= dim`).
    pub stride: usize,
}

/// A resolved one-to-one distance: `a` holds `dim` query elements, `b` `dim` row
/// elements of the element type it was resolved for. No argument is checked (NULL
/// is allowed only with `dim == 0`); the call cannot fail.
pub type sagevec_distance_fn =
    Option<unsafe extern "C" fn(a: *const c_void, b: *const c_void, dim: usize) -> f32>;

const N_ISA: usize = Isa::ALL.len();
/// The metrics of the ABI, by code (`SAGEVEC_METRIC_*`; codes are ABI: new
/// metrics are appended, never renumbered). Which element types have which metric
/// is the kernels crate's `Element::METRICS`.
const METRICS: [Metric; 5] = [
    Metric::L2Sq,
    Metric::InnerProduct,
    Metric::Cosine,
    Metric::Hamming,
    Metric::Jaccard,
];
const N_METRIC: usize = METRICS.len();

/// The ISA of a code. Codes follow `Isa::ALL` (slowest first).
fn isa_of(code: sagevec_isa) -> Result<Isa, Error> {
    Isa::ALL.get(code as usize).copied().ok_or_else(|| {
        Error::invalid(format!(
            "unknown ISA code {code}: expected {}",
            codes_of(Isa::ALL.iter().map(|i| i.name()))
        ))
    })
}

fn isa_code(isa: Isa) -> sagevec_isa {
    Isa::ALL.iter().position(|&i| i == isa).unwrap_or(0) as sagevec_isa
}

/// The metric of a code. Codes follow [`METRICS`] (l2, ip, cosine, hamming, jaccard).
pub(crate) fn metric_of(code: sagevec_metric) -> Result<Metric, Error> {
    METRICS.get(code as usize).copied().ok_or_else(|| {
        Error::invalid(format!(
            "unknown metric code {code}: expected {}",
            codes_of(METRICS.iter().map(|m| m.name()))
        ))
    })
}

/// The code of a metric, or why the ABI has none for it.
pub(crate) fn metric_code(metric: Metric) -> Result<sagevec_metric, Error> {
    METRICS
        .iter()
        .position(|&m| m == metric)
        .map(|i| i as sagevec_metric)
        .ok_or_else(|| {
            Error::new(
                SAGEVEC_ERR_UNSUPPORTED,
                format!("metric {metric} has no code in the C ABI"),
            )
        })
}

fn codes_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .enumerate()
        .map(|(i, n)| format!("{i} ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// NUL-terminated copies of static names, made once per list.
fn c_names(
    cell: &'static OnceLock<Vec<std::ffi::CString>>,
    names: &[&str],
) -> &'static [std::ffi::CString] {
    cell.get_or_init(|| {
        names
            .iter()
            .map(|n| std::ffi::CString::new(*n).unwrap_or_default())
            .collect()
    })
}

/// The tables handed out so far, by ISA code: a resolved pointer reads its
/// table from here.
static TABLES: [OnceLock<&'static KernelTable>; N_ISA] = [const { OnceLock::new() }; N_ISA];

fn handle(table: &'static KernelTable) -> *const sagevec_kernels {
    let _ = TABLES[isa_code(table.isa()) as usize].set(table);
    std::ptr::from_ref(table).cast()
}

/// The table behind a handle. Only pointers this library handed out are accepted
/// (compared by address), so a stray pointer is an error, not a crash.
pub(crate) fn table_of(k: *const sagevec_kernels) -> Result<&'static KernelTable, Error> {
    if k.is_null() {
        return Err(Error::null("kernels"));
    }
    TABLES
        .iter()
        .filter_map(|t| t.get().copied())
        .find(|t| std::ptr::eq(std::ptr::from_ref(*t).cast(), k))
        .ok_or_else(|| {
            Error::invalid(
                "kernels is not a handle from sagevec_kernels_active or sagevec_kernels_for_isa",
            )
        })
}

/// The name of an ISA (`"avx2"`), or NULL for a code that is not one. Static.
#[unsafe(no_mangle)]
pub extern "C" fn sagevec_isa_name(isa: sagevec_isa) -> *const c_char {
    static NAMES: OnceLock<Vec<std::ffi::CString>> = OnceLock::new();
    let names: Vec<&str> = Isa::ALL.iter().map(|i| i.name()).collect();
    c_names(&NAMES, &names)
        .get(isa as usize)
        .map_or(std::ptr::null(), |n| n.as_ptr())
}

/// The ISA named `name` (`scalar`, `avx2`, `avx512`; any case) into `*out`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_isa_parse(
    name: *const c_char,
    out: *mut sagevec_isa,
) -> sagevec_status {
    call(|| {
        // SAFETY: the caller's contract.
        let name = unsafe { args::c_str(name, "name") }?;
        let isa: Isa = name.parse()?;
        // SAFETY: the caller's contract.
        unsafe { args::write(out, isa_code(isa), "out") }
    })
}

/// Whether this CPU and OS can run `isa`'s kernels, into `*out`.
///
/// # Safety
/// `out` is NULL or points to a writable `bool`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_isa_supported(isa: sagevec_isa, out: *mut bool) -> sagevec_status {
    call(|| {
        let isa = isa_of(isa)?;
        // SAFETY: the caller's contract.
        unsafe { args::write(out, isa.is_supported(), "out") }
    })
}

/// The ISA the active kernels use into `*out`: `SAGEVEC_ISA` from the
/// environment if set (read once per process), else the best this CPU has. An
/// unknown or unsupported `SAGEVEC_ISA` is an error (never an illegal instruction).
///
/// # Safety
/// `out` is NULL or points to a writable `sagevec_isa`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_isa_active(out: *mut sagevec_isa) -> sagevec_status {
    call(|| {
        let isa = ::sagevec_kernels::try_kernels()?.isa();
        // SAFETY: the caller's contract.
        unsafe { args::write(out, isa_code(isa), "out") }
    })
}

/// A JSON report of the kernels into `*out_json` (free it with
/// `sagevec_string_free`): `{"version", "active" (null with "active_error" when
/// SAGEVEC_ISA cannot be honoured), "available": [...], "cpu_features": {name:
/// bool}, "families": [{"elem", "isa"}] of the active table}`.
///
/// # Safety
/// `out_json` is NULL or points to a writable `char *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_isa_report(out_json: *mut *mut c_char) -> sagevec_status {
    call(|| {
        args::require(out_json, "out_json")?;
        let active = ::sagevec_kernels::try_kernels();
        let features: serde_json::Map<String, serde_json::Value> = Caps::detect()
            .list()
            .iter()
            .map(|&(name, present)| (name.to_owned(), present.into()))
            .collect();
        let report = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "active": active.as_ref().ok().map(|t| t.isa().name()),
            "active_error": active.as_ref().err().map(ToString::to_string),
            "available": Isa::available().iter().map(|i| i.name()).collect::<Vec<_>>(),
            "cpu_features": features,
            "families": active.as_ref().map(|t| t.families()).unwrap_or_default().iter()
                .map(|(elem, isa)| serde_json::json!({"elem": elem, "isa": isa}))
                .collect::<Vec<_>>(),
        });
        // SAFETY: the caller's contract.
        unsafe { owned::write_string(out_json, report.to_string()) }
    })
}

/// The kernels of the active ISA (see `sagevec_isa_active`) into `*out`.
///
/// # Safety
/// `out` is NULL or points to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_kernels_active(
    out: *mut *const sagevec_kernels,
) -> sagevec_status {
    call(|| {
        args::require(out, "out")?;
        let table = ::sagevec_kernels::try_kernels()?;
        // SAFETY: the caller's contract.
        unsafe { args::write(out, handle(table), "out") }
    })
}

/// The kernels of `isa` into `*out`; `SAGEVEC_ERR_UNSUPPORTED` if this CPU lacks it.
/// Use it to pin a lower ISA (tests, reproducible results across machines).
///
/// # Safety
/// `out` is NULL or points to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_kernels_for_isa(
    isa: sagevec_isa,
    out: *mut *const sagevec_kernels,
) -> sagevec_status {
    call(|| {
        args::require(out, "out")?;
        let table = KernelTable::for_isa(isa_of(isa)?)?;
        // SAFETY: the caller's contract.
        unsafe { args::write(out, handle(table), "out") }
    })
}

/// The ISA of a kernels handle into `*out`.
///
/// # Safety
/// `out` is NULL or points to a writable `sagevec_isa`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_kernels_isa(
    kernels: *const sagevec_kernels,
    out: *mut sagevec_isa,
) -> sagevec_status {
    call(|| {
        let table = table_of(kernels)?;
        // SAFETY: the caller's contract.
        unsafe { args::write(out, isa_code(table.isa()), "out") }
    })
}

/// The name of a metric (`"l2"`, `"ip"`, `"cosine"`, `"hamming"`, `"jaccard"`),
/// or NULL for a code that is not one. Static.
#[unsafe(no_mangle)]
pub extern "C" fn sagevec_metric_name(metric: sagevec_metric) -> *const c_char {
    static NAMES: OnceLock<Vec<std::ffi::CString>> = OnceLock::new();
    let names: Vec<&str> = METRICS.iter().map(|m| m.name()).collect();
    c_names(&NAMES, &names)
        .get(metric as usize)
        .map_or(std::ptr::null(), |n| n.as_ptr())
}

/// The metric named `name` into `*out`: `l2` (also `l2sq`, `euclidean`,
/// `sqeuclidean`), `ip` (`dot`, `inner_product`), `cosine` (`cos`), `hamming`,
/// `jaccard`, any case. An unknown name is `SAGEVEC_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_metric_parse(
    name: *const c_char,
    out: *mut sagevec_metric,
) -> sagevec_status {
    call(|| {
        // SAFETY: the caller's contract.
        let name = unsafe { args::c_str(name, "name") }?;
        let metric: Metric = name.parse().map_err(Error::invalid)?;
        // SAFETY: the caller's contract.
        unsafe { args::write(out, metric_code(metric)?, "out") }
    })
}

/// A borrowed `Rows` view of a caller's matrix.
///
/// # Safety
/// `m` describes a readable buffer, as `sagevec_matrix` documents.
pub(crate) unsafe fn rows<'a, T>(m: &sagevec_matrix, arg: &str) -> Result<Rows<'a, T>, Error> {
    let len = match m.n_rows {
        0 => 0,
        n => product(n - 1, m.stride, arg)?
            .checked_add(m.dim)
            .ok_or_else(|| Error::invalid(format!("{arg}: the matrix's size overflows")))?,
    };
    // SAFETY: the caller's contract: `data` holds `len` elements.
    let data = unsafe { args::slice(m.data.cast::<T>(), len, arg) }?;
    Rows::strided(data, m.n_rows, m.dim, m.stride)
        .map_err(|e| Error::invalid(format!("{arg}: {e}")))
}

/// The frame every one-to-one call shares (plain and scaled queries): the table
/// and metric of the codes, a non-NULL `out`, then `distance`'s value stored in it.
///
/// # Safety
/// `out` is NULL or writable.
pub(crate) unsafe fn one_to_one(
    kernels: *const sagevec_kernels,
    metric: sagevec_metric,
    out: *mut f32,
    distance: impl FnOnce(&'static KernelTable, Metric) -> Result<f32, Error>,
) -> sagevec_status {
    call(|| {
        let (table, metric) = (table_of(kernels)?, metric_of(metric)?);
        args::require(out, "out")?;
        let d = distance(table, metric)?;
        // SAFETY: the caller's contract.
        unsafe { args::write(out, d, "out") }
    })
}

/// The frame every one-to-many call shares (strided rows, gathers, scaled
/// queries): the table and metric of the codes and the output slice, then
/// `distances` fills it.
///
/// # Safety
/// `out` is NULL (only with `out_len == 0`) or holds `out_len` writable floats.
pub(crate) unsafe fn one_to_many(
    kernels: *const sagevec_kernels,
    metric: sagevec_metric,
    out: *mut f32,
    out_len: usize,
    distances: impl FnOnce(&'static KernelTable, Metric, &mut [f32]) -> Result<(), Error>,
) -> sagevec_status {
    call(|| {
        let (table, metric) = (table_of(kernels)?, metric_of(metric)?);
        // SAFETY: the caller's contract.
        let out = unsafe { args::slice_mut(out, out_len, "out") }?;
        distances(table, metric, out)
    })
}

/// One-to-one: the `metric` distance between query `a` and row `b`, `dim`
/// elements each, into `*out`. `a` holds query elements (`sagevec_elem_query`),
/// `b` row elements of `elem`. A metric the element type lacks is
/// `SAGEVEC_ERR_UNSUPPORTED` (here and in every kernel call).
///
/// # Safety
/// `a` and `b` are NULL (only with `dim == 0`) or hold `dim` elements of their
/// type; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_distance(
    kernels: *const sagevec_kernels,
    metric: sagevec_metric,
    elem: sagevec_elem,
    a: *const c_void,
    b: *const c_void,
    dim: usize,
    out: *mut f32,
) -> sagevec_status {
    let distance = |table: &'static KernelTable, metric: Metric| {
        with_element!(elem, T => {
            // SAFETY: the caller's contract: `dim` elements each.
            let a = unsafe { args::slice(a.cast::<<T as Element>::Query>(), dim, "a") }?;
            // SAFETY: as above.
            let b = unsafe { args::slice(b.cast::<T>(), dim, "b") }?;
            table.distance::<T>(metric, a, b).map_err(Error::from)
        })
    };
    // SAFETY: the caller's contract for `out`.
    unsafe { one_to_one(kernels, metric, out, distance) }
}

/// One-to-many: `out[i]` = the distance between `query` (`dim` query elements)
/// and row `i` of `rows`, for every row; `out_len` must equal `rows.n_rows` and
/// `dim` must equal `rows.dim`.
///
/// # Safety
/// `query` holds `dim` query elements; `rows` is as `sagevec_matrix` says; `out`
/// holds `out_len` writable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_distances(
    kernels: *const sagevec_kernels,
    metric: sagevec_metric,
    elem: sagevec_elem,
    query: *const c_void,
    dim: usize,
    rows: sagevec_matrix,
    out: *mut f32,
    out_len: usize,
) -> sagevec_status {
    let distances = |table: &'static KernelTable, metric: Metric, out: &mut [f32]| {
        with_element!(elem, T => {
            // SAFETY: the caller's contract for each buffer.
            let q = unsafe { args::slice(query.cast::<<T as Element>::Query>(), dim, "query") }?;
            // SAFETY: as above.
            let r = unsafe { self::rows::<T>(&rows, "rows") }?;
            table.distances::<T>(metric, q, r, out).map_err(Error::from)
        })
    };
    // SAFETY: the caller's contract for `out`.
    unsafe { one_to_many(kernels, metric, out, out_len, distances) }
}

/// Gather: `out[j]` = the distance between `query` and row `ids[j]` of `rows`
/// (the shape of an HNSW neighbour list); `out_len` must equal `n_ids`, every id
/// must be below `rows.n_rows` (else `SAGEVEC_ERR_INVALID_ARGUMENT`, nothing written).
///
/// # Safety
/// `query` holds `dim` query elements; `rows` is as `sagevec_matrix` says; `ids`
/// holds `n_ids` ids; `out` holds `out_len` writable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_distances_gather(
    kernels: *const sagevec_kernels,
    metric: sagevec_metric,
    elem: sagevec_elem,
    query: *const c_void,
    dim: usize,
    rows: sagevec_matrix,
    ids: *const u32,
    n_ids: usize,
    out: *mut f32,
    out_len: usize,
) -> sagevec_status {
    let distances = |table: &'static KernelTable, metric: Metric, out: &mut [f32]| {
        with_element!(elem, T => {
            // SAFETY: the caller's contract for each buffer.
            let q = unsafe { args::slice(query.cast::<<T as Element>::Query>(), dim, "query") }?;
            // SAFETY: as above.
            let r = unsafe { self::rows::<T>(&rows, "rows") }?;
            // SAFETY: as above.
            let ids = unsafe { args::slice(ids, n_ids, "ids") }?;
            table.distances_gather::<T>(metric, q, r, ids, out).map_err(Error::from)
        })
    };
    // SAFETY: the caller's contract for `out`.
    unsafe { one_to_many(kernels, metric, out, out_len, distances) }
}

/// Squared norms of every row of `rows` into `out` (`out_len == rows.n_rows`):
/// cache them and pass them to `sagevec_knn` as `base_norms`. For the element
/// types with many-to-many kernels (f32, bf16, i8, u8); f16 and bits rows are
/// `SAGEVEC_ERR_UNSUPPORTED`.
///
/// # Safety
/// `rows` is as `sagevec_matrix` says; `out` holds `out_len` writable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_squared_norms(
    kernels: *const sagevec_kernels,
    elem: sagevec_elem,
    rows: sagevec_matrix,
    out: *mut f32,
    out_len: usize,
) -> sagevec_status {
    call(|| {
        let table = table_of(kernels)?;
        with_element!(elem, T => {
            // SAFETY: the caller's contract for each buffer.
            let r = unsafe { self::rows::<T>(&rows, "rows") }?;
            // SAFETY: as above.
            let out = unsafe { args::slice_mut(out, out_len, "out") }?;
            table.squared_norms::<T>(r, out).map_err(Error::from)
        })
    })
}

/// Exact k nearest rows of `base` for every row of `queries` (register-tiled,
/// top-k fused: no distance matrix is written), into row-major `out_ids` and
/// `out_distances` (`out_len == queries.n_rows * k` each), best first, ties to
/// the smaller row; missing results are `UINT64_MAX` and `+inf`. `base_norms` is
/// NULL or the squared norms of `base`'s rows (`base.n_rows` floats, from
/// `sagevec_squared_norms`). The distances use `|q|^2 + |x|^2 - 2 q.x` for L2.
/// Queries are rows of `elem` too. For f32, bf16 (l2, ip, cosine), i8 and u8
/// (l2, ip); f16 and bits rows have no many-to-many kernels
/// (`SAGEVEC_ERR_UNSUPPORTED`).
///
/// # Safety
/// Both matrices are as `sagevec_matrix` says; `base_norms` is NULL or holds
/// `base.n_rows` floats; each output holds `out_len` writable elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_knn(
    kernels: *const sagevec_kernels,
    metric: sagevec_metric,
    elem: sagevec_elem,
    queries: sagevec_matrix,
    base: sagevec_matrix,
    base_norms: *const f32,
    k: usize,
    out_ids: *mut u64,
    out_distances: *mut f32,
    out_len: usize,
) -> sagevec_status {
    call(|| {
        let (table, metric) = (table_of(kernels)?, metric_of(metric)?);
        with_element!(elem, T => {
            // SAFETY: the caller's contract for each buffer.
            let q = unsafe { self::rows::<T>(&queries, "queries") }?;
            // SAFETY: as above.
            let x = unsafe { self::rows::<T>(&base, "base") }?;
            let norms = if base_norms.is_null() {
                None
            } else {
                // SAFETY: as above.
                Some(unsafe { args::slice(base_norms, base.n_rows, "base_norms") }?)
            };
            // SAFETY: as above.
            let ids = unsafe { args::slice_mut(out_ids, out_len, "out_ids") }?;
            // SAFETY: as above.
            let dists = unsafe { args::slice_mut(out_distances, out_len, "out_distances") }?;
            table
                .knn::<T>(metric, q, x, norms, k, ids, dists)
                .map_err(Error::from)
        })
    })
}

/// A resolved one-to-one distance for `metric` on `elem` rows with these kernels,
/// into `*out`: fetch it once, then each call is one indirect call into the SIMD
/// loop with no check (for engines that compute millions of distances, e.g.
/// hnswlib's `SpaceInterface`). The pointer stays valid for the process's life.
/// A metric the element type lacks (cosine on i8, l2 on bits) is
/// `SAGEVEC_ERR_UNSUPPORTED`.
///
/// # Safety
/// `out` is NULL or points to a writable `sagevec_distance_fn`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_distance_fn_resolve(
    kernels: *const sagevec_kernels,
    metric: sagevec_metric,
    elem: sagevec_elem,
    out: *mut sagevec_distance_fn,
) -> sagevec_status {
    call(|| {
        let (table, m) = (table_of(kernels)?, metric_of(metric)?);
        let isa = isa_code(table.isa()) as usize;
        let f = with_element!(elem, T => {
            if T::METRICS.contains(&m) {
                Ok(resolved_table::<T>()[isa][metric as usize])
            } else {
                Err(Error::from(KernelError::UnsupportedMetric {
                    metric: m,
                    elem: T::NAME,
                }))
            }
        })?;
        // SAFETY: the caller's contract.
        unsafe { args::write(out, Some(f), "out") }
    })
}

type RawDistanceFn = unsafe extern "C" fn(*const c_void, *const c_void, usize) -> f32;

// The resolved tables below spell out every (metric, ISA) pair.
const _: () = assert!(N_ISA == 3 && N_METRIC == 5);

/// The resolved pointers of `T`, by ISA code then metric code.
fn resolved_table<T: Element>() -> [[RawDistanceFn; N_METRIC]; N_ISA] {
    fn metrics<T: Element, const I: usize>() -> [RawDistanceFn; N_METRIC] {
        [
            resolved::<T, 0, I>,
            resolved::<T, 1, I>,
            resolved::<T, 2, I>,
            resolved::<T, 3, I>,
            resolved::<T, 4, I>,
        ]
    }
    [metrics::<T, 0>(), metrics::<T, 1>(), metrics::<T, 2>()]
}

/// The function behind a resolved pointer: metric `METRICS[M]` on the table of
/// ISA `Isa::ALL[I]`. `sagevec_distance_fn_resolve` hands it out only after that
/// table was handed out (so `TABLES[I]` is set), and only for a metric of `T`;
/// one load, then the kernel.
///
/// # Safety
/// `a` and `b` are NULL only with `dim == 0`, else hold `dim` elements of `T`'s
/// query and row types.
unsafe extern "C" fn resolved<T: Element, const M: usize, const I: usize>(
    a: *const c_void,
    b: *const c_void,
    dim: usize,
) -> f32 {
    let Some(table) = TABLES[I].get() else {
        // Unreachable: no pointer to this function exists before TABLES[I] is set.
        return f32::NAN;
    };
    if dim == 0 {
        return table.distance_fn::<T>(METRICS[M]).call(&[], &[]);
    }
    // SAFETY: the caller guarantees `dim` elements of each type at non-NULL,
    // aligned `a` and `b` (the resolved pointer's documented contract).
    let (a, b) = unsafe {
        (
            std::slice::from_raw_parts(a.cast::<T::Query>(), dim),
            std::slice::from_raw_parts(b.cast::<T>(), dim),
        )
    };
    table.distance_fn::<T>(METRICS[M]).call(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_of_the_kernels_has_its_code() {
        for m in Metric::ALL {
            let code = metric_code(m).unwrap();
            assert_eq!(metric_of(code).unwrap(), m);
        }
        // The codes are ABI: these numbers never change.
        let fixed = [
            (SAGEVEC_METRIC_L2, Metric::L2Sq),
            (SAGEVEC_METRIC_IP, Metric::InnerProduct),
            (SAGEVEC_METRIC_COSINE, Metric::Cosine),
            (SAGEVEC_METRIC_HAMMING, Metric::Hamming),
            (SAGEVEC_METRIC_JACCARD, Metric::Jaccard),
        ];
        for (code, m) in fixed {
            assert_eq!(metric_of(code).unwrap(), m);
        }
        assert!(metric_of(N_METRIC as sagevec_metric).is_err());
    }
}
