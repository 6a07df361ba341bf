//! The element types of the C ABI: one code per member of the kernels crate's
//! `Element` family, and the one table that maps a code to its Rust type.
//!
//! Adding a member is two lines: its `SAGEVEC_ELEM_*` constant (cbindgen reads
//! constants, not macros) and its line in [`with_element!`]. Everything else
//! (kernel entry points, resolved pointers, names, sizes, the tests' loops) is
//! generic over `Element` and picks the new member up. A member of the kernels
//! crate's `Quantized` family (scaled codes) also gets its line in
//! [`with_quantized!`].

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
/// bfloat16, as its 16-bit pattern (`uint16_t`: the top half of an f32). Queries
/// of bf16 rows are f32 (the rows are widened exactly).
pub const SAGEVEC_ELEM_BF16: sagevec_elem = 2;
/// Signed 8-bit integers (`int8_t`), queries of the same type; L2 and inner
/// product are the exact integer, rounded once to float.
pub const SAGEVEC_ELEM_I8: sagevec_elem = 3;
/// Unsigned 8-bit integers (`uint8_t`), queries of the same type; exact as i8.
pub const SAGEVEC_ELEM_U8: sagevec_elem = 4;
/// Packed bits, 64 to a `uint64_t` word (bit `j` of a vector is bit `j % 64` of
/// word `j / 64`); `dim` counts words. Queries of the same type; the metrics are
/// Hamming and Jaccard (exact popcounts).
pub const SAGEVEC_ELEM_BITS: sagevec_elem = 5;

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
            SAGEVEC_ELEM_BF16 => ::sagevec_kernels::bf16,
            SAGEVEC_ELEM_I8 => i8,
            SAGEVEC_ELEM_U8 => u8,
            SAGEVEC_ELEM_BITS => ::sagevec_kernels::Bits64,
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

/// [`with_element!`] for the element types with scaled kernels (the kernels
/// crate's `Quantized` family: i8 and u8 codes); another known code gives
/// `SAGEVEC_ERR_UNSUPPORTED`, an unknown one `SAGEVEC_ERR_INVALID_ARGUMENT`.
macro_rules! with_quantized {
    ($code:expr, $T:ident => $body:expr) => {
        $crate::elements::with_quantized!(@table $code, $T, $body;
            SAGEVEC_ELEM_I8 => i8,
            SAGEVEC_ELEM_U8 => u8,
        )
    };
    (@table $code:expr, $T:ident, $body:expr; $($name:ident => $ty:ty,)+) => {
        match $code {
            $($crate::elements::$name => {
                type $T = $ty;
                $body
            })+
            other => Err($crate::elements::not_quantized(other)),
        }
    };
}
pub(crate) use with_quantized;

/// The error for an element code without scaled kernels.
pub(crate) fn not_quantized(code: sagevec_elem) -> Error {
    match find(code) {
        Ok(k) => Error::new(
            crate::status::SAGEVEC_ERR_UNSUPPORTED,
            format!(
                "{} rows have no scaled kernels (scaled codes are i8 or u8)",
                k.name
            ),
        ),
        Err(e) => e,
    }
}

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

/// Bytes per element of `elem` (4 for f32, 2 for f16 and bf16, 1 for i8 and u8,
/// 8 for a word of bits) into `*out`.
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
/// (f32, f16 and bf16 rows: f32; i8, u8 and bits rows: their own type).
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
        assert_eq!(k.len(), 6, "one code per member of the Element family");
        for (i, e) in k.iter().enumerate() {
            assert_eq!(e.code as usize, i);
        }
        assert_eq!(k[SAGEVEC_ELEM_F32 as usize].name, "f32");
        assert_eq!(k[SAGEVEC_ELEM_F16 as usize].name, "f16");
        assert_eq!(k[SAGEVEC_ELEM_BF16 as usize].name, "bf16");
        assert_eq!(k[SAGEVEC_ELEM_I8 as usize].name, "i8");
        assert_eq!(k[SAGEVEC_ELEM_U8 as usize].name, "u8");
        assert_eq!(k[SAGEVEC_ELEM_BITS as usize].name, "bits");
        assert!(sagevec_elem_name(k.len() as sagevec_elem).is_null());
    }
}
