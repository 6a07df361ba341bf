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
