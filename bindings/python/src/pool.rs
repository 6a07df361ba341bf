//! Worker pools for `threads=` arguments, built once per size and shared.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::PyResult;
use sagevec_scheduler::{NumaPool, Policy, Topology, plan};

use crate::errors::{runtime_error, value_error};

/// The pool for `threads` workers (`None`: the process-wide pool), built once.
pub(crate) fn pool(threads: Option<usize>) -> PyResult<Arc<NumaPool>> {
    static WIDE: OnceLock<Result<Arc<NumaPool>, String>> = OnceLock::new();
    static CAPPED: OnceLock<Mutex<HashMap<usize, Arc<NumaPool>>>> = OnceLock::new();
    match threads {
        None => WIDE
            .get_or_init(|| {
                NumaPool::from_env()
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(runtime_error),
        Some(0) => Err(value_error(
            "threads must be at least 1 (or None for all cores)",
        )),
        Some(n) => {
            let mut cache = CAPPED
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(p) = cache.get(&n) {
                return Ok(Arc::clone(p));
            }
            let topo = Topology::from_env().map_err(runtime_error)?;
            let policy = Policy::from_env()
                .map_err(runtime_error)?
                .with_max_threads(n);
            let built = plan(&topo, &policy)
                .and_then(NumaPool::new)
                .map(Arc::new)
                .map_err(runtime_error)?;
            cache.insert(n, Arc::clone(&built));
            Ok(built)
        }
    }
}
