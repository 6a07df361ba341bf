//! hnsw_rs's distance trait ([`anndists::dist::Distance`]) on sagevec's kernels
//! (cargo feature `anndists`): [`KernelDist`] resolves the kernel once (CPU
//! detection, `SAGEVEC_ISA`), so each `eval` is one indirect call into the SIMD loop.
//!
//! Switching an hnsw_rs index to it is one line: the distance type and value.
//!
//! ```
//! use anndists::dist::{DistL2, Distance};
//! use sagevec_kernels::Metric;
//! use sagevec_kernels::anndists::KernelDist;
//!
//! // Before: Hnsw::<f32, DistL2>::new(m, n, layers, ef_c, DistL2 {})
//! // After:  Hnsw::<f32, KernelDist>::new(m, n, layers, ef_c, KernelDist::new(Metric::L2Sq))
//! fn nearest<D: Distance<f32>>(dist: &D, q: &[f32], rows: &[[f32; 3]]) -> usize {
//!     let d = |r: &[f32; 3]| dist.eval(q, r);
//!     (0..rows.len()).min_by(|&i, &j| d(&rows[i]).total_cmp(&d(&rows[j]))).unwrap()
//! }
//! let rows = [[0.0f32, 0.0, 0.0], [1.0, 2.0, 3.0], [5.0, 5.0, 5.0]];
//! let q = [1.0f32, 2.0, 2.5];
//! assert_eq!(nearest(&DistL2 {}, &q, &rows), 1);
//! assert_eq!(nearest(&KernelDist::new(Metric::L2Sq), &q, &rows), 1);
//! // Squared L2 (DistL2 takes the square root; the order is the same).
//! assert_eq!(KernelDist::new(Metric::L2Sq).eval(&q, &rows[1]), 0.25);
//! ```
//!
//! hnsw_rs requires distances `>= 0`, so the inner-product distance `-a·b` is
//! reported as `1 - a·b` (anndists' `DistDot`), which is `>= 0` on unit vectors,
//! the only input it is meant for (the shift keeps the order; a result below 0,
//! from rounding or from vectors that are not unit, is clamped to 0). Squared L2
//! and cosine (`1 - cos`, in `[0, 2]`) are the kernels' values unchanged.

use ::anndists::dist::Distance;

use crate::elem::Element;
use crate::isa::IsaError;
use crate::metric::Metric;
use crate::table::{DistanceFn, KernelTable, kernels};

/// An [`anndists::dist::Distance`] on sagevec's kernels for rows (and queries) of
/// `T` (see the [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub struct KernelDist<T: Element<Query = T> = f32> {
    f: DistanceFn<T>,
    shift: f32,
}

impl<T: Element<Query = T>> KernelDist<T> {
    /// The distance for `metric` with the active ISA's kernels.
    ///
    /// # Panics
    /// If `SAGEVEC_ISA` is invalid (see [`kernels`]); [`KernelDist::try_new`]
    /// returns that as an error.
    pub fn new(metric: Metric) -> Self {
        KernelDist::with_table(kernels(), metric)
    }

    /// The distance for `metric` with the active ISA's kernels, or why
    /// `SAGEVEC_ISA` cannot be honoured.
    pub fn try_new(metric: Metric) -> Result<Self, IsaError> {
        Ok(KernelDist::with_table(crate::table::try_kernels()?, metric))
    }

    /// The distance for `metric` with `table`'s kernels (pin an ISA with
    /// [`KernelTable::for_isa`]).
    pub fn with_table(table: &KernelTable, metric: Metric) -> Self {
        let shift = if metric == Metric::InnerProduct {
            1.0
        } else {
            0.0
        };
        KernelDist {
            f: table.distance_fn(metric),
            shift,
        }
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.f.metric()
    }
}

impl<T: Element<Query = T>> Distance<T> for KernelDist<T> {
    /// The distance between `va` and `vb`.
    ///
    /// # Panics
    /// If their lengths differ (hnsw_rs never passes such a pair).
    #[inline]
    fn eval(&self, va: &[T], vb: &[T]) -> f32 {
        let d = self.f.call(va, vb);
        if self.shift == 0.0 {
            d
        } else {
            (self.shift + d).max(0.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_is_the_kernel_distance() {
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0];
        let b = [0.5f32, -1.0, 2.0, 0.0, 1.0];
        for metric in [Metric::L2Sq, Metric::Cosine] {
            let want = kernels().distance(metric, &a, &b).unwrap();
            assert_eq!(
                KernelDist::new(metric).eval(&a, &b).to_bits(),
                want.to_bits()
            );
        }
        let (u, v) = ([0.6f32, 0.8, 0.0], [0.0f32, 0.6, 0.8]);
        let ip = KernelDist::new(Metric::InnerProduct);
        assert_eq!(
            ip.eval(&u, &v),
            1.0 + kernels().distance(Metric::InnerProduct, &u, &v).unwrap()
        );
        assert!(ip.eval(&u, &u) >= 0.0 && ip.eval(&u, &u) < 1e-6);
        // Not unit: 1 - 25 < 0 is clamped.
        assert_eq!(ip.eval(&[3.0, 4.0], &[3.0, 4.0]), 0.0);
        assert_eq!(ip.metric(), Metric::InnerProduct);
    }

    #[test]
    fn every_isa_agrees_on_small_integers() {
        let a: Vec<f32> = (0..37).map(|i| (i % 5) as f32).collect();
        let b: Vec<f32> = (0..37).map(|i| (i % 3) as f32 - 1.0).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        for isa in crate::Isa::available() {
            let t = KernelTable::for_isa(isa).unwrap();
            assert_eq!(
                KernelDist::with_table(t, Metric::L2Sq).eval(&a, &b),
                want,
                "{isa}"
            );
        }
    }
}
