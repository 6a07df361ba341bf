//! f32 scalar kernels (`*_f32_scalar`): f32 → f32 accumulator → f32, in index order.

use crate::rows::Rows;

/// `Σ aᵢ bᵢ` over the shorter length.
pub fn dot_f32_scalar(a: &[f32], b: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += x * y;
    }
    sum
}

/// `Σ (aᵢ - bᵢ)²` over the shorter length.
pub fn l2sq_f32_scalar(a: &[f32], b: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        let d = x - y;
        sum += d * d;
    }
    sum
}

/// `(Σ aᵢ bᵢ, Σ aᵢ², Σ bᵢ²)`: the parts of the cosine distance.
pub fn cos_parts_f32_scalar(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    (dot, na, nb)
}

/// `(Σ qᵢ xᵢ, Σ xᵢ²)`: dot and the row's squared norm in one pass.
pub fn dot_norm_f32_scalar(q: &[f32], x: &[f32]) -> (f32, f32) {
    let (mut dot, mut nx) = (0.0f32, 0.0f32);
    for (a, b) in q.iter().zip(x) {
        dot += a * b;
        nx += b * b;
    }
    (dot, nx)
}

/// `Σ aᵢ²`.
pub fn norm_sq_f32_scalar(a: &[f32]) -> f32 {
    dot_f32_scalar(a, a)
}

/// `out[i * n_x + j] = q_i · x_j`, pair by pair.
pub fn dot_tile_f32_scalar(q: Rows<'_, f32>, x: Rows<'_, f32>, out: &mut [f32]) {
    let n_x = x.n_rows();
    for (i, qi) in q.iter().enumerate() {
        for (j, xj) in x.iter().enumerate() {
            if let Some(o) = out.get_mut(i * n_x + j) {
                *o = dot_f32_scalar(qi, xj);
            }
        }
    }
}

crate::family::row_family! {
    elem = f32,
    dot = dot_f32_scalar,
    l2sq = l2sq_f32_scalar,
    cos_parts = cos_parts_f32_scalar,
    dot_norm = dot_norm_f32_scalar,
    norm_sq = norm_sq_f32_scalar,
    dot_tile = dot_tile_f32_scalar,
    knn_panels = None,
}
