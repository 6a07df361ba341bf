//! Seeded generated data: the built-in vectors of `sagevec demo` and
//! `sagevec bench search`, the same for the same seed on every machine.

use sagevec_rng::SplitMix64;

/// Clusters the generated vectors are drawn around.
const N_CENTRES: usize = 100;
/// Centres are uniform in `[-SPREAD, SPREAD)^dim`.
const SPREAD: f32 = 4.0;

/// `n` row-major vectors of `dim` around 100 random centres (spread 4, noise 1):
/// from `SplitMix64(seed)`, the centres (uniform in `[-4, 4)` per coordinate), then
/// per vector a centre (`next_index`) and its noise (uniform in `[-1, 1)` per
/// coordinate).
pub(crate) fn clustered(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let centres: Vec<f32> = (0..N_CENTRES * dim)
        .map(|_| SPREAD * rng.next_f32())
        .collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.next_index(N_CENTRES);
        out.extend(
            centres[c * dim..(c + 1) * dim]
                .iter()
                .map(|&x| x + rng.next_f32()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clustered_is_seeded_and_in_range() {
        let a = clustered(50, 8, 7);
        assert_eq!(a.len(), 400);
        assert_eq!(a, clustered(50, 8, 7));
        assert_ne!(a, clustered(50, 8, 8));
        assert!(a.iter().all(|x| (-5.0..5.0).contains(x)), "{a:?}");
        assert!(clustered(0, 8, 1).is_empty());
        assert!(clustered(3, 0, 1).is_empty());
    }
}
