//! Reading numpy arrays and Python integers.
//!
//! Float inputs: a float32, C-contiguous, aligned array is read in place; any other
//! float array (other dtype, byte order, strides) or nested list is converted once
//! with numpy; anything else (ints, bools, strings, objects) is a `TypeError`.
//! Ids: any integer array or sequence; every id must lie in `[0, 2^63)`.

use numpy::{
    PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFrozenSet, PyInt, PyList, PySet};
use sagevec_index::MAX_ID;

use crate::errors::{type_error, value_error};

fn numpy_attr<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    cell.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("numpy")?.getattr(name)?.unbind())
    })
    .map(|f| f.bind(py).clone())
}

/// `numpy.asarray(obj)` (no copy for an array).
fn asarray<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        return Ok(a.clone());
    }
    static ASARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let arr = numpy_attr(obj.py(), &ASARRAY, "asarray")?.call1((obj,))?;
    Ok(arr.cast_into::<PyUntypedArray>()?)
}

/// `arr` as a C-contiguous, aligned array of `dtype`: a fresh array unless it
/// already is one (`numpy.ascontiguousarray`, then a copy if that kept a
/// misaligned buffer).
fn contiguous_as<'py>(
    arr: &Bound<'py, PyUntypedArray>,
    dtype: &str,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    static CONTIGUOUS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let out = numpy_attr(arr.py(), &CONTIGUOUS, "ascontiguousarray")?
        .call1((arr, dtype))?
        .cast_into::<PyUntypedArray>()?;
    if out.is_aligned() {
        return Ok(out);
    }
    Ok(out.call_method0("copy")?.cast_into::<PyUntypedArray>()?)
}

/// A float array as it will be read: float32, C-contiguous, aligned.
pub(crate) struct F32Array<'py> {
    /// The array (the caller's own, or a converted copy).
    pub(crate) array: Bound<'py, PyArrayDyn<f32>>,
    /// Whether `array` is a copy made here, which no other code can reach (so
    /// reading it without the GIL cannot race with a writer).
    pub(crate) fresh: bool,
}

/// `obj` as a float32 C-contiguous array: in place when it already is one,
/// otherwise converted once (other float dtypes, strides, byte orders, lists).
/// Non-float input is a `TypeError` naming `what` and `expected` (a shape).
pub(crate) fn f32_array<'py>(
    obj: &Bound<'py, PyAny>,
    what: &str,
    expected: impl Fn() -> String,
) -> PyResult<F32Array<'py>> {
    if let Ok(a) = obj.cast::<PyArrayDyn<f32>>()
        && a.is_c_contiguous()
        && a.is_aligned()
    {
        return Ok(F32Array {
            array: a.clone(),
            fresh: false,
        });
    }
    let arr = asarray(obj)?;
    let dtype = arr.dtype();
    if dtype.kind() != b'f' {
        return Err(type_error(format!(
            "{what} must be a float array of shape {} (float32 is read in place), got dtype {}",
            expected(),
            dtype
        )));
    }
    let converted = contiguous_as(&arr, "float32")?.cast_into::<PyArrayDyn<f32>>()?;
    let fresh = !converted.is(obj);
    Ok(F32Array {
        array: converted,
        fresh,
    })
}

fn is_int_like(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyInt>() || obj.hasattr("__index__").unwrap_or(false)
}

/// A non-negative integer argument (`k`, `ef`, `dim`, ...) as `usize`: negative
/// values are a `ValueError` naming the argument.
pub(crate) fn nonneg(v: i64, name: &str) -> PyResult<usize> {
    usize::try_from(v)
        .map_err(|_| value_error(format!("{name} must be a non-negative integer, got {v}")))
}

/// One id: a `TypeError` if not an integer, a `ValueError` outside `[0, 2^63)`.
pub(crate) fn one_id(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if obj.is_instance_of::<PyBool>() || !is_int_like(obj) {
        return Err(type_error(format!(
            "an id must be an integer, got {}",
            obj.get_type().name()?
        )));
    }
    match obj.extract::<u64>() {
        Ok(id) if id <= MAX_ID => Ok(id),
        _ => Err(value_error(format!("id {obj} is outside [0, 2^63)"))),
    }
}

/// The error for one bad element of an id collection, naming the collection.
fn set_item_error(e: PyErr, item: &Bound<'_, PyAny>, what: &str) -> PyErr {
    if e.is_instance_of::<pyo3::exceptions::PyTypeError>(item.py()) {
        type_error(format!("{what} must hold integers, got {item:?}"))
    } else {
        value_error(format!("{what}: id {item} is outside [0, 2^63)"))
    }
}

fn check_ids(ids: impl Iterator<Item = i128>, what: &str) -> PyResult<Vec<u64>> {
    ids.map(|id| {
        u64::try_from(id)
            .ok()
            .filter(|&v| v <= MAX_ID)
            .ok_or_else(|| value_error(format!("{what}: id {id} is outside [0, 2^63)")))
    })
    .collect()
}

/// Ids from any integer array, sequence or scalar (flattened from 0-D or 1-D):
/// every one in `[0, 2^63)` (`ValueError`); non-integers are a `TypeError`.
pub(crate) fn ids_from(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u64>> {
    if let Ok(a) = obj.cast::<PyArray1<i64>>()
        && a.is_aligned()
    {
        let r = a.try_readonly().map_err(value_error)?;
        return check_ids(r.as_array().iter().map(|&v| i128::from(v)), what);
    }
    if obj.is_instance_of::<PySet>() || obj.is_instance_of::<PyFrozenSet>() {
        return obj
            .try_iter()?
            .map(|item| {
                let item = item?;
                one_id(&item).map_err(|e| set_item_error(e, &item, what))
            })
            .collect();
    }
    let arr = asarray(obj)?;
    if arr.ndim() > 1 {
        return Err(value_error(format!(
            "{what} must be a 1-D sequence of ids, got shape {:?}",
            arr.shape()
        )));
    }
    if arr.len() == 0 {
        return Ok(Vec::new());
    }
    let kind = arr.dtype().kind();
    match kind {
        b'i' | b'u' => {
            let dtype = if kind == b'i' { "int64" } else { "uint64" };
            let flat = contiguous_as(&arr, dtype)?.call_method1("reshape", (-1,))?;
            if kind == b'i' {
                let a = flat.cast_into::<PyArray1<i64>>()?;
                let r = a.try_readonly().map_err(value_error)?;
                check_ids(r.as_array().iter().map(|&v| i128::from(v)), what)
            } else {
                let a = flat.cast_into::<PyArray1<u64>>()?;
                let r = a.try_readonly().map_err(value_error)?;
                check_ids(r.as_array().iter().map(|&v| i128::from(v)), what)
            }
        }
        // Object arrays, and sequences numpy did not read as integers (Python
        // ints beyond int64 become float64 or objects): one at a time, so each
        // element gets its own verdict (ValueError out of range, else TypeError).
        _ if kind == b'O' || !obj.is_instance_of::<PyUntypedArray>() => {
            let items = if obj.is_instance_of::<PyUntypedArray>() {
                arr.call_method1("reshape", (-1,))?.call_method0("tolist")?
            } else if arr.ndim() == 0 {
                PyList::new(obj.py(), [obj])?.into_any()
            } else {
                obj.clone()
            };
            items
                .try_iter()?
                .map(|item| {
                    let item = item?;
                    one_id(&item).map_err(|e| set_item_error(e, &item, what))
                })
                .collect()
        }
        _ => Err(type_error(format!(
            "{what} must be integers (an int array or a sequence of ints), got dtype {}",
            arr.dtype()
        ))),
    }
}
