//! Helpers shared by the tests and benches of every sagevec crate (`publish =
//! false`: never a dependency of a published crate; the command-line tool's own
//! `generate` uses `sagevec-rng` directly).
//!
//! | need | function |
//! |---|---|
//! | seeded stream | [`SplitMix64`] (re-exported from `sagevec-rng`) |
//! | uniform values in `[-scale, scale)` | [`uniform`] |
//! | clustered rows (uniform or gaussian noise), reproducible in numpy | [`Clusters`] |
//! | unit rows (cosine, normalised inner product) | [`normalize_rows`] |
//! | exact neighbours, independent of the code under test | [`exact_knn`] with [`l2sq_f64`], [`neg_dot_f64`] or [`cosine_f64`] |
//! | recall@k | [`recall_at_k`] |
//! | median of timings | [`median`] |
//!
//! Everything is a plain function of its inputs and seeds: the same call gives the
//! same bits on every machine.
//!
//! Adopting it (`sagevec-testkit.workspace = true` under `[dev-dependencies]`): a
//! local SplitMix64's `next`, `unit` (f32 in `[-1, 1)`) and `below` are
//! [`SplitMix64::next_u64`], [`SplitMix64::next_f32`] and
//! [`SplitMix64::next_index`], stream for stream; an f64 `unit` in `(0, 1]` and a
//! Box-Muller `gauss` are `next_f64_open0` and `next_gaussian`, the same formulas;
//! `vec(n, scale)` is [`uniform`]. Clustered, normalised, brute-force, recall and
//! median helpers become [`Clusters`], [`normalize_rows`], [`exact_knn`],
//! [`recall_at_k`] and [`median`] (new values for a seed where the stream layout
//! differs; the index bench's layout is the one kept).
//!
//! ```
//! use sagevec_testkit::{Clusters, Noise, exact_knn, l2sq_f64, recall_at_k};
//!
//! let dim = 8;
//! let clusters = Clusters::new(4, dim, Noise::Uniform(0.3), 1);
//! let base = clusters.sample(200, 2);
//! let queries = clusters.sample(5, 3);
//! let truth = exact_knn(&base, &queries, dim, 10, l2sq_f64);
//! let ids: Vec<Vec<u64>> = truth.iter().map(|row| row.iter().map(|n| n.0).collect()).collect();
//! assert_eq!(recall_at_k(ids.iter().map(Vec::as_slice), ids.iter().map(Vec::as_slice), 10), 1.0);
//! ```

mod data;
mod stats;
mod truth;

pub use data::{Clusters, NOISE_XOR, Noise, normalize_rows, uniform};
pub use sagevec_rng::SplitMix64;
pub use stats::median;
pub use truth::{PAD, cosine_f64, exact_knn, l2sq_f64, neg_dot_f64, recall_at_k};
