//! The seeded level generator: SplitMix64 (Steele, Lea and Flood 2014), no `rand`.
//!
//! Levels are drawn for every row up front, in row order, before any insertion, so
//! they depend on the seed alone, not on how a parallel build interleaves.

use super::params::MAX_LEVEL;

/// SplitMix64: one add and three xor-shift-multiply rounds per output.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in `(0, 1]` (53 bits), so `ln` of it is finite.
    pub(crate) fn next_unit_open0(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64)
    }
}

/// The level of each of `n` rows: `floor(-ln(u) * ml)`, clamped to [`MAX_LEVEL`].
pub(crate) fn draw_levels(n: usize, ml: f64, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let l = (-rng.next_unit_open0().ln() * ml).floor();
            // `l` is >= 0 (u <= 1) and finite (u > 0, ml finite); `as` saturates.
            (l.min(MAX_LEVEL as f64) as usize) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_and_levels_are_geometric() {
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let ml = 1.0 / 16f64.ln();
        let levels = draw_levels(200_000, ml, 42);
        assert_eq!(levels, draw_levels(200_000, ml, 42));
        assert_ne!(levels, draw_levels(200_000, ml, 43));
        // P(level >= 1) = exp(-1/ml) = 1/16.
        let up = levels.iter().filter(|&&l| l >= 1).count() as f64 / levels.len() as f64;
        assert!((up - 1.0 / 16.0).abs() < 0.005, "{up}");
        let up2 = levels.iter().filter(|&&l| l >= 2).count() as f64 / levels.len() as f64;
        assert!((up2 - 1.0 / 256.0).abs() < 0.001, "{up2}");
        assert!(levels.iter().all(|&l| l as usize <= MAX_LEVEL));
        // A huge multiplier clamps instead of overflowing.
        assert!(
            draw_levels(100, 1e300, 1)
                .iter()
                .all(|&l| l as usize == MAX_LEVEL)
        );
    }
}
