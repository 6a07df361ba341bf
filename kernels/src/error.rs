//! The kernels' error type: every safe entry point checks shapes and returns one of
//! these instead of reading out of bounds.

use std::fmt;

use crate::metric::Metric;

/// A shape or argument error from a kernel entry point. Nothing was computed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KernelError {
    /// Two vectors (or a query and a matrix) disagree on dimension.
    DimensionMismatch {
        /// The dimension that was expected (the matrix's or the first vector's).
        expected: usize,
        /// The dimension that was given.
        got: usize,
    },
    /// An output buffer has the wrong length.
    OutputLength {
        /// Which output.
        what: &'static str,
        /// The length needed.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A row-major matrix description does not fit its data.
    BadShape(String),
    /// A gathered row id is past the end of the matrix.
    RowOutOfRange {
        /// The offending id.
        id: usize,
        /// The number of rows.
        n_rows: usize,
    },
    /// `k` must be at least 1.
    ZeroK,
    /// The element type has no kernel for this metric (see `Element::METRICS`).
    UnsupportedMetric {
        /// The metric asked for.
        metric: Metric,
        /// The element type's name.
        elem: &'static str,
    },
    /// The element type has no kernel of this shape.
    Unsupported {
        /// The shape asked for.
        what: &'static str,
        /// The element type's name.
        elem: &'static str,
    },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::DimensionMismatch { expected, got } => {
                write!(f, "dimension mismatch: expected {expected}, got {got}")
            }
            KernelError::OutputLength {
                what,
                expected,
                got,
            } => {
                write!(f, "output `{what}` has length {got}, expected {expected}")
            }
            KernelError::BadShape(msg) => write!(f, "bad matrix shape: {msg}"),
            KernelError::RowOutOfRange { id, n_rows } => {
                write!(
                    f,
                    "row id {id} is out of range for a matrix of {n_rows} rows"
                )
            }
            KernelError::ZeroK => f.write_str("k must be at least 1"),
            KernelError::UnsupportedMetric { metric, elem } => {
                write!(f, "{elem} rows have no {metric} kernel")
            }
            KernelError::Unsupported { what, elem } => {
                write!(f, "{elem} rows have no {what}")
            }
        }
    }
}

impl std::error::Error for KernelError {}
