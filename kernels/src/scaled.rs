//! Quantized rows (i8, u8) decoded by a per-dimension scale and offset, searched
//! with an f32 query ("asymmetric" distances).
//!
//! A row of codes `x` stands for the vector `v` with `vᵢ = sᵢ·xᵢ + oᵢ`. Quantizing
//! the query too would cost recall, so the query stays f32 and is prepared once
//! ([`ScaledQuery`]) into the two forms the kernels stream against a row:
//!
//! - L2: `Σ (aᵢ - sᵢxᵢ)²` with `aᵢ = qᵢ - oᵢ` (each term one `vfnmadd` and one
//!   `vfmadd`);
//! - inner product: `-(Σ wᵢxᵢ + c)` with `wᵢ = qᵢsᵢ` and `c = Σ qᵢoᵢ` (one `vfmadd`
//!   per element; `c` is summed in f64 and rounded once).
//!
//! The code is widened exactly to f32 first (`vpmovsxbd`/`vpmovzxbd` + `vcvtdq2ps`).
//! Error against the exact distance of `v` (u = 2⁻²⁴, dᵢ = qᵢ - vᵢ):
//! L2: each term's difference carries `eᵢ ≤ u|dᵢ| + (u + u²)|qᵢ - oᵢ|`, so
//! `|err| ≤ Σ (2|dᵢ|eᵢ + eᵢ²) + γₙ Σ (|dᵢ| + eᵢ)²`; inner product:
//! `|err| ≤ (u + γₙ(1 + u)) Σ |qᵢsᵢxᵢ| + 2u|Σ qᵢoᵢ| + u|result|`.
//! `tests/scaled.rs` checks both against an f64 reference.

use std::fmt;

use crate::chunked::{ChunkedGather, ChunkedRows};
use crate::elem::Element;
use crate::error::KernelError;
use crate::metric::Metric;
use crate::rows::Rows;
use crate::table::{KernelTable, MetricKernels, check_dim, check_out};

mod sealed {
    pub trait Sealed {}
    impl Sealed for i8 {}
    impl Sealed for u8 {}
}

/// A quantized row type with scaled (asymmetric) kernels: i8 and u8.
pub trait Quantized: Element + sealed::Sealed {
    /// The code widened exactly to f32.
    fn to_f32(self) -> f32;

    /// This type's scaled kernels in `table`.
    #[doc(hidden)]
    fn scaled(table: &KernelTable) -> &ScaledKernels<Self>;
}

impl Quantized for i8 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }

    #[inline(always)]
    fn scaled(table: &KernelTable) -> &ScaledKernels<Self> {
        &table.i8_scaled
    }
}

impl Quantized for u8 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }

    #[inline(always)]
    fn scaled(table: &KernelTable) -> &ScaledKernels<Self> {
        &table.u8_scaled
    }
}

/// One quantized row type's scaled kernels for one ISA: L2 and inner product.
#[doc(hidden)]
pub struct ScaledKernels<T: Element> {
    pub(crate) l2: MetricKernels<T, ScaledQuery>,
    pub(crate) ip: MetricKernels<T, ScaledQuery>,
}

impl<T: Element> fmt::Debug for ScaledKernels<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScaledKernels")
            .field("elem", &T::NAME)
            .finish_non_exhaustive()
    }
}

impl<T: Element> ScaledKernels<T> {
    fn metric(&self, metric: Metric) -> Result<&MetricKernels<T, ScaledQuery>, KernelError> {
        match metric {
            Metric::L2Sq => Ok(&self.l2),
            Metric::InnerProduct => Ok(&self.ip),
            _ => Err(KernelError::UnsupportedMetric {
                metric,
                elem: T::NAME,
            }),
        }
    }
}

/// An f32 query prepared against rows decoded as `vᵢ = scaleᵢ·xᵢ + offsetᵢ`, for
/// both L2 and inner product. Prepare it once per query (its buffers can be reused
/// with [`ScaledQuery::set`]), then search any number of rows with it.
#[derive(Clone, Debug, Default)]
pub struct ScaledQuery {
    /// `qᵢ - oᵢ` (L2).
    pub(crate) shifted: Vec<f32>,
    /// `sᵢ` (L2).
    pub(crate) scale: Vec<f32>,
    /// `qᵢ · sᵢ` (inner product).
    pub(crate) weights: Vec<f32>,
    /// `Σ qᵢoᵢ` (inner product), summed in f64 and rounded once.
    pub(crate) bias: f32,
}

impl ScaledQuery {
    /// Prepares `query` against rows with per-dimension `scale` and `offset`.
    /// Errors if the three lengths differ.
    pub fn new(query: &[f32], scale: &[f32], offset: &[f32]) -> Result<Self, KernelError> {
        let mut q = ScaledQuery::default();
        q.set(query, scale, offset)?;
        Ok(q)
    }

    /// Prepares another query in place, reusing the buffers (no allocation once
    /// they have grown to the dimension).
    pub fn set(&mut self, query: &[f32], scale: &[f32], offset: &[f32]) -> Result<(), KernelError> {
        check_dim(query.len(), scale.len())?;
        check_dim(query.len(), offset.len())?;
        self.shifted.clear();
        self.shifted
            .extend(query.iter().zip(offset).map(|(&q, &o)| q - o));
        self.scale.clear();
        self.scale.extend_from_slice(scale);
        self.weights.clear();
        self.weights
            .extend(query.iter().zip(scale).map(|(&q, &s)| q * s));
        self.bias = query
            .iter()
            .zip(offset)
            .map(|(&q, &o)| f64::from(q) * f64::from(o))
            .sum::<f64>() as f32;
        Ok(())
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.scale.len()
    }
}

impl KernelTable {
    /// The distance under `metric` (L2 or inner product) between a prepared
    /// `query` and one row of codes.
    pub fn scaled_distance<T: Quantized>(
        &self,
        metric: Metric,
        query: &ScaledQuery,
        row: &[T],
    ) -> Result<f32, KernelError> {
        let k = T::scaled(self).metric(metric)?;
        check_dim(row.len(), query.dim())?;
        // SAFETY: this table exists only for a detected ISA; lengths are equal.
        Ok(unsafe { (k.pair)(query, row) })
    }

    /// A prepared `query` against every row of codes.
    pub fn scaled_distances<T: Quantized>(
        &self,
        metric: Metric,
        query: &ScaledQuery,
        rows: Rows<'_, T>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        let k = T::scaled(self).metric(metric)?;
        check_dim(rows.dim(), query.dim())?;
        check_out("out", rows.n_rows(), out.len())?;
        // SAFETY: ISA detected for this table; shapes checked above.
        unsafe { (k.many)(query, rows, out) };
        Ok(())
    }

    /// A gather over chunked rows of codes for prepared queries (the quantized
    /// graph walk): [`chunked_gather`](Self::chunked_gather) with a [`ScaledQuery`].
    ///
    /// # Panics
    /// If `metric` is not L2 or inner product.
    #[track_caller]
    pub fn scaled_gather<'a, T: Quantized>(
        &self,
        metric: Metric,
        rows: ChunkedRows<'a, T>,
    ) -> ChunkedGather<'a, T, ScaledQuery> {
        let k = match T::scaled(self).metric(metric) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        };
        ChunkedGather::new(k.chunked, rows, metric, self.isa())
    }
}
