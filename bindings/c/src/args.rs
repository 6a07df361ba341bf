//! Raw C arguments to Rust borrows: every pointer is checked for NULL (allowed only
//! for an empty buffer) and alignment before a slice is made from it, and every
//! length product for overflow. What cannot be checked (that a buffer really
//! holds the elements its length says) is the caller's contract, stated in the
//! header.

use std::ffi::{CStr, c_char};

use crate::status::Error;

/// The `len` elements at `ptr`, named `arg` in errors. NULL is accepted only for
/// `len == 0`.
///
/// # Safety
/// A non-NULL `ptr` points to `len` initialised `T`s that are not written during
/// `'a`.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize, arg: &str) -> Result<&'a [T], Error> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Error::null(arg))
        };
    }
    if !ptr.is_aligned() {
        return Err(misaligned::<T>(arg));
    }
    if len
        .checked_mul(size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Error::invalid(format!("{arg}: {len} elements overflow")));
    }
    // SAFETY: non-NULL and aligned (checked), the size fits isize (checked), and
    // the caller guarantees `len` initialised elements not written during 'a.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The `len` elements at `ptr` for writing. NULL is accepted only for `len == 0`.
///
/// # Safety
/// A non-NULL `ptr` points to `len` writable `T`s that nothing else reads or
/// writes during `'a`.
pub(crate) unsafe fn slice_mut<'a, T>(
    ptr: *mut T,
    len: usize,
    arg: &str,
) -> Result<&'a mut [T], Error> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&mut [])
        } else {
            Err(Error::null(arg))
        };
    }
    if !ptr.is_aligned() {
        return Err(misaligned::<T>(arg));
    }
    if len
        .checked_mul(size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Error::invalid(format!("{arg}: {len} elements overflow")));
    }
    // SAFETY: non-NULL and aligned (checked), the size fits isize (checked), and
    // the caller guarantees `len` writable elements used by no one else during 'a.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

fn misaligned<T>(arg: &str) -> Error {
    Error::invalid(format!(
        "{arg} is not aligned to {} bytes, as its element type needs",
        align_of::<T>()
    ))
}

/// Stores `value` through an output pointer that must not be NULL.
///
/// # Safety
/// A non-NULL `out` points to a writable `T`.
pub(crate) unsafe fn write<T>(out: *mut T, value: T, arg: &str) -> Result<(), Error> {
    if out.is_null() {
        return Err(Error::null(arg));
    }
    if !out.is_aligned() {
        return Err(misaligned::<T>(arg));
    }
    // SAFETY: non-NULL, aligned (checked) and writable (the caller's contract).
    unsafe { out.write(value) };
    Ok(())
}

/// Stores `value` through an output pointer that may be NULL (then nothing is stored).
///
/// # Safety
/// A non-NULL `out` points to a writable `T`.
pub(crate) unsafe fn write_opt<T>(out: *mut T, value: T, arg: &str) -> Result<(), Error> {
    if out.is_null() {
        return Ok(());
    }
    // SAFETY: the caller's contract, passed on.
    unsafe { write(out, value, arg) }
}

/// Checks that an output pointer is not NULL before any work is done (so a call
/// that would fail on its output changes nothing).
pub(crate) fn require<T>(out: *const T, arg: &str) -> Result<(), Error> {
    if out.is_null() {
        Err(Error::null(arg))
    } else {
        Ok(())
    }
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// A non-NULL `ptr` points to a NUL-terminated string not written during `'a`.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, arg: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(Error::null(arg));
    }
    // SAFETY: non-NULL and NUL-terminated (the caller's contract).
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str()
        .map_err(|e| Error::invalid(format!("{arg} is not valid UTF-8: {e}")))
}

/// `a * b`, or an error naming what overflowed.
pub(crate) fn product(a: usize, b: usize, what: &str) -> Result<usize, Error> {
    a.checked_mul(b)
        .ok_or_else(|| Error::invalid(format!("{what}: {a} x {b} overflows")))
}
