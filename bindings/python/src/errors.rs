//! How Rust errors become Python exceptions.
//!
//! Bad input is a `ValueError` (a `TypeError` when the kind of object is wrong,
//! a `KeyError` for a missing id); a problem with the environment (the worker
//! pool could not be built) is a `RuntimeError`; a file problem of a durable
//! index (I/O failure, damaged file, lock held elsewhere) is an `OSError`
//! whose message names the file.

use pyo3::PyErr;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use sagevec_index::IndexError;

pub(crate) fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

pub(crate) fn type_error(e: impl std::fmt::Display) -> PyErr {
    PyTypeError::new_err(e.to_string())
}

pub(crate) fn runtime_error(e: impl std::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(e.to_string())
}

/// An index error as the exception Python callers expect.
pub(crate) fn index_error(e: IndexError) -> PyErr {
    match e {
        IndexError::Pool(_) => runtime_error(e),
        IndexError::Io { .. }
        | IndexError::Corrupt { .. }
        | IndexError::Locked { .. }
        | IndexError::UnsupportedFormat { .. }
        | IndexError::ReadOnly { .. }
        | IndexError::ConfigMismatch { .. } => PyOSError::new_err(e.to_string()),
        _ => value_error(e),
    }
}
