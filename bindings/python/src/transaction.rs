//! `sagevec.Transaction`: adds and removes collected, then made visible
//! together at one version by `commit()` (one log record on a durable index).
//!
//! The core `Transaction` sits in a mutex: a transaction is not a hot path, and
//! the class is frozen like `Index`. The mutex is only ever taken with the GIL
//! released (a commit in progress may hold it), and nothing waits for the GIL
//! while holding it. The index registers every open transaction so that
//! `close()` can discard them: each holds the core's internals, and with them
//! a durable index's directory lock.

use std::sync::{Arc, Mutex, Weak};

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use sagevec_index::{Committed, Transaction};

use crate::arrays::ids_from;
use crate::errors::{index_error, value_error};
use crate::index::{AddArgs, PyIndex, lock, py_id};

/// Where a transaction is in its life.
#[derive(Debug)]
enum TxState {
    /// Collecting operations.
    Open(Transaction),
    /// `commit()` succeeded.
    Committed(Committed),
    /// `rollback()` (or a `with` block that raised).
    RolledBack,
    /// `commit()` failed: nothing of it was applied.
    Failed,
    /// Its index was closed first.
    Discarded,
}

impl TxState {
    /// `state` as Python reports it.
    fn name(&self) -> &'static str {
        match self {
            TxState::Open(_) => "open",
            TxState::Committed(_) => "committed",
            TxState::RolledBack | TxState::Failed | TxState::Discarded => "rolled_back",
        }
    }

    /// Ended by a call of its own (`commit`, `rollback`), rather than by its
    /// index closing: what leaving a `with` block accepts silently.
    fn ended_by_user(&self) -> bool {
        matches!(
            self,
            TxState::Committed(_) | TxState::RolledBack | TxState::Failed
        )
    }

    /// The error for using a transaction that has ended.
    fn ended_error(&self) -> PyErr {
        value_error(match self {
            TxState::Open(_) => "this transaction is still open",
            TxState::Committed(_) => "this transaction was already committed; start a new one",
            TxState::RolledBack => "this transaction was rolled back; start a new one",
            TxState::Failed => {
                "this transaction's commit failed, so nothing of it was applied; start a new one"
            }
            TxState::Discarded => {
                "this transaction was discarded because its index was closed before the commit"
            }
        })
    }

    fn open_mut(&mut self) -> PyResult<&mut Transaction> {
        match self {
            TxState::Open(tx) => Ok(tx),
            other => Err(other.ended_error()),
        }
    }
}

/// A transaction's state, shared with its index's registry.
#[derive(Debug)]
pub(crate) struct TxSlot(Mutex<TxState>);

impl TxSlot {
    pub(crate) fn open(tx: Transaction) -> Arc<TxSlot> {
        Arc::new(TxSlot(Mutex::new(TxState::Open(tx))))
    }
}

/// Discards every open transaction of `registry` (call with the GIL
/// released: a commit in progress holds its slot).
pub(crate) fn discard(registry: &Mutex<Vec<Weak<TxSlot>>>) {
    let slots = std::mem::take(&mut *lock(registry));
    for slot in slots.iter().filter_map(Weak::upgrade) {
        let mut state = lock(&slot.0);
        if matches!(*state, TxState::Open(_)) {
            *state = TxState::Discarded;
        }
    }
}

fn committed_dict<'py>(py: Python<'py>, c: &Committed) -> PyResult<Bound<'py, PyDict>> {
    let added = PyList::empty(py);
    for ids in &c.added {
        added.append(PyArray1::from_vec(
            py,
            ids.iter().map(|&id| py_id(id)).collect(),
        ))?;
    }
    let d = PyDict::new(py);
    d.set_item("added", added)?;
    d.set_item("removed", c.removed)?;
    d.set_item("version", c.version)?;
    Ok(d)
}

/// A transaction on an ``Index``: adds and removes collected now, made visible
/// together by ``commit()``, at one version, in one log record on a durable
/// index (after a crash it is there whole or not at all). Readers never see
/// part of it, and nothing of it before the commit or after a rollback;
/// readers and writers are never blocked while it is being filled.
///
/// ``with index.transaction() as tx:`` commits when the block ends normally
/// and rolls back when it raises (the exception propagates). ``tx.result``
/// then holds what ``commit()`` returned.
///
/// ``add`` and ``remove`` take what ``Index.add`` and ``Index.remove`` take and
/// check it at once (a refused add raises and leaves the transaction as it
/// was); they return ``None``: auto-assigned ids are chosen at commit, and
/// ``commit()["added"][i]`` holds the ids of the ``i``-th add. A removal
/// applies to what is live at commit, including this transaction's earlier
/// adds. Using a transaction after it ended (committed, rolled back, a failed
/// commit, or its index closed) raises ``ValueError``.
#[pyclass(frozen, name = "Transaction", module = "sagevec._native")]
#[derive(Debug)]
pub(crate) struct PyTransaction {
    /// First, so that it is dropped before the index.
    slot: Arc<TxSlot>,
    index: Py<PyIndex>,
}

impl PyTransaction {
    pub(crate) fn new(slot: Arc<TxSlot>, index: Py<PyIndex>) -> Self {
        PyTransaction { slot, index }
    }

    /// Runs `f` on the state, with the GIL released (a commit in progress on
    /// another thread may hold the lock).
    fn with_state<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut TxState) -> R + Send) -> R {
        let slot = &self.slot;
        py.detach(move || f(&mut lock(&slot.0)))
    }

    /// Commits; when not `strict`, a transaction already ended by its own
    /// `commit`/`rollback` is left alone (`Ok(None)`).
    fn finish_commit(&self, py: Python<'_>, strict: bool) -> PyResult<Option<Committed>> {
        if !strict && self.with_state(py, |st| st.ended_by_user()) {
            return Ok(None);
        }
        let owner = self.index.get();
        // Held during the commit: `close()` waits for it.
        let index = owner.live()?;
        owner.writable()?;
        let done = self.with_state(py, |st| match std::mem::replace(st, TxState::Failed) {
            TxState::Open(tx) => match tx.commit() {
                Ok(c) => {
                    *st = TxState::Committed(c.clone());
                    Ok(Some(c))
                }
                Err(e) => Err(index_error(e)),
            },
            other => {
                let quiet = !strict && other.ended_by_user();
                let err = other.ended_error();
                *st = other;
                if quiet { Ok(None) } else { Err(err) }
            }
        });
        drop(index);
        done
    }

    /// Rolls back; when not `strict`, an ended transaction is left alone.
    fn finish_rollback(&self, py: Python<'_>, strict: bool) -> PyResult<()> {
        self.with_state(py, |st| match st {
            TxState::Open(_) => {
                *st = TxState::RolledBack;
                Ok(())
            }
            _ if !strict => Ok(()),
            other => Err(other.ended_error()),
        })
    }
}

#[pymethods]
impl PyTransaction {
    /// Queues an add: ``vectors``, ``ids`` and ``metadata`` as ``Index.add``
    /// takes them, checked now (``ValueError``/``TypeError``, and the
    /// transaction is unchanged). Returns ``None``: the ids (given or
    /// auto-assigned at commit) are in ``commit()["added"]``.
    #[pyo3(signature = (vectors, ids=None, metadata=None))]
    fn add<'py>(
        &self,
        py: Python<'py>,
        vectors: &Bound<'py, PyAny>,
        ids: Option<&Bound<'py, PyAny>>,
        metadata: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<()> {
        let dim = self.index.get().dimension();
        let mut args = AddArgs::read(dim, vectors, ids, metadata)?;
        let (ids, metadata) = (args.ids.take(), args.metadata.take());
        let data = args.rows(py)?;
        let data: &[f32] = &data;
        self.with_state(py, |st| {
            st.open_mut()?
                .add_batch(ids.as_deref(), data, metadata)
                .map_err(index_error)
        })
    }

    /// Queues a removal of ``ids`` (any integer sequence or array, or one
    /// int); ids not live at commit are skipped.
    fn remove(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<()> {
        let ids = ids_from(ids, "ids")?;
        self.with_state(py, |st| {
            st.open_mut()?.remove(&ids);
            Ok(())
        })
    }

    /// Operations queued (each ``add`` and ``remove`` call counts one).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.with_state(py, |st| Ok(st.open_mut()?.len()))
    }

    /// Makes every queued operation visible at once (GIL released) and returns
    /// ``{"added": [ids of each add, int64 arrays, in order], "removed": how
    /// many were live and are now gone, "version": the version at which all of
    /// it became visible}``. A failed commit (e.g. ``OSError`` writing the
    /// log) applies nothing and ends the transaction.
    fn commit<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let done = self
            .finish_commit(py, true)?
            .expect("a strict commit returns what it committed");
        committed_dict(py, &done)
    }

    /// Discards every queued operation.
    fn rollback(&self, py: Python<'_>) -> PyResult<()> {
        self.finish_rollback(py, true)
    }

    /// ``"open"``, ``"committed"`` or ``"rolled_back"`` (also after a failed
    /// commit, or when its index was closed first).
    #[getter]
    fn state(&self, py: Python<'_>) -> &'static str {
        self.with_state(py, |st| st.name())
    }

    /// What ``commit()`` returned, once committed (else ``None``).
    #[getter]
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let done = self.with_state(py, |st| match st {
            TxState::Committed(c) => Some(c.clone()),
            _ => None,
        });
        done.map(|c| committed_dict(py, &c)).transpose()
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        let py = slf.py();
        slf.get().with_state(py, |st| st.open_mut().map(|_| ()))?;
        Ok(slf)
    }

    /// Commits if the block ended normally, rolls back if it raised; a
    /// transaction the block committed or rolled back itself is left alone.
    /// Never suppresses the exception.
    #[pyo3(signature = (exc_type=None, _exc_value=None, _traceback=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if exc_type.is_none_or(|t| t.is_none()) {
            self.finish_commit(py, false)?;
        } else {
            self.finish_rollback(py, false)?;
        }
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let (state, ops) = self.with_state(py, |st| {
            let ops = match st {
                TxState::Open(tx) => tx.len(),
                _ => 0,
            };
            (st.name(), ops)
        });
        match state {
            "open" => format!("sagevec.Transaction(state='open', operations={ops})"),
            _ => format!("sagevec.Transaction(state='{state}')"),
        }
    }
}
