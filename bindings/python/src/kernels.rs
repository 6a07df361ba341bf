//! `sagevec.kernels` and `sagevec.topology`: distance kernels, exact batch knn
//! and the placement plan. Arguments arrive already converted to C-contiguous
//! float32 by the Python layer (`sagevec/kernels.py`) and are checked again here.

use numpy::{
    PyArray2, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use sagevec_index::{BatchResults, IndexError};
use sagevec_kernels::{Isa, KernelError, KernelTable, Metric, Rows, try_kernels};
use sagevec_scheduler::{Par, Policy, Topology, plan};

use crate::arrays::{F32Array, f32_array};
use crate::errors::{type_error, value_error};
use crate::interrupt::chunked;
use crate::pool::pool;

/// Queries per worker in every chunk of a `knn` call (a call this size or
/// smaller runs in one piece). The fused kernel re-reads the base once per
/// call, so small chunks were memory-bound: at 1000 x 100k x 784, chunks sized
/// to 40 ms held 8 queries and ran at 1.3 GFLOP/s, against ~80 in one call.
/// 256 per worker keeps the kernel near its one-call speed (Ctrl-C then lands
/// within a chunk, about a second at that size here).
pub(crate) const KNN_MIN_CHUNK: usize = 256;

pub(crate) fn table() -> PyResult<&'static KernelTable> {
    try_kernels().map_err(value_error)
}

pub(crate) fn metric(name: &str) -> PyResult<Metric> {
    name.parse().map_err(value_error)
}

/// The ISA the kernels use here (`SAGEVEC_ISA` if set, else the best available).
#[pyfunction]
pub(crate) fn active_isa() -> PyResult<&'static str> {
    table().map(|t| t.isa().name())
}

/// Every ISA this CPU and OS can run, slowest first.
#[pyfunction]
pub(crate) fn available_isas() -> Vec<&'static str> {
    Isa::available().into_iter().map(Isa::name).collect()
}

/// `obj` read as a float32 array of `ndim` dimensions: in place when it already is
/// a C-contiguous, aligned float32 array (the fast path: a type check), else
/// converted once; non-float input is a `TypeError`, another shape a `ValueError`.
fn input<'py>(obj: &Bound<'py, PyAny>, what: &str, ndim: usize) -> PyResult<F32Array<'py>> {
    let expected = || if ndim == 1 { "(d,)" } else { "(n, d)" }.to_owned();
    let arr = f32_array(obj, what, expected)?;
    if arr.array.ndim() != ndim {
        return Err(value_error(format!(
            "{what} must be {ndim}-D of shape {}, got shape {:?}",
            expected(),
            arr.array.shape()
        )));
    }
    Ok(arr)
}

/// The rows of a 2-D float32 array (C-contiguous by construction of `input`).
fn rows_of<'a>(a: &'a PyReadonlyArrayDyn<'_, f32>, what: &str) -> PyResult<Rows<'a, f32>> {
    let (n, d) = (a.shape()[0], a.shape()[1]);
    let data = a
        .as_slice()
        .map_err(|_| value_error(format!("{what} is not contiguous")))?;
    Rows::strided(data, n, d, d).map_err(value_error)
}

/// The caller's `out`: a writeable, C-contiguous float32 array of `shape`. It may
/// not overlap an input (numpy's borrow tracking refuses that as a `ValueError`).
fn out_array<'py>(
    out: &Bound<'py, PyAny>,
    shape: &[usize],
) -> PyResult<PyReadwriteArrayDyn<'py, f32>> {
    let arr = out.cast::<PyArrayDyn<f32>>().map_err(|_| {
        type_error(format!(
            "out must be a float32 numpy array of shape {shape:?}, got {}",
            out.get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string())
        ))
    })?;
    if arr.shape() != shape {
        return Err(value_error(format!(
            "out must have shape {shape:?}, got {:?}",
            arr.shape()
        )));
    }
    if !(arr.is_c_contiguous() && arr.is_aligned()) {
        return Err(value_error("out must be C-contiguous and aligned"));
    }
    arr.try_readwrite().map_err(|e| {
        value_error(format!(
            "out must be writeable and must not overlap an input ({e})"
        ))
    })
}

/// Runs `compute` on the output slice with the GIL released: into the caller's
/// `out` (returned as given) or a new float32 array of `shape`.
fn with_output<'py>(
    py: Python<'py>,
    out: Option<&Bound<'py, PyAny>>,
    shape: &[usize],
    compute: impl FnOnce(&mut [f32]) -> Result<(), KernelError> + Send,
) -> PyResult<Bound<'py, PyAny>> {
    match out {
        Some(obj) => {
            let mut rw = out_array(obj, shape)?;
            let slice = rw.as_slice_mut().map_err(value_error)?;
            py.detach(|| compute(slice)).map_err(value_error)?;
            drop(rw);
            Ok(obj.clone())
        }
        None => {
            let arr = PyArrayDyn::<f32>::zeros(py, shape, false);
            // SAFETY: `arr` was just created here and no other reference to it
            // exists yet (Python has not seen it), so this is its only view; it is
            // C-contiguous (zeros with fortran = false).
            let slice = unsafe { arr.as_slice_mut() }.map_err(value_error)?;
            py.detach(|| compute(slice)).map_err(value_error)?;
            Ok(arr.into_any())
        }
    }
}

/// Distances from one query to every row, into `out` if given.
#[pyfunction]
#[pyo3(signature = (query, rows, metric="l2", out=None))]
pub(crate) fn distances<'py>(
    py: Python<'py>,
    query: &Bound<'py, PyAny>,
    rows: &Bound<'py, PyAny>,
    metric: &str,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (t, m) = (table()?, self::metric(metric)?);
    let (qa, ra) = (input(query, "query", 1)?, input(rows, "rows", 2)?);
    let (qr, rr) = (
        qa.array.try_readonly().map_err(value_error)?,
        ra.array.try_readonly().map_err(value_error)?,
    );
    let q = qr.as_slice().map_err(value_error)?;
    let x = rows_of(&rr, "rows")?;
    with_output(py, out, &[x.n_rows()], |o| t.distances(m, q, x, o))
}

/// All pairwise distances, `a.shape[0] x b.shape[0]`, into `out` if given.
#[pyfunction]
#[pyo3(signature = (a, b, metric="l2", out=None))]
pub(crate) fn cdist<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    metric: &str,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (t, m) = (table()?, self::metric(metric)?);
    let (aa, ba) = (input(a, "a", 2)?, input(b, "b", 2)?);
    let (ar, br) = (
        aa.array.try_readonly().map_err(value_error)?,
        ba.array.try_readonly().map_err(value_error)?,
    );
    let (ra, rb) = (rows_of(&ar, "a")?, rows_of(&br, "b")?);
    if ra.dim() != rb.dim() {
        return Err(value_error(KernelError::DimensionMismatch {
            expected: rb.dim(),
            got: ra.dim(),
        }));
    }
    let (na, nb) = (ra.n_rows(), rb.n_rows());
    with_output(py, out, &[na, nb], |o| {
        // Rows of width 0 (nb == 0) cannot be chunked, and there is nothing to do.
        if nb == 0 {
            return Ok(());
        }
        for (i, row) in o.chunks_exact_mut(nb).enumerate() {
            t.distances(m, ra.row(i), rb, row)?;
        }
        Ok(())
    })
}

/// Exact k nearest rows of `base` for every query, on all cores:
/// `(ids, distances)`, each `n_queries x k` (into `out = (ids, distances)` if given:
/// int64 and float32 arrays of that shape).
#[pyfunction]
#[pyo3(signature = (queries, base, k, metric="l2", threads=None, out=None))]
pub(crate) fn knn<'py>(
    py: Python<'py>,
    queries: &Bound<'py, PyAny>,
    base: &Bound<'py, PyAny>,
    k: usize,
    metric: &str,
    threads: Option<usize>,
    out: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
) -> PyResult<Bound<'py, PyTuple>> {
    let m = self::metric(metric)?;
    table()?;
    let (qa, ba) = (input(queries, "queries", 2)?, input(base, "base", 2)?);
    let (qr, br) = (
        qa.array.try_readonly().map_err(value_error)?,
        ba.array.try_readonly().map_err(value_error)?,
    );
    let (q, x) = (rows_of(&qr, "queries")?, rows_of(&br, "base")?);
    if k == 0 {
        return Err(value_error("k must be at least 1"));
    }
    let n_q = q.n_rows();
    let shape = [n_q, k];
    let (ids_obj, dists_obj) = match out {
        Some(pair) => pair,
        None => (
            PyArray2::<i64>::zeros(py, shape, false).into_any(),
            PyArray2::<f32>::zeros(py, shape, false).into_any(),
        ),
    };
    let ids_arr = ids_obj.cast::<PyArrayDyn<i64>>().map_err(|_| {
        type_error(format!(
            "out[0] (ids) must be an int64 numpy array of shape {shape:?}"
        ))
    })?;
    if ids_arr.shape() != shape || !ids_arr.is_c_contiguous() || !ids_arr.is_aligned() {
        return Err(value_error(format!(
            "out[0] (ids) must be C-contiguous of shape {shape:?}, got {:?}",
            ids_arr.shape()
        )));
    }
    let mut ids_rw = ids_arr
        .try_readwrite()
        .map_err(|e| value_error(format!("out[0] must be writeable and not overlap ({e})")))?;
    let mut dists_rw = out_array(&dists_obj, &shape)?;
    let ids_out = ids_rw.as_slice_mut().map_err(value_error)?;
    let dists_out = dists_rw.as_slice_mut().map_err(value_error)?;
    ids_out.fill(-1);
    dists_out.fill(f32::INFINITY);
    let pool = pool(threads)?;
    let pool = &*pool;
    // Norms once for the whole call, not once per chunk (each is a pass over
    // the base); inner product needs none.
    let norms = match m {
        Metric::InnerProduct => None,
        _ => Some(
            py.detach(|| sagevec_index::squared_norms(x, Par::Pool(pool)))
                .map_err(value_error)?,
        ),
    };
    let norms = norms.as_deref();
    // Time-bounded chunks of queries with a signal check between them, so
    // Ctrl-C stops a long call (see `interrupt`).
    // Each call streams the whole base once, so its cost per query
    // falls with the number of queries: chunks stay large even when one takes
    // longer than the signal-check target (Ctrl-C then lands between chunks).
    let first = KNN_MIN_CHUNK * pool.n_threads();
    chunked(
        py,
        n_q,
        first,
        first,
        // `sagevec_index::knn` has no stop flag: Ctrl-C lands between chunks.
        move |range, _stop| -> Result<(), IndexError> {
            let mut res = BatchResults::new(range.len(), k)?;
            let part = q.slice_rows(range.start, range.end);
            sagevec_index::knn(m, part, x, norms, k, Par::Pool(pool), &mut res)?;
            for (i, row) in range.enumerate() {
                let at = row * k;
                // u64::MAX pads in Rust; Python pads with -1, as faiss does.
                for (slot, &id) in ids_out[at..at + k].iter_mut().zip(res.ids(i)) {
                    *slot = i64::try_from(id).unwrap_or(-1);
                }
                dists_out[at..at + k].copy_from_slice(res.distances(i));
            }
            Ok(())
        },
    )?
    .map_err(value_error)?;
    drop((ids_rw, dists_rw));
    PyTuple::new(py, [ids_obj, dists_obj])
}

/// The topology and the placement plan worker pools use here, as a dict (the
/// same facts `sagevec info` prints; honours `SAGEVEC_TOPOLOGY`,
/// `SAGEVEC_NUM_THREADS` and `SAGEVEC_PIN`).
#[pyfunction]
pub(crate) fn topology(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let topo = Topology::from_env().map_err(value_error)?;
    let placement = plan(&topo, &Policy::from_env().map_err(value_error)?).map_err(value_error)?;
    let nodes = PyList::empty(py);
    for n in placement.nodes() {
        let node = PyDict::new(py);
        node.set_item("node", n.node)?;
        node.set_item("package", n.package)?;
        node.set_item("pus", n.workers.iter().map(|w| w.pu).collect::<Vec<_>>())?;
        node.set_item("cpus", n.workers.iter().map(|w| w.cpu).collect::<Vec<_>>())?;
        nodes.append(node)?;
    }
    let out = PyDict::new(py);
    out.set_item("source", topo.source().to_string())?;
    out.set_item("packages", topo.n_packages())?;
    out.set_item("numa_nodes", topo.nodes().len())?;
    out.set_item("cores", topo.n_cores())?;
    out.set_item("pus", topo.pus().len())?;
    out.set_item("allowed_pus", topo.allowed_pus())?;
    out.set_item("threads", placement.n_threads())?;
    out.set_item("pinned", placement.pinned())?;
    out.set_item("nodes", nodes)?;
    out.set_item("text", placement.to_string())?;
    Ok(out)
}
