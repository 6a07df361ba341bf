//! What every snapshot of one index shares: its fixed settings, counters and
//! latency histogram, and its worker pool.

use std::sync::Arc;

use sagevec_kernels::Metric;
use sagevec_scheduler::{NumaPool, Par};

use crate::config::IndexConfig;
use crate::error::IndexError;
use crate::stats::{Counters, LatencyHistogram};

/// Fixed settings and shared instruments of one index.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dim: usize,
    /// The metric users asked for.
    pub(crate) metric: Metric,
    /// The metric the graph and scans compute: inner product on unit vectors for cosine
    /// (1 - cos = 1 + (-q.x)), so graphs and scans skip the norms.
    pub(crate) internal_metric: Metric,
    pub(crate) ef_search: usize,
    pub(crate) max_deleted_fraction: f64,
    pool: Option<Arc<NumaPool>>,
    /// The configuration the index was made with.
    config: IndexConfig,
    pub(crate) counters: Counters,
    pub(crate) latency: LatencyHistogram,
}

impl Shared {
    pub(crate) fn new(config: &IndexConfig) -> Self {
        Shared {
            dim: config.dim,
            metric: config.metric,
            internal_metric: match config.metric {
                Metric::Cosine => Metric::InnerProduct,
                m => m,
            },
            ef_search: config.ef_search,
            max_deleted_fraction: config.max_deleted_fraction,
            pool: config.pool.clone(),
            config: config.clone(),
            counters: Counters::default(),
            latency: LatencyHistogram::new(),
        }
    }

    /// The configuration the index was made with.
    pub(crate) fn config(&self) -> IndexConfig {
        self.config.clone()
    }

    /// The pool batch work runs on (built on first use when none was given).
    pub(crate) fn par(&self) -> Result<Par<'_>, IndexError> {
        match &self.pool {
            Some(p) => Ok(Par::Pool(p)),
            None => Ok(Par::Pool(NumaPool::process_wide()?)),
        }
    }

    /// Checks a vector to be stored or searched: dimension, finite values, and
    /// under cosine a non-zero norm. Under cosine it writes the unit vector into
    /// `unit` (resized); otherwise `unit` is untouched. `row` names it in errors.
    pub(crate) fn check_vector(
        &self,
        v: &[f32],
        row: usize,
        unit: &mut Vec<f32>,
    ) -> Result<(), IndexError> {
        if v.len() != self.dim {
            return Err(IndexError::DimensionMismatch {
                expected: self.dim,
                got: v.len(),
            });
        }
        if !all_finite(v) {
            return Err(IndexError::NonFinite { row });
        }
        if self.metric == Metric::Cosine {
            let norm2: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            if norm2 == 0.0 {
                return Err(IndexError::ZeroVector { row });
            }
            let inv = 1.0 / norm2.sqrt();
            unit.clear();
            unit.extend(v.iter().map(|&x| (f64::from(x) * inv) as f32));
        }
        Ok(())
    }

    /// [`check_vector`](Self::check_vector) for a query.
    pub(crate) fn check_query(&self, q: &[f32], unit: &mut Vec<f32>) -> Result<(), IndexError> {
        self.check_vector(q, 0, unit)
    }

    /// The distance a user sees for an internal one.
    #[inline]
    pub(crate) fn report_distance(&self, d: f32) -> f32 {
        if self.metric == Metric::Cosine && d.is_finite() {
            1.0 + d
        } else {
            d
        }
    }
}

/// Whether every element is finite. Branch-free within 64-element blocks so the
/// compiler vectorises it: it runs on every query, and an element-by-element
/// early exit cost about a microsecond per 784-d query.
#[inline]
pub(crate) fn all_finite(v: &[f32]) -> bool {
    v.chunks(64)
        .all(|block| block.iter().fold(true, |ok, x| ok & x.is_finite()))
}
