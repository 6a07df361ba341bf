//! # sagevec-kernels
//!
//! Distance kernels for vector search: squared L2, inner product and cosine, in
//! one-to-one, one-to-many (strided rows or a gathered id list) and many-to-many
//! (register-tiled, with top-k fused) shapes, hand-written for AVX2+FMA and
//! AVX-512 with a scalar reference, chosen at run time; rows may also be stored as
//! f16 and searched with an f32 query. Single-threaded, no dependencies beyond
//! `bytemuck` and `half`: other engines embed it.
//!
//! ## Backends
//!
//! | ISA (`SAGEVEC_ISA`) | needs (cpuid + OS XCR0) | f32 lanes | 1×1 accumulators | dot tile (queries × rows) | fused knn micro-kernel | tail |
//! |---|---|---|---|---|---|---|
//! | `scalar` | nothing | 1 | 1 (index order) | 1×1 | dot tile + scan | — |
//! | `avx2` | AVX2, FMA, F16C | 8 | 4 | 3×4 (12 acc.) | 6 queries × 16-row packed panel (12 acc.) | scalar loop |
//! | `avx512` | AVX-512 F, BW, VL (+AVX2, FMA, F16C) | 16 | 4 | 4×4 (16 acc.) | 8 queries × 32-row packed panel (16 acc.) | masked load |
//!
//! The best supported ISA is used unless `SAGEVEC_ISA=scalar|avx2|avx512` asks for
//! another; asking for one the host lacks is an error ([`IsaError`]), never undefined
//! behaviour. The baseline build contains no wide instruction outside functions
//! marked `#[target_feature]`, and those are reachable only through a
//! [`KernelTable`] handed out after detection.
//!
//! ## Numeric contract (f32)
//!
//! | element | accumulator | output | bound vs exact (u = 2⁻²⁴, γₙ = nu/(1-nu)) |
//! |---|---|---|---|
//! | f32 | f32 | f32 | dot: γₙ Σ\|aᵢbᵢ\|; l2sq: γₙ₊₂ Σ(aᵢ-bᵢ)²; cosine: parts as dot, finished in f64 |
//!
//! Many-to-many L2 uses `|q|² + |x|² - 2q·x`, whose error is relative to
//! `|q|² + |x|²` rather than to the distance (clamped at 0); this is what GEMM-based
//! exact search (faiss) does too. Subnormal results keep gradual underflow (no
//! flush-to-zero). `tests/parity.rs` checks each bound for every ISA.
//!
//! ## Stored f16 rows (f32 query)
//!
//! | row element | widening | accumulator | output | contract |
//! |---|---|---|---|---|
//! | f16 | exact (`vcvtph2ps`, 8 or 16 per load; scalar: `f16::to_f32`) | f32, as that ISA's f32 kernel | f32 | bit for bit the f32 kernel on the widened row |
//!
//! [`KernelTable::stored_distance`], [`stored_distances`](KernelTable::stored_distances)
//! and [`stored_distances_gather`](KernelTable::stored_distances_gather) run, on one
//! ISA, exactly the arithmetic of [`distance`](KernelTable::distance),
//! [`distances`](KernelTable::distances) and
//! [`distances_gather`](KernelTable::distances_gather) on the widened row (same
//! accumulators, order and tail; NaN results may differ in payload only), so the
//! f32 bounds above hold for the widened row. [`KernelTable::encode`] is
//! `f16(x · scale)` rounded to nearest even (`vcvtps2ph` with the rounding in the
//! immediate; overflow gives ±inf), bit for bit `half::f16::from_f32`: a relative
//! error of at most 2⁻¹¹ in f16's normal range, which [`f16_scale_for`] keeps the
//! rows in. `tests/stored.rs` checks both contracts for every ISA.
//!
//! ## Rows in never-moving chunks
//!
//! A growing index keeps rows in chunks that never move. `ChunkedRows` (a table of
//! chunk pointers, a rows-per-chunk shift, a row bound; validated once, `unsafe` to
//! make because it trusts the pointers) and `KernelTable::chunked_gather` give a
//! `ChunkedGather` whose kernel is resolved once: each neighbour list then costs
//! one indirect call, with no per-call check of the ids. Ids at or past the bound
//! give `+inf` and their rows are never read (`tests/guard.rs` proves it against
//! unmapped pages). L2 and inner product are bit for bit [`KernelTable::distance`]
//! on the row; cosine is what [`KernelTable::distances_gather`] gives (the query's
//! norm once per call), which may differ from the one-to-one cosine in the last
//! bits. Both types are `#[doc(hidden)]`: they serve the index crate.
//!
//! ## Non-finite input
//!
//! Kernels do not check for NaN or infinity (the index refuses them at insert):
//! NaN in gives NaN out, and infinities follow IEEE arithmetic, identically on
//! every ISA (the class — NaN, +inf, -inf or finite — matches the f64 reference).
//! In top-k, distances are ordered by `f32::total_cmp`, so NaN sorts last.
//! The many-to-many paths (`knn`, `dot_matrix`-based L2) use the norm expansion,
//! so with an infinite input they may give NaN where the one-to-one kernel gives
//! +inf (`inf + x - 2·inf`); a vector whose squared norm overflows f32 (components
//! beyond ~1.8e19) gives NaN under cosine in every path.
//!
//! ## Example
//!
//! ```
//! use sagevec_kernels::{kernels, Metric, Rows};
//!
//! let k = kernels(); // resolved once for this CPU
//! let a = [1.0f32, 2.0, 3.0];
//! let b = [1.0f32, 0.0, 3.0];
//! assert_eq!(k.distance(Metric::L2Sq, &a, &b).unwrap(), 4.0);
//! assert_eq!(k.distance(Metric::InnerProduct, &a, &b).unwrap(), -10.0);
//!
//! // One query against a matrix, then the exact 1-NN of two queries.
//! let base = [0.0f32, 0.0, 0.0, 1.0, 2.0, 3.0, 5.0, 5.0, 5.0];
//! let rows = Rows::contiguous(&base, 3).unwrap();
//! let mut out = [0.0f32; 3];
//! k.distances(Metric::L2Sq, &a, rows, &mut out).unwrap();
//! assert_eq!(out, [14.0, 0.0, 29.0]);
//!
//! let queries = Rows::contiguous(&[1.0f32, 2.0, 3.0, 4.0, 4.0, 4.0], 3).unwrap();
//! let (mut ids, mut dists) = ([0u64; 2], [0.0f32; 2]);
//! k.knn(Metric::L2Sq, queries, rows, None, 1, &mut ids, &mut dists).unwrap();
//! assert_eq!(ids, [1, 2]);
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod aligned;
mod chunked;
mod elem;
mod error;
mod family;
mod finalize;
mod isa;
mod knn;
mod metric;
pub mod probe;
mod rows;
pub mod scalar;
mod stored;
mod table;
mod topk;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use aligned::{ALIGN, AlignedMatrix, AlignedVec};
#[doc(hidden)]
pub use chunked::{ChunkedGather, ChunkedRows};
pub use elem::Element;
pub use error::KernelError;
pub use isa::{
    Caps, ISA_ENV, Isa, IsaError, active_isa, available_isas, require as require_isa,
    resolve as resolve_isa, try_active_isa,
};
pub use metric::{Metric, UnknownMetric};
pub use rows::Rows;
pub use stored::{F16_MAX, StoredElement, f16, f16_scale_for};
pub use table::{DistanceFn, Family, KernelTable, kernels, try_kernels};
pub use topk::{Neighbor, PAD_DISTANCE, PAD_ID, TopK, cmp_neighbors, smallest_k, total_order_key};

/// Squared Euclidean distance with the active ISA.
///
/// # Panics
/// If `SAGEVEC_ISA` is invalid (see [`kernels`]).
pub fn l2sq(a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
    kernels().distance(Metric::L2Sq, a, b)
}

/// Dot product `Σ aᵢbᵢ` with the active ISA (the inner-product *distance* is its negative).
///
/// # Panics
/// If `SAGEVEC_ISA` is invalid (see [`kernels`]).
pub fn dot(a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
    kernels().dot(a, b)
}

/// Cosine distance `1 - cos(a, b)` with the active ISA (1.0 if either is zero).
///
/// # Panics
/// If `SAGEVEC_ISA` is invalid (see [`kernels`]).
pub fn cosine_distance(a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
    kernels().distance(Metric::Cosine, a, b)
}

/// The distance under `metric` with the active ISA.
///
/// # Panics
/// If `SAGEVEC_ISA` is invalid (see [`kernels`]).
pub fn distance<T: Element>(metric: Metric, a: &[T::Query], b: &[T]) -> Result<f32, KernelError> {
    kernels().distance(metric, a, b)
}
