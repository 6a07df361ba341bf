//! The element types of the C ABI: one code per member of the kernels crate's
//! `Element` family, and the one table that maps a code to its Rust type.
//!
//! Adding a member is two lines: its `SAGEVEC_ELEM_*` constant (cbindgen reads
//! constants, not macros) and its line in [`with_element!`]. Everything else
//! (kernel entry points, resolved pointers, names, sizes, the tests' loops) is
//! generic over `Element` and picks the new member up.

use std::any::TypeId;
use std::ffi::{CString, c_char};
use std::sync::OnceLock;

use ::sagevec_kernels::Element;

use crate::args;
use crate::status::{Error, sagevec_status};

/// An element type: how the rows (and queries) of a kernel call are stored.
pub type sagevec_elem = u32;

/// IEEE binary32 (`float`). Queries of f32 rows are f32.
pub const SAGEVEC_ELEM_F32: sagevec_elem = 0;
/// IEEE binary16, as its 16-bit pattern (`uint16_t`; `_Float16` where the compiler
/// has it). Queries of f16 rows are f32 (the rows are widened exactly).
pub const SAGEVEC_ELEM_F16: sagevec_elem = 1;

/// Runs `$body` with the type alias `$T` bound to the Rust row type of the element
/// code `$code`; an unknown code gives `SAGEVEC_ERR_INVALID_ARGUMENT` (or, with
/// `else => $other`, the value of `$other`). `$body` is a `Result<_, Error>`.
macro_rules! with_element {
    ($code:expr, $T:ident => $body:expr) => {
        $crate::elements::with_element!($code, $T => $body,
            else => Err($crate::elements::unknown($code)))
    };
    ($code:expr, $T:ident => $body:expr, else => $other:expr) => {
        $crate::elements::with_element!(@table $code, $T, $body, $other;
            SAGEVEC_ELEM_F32 => f32,
            SAGEVEC_ELEM_F16 => ::sagevec_kernels::f16,
        )
    };
    (@table $code:expr, $T:ident, $body:expr, $other:expr; $($name:ident => $ty:ty,)+) => {
        match $code {
            $($crate::elements::$name => {
                type $T = $ty;
                $body
            })+
            _ => $other,
        }
    };
}
pub(crate) use with_element;

/// The error for an element code that is not one.
pub(crate) fn unknown(code: sagevec_elem) -> Error {
    Error::invalid(format!(
        "unknown element code {code}: expected one of {}",
        known()
            .iter()
            .map(|k| format!("{} ({})", k.code, k.name))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// What the ABI reports of one element type.
pub(crate) struct Known {
    pub(crate) code: sagevec_elem,
    pub(crate) name: &'static str,
    c_name: CString,
    size: usize,
    type_id: TypeId,
    query_type_id: TypeId,
}

fn known_of<T: Element>(code: sagevec_elem) -> Known {
    Known {
        code,
        name: T::NAME,
        c_name: CString::new(T::NAME).unwrap_or_default(),
        size: size_of::<T>(),
        type_id: TypeId::of::<T>(),
        query_type_id: TypeId::of::<T::Query>(),
    }
}

/// Every element type of the ABI, in code order (codes are dense from 0).
pub(crate) fn known() -> &'static [Known] {
    static KNOWN: OnceLock<Vec<Known>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        (0..)
            .map_while(|code| with_element!(code, T => Some(known_of::<T>(code)), else => None))
            .collect()
    })
}

fn find(code: sagevec_elem) -> Result<&'static Known, Error> {
    known()
        .iter()
        .find(|k| k.code == code)
        .ok_or_else(|| unknown(code))
}

/// The name of an element type (`"f32"`), or NULL for a code that is not one. The
/// string is static.
#[unsafe(no_mangle)]
pub extern "C" fn sagevec_elem_name(elem: sagevec_elem) -> *const c_char {
    find(elem).map_or(std::ptr::null(), |k| k.c_name.as_ptr())
}

/// Bytes per element of `elem` (4 for f32, 2 for f16) into `*out`.
///
/// # Safety
/// `out` is NULL or points to a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_elem_size(elem: sagevec_elem, out: *mut usize) -> sagevec_status {
    crate::status::call(|| {
        let k = find(elem)?;
        // SAFETY: the caller's contract.
        unsafe { args::write(out, k.size, "out") }
    })
}

/// The element type of the queries searched against rows of `elem` into `*out`
/// (f32 rows: f32; f16 rows: f32).
///
/// # Safety
/// `out` is NULL or points to a writable `sagevec_elem`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sagevec_elem_query(
    elem: sagevec_elem,
    out: *mut sagevec_elem,
) -> sagevec_status {
    crate::status::call(|| {
        let k = find(elem)?;
        let query = known()
            .iter()
            .find(|q| q.type_id == k.query_type_id)
            .ok_or_else(|| {
                Error::new(
                    crate::status::SAGEVEC_ERR_INTERNAL,
                    format!("the query type of {} has no element code", k.name),
                )
            })?;
        // SAFETY: the caller's contract.
        unsafe { args::write(out, query.code, "out") }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_and_named() {
        let k = known();
        assert!(k.len() >= 2);
        for (i, e) in k.iter().enumerate() {
            assert_eq!(e.code as usize, i);
        }
        assert_eq!(k[SAGEVEC_ELEM_F32 as usize].name, "f32");
        assert_eq!(k[SAGEVEC_ELEM_F16 as usize].name, "f16");
        assert!(sagevec_elem_name(k.len() as sagevec_elem).is_null());
    }
}
