//! The dispatch table: one `#[repr(C, align(64))]` struct of resolved function
//! pointers per ISA, chosen once. Every public entry point checks shapes and then
//! makes one indirect call into the chosen ISA's loop.

use std::fmt;
use std::sync::OnceLock;

use half::{bf16, f16};

use crate::chunked::GatherFn;
use crate::elem::{Bits64, Element};
use crate::error::KernelError;
use crate::isa::{self, Extensions, Isa, IsaError};
use crate::metric::Metric;
use crate::rows::Rows;
use crate::scaled::ScaledKernels;
use crate::stored::{Codec, StoredElement};

/// query, row → distance. Safety: the table's ISA is available.
pub(crate) type PairFn<T, Q> = unsafe fn(&Q, &[T]) -> f32;
/// query, rows, out (one distance per row). Safety: ISA available.
pub(crate) type ManyFn<T, Q> = unsafe fn(&Q, Rows<'_, T>, &mut [f32]);
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

/// One metric's kernels for one row type and query form (`[T::Query]`, or a
/// `ScaledQuery`): one-to-one, one-to-many (strided rows) and the gather (over
/// chunked rows; slice gathers run it over one chunk).
pub(crate) struct MetricKernels<T: Element, Q: ?Sized = [<T as Element>::Query]> {
    pub(crate) pair: PairFn<T, Q>,
    pub(crate) many: ManyFn<T, Q>,
    pub(crate) chunked: GatherFn<T, Q>,
}

/// The many-to-many kernels of a row type whose queries are rows of the same type.
pub(crate) struct ManyToMany<T> {
    pub(crate) norms: NormsFn<T>,
    pub(crate) dot_tile: TileFn<T>,
    /// The broadcast micro-kernel for many-to-many search, where the ISA has one.
    pub(crate) knn_panels: Option<PanelKernel<T>>,
}

/// One row element type's kernels for one ISA (and extension set).
#[doc(hidden)]
pub struct Family<T: Element> {
    /// The path's name in reports: the ISA, plus the extension it uses
    /// (`avx512vnni`, `avx512vpopcntdq`, `avx512bf16`).
    pub(crate) variant: &'static str,
    /// Indexed by `Metric::index`; `None` where the type lacks the metric.
    pub(crate) metrics: [Option<MetricKernels<T>>; Metric::COUNT],
    /// Norms, dot tiles and fused knn, where the type has them.
    pub(crate) many_to_many: Option<ManyToMany<T>>,
}

impl<T: Element> fmt::Debug for Family<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("elem", &T::NAME)
            .field("variant", &self.variant)
            .finish_non_exhaustive()
    }
}

impl<T: Element> Family<T> {
    /// The kernels of `metric`, or the error for a metric the type lacks.
    #[inline]
    pub(crate) fn metric(&self, metric: Metric) -> Result<&MetricKernels<T>, KernelError> {
        self.metrics[metric.index()]
            .as_ref()
            .ok_or(KernelError::UnsupportedMetric {
                metric,
                elem: T::NAME,
            })
    }

    /// [`metric`](Self::metric), panicking for a metric the type lacks (for the
    /// infallible handle constructors, whose callers check `T::METRICS`).
    #[track_caller]
    pub(crate) fn expect_metric(&self, metric: Metric) -> &MetricKernels<T> {
        match self.metric(metric) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        }
    }

    /// The many-to-many kernels, or the error for a row type without them.
    pub(crate) fn many_to_many(&self) -> Result<&ManyToMany<T>, KernelError> {
        self.many_to_many.as_ref().ok_or(KernelError::Unsupported {
            what: "many-to-many kernels (norms, dot_matrix, knn)",
            elem: T::NAME,
        })
    }
}

/// The kernels of one ISA (and extension set), for every element type. Obtain one
/// with [`kernels`] (the active ISA) or [`KernelTable::for_isa`]; every method
/// checks its inputs.
#[repr(C, align(64))]
pub struct KernelTable {
    pub(crate) isa: Isa,
    pub(crate) extensions: Extensions,
    pub(crate) f32: Family<f32>,
    pub(crate) f16: Family<f16>,
    pub(crate) bf16: Family<bf16>,
    pub(crate) i8: Family<i8>,
    pub(crate) u8: Family<u8>,
    pub(crate) bits: Family<Bits64>,
    pub(crate) f16_codec: Codec<f16>,
    pub(crate) bf16_codec: Codec<bf16>,
    pub(crate) i8_scaled: ScaledKernels<i8>,
    pub(crate) u8_scaled: ScaledKernels<u8>,
}

impl fmt::Debug for KernelTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelTable")
            .field("isa", &self.isa)
            .field("extensions", &self.extensions.names())
            .finish_non_exhaustive()
    }
}

/// The families of one ISA module (`scalar`, `x86::avx2`, `x86::avx512`), with the
/// given bf16, i8/u8 and bits families (which depend on extensions).
macro_rules! table {
    ($isa:expr, $ext:expr, $k:ident, bf16 = $bf16:expr, i8 = $i8:expr, u8 = $u8:expr, bits = $bits:expr) => {{
        KernelTable {
            isa: $isa,
            extensions: $ext,
            f32: $k::float::F32,
            f16: $k::float::F16,
            bf16: $bf16,
            i8: $i8,
            u8: $u8,
            bits: $bits,
            f16_codec: $k::codec::F16,
            bf16_codec: $k::codec::BF16,
            i8_scaled: $k::scaled::I8,
            u8_scaled: $k::scaled::U8,
        }
    }};
}

/// Builds the table of `isa` whose families use the extensions in `ext` (checked
/// present by the caller).
fn build(isa: Isa, ext: Extensions) -> KernelTable {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            use crate::x86::avx2 as k;
            table!(
                isa,
                Extensions::NONE,
                k,
                bf16 = k::float::BF16,
                i8 = k::int8::I8,
                u8 = k::int8::U8,
                bits = k::bits::BITS
            )
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            use crate::x86::avx512 as k;
            let vnni = ext.contains(Extensions::VNNI);
            table!(
                isa,
                ext,
                k,
                bf16 = if ext.contains(Extensions::BF16) {
                    k::float::BF16_DP
                } else {
                    k::float::BF16
                },
                i8 = if vnni { k::int8::I8_VNNI } else { k::int8::I8 },
                u8 = if vnni { k::int8::U8_VNNI } else { k::int8::U8 },
                bits = if ext.contains(Extensions::VPOPCNTDQ) {
                    k::bits::BITS_VPOPCNTDQ
                } else {
                    k::bits::BITS
                }
            )
        }
        _ => {
            use crate::scalar as k;
            table!(
                Isa::Scalar,
                Extensions::NONE,
                k,
                bf16 = k::float::BF16,
                i8 = k::int8::I8,
                u8 = k::int8::U8,
                bits = k::bits::BITS
            )
        }
    }
}

/// Extension sets per ISA level (every subset of `Extensions::ALL`).
const EXT_SETS: usize = Extensions::ALL.bits() as usize + 1;

/// One lazily built table per (ISA, extension set).
static TABLES: [OnceLock<KernelTable>; Isa::ALL.len() * EXT_SETS] =
    [const { OnceLock::new() }; Isa::ALL.len() * EXT_SETS];

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
        .get_or_init(|| KernelTable::for_isa(isa::isa_from_env()?))
        .clone()
}

/// A resolved one-to-one distance function: the kernel pointer is chosen once, so a
/// graph search's inner loop pays one indirect call per distance.
pub struct DistanceFn<T: Element> {
    f: PairFn<T, [T::Query]>,
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
        write!(f, "DistanceFn({}_{}_{})", self.metric, T::NAME, self.isa)
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
    /// The table for `isa`, with every extension this host has at that level, if
    /// this CPU and OS support it.
    pub fn for_isa(isa: Isa) -> Result<&'static KernelTable, IsaError> {
        KernelTable::for_isa_with(isa, isa.require()?.extensions())
    }

    /// The table for `isa` whose families use only the extensions in `ext` (the
    /// others run their base path): how tests reach every path on one machine.
    /// Errors if the host lacks `isa` or one of `ext` at that level.
    pub fn for_isa_with(isa: Isa, ext: Extensions) -> Result<&'static KernelTable, IsaError> {
        let available = isa.require()?.extensions();
        if !available.contains(ext) {
            return Err(IsaError::MissingExtensions {
                isa,
                asked: ext,
                available,
            });
        }
        let slot = isa as usize * EXT_SETS + ext.bits() as usize;
        Ok(TABLES[slot].get_or_init(|| build(isa, ext)))
    }

    /// The ISA of this table.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The extensions this table's families use.
    pub fn extensions(&self) -> Extensions {
        self.extensions
    }

    /// `(element type, kernel path)` for each family, e.g. `("i8", "avx512vnni")`.
    pub fn families(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            (f32::NAME, self.f32.variant),
            (f16::NAME, self.f16.variant),
            (bf16::NAME, self.bf16.variant),
            (i8::NAME, self.i8.variant),
            (u8::NAME, self.u8.variant),
            (Bits64::NAME, self.bits.variant),
        ]
    }

    /// A resolved distance function for `metric` on `T`.
    ///
    /// # Panics
    /// If `T` has no kernel for `metric` (see [`Element::METRICS`]).
    #[track_caller]
    pub fn distance_fn<T: Element>(&self, metric: Metric) -> DistanceFn<T> {
        DistanceFn {
            f: T::family(self).expect_metric(metric).pair,
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
        let k = T::family(self).metric(metric)?;
        check_dim(b.len(), a.len())?;
        // SAFETY: this table exists only for a detected ISA; lengths are equal.
        Ok(unsafe { (k.pair)(a, b) })
    }

    /// One query against every row: `out[i] = distance(query, rows.row(i))`.
    pub fn distances<T: Element>(
        &self,
        metric: Metric,
        query: &[T::Query],
        rows: Rows<'_, T>,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        let k = T::family(self).metric(metric)?;
        check_dim(rows.dim(), query.len())?;
        check_out("out", rows.n_rows(), out.len())?;
        // SAFETY: ISA detected for this table; shapes checked above.
        unsafe { (k.many)(query, rows, out) };
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
        let k = T::family(self).metric(metric)?;
        check_dim(rows.dim(), query.len())?;
        check_out("out", ids.len(), out.len())?;
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= rows.n_rows()) {
            return Err(KernelError::RowOutOfRange {
                id: bad as usize,
                n_rows: rows.n_rows(),
            });
        }
        let f = k.chunked;
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

    /// `dst[i] = S(src[i] · scale)`, each product rounded to nearest-even (beyond
    /// `S`'s range: ±inf; a NaN stays a NaN, quieted). With a power-of-two `scale`
    /// (see [`f16_scale_for`](crate::f16_scale_for)) the product itself is exact.
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
