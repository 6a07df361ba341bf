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

/// The errno of an I/O error kind, where Python has an `OSError` subclass
/// for it (`OSError(errno, ...)` picks the subclass).
fn errno(kind: std::io::ErrorKind) -> Option<i32> {
    use std::io::ErrorKind as K;
    Some(match kind {
        K::NotFound => 2,
        K::PermissionDenied => 13,
        K::AlreadyExists | K::DirectoryNotEmpty => 17,
        K::NotADirectory => 20,
        K::IsADirectory => 21,
        K::StorageFull => 28,
        K::ReadOnlyFilesystem => 30,
        _ => return None,
    })
}

/// An index error as the exception Python callers expect.
pub(crate) fn index_error(e: IndexError) -> PyErr {
    match e {
        IndexError::Pool(_) | IndexError::Spawn { .. } => runtime_error(e),
        // With errno and filename: `FileExistsError` for a save into a
        // directory that is not empty, `FileNotFoundError`, ...
        IndexError::Io { kind, ref path, .. } if errno(kind).is_some() => {
            let path = path.clone();
            PyOSError::new_err((errno(kind), e.to_string(), path))
        }
        IndexError::Io { .. }
        | IndexError::Corrupt { .. }
        | IndexError::Locked { .. }
        | IndexError::UnsupportedFormat { .. }
        | IndexError::ReadOnly { .. }
        | IndexError::ConfigMismatch { .. } => PyOSError::new_err(e.to_string()),
        _ => value_error(e),
    }
}
