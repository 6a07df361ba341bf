//! Turning accumulated parts into distances: one definition for every ISA.

/// Cosine distance from a dot product and the two squared norms.
///
/// `1 - dot / sqrt(na * nb)`, evaluated in f64 so `na * nb` cannot overflow or
/// underflow, clamped into `[0, 2]` (rounding can step just outside). A zero vector
/// (either norm exactly 0) gives `1.0`. NaN parts give NaN, and so does a norm that
/// is infinite (an infinite component, or a sum of squares past f32::MAX): the angle
/// cannot be computed from it, and the many-to-many path answers the same.
#[inline(always)]
pub(crate) fn cosine_from_parts(dot: f32, na: f32, nb: f32) -> f32 {
    if na == 0.0 || nb == 0.0 {
        return 1.0;
    }
    if !(na.is_finite() && nb.is_finite()) {
        return f32::NAN;
    }
    let denom = (f64::from(na) * f64::from(nb)).sqrt();
    let d = (1.0 - f64::from(dot) / denom) as f32;
    clamp_keep_nan(d, 0.0, 2.0)
}

/// Squared L2 distance from `|q|² + |x|² - 2 q·x`, clamped at 0 (cancellation can
/// make it slightly negative for near-identical vectors). NaN parts give NaN.
#[inline(always)]
pub(crate) fn l2sq_from_parts(dot: f32, nq: f32, nx: f32) -> f32 {
    let d = nq + nx - 2.0 * dot;
    if d < 0.0 { 0.0 } else { d }
}

/// Jaccard distance `1 - |a ∧ b| / |a ∨ b|` from the two popcounts, in f64 then
/// rounded once (so every ISA gives the same bits); `0.0` for two empty sets.
#[inline(always)]
pub(crate) fn jaccard_from_counts(inter: u64, union: u64) -> f32 {
    if union == 0 {
        return 0.0;
    }
    (1.0 - inter as f64 / union as f64) as f32
}

/// `x` clamped to `[lo, hi]`, with NaN passed through (comparisons with NaN fail).
#[inline(always)]
pub(crate) fn clamp_keep_nan(x: f32, lo: f32, hi: f32) -> f32 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_edges() {
        assert_eq!(cosine_from_parts(0.0, 0.0, 5.0), 1.0);
        assert_eq!(cosine_from_parts(0.0, 5.0, 0.0), 1.0);
        assert_eq!(cosine_from_parts(2.0, 1.0, 4.0), 0.0);
        assert_eq!(cosine_from_parts(-2.0, 1.0, 4.0), 2.0);
        assert_eq!(cosine_from_parts(2.0000002, 1.0, 4.0), 0.0); // rounding clamps
        assert!(cosine_from_parts(f32::NAN, 1.0, 1.0).is_nan());
        // No overflow from na * nb in f32.
        assert_eq!(cosine_from_parts(1e30, 1e30, 1e30), 0.0);
        assert!(cosine_from_parts(1.0, f32::INFINITY, 1.0).is_nan());
        assert!(cosine_from_parts(0.0, 1.0, f32::INFINITY).is_nan());
    }

    #[test]
    fn l2_edges() {
        assert_eq!(l2sq_from_parts(1.0, 1.0, 1.0), 0.0);
        assert_eq!(l2sq_from_parts(1.0000001, 1.0, 1.0), 0.0);
        assert_eq!(l2sq_from_parts(0.0, 1.0, 2.0), 3.0);
        assert!(l2sq_from_parts(f32::NAN, 1.0, 1.0).is_nan());
    }
}
