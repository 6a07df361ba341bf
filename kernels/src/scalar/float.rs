//! Scalar kernels of f32 queries against f32, f16 and bf16 rows: each row element
//! widened exactly to f32, then one f32 accumulator in index order, so a 16-bit
//! row's result is bit for bit the f32 kernel's on the widened row.

use half::{bf16, f16};

use crate::rows::Rows;
use crate::table::{Family, ManyToMany};

/// A row element type that widens exactly to f32 (f32, f16, bf16; i8/u8 codes).
pub(crate) trait Widen: Copy {
    fn widen(self) -> f32;
}

impl Widen for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
}

impl Widen for f16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }
}

impl Widen for bf16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }
}

impl Widen for i8 {
    #[inline(always)]
    fn widen(self) -> f32 {
        f32::from(self)
    }
}

impl Widen for u8 {
    #[inline(always)]
    fn widen(self) -> f32 {
        f32::from(self)
    }
}

/// `Σ qᵢ xᵢ` over the shorter length, both widened exactly (an f32 query against a
/// row; or two rows of one type: the bf16 many-to-many dots).
pub(crate) fn dot<Q: Widen, T: Widen>(q: &[Q], x: &[T]) -> f32 {
    let mut sum = 0.0f32;
    for (a, b) in q.iter().zip(x) {
        sum += a.widen() * b.widen();
    }
    sum
}

/// `Σ (qᵢ - xᵢ)²` over the shorter length.
pub(crate) fn l2sq<T: Widen>(q: &[f32], x: &[T]) -> f32 {
    let mut sum = 0.0f32;
    for (a, b) in q.iter().zip(x) {
        let d = a - b.widen();
        sum += d * d;
    }
    sum
}

/// `(Σ qᵢ xᵢ, Σ qᵢ², Σ xᵢ²)`: the parts of the cosine distance.
pub(crate) fn cos_parts<T: Widen>(q: &[f32], x: &[T]) -> (f32, f32, f32) {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (a, b) in q.iter().zip(x) {
        let b = b.widen();
        dot += a * b;
        na += a * a;
        nb += b * b;
    }
    (dot, na, nb)
}

/// `(Σ qᵢ xᵢ, Σ xᵢ²)`: dot and the row's squared norm in one pass.
pub(crate) fn dot_norm<T: Widen>(q: &[f32], x: &[T]) -> (f32, f32) {
    let (mut dot, mut nx) = (0.0f32, 0.0f32);
    for (a, b) in q.iter().zip(x) {
        let b = b.widen();
        dot += a * b;
        nx += b * b;
    }
    (dot, nx)
}

/// `Σ aᵢ²` of a row of `T` widened exactly.
pub(crate) fn norm_rows<T: Widen>(a: &[T]) -> f32 {
    dot::<T, T>(a, a)
}

/// `Σ aᵢ²`.
pub(crate) fn norm_sq(a: &[f32]) -> f32 {
    dot::<f32, f32>(a, a)
}

/// `out[i * n_x + j] = q_i · x_j`, pair by pair.
fn dot_tile_f32_scalar(q: Rows<'_, f32>, x: Rows<'_, f32>, out: &mut [f32]) {
    let n_x = x.n_rows();
    for (i, qi) in q.iter().enumerate() {
        for (j, xj) in x.iter().enumerate() {
            if let Some(o) = out.get_mut(i * n_x + j) {
                *o = dot::<f32, f32>(qi, xj);
            }
        }
    }
}

/// The `[l2, ip, cosine, -, -]` kernels of rows of `T` against f32 queries.
macro_rules! float_family {
    ($t:ty) => {
        crate::family::float_metrics!(
            [] $t, l2sq::<$t>, dot::<f32, $t>, cos_parts::<$t>, dot_norm::<$t>, norm_sq
        )
    };
}

/// f32 rows.
pub(crate) const F32: Family<f32> = Family {
    variant: "scalar",
    metrics: float_family!(f32),
    many_to_many: Some(ManyToMany {
        norms: crate::family::norms_kernel!([] f32, norm_sq),
        dot_tile: dot_tile_f32_scalar,
        knn_panels: None,
    }),
};

/// f16 rows (f32 queries).
pub(crate) const F16: Family<f16> = Family {
    variant: "scalar",
    metrics: float_family!(f16),
    many_to_many: None,
};

/// bf16 rows (f32 queries; bf16 queries in the many-to-many shapes).
pub(crate) const BF16: Family<bf16> = Family {
    variant: "scalar",
    metrics: float_family!(bf16),
    many_to_many: Some(ManyToMany {
        norms: crate::family::norms_kernel!([] bf16, norm_rows::<bf16>),
        dot_tile: crate::family::dot_tile_pairwise!([] bf16, dot::<bf16, bf16>),
        knn_panels: None,
    }),
};
