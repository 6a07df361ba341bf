//! Summary statistics of repeated measurements.

/// The median of `values`: the middle one of an odd count, the mean of the two
/// middle ones of an even count; `None` for no values. Ordered by `f64::total_cmp`
/// (a NaN sorts above every number).
///
/// Timings pass as `times.iter().map(Duration::as_secs_f64)`.
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_no_values() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median([7.5]), Some(7.5));
        assert_eq!(median([]), None);
        assert_eq!(median([1.0, f64::NAN, 2.0]), Some(2.0));
        let times = [
            std::time::Duration::from_millis(3),
            std::time::Duration::from_millis(1),
        ];
        assert_eq!(
            median(times.iter().map(std::time::Duration::as_secs_f64)),
            Some(0.002)
        );
    }
}
