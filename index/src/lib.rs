//! # sagevec-index
//!
//! The index layer of sagevec: a concurrent vector index whose readers never
//! lock and never wait (see the design's *index* and *Semantics* sections, and
//! [`docs::concurrency`] for the guarantees).
//!
//! - [`Index`]: one live HNSW graph ([`graph`]'s insertion, on never-moving
//!   chunks of slots) that writers insert into while readers walk it. Readers load
//!   one [`Snapshot`] per call through `ArcSwap` (no lock, no wait); a snapshot
//!   bounds which slots a search may return. Writers reserve slots under a short
//!   lock, insert with no lock held (concurrently; large batches on every worker),
//!   and publish in order. A background builder compacts removed rows away,
//!   repairs reachability and checkpoints durable indexes. `batch_search` runs one
//!   snapshot across every worker of a [`NumaPool`] into a [`BatchResults`].
//! - [`BatchResults`]: one 64-byte-aligned, line-padded row of ids and of distances
//!   per query, so workers filling neighbouring queries never share a cache line;
//!   missing results are `u64::MAX` / `+inf`.
//! - [`knn`]: exact batch search over a plain matrix on every worker (or the
//!   caller's thread with `Par::Seq`), using the kernels' fused many-to-many
//!   top-k: what faiss's `IndexFlat` is used for.
//!
//! [`Metric`], [`Rows`], [`Par`] and [`NumaPool`] (and the error types an
//! [`IndexError`] wraps) are re-exported from the kernel and scheduler crates,
//! so this crate is the one dependency an index user needs.
//!
//! ```
//! use sagevec_index::{Filter, Index, IndexConfig, Metric, SearchParams};
//!
//! let index = Index::new(IndexConfig::new(2, Metric::L2Sq))?;
//! let written = index.add_batch(None, &[0.0, 0.0, 1.0, 1.0, 5.0, 5.0], None)?;
//! assert_eq!(written.ids, [0, 1, 2]);
//! index.remove(&[1])?;
//! let hits = index.search(&[0.9, 1.2], &SearchParams::new(2))?;
//! assert_eq!(hits.hits.iter().map(|h| h.id).collect::<Vec<_>>(), [0, 2]);
//! let only_2 = SearchParams::new(2).filter(Filter::ids([2]));
//! assert_eq!(index.search(&[0.0, 0.0], &only_2)?.hits[0].id, 2);
//! # Ok::<(), sagevec_index::IndexError>(())
//! ```
//!
//! Exact batch search over a plain matrix:
//!
//! ```
//! use sagevec_index::{BatchResults, Metric, Par, Rows, knn};
//!
//! let base = [0.0f32, 0.0, 1.0, 1.0, 5.0, 5.0];
//! let queries = [0.9f32, 1.2, 4.0, 4.0];
//! let mut out = BatchResults::new(2, 2)?;
//! knn(
//!     Metric::L2Sq,
//!     Rows::contiguous(&queries, 2)?,
//!     Rows::contiguous(&base, 2)?,
//!     None,
//!     2,
//!     Par::Seq,
//!     &mut out,
//! )?;
//! assert_eq!(out.ids(0), &[1, 0]);
//! assert_eq!(out.ids(1), &[2, 1]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

//! ## Test hooks
//!
//! Fault injection for tests and benches lives behind the `test-hooks` cargo
//! feature and is not a stable API: `Index::abandon` (drop as a killed process
//! would), `Index::inject_builder_panics`, `Index::break_publish_order`,
//! `Index::unreachable_ids`, `Index::open_with_storage` with the `durable::io`
//! module (its `SimStorage` models power loss and full disks) and
//! `durable::crash_at`. Without the feature these items do not exist (this page,
//! built without it, does not list them) and the write and checkpoint paths check
//! no hook. This crate's own tests and `sagevec-benches` enable it.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod builder;
mod config;
pub mod docs;
pub mod durable;
mod error;
mod exact;
pub mod graph;
mod index;
mod live;
mod metadata;
mod results;
mod search;
mod shared;
mod snapshot;
mod stats;
mod sync;
mod write;

// What users of the index need from the layers below, so that this crate is the
// one dependency they add.
pub use sagevec_kernels::{IsaError, KernelError, Metric, Rows, UnknownMetric};
pub use sagevec_scheduler::{NumaPool, Par, SchedError};

pub use config::{IndexConfig, MAX_BATCH_ROWS, MAX_DIM, MAX_ID, MAX_K, SearchParams};
pub use durable::Durability;
pub use error::IndexError;
pub use exact::{knn, squared_norms};
pub use graph::GraphParams;
pub use index::{Index, Removed, Written};
pub use metadata::{Filter, Metadata, Value};
pub use results::BatchResults;
pub use snapshot::{Export, Hit, Hits, Record, Snapshot};
pub use stats::{GraphCounts, IndexStats, LatencySummary, MemoryBytes};
pub use write::{Committed, Transaction};
