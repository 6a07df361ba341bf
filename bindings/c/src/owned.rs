//! Strings the library allocates for the caller (JSON reports and records): each
//! is a `CString` handed over with `into_raw` and taken back by
//! `sagevec_string_free`.

use std::ffi::{CString, c_char};

use crate::status::Error;

/// Hands `s` to the caller through `out` (checked non-NULL by the caller first).
///
/// # Safety
/// `out` is NULL or points to a writable `char *`.
pub(crate) unsafe fn write_string(out: *mut *mut c_char, s: String) -> Result<(), Error> {
    let c = CString::new(s).map_err(|_| {
        Error::new(
            crate::status::SAGEVEC_ERR_INTERNAL,
            "a string for the caller holds a NUL byte",
        )
    })?;
    let raw = c.into_raw();
    // SAFETY: the caller's contract; on success the pointer is the caller's to free.
    let written = unsafe { crate::args::write(out, raw, "out") };
    if written.is_err() {
        // SAFETY: `raw` came from `into_raw` just above and was not handed out.
        drop(unsafe { CString::from_raw(raw) });
    }
    written
}

/// Frees a string this library returned (a JSON report or record). NULL is
/// ignored. Passing any other pointer, or one twice, is undefined behaviour, as
/// with `free(3)`.
///
/// # Safety
/// `s` is NULL or a string returned by sagevec and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: `s` came from `CString::into_raw` in `write_string` (the caller's
        // contract), and is freed once.
        drop(unsafe { CString::from_raw(s) });
    }
}
