//! The dispatch table: one `#[repr(C, align(64))]` struct of resolved function
//! pointers per ISA, chosen once. Every public entry point checks shapes and then
//! makes one indirect call into the chosen ISA's loop.

use std::fmt;
use std::sync::OnceLock;

use crate::chunked::ChunkedFn;
use crate::elem::Element;
use crate::error::KernelError;
use crate::isa::{self, Isa, IsaError};
use crate::metric::Metric;
use crate::rows::Rows;
use crate::stored::{Codec, StoredElement, f16};

/// query, row → distance. Safety: the table's ISA is available.
pub(crate) type PairFn<T> = unsafe fn(&[<T as Element>::Query], &[T]) -> f32;
/// query, rows, out (one distance per row). Safety: ISA available.
pub(crate) type ManyFn<T> = unsafe fn(&[<T as Element>::Query], Rows<'_, T>, &mut [f32]);
/// rows, out (squared norm per row). Safety: ISA available.
pub(crate) type NormsFn<T> = unsafe fn(Rows<'_, T>, &mut [f32]);
/// queries, rows, out (`n_q × n_x` dot products, row-major). Safety: ISA available,
/// `q.dim() == x.dim()`, `out.len() >= n_q * n_x`.
pub(crate) type TileFn<T> = unsafe fn(Rows<'_, T>, Rows<'_, T>, &mut [f32]);

/// A fused knn kernel over packed base panels: one query group against a block.
/// Safety: ISA available and the job's invariants (see `PanelJob`) hold.
pub(crate) type PanelFn<T> = unsafe fn(&crate::knn::PanelJob<'_, T>, &mut [crate::TopK]);

/// A packed-panel knn kernel and the number of base rows per panel it expects.
pub(crate) struct PanelKernel<T> {
    pub(crate) rows: usize,
    pub(crate) run: PanelFn<T>,
}

/// The many-to-many kernels of a symmetric row type (queries of the row type).
pub(crate) struct ManyToMany<T> {
    pub(crate) norms: NormsFn<T>,
    pub(crate) dot_tile: TileFn<T>,
    /// The broadcast micro-kernel for many-to-many search, where the ISA has one.
    pub(crate) knn_panels: Option<PanelKernel<T>>,
}

/// One row element type's kernels for one ISA, indexed by metric.
#[doc(hidden)]
pub struct Family<T: Element> {
    pub(crate) pair: [PairFn<T>; 3],
    pub(crate) many: [ManyFn<T>; 3],
    pub(crate) chunked: [ChunkedFn<T>; 3],
    /// Norms, dot tiles and fused knn, for row types whose queries are rows too.
    pub(crate) many_to_many: Option<ManyToMany<T>>,
}

impl<T: Element> fmt::Debug for Family<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("elem", &T::NAME)
            .finish_non_exhaustive()
    }
}

impl<T: Element> Family<T> {
    /// The many-to-many kernels, or the error for a row type without them.
    pub(crate) fn many_to_many(&self) -> Result<&ManyToMany<T>, KernelError> {
        self.many_to_many.as_ref().ok_or(KernelError::Unsupported {
            what: "many-to-many kernels (norms, dot_matrix, knn)",
            elem: T::NAME,
        })
    }
}

/// The kernels of one ISA, for every element type. Obtain one with [`kernels`]
/// (the active ISA) or [`KernelTable::for_isa`]; every method checks its inputs.
#[repr(C, align(64))]
pub struct KernelTable {
    pub(crate) isa: Isa,
    pub(crate) f32: Family<f32>,
    pub(crate) f16: Family<f16>,
    pub(crate) f16_codec: Codec<f16>,
}

impl fmt::Debug for KernelTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelTable")
            .field("isa", &self.isa)
            .finish_non_exhaustive()
    }
}

static SCALAR: KernelTable = KernelTable {
    isa: Isa::Scalar,
    f32: crate::scalar::f32::FAMILY,
    f16: crate::scalar::f16::FAMILY,
    f16_codec: crate::scalar::f16::CODEC,
};

#[cfg(target_arch = "x86_64")]
static AVX2: KernelTable = KernelTable {
    isa: Isa::Avx2,
    f32: crate::x86::avx2::f32::FAMILY,
    f16: crate::x86::avx2::f16::FAMILY,
    f16_codec: crate::x86::avx2::f16::CODEC,
};

#[cfg(target_arch = "x86_64")]
static AVX512: KernelTable = KernelTable {
    isa: Isa::Avx512,
    f32: crate::x86::avx512::f32::FAMILY,
    f16: crate::x86::avx512::f16::FAMILY,
    f16_codec: crate::x86::avx512::f16::CODEC,
};

/// The table of the active ISA (`SAGEVEC_ISA`, else the best available), resolved once.
///
/// # Panics
/// If `SAGEVEC_ISA` is invalid or names an ISA the CPU lacks; see [`try_kernels`].
pub fn kernels() -> &'static KernelTable {
    // Cached as a plain reference: this sits in front of every free-function call.
    static TABLE: OnceLock<&'static KernelTable> = OnceLock::new();
    TABLE.get_or_init(|| match try_kernels() {
        Ok(t) => t,
        Err(err) => panic!("{err}"),
    })
}

/// The table of the active ISA, or why `SAGEVEC_ISA` cannot be honoured.
pub fn try_kernels() -> Result<&'static KernelTable, IsaError> {
    static ACTIVE: OnceLock<Result<&'static KernelTable, IsaError>> = OnceLock::new();
    ACTIVE
        .get_or_init(|| KernelTable::for_isa(isa::try_active_isa()?))
        .clone()
}

/// A resolved one-to-one distance function: the kernel pointer is chosen once, so a
/// graph search's inner loop pays one indirect call per distance.
pub struct DistanceFn<T: Element> {
    f: PairFn<T>,
    metric: Metric,
    isa: Isa,
}

impl<T: Element> Clone for DistanceFn<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Element> Copy for DistanceFn<T> {}

impl<T: Element> fmt::Debug for DistanceFn<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DistanceFn({}_{}_{})",
            self.metric.kernel_prefix(),
            T::NAME,
            self.isa
        )
    }
}

impl<T: Element> DistanceFn<T> {
    /// The distance between `a` and `b`.
    ///
    /// # Panics
    /// If `a.len() != b.len()` (use [`KernelTable::distance`] for a `Result`).
    #[inline(always)]
    pub fn call(&self, a: &[T::Query], b: &[T]) -> f32 {
        assert_eq!(
            a.len(),
            b.len(),
            "distance between vectors of different lengths"
        );
        // SAFETY: DistanceFn is only built from a KernelTable, which exists only for
        // ISAs that passed detection; lengths are equal (checked above).
        unsafe { (self.f)(a, b) }
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The ISA of the kernel.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}

impl KernelTable {
    /// The table for `isa`, if this CPU and OS support it.
    pub fn for_isa(isa: Isa) -> Result<&'static KernelTable, IsaError> {
        isa::require(isa)?;
        match isa {
            Isa::Scalar => Ok(&SCALAR),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Ok(&AVX2),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Ok(&AVX512),
            #[cfg(not(target_arch = "x86_64"))]
            _ => Err(IsaError::Unsupported {
                isa,
                available: Isa::available(),
            }),
        }
    }

    /// The ISA of this table.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// `(element type, kernel variant)` for each family, e.g. `("f32", "avx512")`.
    pub fn families(&self) -> Vec<(&'static str, &'static str)> {
        vec![(f32::NAME, self.isa.name()), (f16::NAME, self.isa.name())]
    }

    /// A resolved distance function for `metric` on `T`.
    pub fn distance_fn<T: Element>(&self, metric: Metric) -> DistanceFn<T> {
        DistanceFn {
            f: T::family(self).pair[metric.index()],
            metric,
            isa: self.isa,
        }
    }

    /// The distance between a query `a` and a row `b` (see [`Metric`] for each
    /// definition). A length mismatch reports the row's length as the expected one.
    pub fn distance<T: Element>(
        &self,
        metric: Metric,
        a: &[T::Query],
        b: &[T],
    ) -> Result<f32, KernelError> {
        check_dim(b.len(), a.len())?;
        // SAFETY: this table exists only for a detected ISA; lengths are equal.
        Ok(unsafe { (T::family(self).pair[metric.index()])(a, b) })
    }

    /// The raw dot product `Σ aᵢ bᵢ` (not a distance: larger is closer).
    pub fn dot<T: Element>(&self, a: &[T::Query], b: &[T]) -> Result<f32, KernelError> {
        Ok(-self.distance(Metric::InnerProduct, a, b)?)
    }

    /// One query against every row: `out[i] = distance(query, rows.row(i))`.
    pub fn distances<T: Element>(
        &self,
        metric: Metric,
        query: &[T::Query],
        rows: Rows<'_, T>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_dim(rows.dim(), query.len())?;
        check_out("out", rows.n_rows(), out.len())?;
        // SAFETY: ISA detected for this table; shapes checked above.
        unsafe { (T::family(self).many[metric.index()])(query, rows, out) };
        Ok(())
    }

    /// One query against the rows listed in `ids` (the HNSW neighbour-list shape):
    /// `out[j] = distance(query, rows.row(ids[j]))`, with prefetch of rows ahead.
    pub fn distances_gather<T: Element>(
        &self,
        metric: Metric,
        query: &[T::Query],
        rows: Rows<'_, T>,
        ids: &[u32],
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_dim(rows.dim(), query.len())?;
        check_out("out", ids.len(), out.len())?;
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= rows.n_rows()) {
            return Err(KernelError::RowOutOfRange {
                id: bad as usize,
                n_rows: rows.n_rows(),
            });
        }
        let f = T::family(self).chunked[metric.index()];
        rows.as_chunked(|chunked| {
            // SAFETY: ISA detected for this table; shapes and ids checked above (so
            // the kernel's past-the-bound branch is never taken).
            unsafe { f(query, chunked, ids, out) }
        });
        Ok(())
    }

    /// Squared norms `|rᵢ|²` of every row (cache them for L2 and cosine tiles).
    pub fn squared_norms<T: Element>(
        &self,
        rows: Rows<'_, T>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_out("out", rows.n_rows(), out.len())?;
        let norms = T::family(self).many_to_many()?.norms;
        // SAFETY: ISA detected for this table; out length checked.
        unsafe { norms(rows, out) };
        Ok(())
    }

    /// The `n_q × n_x` matrix of dot products between `queries` and `rows`,
    /// row-major into `out`, computed by the register-tiled micro-kernel.
    pub fn dot_matrix<T: Element>(
        &self,
        queries: Rows<'_, T>,
        rows: Rows<'_, T>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_dim(rows.dim(), queries.dim())?;
        let want = queries
            .n_rows()
            .checked_mul(rows.n_rows())
            .ok_or_else(|| KernelError::BadShape("n_queries * n_rows overflows usize".into()))?;
        check_out("out", want, out.len())?;
        let tile = T::family(self).many_to_many()?.dot_tile;
        // SAFETY: ISA detected for this table; dims equal and out long enough.
        unsafe { tile(queries, rows, out) };
        Ok(())
    }

    /// The distance between an f32 `query` and a `row` stored as `S`: the same as
    /// [`distance`](Self::distance) (widened exactly to f32, then this ISA's f32
    /// arithmetic: bit for bit `distance` on the widened f32 row).
    pub fn stored_distance<S: StoredElement>(
        &self,
        metric: Metric,
        query: &[f32],
        row: &[S],
    ) -> Result<f32, KernelError> {
        self.distance(metric, query, row)
    }

    /// An f32 `query` against every stored row: the same as
    /// [`distances`](Self::distances).
    pub fn stored_distances<S: StoredElement>(
        &self,
        metric: Metric,
        query: &[f32],
        rows: Rows<'_, S>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        self.distances(metric, query, rows, out)
    }

    /// An f32 `query` against the stored rows listed in `ids`: the same as
    /// [`distances_gather`](Self::distances_gather).
    pub fn stored_distances_gather<S: StoredElement>(
        &self,
        metric: Metric,
        query: &[f32],
        rows: Rows<'_, S>,
        ids: &[u32],
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        self.distances_gather(metric, query, rows, ids, out)
    }

    /// `dst[i] = S(src[i] · scale)`, each product rounded to nearest-even (beyond
    /// `S`'s range: ±inf; a NaN stays a NaN). With a power-of-two `scale` (see
    /// [`f16_scale_for`](crate::f16_scale_for)) the product itself is exact.
    pub fn encode<S: StoredElement>(
        &self,
        src: &[f32],
        scale: f32,
        dst: &mut [S],
    ) -> Result<(), KernelError> {
        check_out("dst", src.len(), dst.len())?;
        // SAFETY: ISA detected for this table; lengths equal.
        unsafe { (S::codec(self).encode)(src, scale, dst) };
        Ok(())
    }

    /// `dst[i] = src[i]` widened exactly to f32 (what the stored kernels compute
    /// with): the inverse of [`encode`](Self::encode) with scale 1 up to its rounding.
    pub fn decode<S: StoredElement>(&self, src: &[S], dst: &mut [f32]) -> Result<(), KernelError> {
        check_out("dst", src.len(), dst.len())?;
        // SAFETY: ISA detected for this table; lengths equal.
        unsafe { (S::codec(self).decode)(src, dst) };
        Ok(())
    }
}

pub(crate) fn check_dim(expected: usize, got: usize) -> Result<(), KernelError> {
    if expected == got {
        Ok(())
    } else {
        Err(KernelError::DimensionMismatch { expected, got })
    }
}

pub(crate) fn check_out(
    what: &'static str,
    expected: usize,
    got: usize,
) -> Result<(), KernelError> {
    if expected == got {
        Ok(())
    } else {
        Err(KernelError::OutputLength {
            what,
            expected,
            got,
        })
    }
}
