//! SplitMix64 (Steele, Lea and Flood 2014): the one seeded generator of sagevec.
//!
//! A 64-bit state advanced by a constant (the golden-ratio "gamma") and three
//! xor-shift-multiply rounds per output. It is not cryptographic and not meant to
//! be; it is tiny, fast, passes BigCrush, and gives the same stream on every
//! machine, which is what its users need:
//!
//! - the HNSW graph (`sagevec-index`) draws every row's level from it, so a seed
//!   gives the same levels, and a sequential build the same graph, everywhere;
//! - the command-line tool's generated data (`sagevec demo`, `sagevec bench`);
//! - the benches and tests (through `sagevec-testkit`, which builds clustered data,
//!   recall and medians on top of it).
//!
//! The streams are a contract: `benches/compare/index_mix.py` reproduces
//! [`SplitMix64::next_u64`] and [`SplitMix64::next_f32`] in numpy bit for bit, and
//! the levels of saved graphs came from [`SplitMix64::next_f64_open0`]. The tests
//! below pin the first outputs of each.
//!
//! ```
//! use sagevec_rng::SplitMix64;
//!
//! let mut a = SplitMix64::new(7);
//! let mut b = SplitMix64::new(7);
//! assert_eq!(a.next_u64(), b.next_u64());
//! let x = a.next_f32();
//! assert!((-1.0..1.0).contains(&x));
//! ```

/// The constant the state advances by at every draw: 2⁶⁴ / φ, rounded to odd.
pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 generator: a seed in, the same stream of 64-bit values out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator started from `seed` (any value, 0 included).
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform `f32` in `[-1, 1)`: the top 24 bits of [`next_u64`](Self::next_u64)
    /// times 2⁻²³, minus 1. Every value is a multiple of 2⁻²³, so it is exact in
    /// `f32` (never subnormal, never NaN).
    #[inline]
    pub fn next_f32(&mut self) -> f32 {
        const SCALE: f32 = 1.0 / (1u32 << 23) as f32;
        ((self.next_u64() >> 40) as u32) as f32 * SCALE - 1.0
    }

    /// A uniform `f64` in `(0, 1]` (53 random bits, then `+ 1`, times 2⁻⁵³): never
    /// zero, so its logarithm is finite. HNSW levels are `floor(-ln(u) · mL)`.
    #[inline]
    pub fn next_f64_open0(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal `f32` (Box-Muller, cosine branch): two draws of
    /// [`next_f64_open0`](Self::next_f64_open0) per value, computed in `f64`.
    #[inline]
    pub fn next_gaussian(&mut self) -> f32 {
        let u = self.next_f64_open0();
        let v = self.next_f64_open0();
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }

    /// A uniform index in `0..n`: [`next_u64`](Self::next_u64) modulo `n` (the bias,
    /// below n / 2⁶⁴, does not matter for generated data).
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    #[inline]
    pub fn next_index(&mut self, n: usize) -> usize {
        assert!(n > 0, "SplitMix64::next_index: n must be positive");
        (self.next_u64() % n as u64) as usize
    }

    /// Fills `out` with [`next_f32`](Self::next_f32) values, in order.
    pub fn fill(&mut self, out: &mut [f32]) {
        out.iter_mut().for_each(|x| *x = self.next_f32());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first outputs for seed 0 of the reference implementation (Vigna's
    /// `splitmix64.c`).
    #[test]
    fn matches_the_reference_stream() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
        // The state is only ever advanced by GAMMA: seed s then one draw is the
        // same state as seed s + GAMMA before it.
        let mut a = SplitMix64::new(5);
        a.next_u64();
        assert_eq!(a, SplitMix64::new(5u64.wrapping_add(GAMMA)));
    }

    /// Each derived draw is a fixed function of one or two `next_u64` outputs; the
    /// values pinned here are the ones the bench data and graph levels depend on.
    #[test]
    fn derived_draws_are_pinned() {
        // 0xE220_A839_7B1D_CDAF >> 40 = 0xE220A8 = 14819496.
        assert_eq!(
            SplitMix64::new(0).next_f32(),
            14_819_496.0 / 8_388_608.0 - 1.0
        );
        // (0xE220_A839_7B1D_CDAF >> 11) + 1, times 2^-53.
        let top53 = (0xE220_A839_7B1D_CDAFu64 >> 11) as f64 + 1.0;
        assert_eq!(
            SplitMix64::new(0).next_f64_open0(),
            top53 / 9_007_199_254_740_992.0
        );
        assert_eq!(
            SplitMix64::new(0).next_index(10),
            (0xE220_A839_7B1D_CDAFu64 % 10) as usize
        );
        let mut two = SplitMix64::new(0);
        let (u, v) = (two.next_f64_open0(), two.next_f64_open0());
        let want = ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32;
        assert_eq!(SplitMix64::new(0).next_gaussian().to_bits(), want.to_bits());
        let mut filled = [0f32; 3];
        SplitMix64::new(9).fill(&mut filled);
        let mut one = SplitMix64::new(9);
        assert_eq!(filled, [one.next_f32(), one.next_f32(), one.next_f32()]);
    }

    #[test]
    fn draws_stay_in_range() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..100_000 {
            let x = rng.next_f32();
            assert!((-1.0..1.0).contains(&x), "{x}");
            let u = rng.next_f64_open0();
            assert!(u > 0.0 && u <= 1.0, "{u}");
            assert!(rng.next_gaussian().is_finite());
            assert!(rng.next_index(3) < 3);
            assert_eq!(rng.next_index(1), 0);
        }
    }

    /// The extremes of the 24- and 53-bit draws are in range too: the largest
    /// `next_f32` is 1 - 2⁻²³ (< 1), the smallest -1; `next_f64_open0` reaches 1
    /// exactly and never 0.
    #[test]
    fn extremes_are_in_range() {
        const SCALE: f32 = 1.0 / (1u32 << 23) as f32;
        assert_eq!(0.0 * SCALE - 1.0, -1.0);
        assert!(((1u32 << 24) - 1) as f32 * SCALE - 1.0 < 1.0);
        let max = ((u64::MAX >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64);
        assert_eq!(max, 1.0);
        let min = 1.0 * (1.0 / (1u64 << 53) as f64);
        assert!(min > 0.0 && min.ln().is_finite());
    }

    /// Rough uniformity: the mean of `next_f32` is near 0, `next_index` hits every
    /// bucket about equally, and the gaussian has mean 0 and variance 1.
    #[test]
    fn moments_are_right() {
        let n = 200_000usize;
        let mut rng = SplitMix64::new(11);
        let mean = (0..n).map(|_| f64::from(rng.next_f32())).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        let mut buckets = [0usize; 8];
        (0..n).for_each(|_| buckets[rng.next_index(8)] += 1);
        for b in buckets {
            assert!((b as f64 / n as f64 - 0.125).abs() < 0.005, "{buckets:?}");
        }
        let g: Vec<f64> = (0..n).map(|_| f64::from(rng.next_gaussian())).collect();
        let m = g.iter().sum::<f64>() / n as f64;
        let var = g.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.01 && (var - 1.0).abs() < 0.02, "{m} {var}");
    }

    #[test]
    #[should_panic(expected = "n must be positive")]
    fn next_index_of_zero_panics() {
        SplitMix64::new(1).next_index(0);
    }
}
