//! `sagevec._native`: the compiled half of the `sagevec` Python package.
//!
//! Bindings only translate: arguments are read and checked with the GIL held,
//! and every call that computes or waits runs with the GIL released
//! (`py.detach`), so a pool of Python threads gets every core. Errors become
//! `ValueError` (bad input, a closed index), `TypeError` (wrong kind of
//! object), `KeyError` (an id that is not there), `RuntimeError` (environment)
//! or `OSError` (files of a durable index).
//!
//! - `kernels`: `sagevec.kernels` (distances, cdist, exact knn, ISA report) and
//!   `sagevec.topology`.
//! - `index`: `sagevec.Index`, the concurrent index, in memory or durable.
//! - `transaction`: `sagevec.Transaction`, writes made visible together.

use pyo3::prelude::*;

mod arrays;
mod errors;
mod index;
mod interrupt;
mod kernels;
mod metadata;
mod pool;
mod transaction;

/// The compiled core of `sagevec`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(kernels::active_isa, m)?)?;
    m.add_function(wrap_pyfunction!(kernels::available_isas, m)?)?;
    m.add_function(wrap_pyfunction!(kernels::distances, m)?)?;
    m.add_function(wrap_pyfunction!(kernels::cdist, m)?)?;
    m.add_function(wrap_pyfunction!(kernels::knn, m)?)?;
    m.add_function(wrap_pyfunction!(kernels::topology, m)?)?;
    m.add_class::<index::PyIndex>()?;
    m.add_class::<transaction::PyTransaction>()?;
    m.add_function(wrap_pyfunction!(index::restore_index, m)?)?;
    Ok(())
}
