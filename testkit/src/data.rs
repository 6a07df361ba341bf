//! Generated vectors: uniform values, clustered rows, unit rows.

use sagevec_rng::SplitMix64;

/// The noise stream of [`Clusters::sample`] is `SplitMix64(seed ^ NOISE_XOR)`, so
/// labels and noise come from two independent streams (and numpy can draw each
/// with one vectorised call).
pub const NOISE_XOR: u64 = 0xA5A5_A5A5_A5A5_A5A5;

/// `n` values `scale · u`, `u` uniform in `[-1, 1)` ([`SplitMix64::next_f32`]),
/// drawn from `rng` in order (pass `&mut SplitMix64::new(seed)` for a fresh stream).
pub fn uniform(rng: &mut SplitMix64, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| scale * rng.next_f32()).collect()
}

/// How a clustered row's coordinates scatter around its centre.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// `centre + half_width · u`, `u` uniform in `[-1, 1)` per coordinate.
    Uniform(f32),
    /// `centre + sigma · g`, `g` standard normal per coordinate (Box-Muller).
    Gaussian(f32),
}

/// Seeded clustered data: a fixed set of centres, and rows drawn around them.
///
/// [`sample`](Self::sample)`(n, seed)` gives `n` row-major rows. Row `i` belongs to
/// cluster `labels.next_index(n_clusters)` with `labels = SplitMix64(seed)`; its
/// coordinates are its centre's plus [`Noise`] drawn in row order from
/// `SplitMix64(seed ^ NOISE_XOR)`, computed in `f32` as `centre + spread · draw`.
/// Base and queries are two samples (two seeds) of the same clusters.
///
/// This layout is a contract: `benches/compare/index_mix.py` reproduces it in
/// numpy bit for bit (uniform noise), for the bench `benches/benches/index.rs`.
#[derive(Clone, Debug)]
pub struct Clusters {
    dim: usize,
    centres: Vec<f32>,
    noise: Noise,
}

impl Clusters {
    /// `n_clusters` centres uniform in `[-1, 1)^dim`, drawn row by row from
    /// `SplitMix64(seed)` ([`uniform`] with scale 1).
    ///
    /// # Panics
    ///
    /// If `n_clusters` or `dim` is 0.
    pub fn new(n_clusters: usize, dim: usize, noise: Noise, seed: u64) -> Self {
        Clusters::with_centres(
            uniform(&mut SplitMix64::new(seed), n_clusters * dim, 1.0),
            dim,
            noise,
        )
    }

    /// Clusters around the given row-major `centres` (e.g. [`uniform`] at another
    /// scale, or rows of a real data set).
    ///
    /// # Panics
    ///
    /// If `dim` is 0, or `centres` is empty or not whole rows.
    pub fn with_centres(centres: Vec<f32>, dim: usize, noise: Noise) -> Self {
        assert!(dim > 0, "Clusters: dim must be positive");
        assert!(
            !centres.is_empty() && centres.len().is_multiple_of(dim),
            "Clusters: {} centre values are not whole rows of {dim}",
            centres.len()
        );
        Clusters {
            dim,
            centres,
            noise,
        }
    }

    /// `n` rows (`n · dim` values, row-major) from `seed`; see the type's docs.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<f32> {
        let n_clusters = self.n_clusters();
        let mut labels = SplitMix64::new(seed);
        let mut noise = SplitMix64::new(seed ^ NOISE_XOR);
        let mut out = Vec::with_capacity(n * self.dim);
        for _ in 0..n {
            let c = labels.next_index(n_clusters);
            let centre = &self.centres[c * self.dim..(c + 1) * self.dim];
            match self.noise {
                Noise::Uniform(half_width) => {
                    out.extend(centre.iter().map(|&x| x + half_width * noise.next_f32()));
                }
                Noise::Gaussian(sigma) => {
                    out.extend(centre.iter().map(|&x| x + sigma * noise.next_gaussian()));
                }
            }
        }
        out
    }

    /// The centres, row-major.
    pub fn centres(&self) -> &[f32] {
        &self.centres
    }

    /// Coordinates per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// How many centres.
    pub fn n_clusters(&self) -> usize {
        self.centres.len() / self.dim
    }
}

/// Scales every row of `data` (`dim` values each) to unit L2 norm, computed in
/// `f64` and rounded once; a zero row stays zero.
///
/// # Panics
///
/// If `dim` is 0 or `data` is not whole rows.
pub fn normalize_rows(data: &mut [f32], dim: usize) {
    assert!(
        dim > 0 && data.len().is_multiple_of(dim),
        "normalize_rows: {} values are not whole rows of {dim}",
        data.len()
    );
    for row in data.chunks_exact_mut(dim) {
        let norm = row
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            row.iter_mut()
                .for_each(|x| *x = (f64::from(*x) / norm) as f32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_scaled_next_f32_in_order() {
        let got = uniform(&mut SplitMix64::new(3), 5, 0.5);
        let mut rng = SplitMix64::new(3);
        let want: Vec<f32> = (0..5).map(|_| 0.5 * rng.next_f32()).collect();
        assert_eq!(got, want);
        assert!(got.iter().all(|x| (-0.5..0.5).contains(x)));
        assert!(uniform(&mut rng, 0, 1.0).is_empty());
    }

    /// The stream layout the docs promise (and numpy mirrors), written out.
    #[test]
    fn sample_follows_the_documented_streams() {
        let (n_clusters, dim, spread) = (5, 3, 0.35f32);
        let c = Clusters::new(n_clusters, dim, Noise::Uniform(spread), 11);
        assert_eq!(c.centres(), uniform(&mut SplitMix64::new(11), 15, 1.0));
        let rows = c.sample(7, 99);
        let mut labels = SplitMix64::new(99);
        let mut noise = SplitMix64::new(99 ^ NOISE_XOR);
        let mut want = Vec::new();
        for _ in 0..7 {
            let k = (labels.next_u64() % n_clusters as u64) as usize;
            for j in 0..dim {
                want.push(c.centres()[k * dim + j] + spread * noise.next_f32());
            }
        }
        assert_eq!(rows, want);
        assert_eq!(c.sample(7, 99), rows);
        assert_ne!(c.sample(7, 100), rows);
        assert!(c.sample(0, 1).is_empty());
    }

    #[test]
    fn gaussian_noise_scatters_by_sigma() {
        let sigma = 0.5f32;
        let c = Clusters::new(1, 4, Noise::Gaussian(sigma), 2);
        let rows = c.sample(20_000, 5);
        let mut noise = SplitMix64::new(5 ^ NOISE_XOR);
        assert_eq!(rows[0], c.centres()[0] + sigma * noise.next_gaussian());
        let offsets: Vec<f64> = rows
            .chunks_exact(4)
            .flat_map(|r| r.iter().zip(c.centres()).map(|(&x, &m)| f64::from(x - m)))
            .collect();
        let var = offsets.iter().map(|d| d * d).sum::<f64>() / offsets.len() as f64;
        assert!((var.sqrt() - 0.5).abs() < 0.01, "{}", var.sqrt());
    }

    /// Rows sit near their own centre: with a small spread, the nearest centre of
    /// every row is the one it was drawn around.
    #[test]
    fn rows_are_nearest_their_own_centre() {
        let dim = 16;
        let c = Clusters::new(8, dim, Noise::Uniform(0.05), 4);
        let rows = c.sample(500, 6);
        let mut labels = SplitMix64::new(6);
        for row in rows.chunks_exact(dim) {
            let want = labels.next_index(8);
            let nearest = (0..8)
                .min_by(|&a, &b| {
                    let d = |k: usize| l2(row, &c.centres()[k * dim..(k + 1) * dim]);
                    d(a).total_cmp(&d(b))
                })
                .unwrap();
            assert_eq!(nearest, want);
        }
    }

    fn l2(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x - y).powi(2))
            .sum()
    }

    #[test]
    fn with_centres_keeps_them() {
        let c = Clusters::with_centres(vec![1.0, 2.0, 3.0, 4.0], 2, Noise::Uniform(0.0));
        assert_eq!((c.n_clusters(), c.dim()), (2, 2));
        for row in c.sample(10, 1).chunks_exact(2) {
            assert!(row == [1.0, 2.0] || row == [3.0, 4.0], "{row:?}");
        }
    }

    #[test]
    #[should_panic(expected = "not whole rows")]
    fn ragged_centres_panic() {
        Clusters::with_centres(vec![1.0; 5], 2, Noise::Uniform(1.0));
    }

    #[test]
    #[should_panic(expected = "not whole rows")]
    fn no_clusters_panic() {
        Clusters::new(0, 4, Noise::Uniform(1.0), 1);
    }

    #[test]
    fn normalize_rows_gives_unit_rows_and_keeps_zero_rows() {
        let mut data = vec![3.0, 4.0, 0.0, 0.0, -1.0, 0.0];
        normalize_rows(&mut data, 2);
        assert_eq!(data, [0.6, 0.8, 0.0, 0.0, -1.0, 0.0]);
        let mut many = uniform(&mut SplitMix64::new(1), 64 * 33, 2.0);
        normalize_rows(&mut many, 33);
        for row in many.chunks_exact(33) {
            let n: f64 = row.iter().map(|&x| f64::from(x).powi(2)).sum();
            assert!((n - 1.0).abs() < 1e-6, "{n}");
        }
        normalize_rows(&mut [], 3);
    }

    #[test]
    #[should_panic(expected = "not whole rows")]
    fn normalize_rows_refuses_ragged_data() {
        normalize_rows(&mut [1.0; 5], 2);
    }
}
