//! # sagevec-index
//!
//! The index layer of sagevec. This first part holds what the snapshot-swap index
//! (see the design's *index* section) is built on:
//!
//! - [`BatchResults`]: one 64-byte-aligned, line-padded row of ids and of distances
//!   per query, so workers filling neighbouring queries never share a cache line;
//!   missing results are `u64::MAX` / `+inf`.
//! - [`knn`]: exact batch search over a plain matrix on every worker of a
//!   [`NumaPool`](sagevec_scheduler::NumaPool) (or the caller's thread with
//!   `Par::Seq`), using the kernels' fused many-to-many top-k.
//!
//! ```
//! use sagevec_index::{BatchResults, knn};
//! use sagevec_kernels::{Metric, Rows};
//! use sagevec_scheduler::Par;
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

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod arena;
mod builder;
mod config;
pub mod docs;
mod error;
mod exact;
pub mod graph;
mod index;
mod metadata;
mod results;
mod segment;
mod shared;
mod snapshot;
mod stats;

pub use config::{IndexConfig, MAX_DIM, MAX_ID, MAX_K, MAX_SEGMENT_ROWS, SearchParams};
pub use error::IndexError;
pub use exact::knn;
pub use graph::GraphParams;
pub use index::{Index, Removed, Written};
pub use metadata::{Filter, Metadata, Value};
pub use results::BatchResults;
pub use snapshot::{Hit, Hits, Record, Snapshot};
pub use stats::{IndexStats, LatencySummary, MemoryBytes, SegmentCounts};
