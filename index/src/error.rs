//! The index layer's error type: bad input is refused before anything is computed.

use std::fmt;

use sagevec_kernels::{IsaError, KernelError};
use sagevec_scheduler::SchedError;

/// Why an index call refused its input or could not run.
///
/// Non-exhaustive: a later version may add variants, so a `match` needs a
/// catch-all arm.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// A thread the index needs could not be started (the OS refused one: a
    /// thread or memory limit), so the call did nothing.
    Spawn {
        /// Which thread (`"sagevec-builder"`).
        thread: &'static str,
        /// The OS error's kind.
        kind: std::io::ErrorKind,
        /// The OS error's message.
        message: String,
    },
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
    /// A file operation of a durable index failed (the index is unchanged).
    Io {
        /// The file or directory.
        path: String,
        /// What was being done.
        op: &'static str,
        /// The OS error's kind (`StorageFull` for a full disk).
        kind: std::io::ErrorKind,
        /// The OS error's message.
        message: String,
    },
    /// A durable index's file is damaged in a way recovery must not guess about.
    Corrupt {
        /// The file.
        path: String,
        /// Byte offset of the damage.
        offset: u64,
        /// What was found wrong.
        what: String,
    },
    /// Another process (or index) has this directory open for writing.
    Locked {
        /// The lock file.
        path: String,
    },
    /// A file was written by a newer format version than this build reads.
    UnsupportedFormat {
        /// The file.
        path: String,
        /// Its format version.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// The call was cancelled before it finished and changed nothing: a caller
    /// raised the flag of a `*_cancellable` call, or a background build was
    /// stopped because the index is being dropped.
    Cancelled,
    /// The index was opened read-only: writes are refused.
    ReadOnly {
        /// The directory it was opened from.
        path: String,
    },
    /// A durable index was opened with a configuration that contradicts its files.
    ConfigMismatch {
        /// The directory.
        path: String,
        /// Which setting.
        what: &'static str,
        /// The value in the files.
        stored: String,
        /// The value given.
        given: String,
    },
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
            IndexError::Spawn {
                thread,
                kind,
                message,
            } => write!(f, "could not start thread {thread}: {message} ({kind:?})"),
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
            IndexError::Io {
                path,
                op,
                kind,
                message,
            } => write!(f, "{op} {path}: {message} ({kind:?})"),
            IndexError::Corrupt { path, offset, what } => {
                write!(f, "{path} is corrupt at byte {offset}: {what}")
            }
            IndexError::Cancelled => f.write_str("cancelled"),
            IndexError::ReadOnly { path } => {
                write!(f, "the index from {path} was opened read-only")
            }
            IndexError::Locked { path } => write!(
                f,
                "{path} is locked: another open index (in this or another process) has this directory open for writing"
            ),
            IndexError::UnsupportedFormat {
                path,
                found,
                supported,
            } => write!(
                f,
                "{path} has format version {found}; this build reads up to {supported}"
            ),
            IndexError::ConfigMismatch {
                path,
                what,
                stored,
                given,
            } => write!(f, "{path} holds an index with {what} {stored}, not {given}"),
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

impl IndexError {
    /// The error of a thread `thread` that `std::thread::Builder::spawn` could
    /// not start.
    pub(crate) fn spawn(thread: &'static str, e: &std::io::Error) -> IndexError {
        IndexError::Spawn {
            thread,
            kind: e.kind(),
            message: e.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed spawn keeps the OS error's kind and message and names the
    /// thread; it is not an invalid parameter.
    #[test]
    fn a_failed_spawn_is_its_own_error_with_the_os_kind() {
        let os = std::io::Error::new(std::io::ErrorKind::OutOfMemory, "no threads left");
        let e = IndexError::spawn("sagevec-builder", &os);
        assert_eq!(
            e,
            IndexError::Spawn {
                thread: "sagevec-builder",
                kind: std::io::ErrorKind::OutOfMemory,
                message: "no threads left".into(),
            }
        );
        assert_eq!(
            e.to_string(),
            "could not start thread sagevec-builder: no threads left (OutOfMemory)"
        );
        assert_eq!(e.clone(), e);
    }
}
