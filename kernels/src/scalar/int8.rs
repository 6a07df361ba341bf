//! Scalar i8 × i8 and u8 × u8 kernels: exact integer L2 and inner product (i64
//! accumulator), rounded once to f32.

use crate::table::{Family, ManyToMany};

/// `Σ qᵢxᵢ` exactly, rounded to f32.
pub(crate) fn dot<T: Copy + Into<i64>>(q: &[T], x: &[T]) -> f32 {
    let mut sum = 0i64;
    for (&a, &b) in q.iter().zip(x) {
        sum += a.into() * b.into();
    }
    sum as f32
}

/// `Σ (qᵢ - xᵢ)²` exactly, rounded to f32.
pub(crate) fn l2sq<T: Copy + Into<i64>>(q: &[T], x: &[T]) -> f32 {
    let mut sum = 0i64;
    for (&a, &b) in q.iter().zip(x) {
        let d = a.into() - b.into();
        sum += d * d;
    }
    sum as f32
}

/// `Σ xᵢ²` exactly, rounded to f32.
pub(crate) fn norm_sq<T: Copy + Into<i64>>(x: &[T]) -> f32 {
    dot(x, x)
}

/// The `[l2, ip, -, -, -]` kernels and the many-to-many tile of `T` rows.
macro_rules! int_family {
    ($t:ty) => {
        Family {
            variant: "scalar",
            metrics: [
                Some(crate::family::metric_kernels!([] $t, [$t], |q, x| l2sq(q, x))),
                Some(crate::family::metric_kernels!([] $t, [$t], |q, x| -dot(q, x))),
                None,
                None,
                None,
            ],
            many_to_many: Some(ManyToMany {
                norms: crate::family::norms_kernel!([] $t, norm_sq),
                dot_tile: crate::family::dot_tile_pairwise!([] $t, dot),
                knn_panels: None,
            }),
        }
    };
}

/// i8 rows and queries.
pub(crate) const I8: Family<i8> = int_family!(i8);
/// u8 rows and queries.
pub(crate) const U8: Family<u8> = int_family!(u8);
