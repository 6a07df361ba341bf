//! f16-row scalar kernels (`*_f16_scalar`): an f32 query against f16 rows, each row
//! element widened exactly to f32, then the f32 scalar kernel's arithmetic in the
//! same order, so results are bit for bit `*_f32_scalar` on the widened row.

use half::f16;

/// `Σ qᵢ xᵢ` over the shorter length.
pub fn dot_f16_scalar(q: &[f32], x: &[f16]) -> f32 {
    let mut sum = 0.0f32;
    for (a, b) in q.iter().zip(x) {
        sum += a * b.to_f32();
    }
    sum
}

/// `Σ (qᵢ - xᵢ)²` over the shorter length.
pub fn l2sq_f16_scalar(q: &[f32], x: &[f16]) -> f32 {
    let mut sum = 0.0f32;
    for (a, b) in q.iter().zip(x) {
        let d = a - b.to_f32();
        sum += d * d;
    }
    sum
}

/// `(Σ qᵢ xᵢ, Σ qᵢ², Σ xᵢ²)`: the parts of the cosine distance.
pub fn cos_parts_f16_scalar(q: &[f32], x: &[f16]) -> (f32, f32, f32) {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (a, b) in q.iter().zip(x) {
        let b = b.to_f32();
        dot += a * b;
        na += a * a;
        nb += b * b;
    }
    (dot, na, nb)
}

/// `(Σ qᵢ xᵢ, Σ xᵢ²)`: dot and the row's squared norm in one pass.
pub fn dot_norm_f16_scalar(q: &[f32], x: &[f16]) -> (f32, f32) {
    let (mut dot, mut nx) = (0.0f32, 0.0f32);
    for (a, b) in q.iter().zip(x) {
        let b = b.to_f32();
        dot += a * b;
        nx += b * b;
    }
    (dot, nx)
}

/// `dst[i] = f16(src[i] · scale)`, rounded to nearest even (overflow gives ±inf).
pub fn encode_f16_scalar(src: &[f32], scale: f32, dst: &mut [f16]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f16::from_f32(s * scale);
    }
}

/// `dst[i] = src[i]` widened exactly to f32.
pub fn decode_f16_scalar(src: &[f16], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.to_f32();
    }
}

crate::family::row_family! {
    elem = f16,
    dot = dot_f16_scalar,
    l2sq = l2sq_f16_scalar,
    cos_parts = cos_parts_f16_scalar,
    dot_norm = dot_norm_f16_scalar,
    norm_sq = crate::scalar::f32::norm_sq_f32_scalar,
    encode = encode_f16_scalar,
    decode = decode_f16_scalar,
}
