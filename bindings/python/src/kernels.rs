//! `sagevec.kernels` and `sagevec.topology`: distance kernels, exact batch knn
//! and the placement plan. Arguments arrive already converted to C-contiguous
//! float32 by the Python layer (`sagevec/kernels.py`) and are checked again here.

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use sagevec_index::{BatchResults, IndexError};
use sagevec_kernels::{Isa, KernelTable, Metric, try_kernels};
use sagevec_scheduler::{Par, Policy, Topology, plan};

use crate::arrays::{rows, vector};
use crate::errors::value_error;
use crate::interrupt::chunked;
use crate::pool::pool;

/// Queries per worker in every chunk of a `knn` call (a call this size or
/// smaller runs in one piece). The fused kernel re-reads the base once per
/// call, so small chunks were memory-bound: at 1000 x 100k x 784, chunks sized
/// to 40 ms held 8 queries and ran at 1.3 GFLOP/s, against ~80 in one call.
/// 256 per worker keeps the kernel near its one-call speed (Ctrl-C then lands
/// within a chunk, about a second at that size here).
const KNN_MIN_CHUNK: usize = 256;

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

/// Distances from one query to every row.
#[pyfunction]
pub(crate) fn distances<'py>(
    py: Python<'py>,
    query: PyReadonlyArray1<'py, f32>,
    rows_: PyReadonlyArray2<'py, f32>,
    metric_: &str,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let (t, m) = (table()?, metric(metric_)?);
    let (q, x) = (vector(&query, "query")?, rows(&rows_, "rows")?);
    let mut out = vec![0.0f32; x.n_rows()];
    py.detach(|| t.distances(m, q, x, &mut out))
        .map_err(value_error)?;
    Ok(PyArray1::from_vec(py, out))
}

/// All pairwise distances, `a.shape[0] x b.shape[0]`.
#[pyfunction]
pub(crate) fn cdist<'py>(
    py: Python<'py>,
    a: PyReadonlyArray2<'py, f32>,
    b: PyReadonlyArray2<'py, f32>,
    metric_: &str,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let (t, m) = (table()?, metric(metric_)?);
    let (ra, rb) = (rows(&a, "a")?, rows(&b, "b")?);
    let (na, nb) = (ra.n_rows(), rb.n_rows());
    let mut out = vec![0.0f32; na * nb];
    if ra.dim() != rb.dim() {
        return Err(value_error(
            sagevec_kernels::KernelError::DimensionMismatch {
                expected: rb.dim(),
                got: ra.dim(),
            },
        ));
    }
    py.detach(|| -> Result<(), sagevec_kernels::KernelError> {
        // Rows of width 0 (nb == 0) cannot be chunked, and there is nothing to do.
        if nb == 0 {
            return Ok(());
        }
        for (i, row) in out.chunks_exact_mut(nb).enumerate() {
            t.distances(m, ra.row(i), rb, row)?;
        }
        Ok(())
    })
    .map_err(value_error)?;
    PyArray1::from_vec(py, out).reshape([na, nb])
}

/// `(ids, distances)`, each `n_queries x k`.
type Neighbours<'py> = (Bound<'py, PyArray2<i64>>, Bound<'py, PyArray2<f32>>);

/// Exact k nearest rows of `base` for every query, on all cores.
#[pyfunction]
#[pyo3(signature = (queries, base, k, metric_, threads=None))]
pub(crate) fn knn<'py>(
    py: Python<'py>,
    queries: PyReadonlyArray2<'py, f32>,
    base: PyReadonlyArray2<'py, f32>,
    k: usize,
    metric_: &str,
    threads: Option<usize>,
) -> PyResult<Neighbours<'py>> {
    let m = metric(metric_)?;
    table()?;
    let (q, x) = (rows(&queries, "queries")?, rows(&base, "base")?);
    if k == 0 {
        return Err(value_error("k must be at least 1"));
    }
    let pool = pool(threads)?;
    let n_q = q.n_rows();
    let mut ids = vec![-1i64; n_q * k];
    let mut dists = vec![f32::INFINITY; n_q * k];
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
    let (ids_out, dists_out) = (&mut ids, &mut dists);
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
        move |range| -> Result<(), IndexError> {
            let mut out = BatchResults::new(range.len(), k)?;
            let part = q.slice_rows(range.start, range.end);
            sagevec_index::knn(m, part, x, norms, k, Par::Pool(pool), &mut out)?;
            for (i, row) in range.enumerate() {
                let at = row * k;
                // u64::MAX pads in Rust; Python pads with -1, as faiss does.
                for (slot, &id) in ids_out[at..at + k].iter_mut().zip(out.ids(i)) {
                    *slot = i64::try_from(id).unwrap_or(-1);
                }
                dists_out[at..at + k].copy_from_slice(out.distances(i));
            }
            Ok(())
        },
    )?
    .map_err(value_error)?;
    Ok((
        PyArray1::from_vec(py, ids).reshape([n_q, k])?,
        PyArray1::from_vec(py, dists).reshape([n_q, k])?,
    ))
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
