//! The scheduler's error type.

use std::fmt;

/// Why a topology, plan or pool could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchedError {
    /// The topology could not be read or parsed (hwloc, sysfs, synthetic description).
    Topology(String),
    /// The policy cannot be met on this topology.
    Plan(String),
    /// An environment override has a value we do not understand.
    Env {
        /// The variable, e.g. `SAGEVEC_NUM_THREADS`.
        var: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A worker pool could not be built (thread spawn failed).
    Pool(String),
}

impl fmt::Display for SchedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchedError::Topology(m) => write!(f, "topology: {m}"),
            SchedError::Plan(m) => write!(f, "placement: {m}"),
            SchedError::Env {
                var,
                value,
                expected,
            } => write!(f, "{var}={value:?}: expected {expected}"),
            SchedError::Pool(m) => write!(f, "thread pool: {m}"),
        }
    }
}

impl std::error::Error for SchedError {}
