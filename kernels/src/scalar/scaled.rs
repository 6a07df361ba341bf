//! Scalar scaled (asymmetric) kernels: an f32 query against i8/u8 codes decoded as
//! `sᵢ·xᵢ + oᵢ`, in the prepared forms of `scaled.rs`, in index order.

use super::float::{Widen, dot};
use crate::scaled::{ScaledKernels, ScaledQuery};

/// `Σ (aᵢ - sᵢxᵢ)²`.
pub(crate) fn l2<T: Widen>(a: &[f32], s: &[f32], x: &[T]) -> f32 {
    let mut sum = 0.0f32;
    for ((&a, &s), &x) in a.iter().zip(s).zip(x) {
        let t = a - s * x.widen();
        sum += t * t;
    }
    sum
}

/// The L2 and inner-product kernels of `T` codes.
macro_rules! scaled_family {
    ($t:ty) => {
        ScaledKernels {
            l2: crate::family::metric_kernels!([] $t, ScaledQuery, |q, x| l2::<$t>(
                &q.shifted, &q.scale, x
            )),
            ip: crate::family::metric_kernels!([] $t, ScaledQuery, |q, x| -(dot::<f32, $t>(
                &q.weights, x
            ) + q.bias)),
        }
    };
}

/// i8 codes.
pub(crate) const I8: ScaledKernels<i8> = scaled_family!(i8);
/// u8 codes.
pub(crate) const U8: ScaledKernels<u8> = scaled_family!(u8);
