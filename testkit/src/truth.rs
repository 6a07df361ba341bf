//! Exact neighbours as an oracle (plain `f64` loops, independent of the kernels
//! under test) and recall@k against them.

/// The id that pads a result row with fewer than k neighbours (as `sagevec-index`
/// and `sagevec-kernels` pad): never a neighbour, in truth or in found rows.
pub const PAD: u64 = u64::MAX;

/// Squared Euclidean distance in `f64`.
pub fn l2sq_f64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum()
}

/// The inner-product distance, `-a·b`, in `f64` (smaller is closer).
pub fn neg_dot_f64(a: &[f32], b: &[f32]) -> f64 {
    -a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum::<f64>()
}

/// The cosine distance `1 - a·b / (|a| |b|)` in `f64`, clamped to `[0, 2]`; 1 when
/// either vector is zero (the kernels' definition).
pub fn cosine_f64(a: &[f32], b: &[f32]) -> f64 {
    let (d, na, nb) = (-neg_dot_f64(a, b), -neg_dot_f64(a, a), -neg_dot_f64(b, b));
    if na == 0.0 || nb == 0.0 {
        return 1.0;
    }
    (1.0 - d / (na * nb).sqrt()).clamp(0.0, 2.0)
}

/// The exact `k` nearest rows of `base` for each row of `queries` (both
/// row-major, `dim` values a row) under `distance`: `(row, distance)` pairs,
/// nearest first, ties to the smaller row (ordered by `f64::total_cmp`). A row has
/// `min(k, rows of base)` entries.
///
/// Brute force over every pair: meant for test-sized data.
///
/// # Panics
///
/// If `dim` is 0 or either input is not whole rows.
pub fn exact_knn(
    base: &[f32],
    queries: &[f32],
    dim: usize,
    k: usize,
    distance: impl Fn(&[f32], &[f32]) -> f64,
) -> Vec<Vec<(u64, f64)>> {
    assert!(
        dim > 0 && base.len().is_multiple_of(dim) && queries.len().is_multiple_of(dim),
        "exact_knn: {} base and {} query values are not whole rows of {dim}",
        base.len(),
        queries.len()
    );
    queries
        .chunks_exact(dim)
        .map(|q| {
            let mut all: Vec<(u64, f64)> = base
                .chunks_exact(dim)
                .enumerate()
                .map(|(row, x)| (row as u64, distance(q, x)))
                .collect();
            all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            all.truncate(k);
            all
        })
        .collect()
}

/// Recall@k: of the true neighbours (the first `k` ids of each `truth` row,
/// [`PAD`] left out), the fraction that the first `k` ids of the matching `found`
/// row contain. Rows pair up in order; each true id counts once. NaN when truth
/// holds no neighbour at all (no rows, or only padding).
///
/// Flat row-major ids pass as `ids.chunks(k)`; an index's results as
/// `(0..n).map(|q| out.ids(q))`.
///
/// # Panics
///
/// If `k` is 0, or `found` and `truth` have different numbers of rows.
pub fn recall_at_k<'f, 't>(
    found: impl IntoIterator<Item = &'f [u64]>,
    truth: impl IntoIterator<Item = &'t [u64]>,
    k: usize,
) -> f64 {
    assert!(k > 0, "recall_at_k: k must be positive");
    let (mut found, mut truth) = (found.into_iter(), truth.into_iter());
    let (mut hits, mut wanted) = (0usize, 0usize);
    loop {
        match (found.next(), truth.next()) {
            (Some(f), Some(t)) => {
                let f = &f[..k.min(f.len())];
                for id in t.iter().take(k).filter(|&&id| id != PAD) {
                    wanted += 1;
                    hits += usize::from(f.contains(id));
                }
            }
            (None, None) => break,
            _ => panic!("recall_at_k: found and truth have different numbers of rows"),
        }
    }
    if wanted == 0 {
        return f64::NAN;
    }
    hits as f64 / wanted as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_distances() {
        let (a, b) = ([1.0f32, 2.0, 2.0], [0.0f32, 2.0, 0.0]);
        assert_eq!(l2sq_f64(&a, &b), 5.0);
        assert_eq!(neg_dot_f64(&a, &b), -4.0);
        assert!((cosine_f64(&a, &b) - (1.0 - 4.0 / 6.0)).abs() < 1e-15);
        assert_eq!(cosine_f64(&a, &[0.0; 3]), 1.0);
        assert_eq!(cosine_f64(&a, &a), 0.0);
        assert_eq!(cosine_f64(&a, &[-1.0, -2.0, -2.0]), 2.0);
        assert_eq!(l2sq_f64(&[], &[]), 0.0);
    }

    #[test]
    fn exact_knn_orders_by_distance_then_row() {
        // Rows 0 and 2 tie for the query at 0; row 1 is farthest.
        let base = [1.0f32, 0.0, 5.0, 0.0, -1.0, 0.0];
        let got = exact_knn(&base, &[0.0, 0.0], 2, 2, l2sq_f64);
        assert_eq!(got, vec![vec![(0, 1.0), (2, 1.0)]]);
        // k beyond the base: every row; k = 0: none; no queries: no rows.
        assert_eq!(exact_knn(&base, &[0.0, 0.0], 2, 9, l2sq_f64)[0].len(), 3);
        assert!(exact_knn(&base, &[0.0, 0.0], 2, 0, l2sq_f64)[0].is_empty());
        assert!(exact_knn(&base, &[], 2, 3, l2sq_f64).is_empty());
        let ip = exact_knn(&base, &[1.0, 0.0], 2, 3, neg_dot_f64);
        assert_eq!(ip[0].iter().map(|n| n.0).collect::<Vec<_>>(), [1, 0, 2]);
    }

    #[test]
    #[should_panic(expected = "not whole rows")]
    fn exact_knn_refuses_ragged_input() {
        exact_knn(&[1.0; 3], &[1.0; 2], 2, 1, l2sq_f64);
    }

    #[test]
    fn recall_counts_true_ids_once_and_skips_padding() {
        let truth = [[1u64, 2, 3], [4, 5, PAD]];
        let found = [[3u64, 9, 1], [PAD, 5, 4]];
        // Row 0: 2 of 3; row 1: 2 of the 2 real ones.
        let r = recall_at_k(
            found.iter().map(|r| &r[..]),
            truth.iter().map(|r| &r[..]),
            3,
        );
        assert_eq!(r, 4.0 / 5.0);
        // Only the first k of each row count, on both sides.
        let r = recall_at_k([&[9u64, 1][..]], [&[1u64, 2][..]], 1);
        assert_eq!(r, 0.0);
        // A repeated id in found does not count twice.
        assert_eq!(recall_at_k([&[1u64, 1][..]], [&[1u64, 2][..]], 2), 0.5);
        // Short found rows are fine; no neighbour to find is NaN.
        assert_eq!(recall_at_k([&[2u64][..]], [&[1u64, 2][..]], 2), 0.5);
        assert!(recall_at_k([&[1u64][..]], [&[PAD][..]], 1).is_nan());
        assert!(recall_at_k(std::iter::empty(), std::iter::empty(), 10).is_nan());
        // Flat buffers as chunks.
        let flat = [1u64, 2, 3, 4];
        assert_eq!(recall_at_k(flat.chunks(2), flat.chunks(2), 2), 1.0);
    }

    #[test]
    #[should_panic(expected = "different numbers of rows")]
    fn recall_refuses_unpaired_rows() {
        recall_at_k([&[1u64][..]], [&[1u64][..], &[2u64][..]], 1);
    }

    #[test]
    #[should_panic(expected = "k must be positive")]
    fn recall_refuses_k_zero() {
        recall_at_k([&[1u64][..]], [&[1u64][..]], 0);
    }
}
