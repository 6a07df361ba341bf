//! # sagevec-capi
//!
//! The C ABI of sagevec (`libsagevec.so` / `libsagevec.a`, header
//! `include/sagevec.h`, generated from this crate by cbindgen and checked in).
//! Only `sagevec_*` symbols are exported.
//!
//! - Kernels: ISA report and selection (`sagevec_kernels_active`,
//!   `sagevec_kernels_for_isa`), then for every element type of the kernels
//!   crate (f32, f16, bf16, i8, u8, bits) and each of its metrics one-to-one,
//!   one-to-many over strided rows, gather by row ids and, where the kernels
//!   crate has them (f32, bf16, i8, u8), squared norms and exact many-to-many
//!   knn with fused top-k, into caller buffers; and
//!   `sagevec_distance_fn_resolve`, a plain function pointer fetched once for
//!   engines that call a distance millions of times. Scaled i8/u8 codes
//!   (`scale[i] * x[i] + offset[i]`) are searched with an f32 query prepared
//!   once (`sagevec_scaled_query_new`): `sagevec_scaled_distance`, `_distances`.
//! - The index: an opaque `sagevec_index` (create, open a durable directory, add
//!   with JSON metadata, remove, search and batch search with an id allow-list,
//!   metadata, len, version, stats as JSON, checkpoint, close, free). Every call
//!   but `sagevec_index_free` is safe from any thread at once.
//! - Errors: every call returns a `sagevec_status`; a failed call leaves its
//!   message in a thread-local slot (`sagevec_last_error`). NULL pointers (where
//!   not allowed), misaligned pointers, lengths that disagree and unknown codes
//!   or names are errors; a panic is caught and returned as
//!   `SAGEVEC_ERR_INTERNAL`, never unwound into C.
//!
//! Memory and threads belong to the caller: the library writes only into the
//! buffers it is given, except for the JSON strings it returns (freed with
//! `sagevec_string_free`) and the index handles (freed with
//! `sagevec_index_free`). Batch index work runs on the index's worker pool
//! (`SAGEVEC_NUM_THREADS` sizes it); kernels run on the calling thread.

// The C names are the ABI: lower-case types with the sagevec_ prefix.
#![allow(non_camel_case_types)]

mod args;
mod elements;
mod index;
mod json;
mod kernels;
mod owned;
mod scaled;
mod status;

pub use elements::*;
pub use index::*;
pub use kernels::*;
pub use owned::sagevec_string_free;
pub use scaled::*;
pub use status::{
    SAGEVEC_ERR_BAD_JSON, SAGEVEC_ERR_CLOSED, SAGEVEC_ERR_CONFIG_MISMATCH, SAGEVEC_ERR_CORRUPT,
    SAGEVEC_ERR_INTERNAL, SAGEVEC_ERR_INVALID_ARGUMENT, SAGEVEC_ERR_IO,
    SAGEVEC_ERR_LENGTH_MISMATCH, SAGEVEC_ERR_LOCKED, SAGEVEC_ERR_NOT_FOUND,
    SAGEVEC_ERR_NULL_POINTER, SAGEVEC_ERR_READ_ONLY, SAGEVEC_ERR_UNSUPPORTED, SAGEVEC_OK,
    sagevec_last_error, sagevec_status, sagevec_status_name,
};

/// The library's version (`"0.1.0"`), static.
#[unsafe(no_mangle)]
pub extern "C" fn sagevec_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
