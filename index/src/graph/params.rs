//! Build parameters of the HNSW graph and their validation.
//!
//! Every bound is checked before any work starts, so a bad value is an
//! [`IndexError::InvalidParameter`] and never a panic, an abort or a graph that
//! silently ignores the request (hnsw_rs calls `process::exit(1)` for `m > 256`).

use crate::IndexError;

/// Smallest `m`: with one link per node the heuristic leaves a chain, not a graph.
pub const MIN_M: usize = 2;
/// Largest `m` (level 0 keeps `2m` = 512 links per node; hnswlib and hnsw_rs stop here too).
pub const MAX_M: usize = 256;
/// Largest `ef_construction`: the build beam is a heap of this many entries per worker.
pub const MAX_EF_CONSTRUCTION: usize = 1 << 16;
/// Largest level a node can draw: higher draws are clamped (at `m = 2` and the default
/// multiplier, reaching level 31 takes about 2^31 rows).
pub const MAX_LEVEL: usize = 31;

/// How an HNSW graph is built (Malkov & Yashunin 2018; names as in hnswlib).
///
/// The same `seed` gives the same levels; a [`Par::Seq`](sagevec_scheduler::Par)
/// build with the same input, parameters and seed gives the same graph bit for bit.
/// A parallel build draws the same levels, but the insertion order of concurrent
/// workers (and so the links) depends on thread timing: it is not reproducible.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphParams {
    /// Links kept per node on the upper levels; level 0 keeps `2 * m`. Default 16.
    pub m: usize,
    /// Beam width while inserting (larger: better graph, slower build). Default 200.
    pub ef_construction: usize,
    /// `mL` in the paper: a node reaches level `l` with probability `exp(-l / mL)`.
    /// `None` means `1 / ln(m)`, the paper's choice.
    pub level_multiplier: Option<f64>,
    /// Seed of the level generator (SplitMix64).
    pub seed: u64,
}

impl Default for GraphParams {
    fn default() -> Self {
        GraphParams {
            m: 16,
            ef_construction: 200,
            level_multiplier: None,
            seed: 0x5A6E_7EC0_4A5F_2024,
        }
    }
}

impl GraphParams {
    /// Checks every field: `m` in `2..=256`, `ef_construction` in `1..=65536`,
    /// `level_multiplier` (when given) finite and `> 0`.
    pub fn validate(&self) -> Result<(), IndexError> {
        if !(MIN_M..=MAX_M).contains(&self.m) {
            return Err(IndexError::InvalidParameter {
                name: "m",
                reason: format!("must be in {MIN_M}..={MAX_M}, got {}", self.m),
            });
        }
        if !(1..=MAX_EF_CONSTRUCTION).contains(&self.ef_construction) {
            return Err(IndexError::InvalidParameter {
                name: "ef_construction",
                reason: format!(
                    "must be in 1..={MAX_EF_CONSTRUCTION}, got {}",
                    self.ef_construction
                ),
            });
        }
        if let Some(ml) = self.level_multiplier
            && !(ml.is_finite() && ml > 0.0)
        {
            return Err(IndexError::InvalidParameter {
                name: "level_multiplier",
                reason: format!("must be finite and > 0, got {ml}"),
            });
        }
        Ok(())
    }

    /// The level multiplier in effect: the given one, else `1 / ln(m)`.
    pub fn effective_level_multiplier(&self) -> f64 {
        self.level_multiplier
            .unwrap_or_else(|| 1.0 / (self.m.max(MIN_M) as f64).ln())
    }

    /// Links kept per node on level 0 (`2 * m`).
    pub fn max_links0(&self) -> usize {
        2 * self.m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_are_enforced() {
        let p = GraphParams::default();
        p.validate().unwrap();
        assert!((p.effective_level_multiplier() - 1.0 / 16f64.ln()).abs() < 1e-15);
        for m in [0, 1, 257, usize::MAX] {
            let bad = GraphParams { m, ..p.clone() };
            assert!(matches!(
                bad.validate(),
                Err(IndexError::InvalidParameter { name: "m", .. })
            ));
        }
        for m in [2, 256] {
            GraphParams { m, ..p.clone() }.validate().unwrap();
        }
        for ef in [0, MAX_EF_CONSTRUCTION + 1] {
            let bad = GraphParams {
                ef_construction: ef,
                ..p.clone()
            };
            assert!(matches!(
                bad.validate(),
                Err(IndexError::InvalidParameter {
                    name: "ef_construction",
                    ..
                })
            ));
        }
        for ml in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let bad = GraphParams {
                level_multiplier: Some(ml),
                ..p.clone()
            };
            assert!(matches!(
                bad.validate(),
                Err(IndexError::InvalidParameter {
                    name: "level_multiplier",
                    ..
                })
            ));
        }
    }
}
