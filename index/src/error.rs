//! The index layer's error type: bad input is refused before anything is computed.

use std::fmt;

use sagevec_kernels::{IsaError, KernelError};
use sagevec_scheduler::SchedError;

/// Why an index call refused its input or could not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexError {
    /// `k` must be at least 1.
    ZeroK,
    /// A vector or matrix has the wrong dimension.
    DimensionMismatch {
        /// The dimension expected.
        expected: usize,
        /// The dimension given.
        got: usize,
    },
    /// An output buffer was sized for another shape.
    ResultsShape {
        /// `(n_queries, k)` the call needs.
        expected: (usize, usize),
        /// `(n_queries, k)` of the buffer.
        got: (usize, usize),
    },
    /// A kernel refused its input (shape errors not caught above).
    Kernel(KernelError),
    /// The worker pool could not be built.
    Pool(SchedError),
    /// `SAGEVEC_ISA` asks for an ISA that cannot be used.
    Isa(IsaError),
    /// A configuration or search parameter is out of range.
    InvalidParameter {
        /// The parameter's name, as the API spells it.
        name: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A vector holds NaN or an infinity.
    NonFinite {
        /// Row of the batch (0 for a single vector).
        row: usize,
    },
    /// A zero vector was given under the cosine metric (its direction is undefined).
    ZeroVector {
        /// Row of the batch (0 for a single vector).
        row: usize,
    },
    /// An id appears twice in one batch.
    DuplicateId {
        /// The repeated id.
        id: u64,
    },
    /// An id is outside `[0, 2^63)`.
    IdOutOfRange {
        /// The id given.
        id: u64,
    },
    /// Two inputs of one call disagree in length (ids, vectors, metadata).
    LengthMismatch {
        /// What was measured against the vector count.
        what: &'static str,
        /// Rows in the batch.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// Auto-assigned ids would pass `2^63 - 1`.
    IdsExhausted,
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexError::ZeroK => f.write_str("k must be at least 1"),
            IndexError::DimensionMismatch { expected, got } => {
                write!(f, "dimension mismatch: expected {expected}, got {got}")
            }
            IndexError::ResultsShape { expected, got } => write!(
                f,
                "results buffer holds {} queries x k={}, the call needs {} x k={}",
                got.0, got.1, expected.0, expected.1
            ),
            IndexError::Kernel(e) => write!(f, "kernel: {e}"),
            IndexError::Pool(e) => write!(f, "worker pool: {e}"),
            IndexError::Isa(e) => write!(f, "kernels: {e}"),
            IndexError::InvalidParameter { name, reason } => write!(f, "invalid {name}: {reason}"),
            IndexError::NonFinite { row } => write!(f, "vector {row} holds NaN or an infinity"),
            IndexError::ZeroVector { row } => {
                write!(
                    f,
                    "vector {row} is zero, which has no direction under cosine"
                )
            }
            IndexError::DuplicateId { id } => write!(f, "id {id} appears twice in one batch"),
            IndexError::IdOutOfRange { id } => write!(f, "id {id} is outside [0, 2^63)"),
            IndexError::LengthMismatch {
                what,
                expected,
                got,
            } => write!(f, "{what}: {got} entries for {expected} vectors"),
            IndexError::IdsExhausted => f.write_str("no auto-assigned ids left below 2^63"),
        }
    }
}

impl std::error::Error for IndexError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IndexError::Kernel(e) => Some(e),
            IndexError::Pool(e) => Some(e),
            IndexError::Isa(e) => Some(e),
            _ => None,
        }
    }
}

impl From<KernelError> for IndexError {
    fn from(e: KernelError) -> Self {
        IndexError::Kernel(e)
    }
}

impl From<SchedError> for IndexError {
    fn from(e: SchedError) -> Self {
        IndexError::Pool(e)
    }
}

impl From<IsaError> for IndexError {
    fn from(e: IsaError) -> Self {
        IndexError::Isa(e)
    }
}
