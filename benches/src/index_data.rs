//! The clustered data of `benches/benches/index.rs`: `N_CLUSTERS` centres uniform
//! in `[-1, 1)^DIM` from `SplitMix64(CENTERS_SEED)`, rows with uniform noise of
//! half-width `SPREAD` ([`sagevec_testkit::Clusters`] documents the streams).
//! Base, queries and the vectors the mix adds are samples with `BASE_SEED`,
//! `QUERY_SEED` and `RESERVE_SEED`.
//!
//! `benches/compare/index_mix.py` builds the same arrays in numpy, so the peers
//! of `benches/compare/index_mix.py` measure on exactly these rows: the values here
//! are pinned by fingerprints (the test below), and changing them means changing
//! both sides.

use sagevec_testkit::{Clusters, Noise};

/// Coordinates per row.
pub const DIM: usize = 128;
/// How many centres.
pub const N_CLUSTERS: usize = 64;
/// Half-width of the uniform noise around a centre.
pub const SPREAD: f32 = 0.35;
/// Seed of the centres.
pub const CENTERS_SEED: u64 = 0x5A6E_1DE0_0000_0001;
/// Seed of the base rows.
pub const BASE_SEED: u64 = 0x5A6E_1DE0_0000_0002;
/// Seed of the queries.
pub const QUERY_SEED: u64 = 0x5A6E_1DE0_0000_0003;
/// Seed of the vectors the mix adds.
pub const RESERVE_SEED: u64 = 0x5A6E_1DE0_0000_0004;

/// The clusters every sample of the index bench is drawn from.
pub fn clusters() -> Clusters {
    Clusters::new(N_CLUSTERS, DIM, Noise::Uniform(SPREAD), CENTERS_SEED)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a over the f32 bits.
    fn fingerprint(values: &[f32]) -> u64 {
        values.iter().fold(0xCBF2_9CE4_8422_2325, |h, x| {
            (h ^ u64::from(x.to_bits())).wrapping_mul(0x0100_0000_01B3)
        })
    }

    /// The fingerprints were taken from the bench's own generator before it moved
    /// to the test kit (commit de9a8a9): the data, and so every published figure of
    /// the index bench and its numpy mirror, is unchanged.
    #[test]
    fn data_is_bit_identical_to_the_published_runs() {
        let c = clusters();
        assert_eq!(fingerprint(c.centres()), 0xD181_D2FE_7111_FDCF);
        assert_eq!(
            fingerprint(&c.sample(50_000, BASE_SEED)),
            0x0AAF_7CD6_B231_9DE9
        );
        assert_eq!(
            fingerprint(&c.sample(1000, QUERY_SEED)),
            0xFAE3_574B_1D87_BCF1
        );
        assert_eq!(
            fingerprint(&c.sample(10_000, RESERVE_SEED)),
            0xA17F_6F0F_9FD7_0C15
        );
    }
}
