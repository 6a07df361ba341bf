//! Distance metrics. Every metric is a *distance*: smaller is closer.

use std::fmt;
use std::str::FromStr;

/// A distance metric. Every one is a distance, so smaller always means closer,
/// and one top-k rule (ascending, `f32::total_cmp`, ties to the smaller id)
/// serves every metric. Which element types have which metric:
/// [`Element::METRICS`](crate::Element::METRICS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum Metric {
    /// Squared Euclidean distance `Σ (aᵢ - bᵢ)²` (no square root).
    L2Sq = 0,
    /// Inner product as a distance: the *negative* dot product `-Σ aᵢ bᵢ`, so the most
    /// similar vector (largest dot) has the smallest distance.
    InnerProduct = 1,
    /// Cosine distance `1 - a·b / (|a| |b|)`, clamped into `[0, 2]`. Defined as `1.0`
    /// when either vector is all zeros (the angle is undefined; "unrelated" is the
    /// answer that neither attracts nor repels).
    Cosine = 2,
    /// Hamming distance on bit vectors: the number of bit positions that differ
    /// (`popcount(a xor b)`), as f32 (exact below 2²⁴ bits).
    Hamming = 3,
    /// Jaccard distance on bit vectors (as sets of their 1 bits):
    /// `1 - |a and b| / |a or b|`, and `0.0` when both are all zeros (two empty
    /// sets are identical).
    Jaccard = 4,
}

impl Metric {
    /// Every metric, in table order.
    pub const ALL: [Metric; 5] = [
        Metric::L2Sq,
        Metric::InnerProduct,
        Metric::Cosine,
        Metric::Hamming,
        Metric::Jaccard,
    ];

    /// How many metrics there are (the length of a family's per-metric table).
    pub(crate) const COUNT: usize = Metric::ALL.len();

    /// The metric's one name, used in parsing, kernel names, bench ids and every
    /// binding: `l2`, `ip`, `cosine`, `hamming` or `jaccard`.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::L2Sq => "l2",
            Metric::InnerProduct => "ip",
            Metric::Cosine => "cosine",
            Metric::Hamming => "hamming",
            Metric::Jaccard => "jaccard",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a metric name that is not known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMetric(pub String);

impl fmt::Display for UnknownMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown metric {:?}: expected one of l2 (aliases l2sq, euclidean, sqeuclidean), \
             ip (aliases dot, inner_product), cosine (alias cos), hamming, jaccard",
            self.0
        )
    }
}

impl std::error::Error for UnknownMetric {}

impl FromStr for Metric {
    type Err = UnknownMetric;

    /// Parses a metric name, case-insensitively, with common aliases.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Bindings parse a metric name per call: no allocation on this path.
        const NAMES: [(&str, Metric); 12] = [
            ("l2", Metric::L2Sq),
            ("l2sq", Metric::L2Sq),
            ("sqeuclidean", Metric::L2Sq),
            ("euclidean", Metric::L2Sq),
            ("ip", Metric::InnerProduct),
            ("dot", Metric::InnerProduct),
            ("inner_product", Metric::InnerProduct),
            ("innerproduct", Metric::InnerProduct),
            ("cosine", Metric::Cosine),
            ("cos", Metric::Cosine),
            ("hamming", Metric::Hamming),
            ("jaccard", Metric::Jaccard),
        ];
        let name = s.trim();
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, m)| m)
            .ok_or_else(|| UnknownMetric(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>().unwrap(), m);
            assert_eq!(m.to_string(), m.name());
        }
        assert_eq!("Euclidean".parse::<Metric>().unwrap(), Metric::L2Sq);
        assert_eq!(" DOT ".parse::<Metric>().unwrap(), Metric::InnerProduct);
        let err = "manhattan".parse::<Metric>().unwrap_err();
        assert!(err.to_string().contains("manhattan"));
    }
}
