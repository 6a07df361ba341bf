//! The error model: every exported function returns a status code; a failing call
//! also leaves a message in a thread-local slot (`sagevec_last_error`). Each call
//! runs inside [`call`], which catches panics, so none crosses the boundary.

use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ::sagevec_index::IndexError;
use ::sagevec_kernels::{IsaError, KernelError};

/// What a call did: `SAGEVEC_OK` (0), or why it did nothing.
pub type sagevec_status = i32;

/// Success.
pub const SAGEVEC_OK: sagevec_status = 0;
/// A pointer that must not be NULL was NULL.
pub const SAGEVEC_ERR_NULL_POINTER: sagevec_status = 1;
/// An argument is out of range or unknown: a metric, element or ISA code, a name,
/// a pointer misaligned for its element type, k = 0, a stride below dim, NaN or infinity in a vector, a zero vector under
/// cosine, an id twice in one batch or outside [0, 2^63), a graph parameter.
pub const SAGEVEC_ERR_INVALID_ARGUMENT: sagevec_status = 2;
/// Two lengths disagree: a vector's dim and the index's or the rows', an output
/// buffer's length and what the call writes.
pub const SAGEVEC_ERR_LENGTH_MISMATCH: sagevec_status = 3;
/// This CPU lacks the ISA asked for, or the element type has no kernel of that shape.
pub const SAGEVEC_ERR_UNSUPPORTED: sagevec_status = 4;
/// A metadata record is not a JSON object of string, integer, float or boolean values.
pub const SAGEVEC_ERR_BAD_JSON: sagevec_status = 5;
/// The id is not in the index.
pub const SAGEVEC_ERR_NOT_FOUND: sagevec_status = 6;
/// The index was closed.
pub const SAGEVEC_ERR_CLOSED: sagevec_status = 7;
/// A file operation of a durable index failed (the index is unchanged).
pub const SAGEVEC_ERR_IO: sagevec_status = 8;
/// A durable index's files are damaged, or of a newer format than this library reads.
pub const SAGEVEC_ERR_CORRUPT: sagevec_status = 9;
/// Another open index (in this or another process) has the directory open for writing.
pub const SAGEVEC_ERR_LOCKED: sagevec_status = 10;
/// The index was opened read-only: writes are refused.
pub const SAGEVEC_ERR_READ_ONLY: sagevec_status = 11;
/// The directory holds an index of another dimension or metric.
pub const SAGEVEC_ERR_CONFIG_MISMATCH: sagevec_status = 12;
/// A bug in sagevec (a caught panic) or a resource it could not get (a worker pool).
pub const SAGEVEC_ERR_INTERNAL: sagevec_status = 13;

/// Every status, with its name (the order of `sagevec_status_name`).
const NAMES: [(sagevec_status, &str); 14] = [
    (SAGEVEC_OK, "SAGEVEC_OK"),
    (SAGEVEC_ERR_NULL_POINTER, "SAGEVEC_ERR_NULL_POINTER"),
    (SAGEVEC_ERR_INVALID_ARGUMENT, "SAGEVEC_ERR_INVALID_ARGUMENT"),
    (SAGEVEC_ERR_LENGTH_MISMATCH, "SAGEVEC_ERR_LENGTH_MISMATCH"),
    (SAGEVEC_ERR_UNSUPPORTED, "SAGEVEC_ERR_UNSUPPORTED"),
    (SAGEVEC_ERR_BAD_JSON, "SAGEVEC_ERR_BAD_JSON"),
    (SAGEVEC_ERR_NOT_FOUND, "SAGEVEC_ERR_NOT_FOUND"),
    (SAGEVEC_ERR_CLOSED, "SAGEVEC_ERR_CLOSED"),
    (SAGEVEC_ERR_IO, "SAGEVEC_ERR_IO"),
    (SAGEVEC_ERR_CORRUPT, "SAGEVEC_ERR_CORRUPT"),
    (SAGEVEC_ERR_LOCKED, "SAGEVEC_ERR_LOCKED"),
    (SAGEVEC_ERR_READ_ONLY, "SAGEVEC_ERR_READ_ONLY"),
    (SAGEVEC_ERR_CONFIG_MISMATCH, "SAGEVEC_ERR_CONFIG_MISMATCH"),
    (SAGEVEC_ERR_INTERNAL, "SAGEVEC_ERR_INTERNAL"),
];

/// A failed call: its status and message.
#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) status: sagevec_status,
    pub(crate) message: String,
}

impl Error {
    pub(crate) fn new(status: sagevec_status, message: impl Display) -> Error {
        Error {
            status,
            message: message.to_string(),
        }
    }

    /// `SAGEVEC_ERR_NULL_POINTER` naming the argument.
    pub(crate) fn null(arg: &str) -> Error {
        Error::new(SAGEVEC_ERR_NULL_POINTER, format!("{arg} is NULL"))
    }

    pub(crate) fn invalid(message: impl Display) -> Error {
        Error::new(SAGEVEC_ERR_INVALID_ARGUMENT, message)
    }

    pub(crate) fn length(message: impl Display) -> Error {
        Error::new(SAGEVEC_ERR_LENGTH_MISMATCH, message)
    }
}

impl From<KernelError> for Error {
    fn from(e: KernelError) -> Error {
        let status = match e {
            KernelError::DimensionMismatch { .. } | KernelError::OutputLength { .. } => {
                SAGEVEC_ERR_LENGTH_MISMATCH
            }
            KernelError::Unsupported { .. } | KernelError::UnsupportedMetric { .. } => {
                SAGEVEC_ERR_UNSUPPORTED
            }
            // BadShape, RowOutOfRange, ZeroK, and any kind added later.
            _ => SAGEVEC_ERR_INVALID_ARGUMENT,
        };
        Error::new(status, e)
    }
}

impl From<IsaError> for Error {
    fn from(e: IsaError) -> Error {
        let status = match &e {
            IsaError::Unsupported { .. } | IsaError::MissingExtensions { .. } => {
                SAGEVEC_ERR_UNSUPPORTED
            }
            IsaError::FromEnv { cause, .. } => match **cause {
                IsaError::Unsupported { .. } | IsaError::MissingExtensions { .. } => {
                    SAGEVEC_ERR_UNSUPPORTED
                }
                _ => SAGEVEC_ERR_INVALID_ARGUMENT,
            },
            // Unknown, and any kind added later.
            _ => SAGEVEC_ERR_INVALID_ARGUMENT,
        };
        Error::new(status, e)
    }
}

impl From<IndexError> for Error {
    fn from(e: IndexError) -> Error {
        let status = match &e {
            IndexError::DimensionMismatch { .. }
            | IndexError::ResultsShape { .. }
            | IndexError::LengthMismatch { .. } => SAGEVEC_ERR_LENGTH_MISMATCH,
            IndexError::Kernel(k) => Error::from(k.clone()).status,
            IndexError::Isa(i) => Error::from(i.clone()).status,
            IndexError::Io { .. } => SAGEVEC_ERR_IO,
            IndexError::Corrupt { .. } | IndexError::UnsupportedFormat { .. } => {
                SAGEVEC_ERR_CORRUPT
            }
            IndexError::Locked { .. } => SAGEVEC_ERR_LOCKED,
            IndexError::ReadOnly { .. } => SAGEVEC_ERR_READ_ONLY,
            IndexError::ConfigMismatch { .. } => SAGEVEC_ERR_CONFIG_MISMATCH,
            IndexError::Pool(_) | IndexError::Spawn { .. } | IndexError::Cancelled => {
                SAGEVEC_ERR_INTERNAL
            }
            IndexError::ZeroK
            | IndexError::InvalidParameter { .. }
            | IndexError::NonFinite { .. }
            | IndexError::ZeroVector { .. }
            | IndexError::DuplicateId { .. }
            | IndexError::IdOutOfRange { .. }
            | IndexError::IdsExhausted => SAGEVEC_ERR_INVALID_ARGUMENT,
            // A variant added later: not the caller's fault as far as we know.
            _ => SAGEVEC_ERR_INTERNAL,
        };
        Error::new(status, e)
    }
}

thread_local! {
    /// The message of this thread's last failed call (NUL-terminated for C).
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // An interior NUL cannot be represented in a C string: cut the message there.
    let text = message.split('\0').next().unwrap_or_default();
    let c = CString::new(text).unwrap_or_default();
    // During thread exit the slot may be gone: then the message is dropped.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = c);
}

/// Runs one exported call: a panic becomes `SAGEVEC_ERR_INTERNAL`, an error is
/// recorded as this thread's last error, and its status is returned.
pub(crate) fn call(f: impl FnOnce() -> Result<(), Error>) -> sagevec_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => SAGEVEC_OK,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            set_last_error(&format!("internal error (a bug in sagevec): {what}"));
            SAGEVEC_ERR_INTERNAL
        }
    }
}

/// The message of the last call on this thread that failed ("" if none has).
///
/// The pointer stays valid until the next failing sagevec call on this thread;
/// calls that succeed leave it as it is (as `errno` is left).
#[unsafe(no_mangle)]
pub extern "C" fn sagevec_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| slot.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// The name of a status code (`"SAGEVEC_ERR_NULL_POINTER"`), or NULL for a code
/// that is not one. The string is static.
#[unsafe(no_mangle)]
pub extern "C" fn sagevec_status_name(status: sagevec_status) -> *const c_char {
    static C_NAMES: std::sync::OnceLock<Vec<(sagevec_status, CString)>> =
        std::sync::OnceLock::new();
    let names = C_NAMES.get_or_init(|| {
        NAMES
            .iter()
            .map(|&(s, n)| (s, CString::new(n).unwrap_or_default()))
            .collect()
    });
    names
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(std::ptr::null(), |(_, n)| n.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        // SAFETY: sagevec_last_error returns this thread's live, NUL-terminated slot.
        unsafe { CStr::from_ptr(sagevec_last_error()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn a_panic_becomes_internal_with_its_message() {
        let status = call(|| panic!("boom {}", 7));
        assert_eq!(status, SAGEVEC_ERR_INTERNAL);
        assert!(last().contains("boom 7"), "{}", last());
    }

    #[test]
    fn success_leaves_the_last_error_alone() {
        assert_eq!(
            call(|| Err(Error::invalid("first"))),
            SAGEVEC_ERR_INVALID_ARGUMENT
        );
        assert_eq!(call(|| Ok(())), SAGEVEC_OK);
        assert_eq!(last(), "first");
    }

    #[test]
    fn a_message_with_a_nul_is_cut_there() {
        call(|| Err(Error::invalid("before\0after")));
        assert_eq!(last(), "before");
    }

    #[test]
    fn every_status_has_a_distinct_name() {
        for (i, &(s, n)) in NAMES.iter().enumerate() {
            assert_eq!(s, i as sagevec_status, "codes are dense, in order");
            // SAFETY: a non-NULL result is a static NUL-terminated string.
            let got = unsafe { CStr::from_ptr(sagevec_status_name(s)) };
            assert_eq!(got.to_str().unwrap(), n);
        }
        assert!(sagevec_status_name(-1).is_null());
        assert!(sagevec_status_name(NAMES.len() as sagevec_status).is_null());
    }
}
