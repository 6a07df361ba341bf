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

/// Dimensions from which [`Traversal::Auto`] walks an f16 copy. Measured on
/// clustered 100k-row sets, one thread: at 32 dimensions the f16 walk was 5-10%
/// slower, at 64 even, at 96 and 128 20-30% faster. Below this a row is a few
/// cache lines and a search costs arithmetic more than bytes, so the copy would
/// cost memory for nothing.
pub const AUTO_F16_MIN_DIM: usize = 96;

/// Which copy of the vectors a graph search walks.
///
/// Past a few hundred dimensions a search is limited by the bytes it reads per
/// hop, not by arithmetic. An f16 copy halves them: the walk compares f16
/// distances (the rows scaled by a power of two into f16's range, then rounded to
/// nearest; the f32 query is scaled the same), and the beam's rows are re-ranked
/// with the f32 vectors, so every returned distance is the exact f32 one. Such a
/// graph is built on the copy too (half the bytes per insertion). The copy costs
/// half the f32 vectors' memory again. Not stored in index files: a reopened
/// index walks what its configuration asks for. Non-exhaustive: later versions
/// may walk other copies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Traversal {
    /// [`F16`](Self::F16) when vectors have at least [`AUTO_F16_MIN_DIM`]
    /// elements, else [`F32`](Self::F32). The default.
    #[default]
    Auto,
    /// Walk the f32 vectors themselves (no extra memory).
    F32,
    /// Walk an f16 copy and re-rank the beam with the f32 vectors.
    F16,
}

impl Traversal {
    /// Whether a graph of `dim`-element vectors walks an f16 copy.
    pub fn uses_f16(self, dim: usize) -> bool {
        match self {
            Traversal::Auto => dim >= AUTO_F16_MIN_DIM,
            Traversal::F32 => false,
            Traversal::F16 => true,
        }
    }

    /// Lower-case name (`auto`, `f32`, `f16`).
    pub const fn name(self) -> &'static str {
        match self {
            Traversal::Auto => "auto",
            Traversal::F32 => "f32",
            Traversal::F16 => "f16",
        }
    }
}

impl std::fmt::Display for Traversal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Traversal {
    type Err = IndexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Traversal::Auto),
            "f32" => Ok(Traversal::F32),
            "f16" => Ok(Traversal::F16),
            _ => Err(IndexError::InvalidParameter {
                name: "traversal",
                reason: format!("must be auto, f32 or f16, got {s:?}"),
            }),
        }
    }
}

/// How an HNSW graph is built (Malkov & Yashunin 2018; names as in hnswlib).
///
/// The same `seed` gives the same levels; a [`Par::Seq`](sagevec_scheduler::Par)
/// build with the same input, parameters and seed gives the same graph bit for bit.
/// A parallel build draws the same levels, but the insertion order of concurrent
/// workers (and so the links) depends on thread timing: it is not reproducible.
///
/// Start from [`GraphParams::default`] and chain the setters
/// (`GraphParams::default().m(8).seed(7)`); non-exhaustive: later versions may
/// add fields.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
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
    /// Which copy of the vectors searches walk (default [`Traversal::Auto`]).
    /// [`Graph::build`](super::Graph::build) also builds on that copy (links
    /// chosen with the distances its searches compare). On a built graph the
    /// field names what it walks now: after
    /// [`set_traversal`](super::Graph::set_traversal) or a reload the links stay
    /// as they were built.
    pub traversal: Traversal,
}

impl Default for GraphParams {
    fn default() -> Self {
        GraphParams {
            m: 16,
            ef_construction: 200,
            level_multiplier: None,
            seed: 0x5A6E_7EC0_4A5F_2024,
            traversal: Traversal::Auto,
        }
    }
}

impl GraphParams {
    /// Sets `m`.
    pub fn m(mut self, m: usize) -> Self {
        self.m = m;
        self
    }

    /// Sets `ef_construction`.
    pub fn ef_construction(mut self, ef_construction: usize) -> Self {
        self.ef_construction = ef_construction;
        self
    }

    /// Sets `level_multiplier` (`mL`).
    pub fn level_multiplier(mut self, level_multiplier: f64) -> Self {
        self.level_multiplier = Some(level_multiplier);
        self
    }

    /// Sets `seed`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets `traversal`.
    pub fn traversal(mut self, traversal: Traversal) -> Self {
        self.traversal = traversal;
        self
    }

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
        for (name, t) in [
            ("auto", Traversal::Auto),
            ("F32", Traversal::F32),
            (" f16", Traversal::F16),
        ] {
            assert_eq!(name.parse::<Traversal>().unwrap(), t);
        }
        assert!(matches!(
            "bf16".parse::<Traversal>(),
            Err(IndexError::InvalidParameter {
                name: "traversal",
                ..
            })
        ));
        assert!(Traversal::Auto.uses_f16(AUTO_F16_MIN_DIM));
        assert!(!Traversal::Auto.uses_f16(AUTO_F16_MIN_DIM - 1));
        assert!(Traversal::F16.uses_f16(1) && !Traversal::F32.uses_f16(4096));
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

    /// Every traversal prints as the name it parses from; anything else is
    /// refused with an error that lists the accepted names and quotes the input.
    #[test]
    fn traversal_names_round_trip_and_errors_list_them() {
        for t in [Traversal::Auto, Traversal::F32, Traversal::F16] {
            assert_eq!(t.to_string().parse::<Traversal>(), Ok(t));
            assert_eq!(t.to_string(), t.name());
        }
        for text in ["", "bf16", "f 16", "auto,f32", "F64"] {
            match text.parse::<Traversal>() {
                Err(IndexError::InvalidParameter { name, reason }) => {
                    assert_eq!(name, "traversal");
                    assert!(
                        reason.contains("auto, f32 or f16")
                            && reason.contains(&format!("{text:?}")),
                        "{text:?}: {reason}"
                    );
                }
                other => panic!("{text:?} parsed as {other:?}"),
            }
        }
    }
}
