//! Index configuration and search parameters, validated before use.

use std::sync::Arc;

use sagevec_kernels::Metric;
use sagevec_scheduler::NumaPool;

use crate::durable::Durability;
use crate::error::IndexError;
use crate::graph::GraphParams;
use crate::metadata::Filter;

/// Largest vector dimension an index accepts.
pub const MAX_DIM: usize = 65_536;
/// Largest number of rows one `add_batch` (or transaction add) takes.
pub const MAX_BATCH_ROWS: usize = 1 << 26;
/// Largest id an index stores: ids live in `[0, 2^63)`.
pub const MAX_ID: u64 = (1 << 63) - 1;
/// Largest `k` or `ef` a search accepts.
pub const MAX_K: usize = 1 << 20;

fn invalid(name: &'static str, reason: impl Into<String>) -> IndexError {
    IndexError::InvalidParameter {
        name,
        reason: reason.into(),
    }
}

/// How an [`Index`](crate::Index) is built. Start from [`IndexConfig::new`] and
/// set fields; [`Index::new`](crate::Index::new) validates everything.
/// Non-exhaustive: later versions may add fields (with defaults in `new`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IndexConfig {
    /// Vector dimension, `1..=65536`.
    pub dim: usize,
    /// Distance: smaller is closer (see the design's *Semantics*).
    pub metric: Metric,
    /// Parameters of the index's graph.
    pub graph: GraphParams,
    /// Default beam width of graph searches (`SearchParams::ef` overrides it).
    pub ef_search: usize,
    /// When removed (and replaced) rows exceed this fraction of the graph's slots,
    /// the builder rebuilds the graph without them in the background.
    pub max_deleted_fraction: f64,
    /// Workers for batch search and graph builds (the process-wide pool if `None`).
    pub pool: Option<Arc<NumaPool>>,
    /// When a durable index ([`Index::open`](crate::Index::open)) syncs its log
    /// (ignored in memory).
    pub durability: Durability,
    /// Log bytes after which the builder checkpoints a durable index (writes
    /// the graph's new rows and links and a new manifest, starts a new log).
    pub checkpoint_bytes: u64,
}

impl IndexConfig {
    /// Defaults for `dim` and `metric`: M = 16, ef_construction = 200,
    /// ef_search = 64, rebuild once 30% of the slots are removed rows.
    pub fn new(dim: usize, metric: Metric) -> Self {
        IndexConfig {
            dim,
            metric,
            graph: GraphParams::default(),
            ef_search: 64,
            max_deleted_fraction: 0.3,
            pool: None,
            durability: Durability::EveryWrite,
            checkpoint_bytes: 64 << 20,
        }
    }

    /// Checks every field; the first problem found is the error.
    pub fn validate(&self) -> Result<(), IndexError> {
        if !(1..=MAX_DIM).contains(&self.dim) {
            return Err(invalid(
                "dim",
                format!("{} is outside 1..={MAX_DIM}", self.dim),
            ));
        }
        if !<f32 as sagevec_kernels::Element>::METRICS.contains(&self.metric) {
            return Err(invalid(
                "metric",
                format!("{} is not a metric of f32 vectors", self.metric),
            ));
        }
        self.graph.validate()?;
        if !(1..=MAX_K).contains(&self.ef_search) {
            return Err(invalid(
                "ef_search",
                format!("{} is outside 1..={MAX_K}", self.ef_search),
            ));
        }
        if !(self.max_deleted_fraction > 0.0 && self.max_deleted_fraction <= 1.0) {
            return Err(invalid(
                "max_deleted_fraction",
                format!("{} is outside (0, 1]", self.max_deleted_fraction),
            ));
        }
        if self.durability == Durability::Periodic(std::time::Duration::ZERO) {
            return Err(invalid(
                "durability",
                "a periodic sync interval must be above 0",
            ));
        }
        Ok(())
    }
}

/// What a search asks for. Start from [`SearchParams::new`] and chain the
/// setters; non-exhaustive: later versions may add fields.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SearchParams {
    /// Results wanted, `1..=2^20`; fewer live rows than `k` pads the rest.
    pub k: usize,
    /// Beam width of graph search (`None`: the index's `ef_search`); raised to `k`
    /// when smaller.
    pub ef: Option<usize>,
    /// Scan every row instead of walking graphs.
    pub exact: bool,
    /// Only rows this filter admits.
    pub filter: Option<Filter>,
    /// Return each hit's metadata (single-query search only).
    pub include_metadata: bool,
}

impl SearchParams {
    /// The `k` nearest, default beam, no filter.
    pub fn new(k: usize) -> Self {
        SearchParams {
            k,
            ef: None,
            exact: false,
            filter: None,
            include_metadata: false,
        }
    }

    /// Sets `exact`.
    pub fn exact(mut self, exact: bool) -> Self {
        self.exact = exact;
        self
    }

    /// Sets `ef`.
    pub fn ef(mut self, ef: usize) -> Self {
        self.ef = Some(ef);
        self
    }

    /// Sets the filter.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Sets `include_metadata`.
    pub fn include_metadata(mut self, yes: bool) -> Self {
        self.include_metadata = yes;
        self
    }

    /// Checks `k` and `ef`, and returns the beam width to use.
    pub(crate) fn validate(&self, default_ef: usize) -> Result<usize, IndexError> {
        if self.k == 0 {
            return Err(IndexError::ZeroK);
        }
        if self.k > MAX_K {
            return Err(invalid("k", format!("{} is above {MAX_K}", self.k)));
        }
        let ef = self.ef.unwrap_or(default_ef);
        if !(1..=MAX_K).contains(&ef) {
            return Err(invalid("ef", format!("{ef} is outside 1..={MAX_K}")));
        }
        Ok(ef.max(self.k))
    }
}
