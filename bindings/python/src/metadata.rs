//! Metadata records and filters between Python and the index.
//!
//! A record is a dict of `str` keys to `str`, `int` (64-bit), `float` or `bool`
//! values (numpy scalars of those kinds too). Equality in filters is typed, so a
//! Python `bool` is checked before `int` (`bool` is an `int` subclass) and
//! `1 == 1.0` does not match.

use std::collections::HashSet;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString, PyType};
use sagevec_index::{Filter, Metadata, Value};

use crate::arrays::ids_from;
use crate::errors::{type_error, value_error};

/// numpy's abstract scalar types (`bool_`, `integer`, `floating`).
fn numpy_type<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, "numpy", name)
}

fn value_from_py(v: &Bound<'_, PyAny>, key: &str) -> PyResult<Value> {
    let py = v.py();
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(Value::Str(v.extract()?));
    }
    if v.is_instance_of::<PyInt>() {
        return v.extract::<i64>().map(Value::Int).map_err(|_| {
            value_error(format!(
                "metadata value {key:?}: {v} does not fit a 64-bit signed integer"
            ))
        });
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    static NP_BOOL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static NP_INTEGER: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static NP_FLOATING: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    if v.is_instance(numpy_type(py, &NP_BOOL, "bool_")?)? {
        return Ok(Value::Bool(v.is_truthy()?));
    }
    if v.is_instance(numpy_type(py, &NP_INTEGER, "integer")?)? {
        return v.extract::<i64>().map(Value::Int).map_err(|_| {
            value_error(format!(
                "metadata value {key:?}: {v} does not fit a 64-bit signed integer"
            ))
        });
    }
    if v.is_instance(numpy_type(py, &NP_FLOATING, "floating")?)? {
        return Ok(Value::Float(v.extract::<f64>()?));
    }
    Err(type_error(format!(
        "metadata value {key:?} must be str, int, float or bool, got {}",
        v.get_type().name()?
    )))
}

fn pairs_from_dict(d: &Bound<'_, PyDict>) -> PyResult<Vec<(String, Value)>> {
    d.iter()
        .map(|(k, v)| {
            let key: String = k.extract().map_err(|_| {
                type_error(format!("metadata keys must be str, got {:?}", k.get_type()))
            })?;
            let value = value_from_py(&v, &key)?;
            Ok((key, value))
        })
        .collect()
}

/// One record: a dict, or `None` for no record.
fn record_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Option<Metadata>> {
    if obj.is_none() {
        return Ok(None);
    }
    let d = obj.cast::<PyDict>().map_err(|_| {
        type_error(format!(
            "each metadata entry must be a dict or None, got {}",
            obj.get_type()
        ))
    })?;
    Ok(Some(pairs_from_dict(d)?.into_iter().collect()))
}

/// The `metadata=` argument of `add`: `None`, a list of dicts/None (one per
/// vector), or, for a single (1-D) vector, one dict.
pub(crate) fn records_from_py(
    obj: Option<&Bound<'_, PyAny>>,
    single: bool,
) -> PyResult<Option<Vec<Option<Metadata>>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    if obj.is_instance_of::<PyDict>() {
        if single {
            return Ok(Some(vec![record_from_py(obj)?]));
        }
        return Err(type_error(
            "metadata must be a list with one dict (or None) per vector",
        ));
    }
    if obj.is_instance_of::<PyString>() {
        return Err(type_error("metadata must be a list of dicts, got str"));
    }
    obj.try_iter()
        .map_err(|_| type_error("metadata must be a list of dicts (one per vector)"))?
        .map(|item| record_from_py(&item?))
        .collect::<PyResult<Vec<_>>>()
        .map(Some)
}

fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Str(s) => s.into_pyobject(py)?.into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(x) => x.into_pyobject(py)?.into_any(),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
    })
}

/// A record as a dict (`None` when the vector has none).
pub(crate) fn record_to_py<'py>(
    py: Python<'py>,
    m: Option<&Metadata>,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(m) = m else {
        return Ok(py.None().into_bound(py));
    };
    let d = PyDict::new(py);
    for (k, v) in m {
        d.set_item(k, value_to_py(py, v)?)?;
    }
    Ok(d.into_any())
}

/// The `filter=` argument: `None`, a dict of metadata equalities (all must
/// hold), or a sequence/array of allowed ids.
pub(crate) fn filter_from_py(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Filter>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(Some(Filter::Equals(pairs_from_dict(d)?)));
    }
    let ids = ids_from(obj, "filter").map_err(|e| {
        if e.is_instance_of::<pyo3::exceptions::PyTypeError>(obj.py()) {
            type_error(format!(
                "filter must be a dict of metadata equalities or a sequence of ids: {}",
                e.value(obj.py())
            ))
        } else {
            e
        }
    })?;
    Ok(Some(Filter::Ids(ids.into_iter().collect::<HashSet<u64>>())))
}
