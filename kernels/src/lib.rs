//! # sagevec-kernels
//!
//! Distance kernels for vector search over one family of row element types (f32,
//! f16, bf16, i8, u8 and packed bits), in one-to-one, one-to-many (strided rows, a
//! gathered id list, or rows in never-moving chunks) and many-to-many
//! (register-tiled, with top-k fused) shapes, hand-written for AVX2+FMA and
//! AVX-512 (with VNNI and VPOPCNTDQ paths) with a scalar reference, chosen at run
//! time. Single-threaded, no dependencies beyond `bytemuck` and `half`: other
//! engines embed it.
//!
//! ## The family: one trait, one table, one set of methods
//!
//! Every row type is an [`Element`] naming the query type it pairs with and the
//! metrics it has. [`kernels()`] (or [`try_kernels()`]) gives the [`KernelTable`]
//! of the active ISA, and the same generic methods serve every member:
//!
//! | method | shape | members |
//! |---|---|---|
//! | [`distance`](KernelTable::distance), [`distance_fn`](KernelTable::distance_fn) | `T::Query` × one `T` row | all |
//! | [`distances`](KernelTable::distances) | one query × every row of [`Rows<T>`] | all |
//! | [`distances_gather`](KernelTable::distances_gather) | one query × the rows listed by id | all |
//! | `chunked_gather` (hidden, for the index) | one query × ids into rows in chunks, no per-call checks | all |
//! | [`squared_norms`](KernelTable::squared_norms), [`dot_matrix`](KernelTable::dot_matrix), [`knn`](KernelTable::knn), [`knn_accumulate`](KernelTable::knn_accumulate) | many × many (queries are rows of `T`) | f32, bf16, i8, u8 |
//! | [`encode`](KernelTable::encode), [`decode`](KernelTable::decode) | f32 ↔ `T` | [`StoredElement`]: f16, bf16 |
//! | [`scaled_distance`](KernelTable::scaled_distance), [`scaled_distances`](KernelTable::scaled_distances), `scaled_gather` | an f32 [`ScaledQuery`] × codes `sᵢ·xᵢ + oᵢ` | [`Quantized`]: i8, u8 |
//!
//! | row `T` | `T::Query` | metrics ([`Element::METRICS`]) | accumulator → output | contract |
//! |---|---|---|---|---|
//! | `f32` | `f32` | l2, ip, cosine | f32 → f32 | dot: γₙ Σ\|aᵢbᵢ\|; l2: γₙ₊₂ Σ(aᵢ-bᵢ)²; cosine: parts as dot, finished in f64 (u = 2⁻²⁴, γₙ = nu/(1-nu)) |
//! | `f16` | `f32` | l2, ip, cosine | row widened exactly, then f32 → f32 | bit for bit the f32 kernel of the same ISA on the widened row |
//! | `bf16` | `f32` | l2, ip, cosine | row widened exactly (a 16-bit shift), then f32 → f32 | bit for bit the f32 kernel of the same ISA on the widened row |
//! | `i8`, `u8` | same type | l2, ip | i32 lanes in blocks of 2¹⁵ elements, then i64 → f32 | the exact integer, rounded once; no overflow below 2⁴⁷ elements |
//! | [`Bits64`] | `Bits64` | hamming, jaccard | u64 popcounts → f32 | exact counts; Jaccard in f64, rounded once |
//! | i8/u8 codes (scaled) | f32 [`ScaledQuery`] | l2, ip | f32 → f32 | bound in [`ScaledQuery`]'s module docs, checked against f64 |
//!
//! Asking a type for a metric it lacks is [`KernelError::UnsupportedMetric`] (the
//! handle constructors `distance_fn` and `chunked_gather`, which return no `Result`,
//! panic instead: check `T::METRICS` first). Many-to-many L2 uses
//! `|q|² + |x|² - 2q·x`, whose error is relative to `|q|² + |x|²` rather than to the
//! distance (clamped at 0); this is what GEMM-based exact search (faiss) does too.
//! For integer rows the dots and norms are exact and only the combination rounds;
//! bf16 many-to-many dots are within γₙ₊₁ Σ\|aᵢbᵢ\| (AVX-512 BF16 `vdpbf16ps` where
//! present, whose fixed DAZ/FTZ also drops subnormal terms; else widened FMA).
//! Subnormal results keep gradual underflow (no flush-to-zero). `encode` rounds to
//! nearest even, bit for bit `half`'s `from_f32` (f16: relative error ≤ 2⁻¹¹ in its
//! normal range, which [`f16_scale_for`] keeps rows in; bf16: ≤ 2⁻⁸ over f32's
//! range). The `tests/` suites check every contract for every ISA and variant.
//!
//! ## Backends
//!
//! | ISA (`SAGEVEC_ISA`) | needs (cpuid + OS XCR0) | f32 lanes | 1×1 accumulators | dot tile (queries × rows) | fused knn micro-kernel | tail |
//! |---|---|---|---|---|---|---|
//! | `scalar` | nothing | 1 | 1 (index order) | 1×1 | dot tile + scan | — |
//! | `avx2` | AVX2, FMA, F16C, POPCNT | 8 | 4 | 3×4 (12 acc.) | 6 queries × 16-row packed panel (12 acc.) | scalar loop |
//! | `avx512` | AVX-512 F, BW, VL (+AVX2, FMA, F16C, POPCNT) | 16 | 4 | 4×4 (16 acc.) | 8 queries × 32-row packed panel (16 acc.) | masked load |
//!
//! Within the `avx512` level each family takes the [`Extensions`] the CPU has:
//! i8/u8 inner products use AVX-512 VNNI (`vpdpbusd`, a 4×4 register tile for
//! many-to-many; path `avx512vnni`), bf16 many-to-many uses AVX-512 BF16
//! (`vdpbf16ps`; path `avx512bf16`), bits use VPOPCNTDQ (`vpopcntq`; path
//! `avx512vpopcntdq`); without them the base AVX-512 BW paths run (`vpmaddwd`;
//! widened FMA; a `vpshufb` nibble-table popcount).
//! [`KernelTable::families`] names each family's path (`sagevec info` prints it) and
//! [`KernelTable::for_isa_with`] builds a table with fewer extensions, which is how
//! every path is tested on one machine. AVX-512 FP16 is detected and reported but
//! drives no kernel: f16 rows are widened to f32 so that they stay bit for bit the
//! f32 kernels (as the one-to-many bf16 kernels do).
//!
//! The best supported ISA is used unless `SAGEVEC_ISA=scalar|avx2|avx512` asks for
//! another; asking for one the host lacks is an error ([`IsaError`]), never undefined
//! behaviour. The baseline build contains no wide instruction outside functions
//! marked `#[target_feature]`, and those are reachable only through a
//! [`KernelTable`] handed out after detection.
//!
//! ## One body per ISA, without pulp
//!
//! pulp writes one generic body per ISA token; the same shape here comes from
//! per-ISA traits monomorphised per row type: `Widen8` (AVX2) and `Widen16`
//! (AVX-512) say how 8 or 16 elements of f32, f16, bf16, i8 or u8 become f32 lanes,
//! so every float kernel is one loop per ISA, and `Tile4` says how one 64-byte step
//! of a `vpdpbusd` or `vdpbf16ps` register tile goes. pulp itself is not used: its
//! portable `Simd` API has none of the instructions several members are built on
//! (`vpdpbusd`, `vdpbf16ps`, `vpopcntq`, fault-suppressing masked byte and word
//! loads), the AVX-512 kernels must also run on AVX2-only machines under
//! `--cfg sagevec_avx512_emu` (scalar stand-ins for the intrinsics, which pulp's
//! real ones cannot be swapped for), and the crate other engines embed stays at
//! two dependencies.
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
#[cfg(feature = "anndists")]
pub mod anndists;
mod chunked;
mod elem;
mod error;
mod family;
mod finalize;
mod isa;
mod knn;
mod metric;
mod rows;
mod scalar;
mod scaled;
mod stored;
mod table;
mod topk;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use aligned::{ALIGN, AlignedMatrix, AlignedVec};
#[doc(hidden)]
pub use chunked::{ChunkedGather, ChunkedRows, GatherQuery};
pub use elem::{Bits64, Element};
pub use error::KernelError;
pub use isa::{Caps, Extensions, ISA_ENV, Isa, IsaError};
pub use metric::{Metric, UnknownMetric};
pub use rows::Rows;
#[doc(hidden)]
pub use scaled::ScaledKernels;
pub use scaled::{Quantized, ScaledQuery};
pub use stored::{F16_MAX, StoredElement, bf16, f16, f16_scale_for};
#[doc(hidden)]
pub use table::Family;
pub use table::{DistanceFn, KernelTable, kernels, try_kernels};
pub use topk::{Neighbor, PAD_DISTANCE, PAD_ID, TopK, cmp_neighbors, smallest_k, total_order_key};
