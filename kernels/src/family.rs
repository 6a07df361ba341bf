//! The per-ISA kernel family builder.
//!
//! Each ISA module supplies, per row element type, *primitives* of a query against
//! one row (`dot`, `l2sq`, `cos_parts`, `dot_norm`, and `norm_sq` of a query);
//! [`row_family!`] wraps them into the batch shapes (pair, one-to-many, gather over
//! chunked rows, and for symmetric types the norms and many-to-many tiles) with
//! the loop *inside* a function that carries the ISA's target features, so
//! primitives inline into the loop and dispatch is paid once per call, not once
//! per vector.

/// Issues a software prefetch (T0) for each cache line of `bytes` bytes from `ptr`.
/// A prefetch is a hint: it never faults and has no architectural effect, so any
/// address is fine (the pointer is only offset with wrapping arithmetic).
#[inline(always)]
pub(crate) fn prefetch_lines<T>(ptr: *const T, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let base = ptr.cast::<i8>();
        let mut off = 0;
        while off < bytes {
            // SAFETY: prefetch is a hint that never faults or reads architecturally;
            // SSE (and so _mm_prefetch) is part of the x86-64 baseline.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(off)) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (ptr, bytes);
    }
}

/// How many rows ahead the gather kernels prefetch.
pub(crate) const GATHER_PREFETCH_ROWS: usize = 2;

/// Builds `pub(crate) const FAMILY: Family<$elem>` for one ISA (and, for element
/// types stored by rounding from f32, `pub(crate) const CODEC: Codec<$elem>`).
///
/// Every generated function is `unsafe` only because it may carry target features:
/// it is memory-safe for any inputs (loops are bounded by the shorter of the given
/// lengths), and the caller must guarantee the ISA is available.
macro_rules! row_family {
    // A row type whose queries are f32 and whose rows are stored from f32 by
    // `encode` (f16): one-to-many shapes and the codec, no many-to-many.
    (
        $(#[$feat:meta])*
        elem = $elem:ty,
        dot = $dot:path,
        l2sq = $l2:path,
        cos_parts = $cos:path,
        dot_norm = $dn:path,
        norm_sq = $nsq:path,
        encode = $enc:path,
        decode = $dec:path $(,)?
    ) => {
        $crate::family::row_family!(@shapes [$(#[$feat])*] $elem, f32, $dot, $l2, $cos, $dn, $nsq);

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn encode(src: &[f32], scale: f32, dst: &mut [$elem]) {
            // SAFETY: the caller guarantees the ISA.
            unsafe { $enc(src, scale, dst) }
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn decode(src: &[$elem], dst: &mut [f32]) {
            // SAFETY: the caller guarantees the ISA.
            unsafe { $dec(src, dst) }
        }

        pub(crate) const FAMILY: $crate::table::Family<$elem> = $crate::table::Family {
            pair: [pair_l2sq, pair_ip, pair_cos],
            many: [many_l2sq, many_ip, many_cos],
            chunked: [chunked_l2sq, chunked_ip, chunked_cos],
            many_to_many: None,
        };

        pub(crate) const CODEC: $crate::stored::Codec<$elem> =
            $crate::stored::Codec { encode, decode };
    };
    // A symmetric row type (queries of the row type): one-to-many shapes plus the
    // norms and the many-to-many tiles.
    (
        $(#[$feat:meta])*
        elem = $elem:ty,
        dot = $dot:path,
        l2sq = $l2:path,
        cos_parts = $cos:path,
        dot_norm = $dn:path,
        norm_sq = $nsq:path,
        dot_tile = $tile:path,
        knn_panels = $panels:expr $(,)?
    ) => {
        $crate::family::row_family!(@shapes [$(#[$feat])*] $elem, $elem, $dot, $l2, $cos, $dn, $nsq);

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn norms(rows: $crate::Rows<'_, $elem>, out: &mut [f32]) {
            let n = out.len().min(rows.n_rows());
            for i in 0..n {
                // SAFETY: i < n <= n_rows; the caller guarantees the ISA.
                out[i] = unsafe { $nsq(rows.row_unchecked(i)) };
            }
        }

        pub(crate) const FAMILY: $crate::table::Family<$elem> = $crate::table::Family {
            pair: [pair_l2sq, pair_ip, pair_cos],
            many: [many_l2sq, many_ip, many_cos],
            chunked: [chunked_l2sq, chunked_ip, chunked_cos],
            many_to_many: Some($crate::table::ManyToMany {
                norms,
                dot_tile: $tile,
                knn_panels: $panels,
            }),
        };
    };
    (@shapes [$(#[$feat:meta])*] $elem:ty, $q:ty, $dot:path, $l2:path, $cos:path, $dn:path, $nsq:path) => {
        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn pair_l2sq(q: &[$q], x: &[$elem]) -> f32 {
            // SAFETY: the caller guarantees the ISA is available.
            unsafe { $l2(q, x) }
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn pair_ip(q: &[$q], x: &[$elem]) -> f32 {
            // SAFETY: the caller guarantees the ISA is available.
            -unsafe { $dot(q, x) }
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn pair_cos(q: &[$q], x: &[$elem]) -> f32 {
            // SAFETY: the caller guarantees the ISA is available.
            let (d, na, nb) = unsafe { $cos(q, x) };
            $crate::finalize::cosine_from_parts(d, na, nb)
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn many_l2sq(q: &[$q], rows: $crate::Rows<'_, $elem>, out: &mut [f32]) {
            let n = out.len().min(rows.n_rows());
            for i in 0..n {
                // SAFETY: i < n <= n_rows; the caller guarantees the ISA.
                out[i] = unsafe { $l2(q, rows.row_unchecked(i)) };
            }
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn many_ip(q: &[$q], rows: $crate::Rows<'_, $elem>, out: &mut [f32]) {
            let n = out.len().min(rows.n_rows());
            for i in 0..n {
                // SAFETY: i < n <= n_rows; the caller guarantees the ISA.
                out[i] = -unsafe { $dot(q, rows.row_unchecked(i)) };
            }
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn many_cos(q: &[$q], rows: $crate::Rows<'_, $elem>, out: &mut [f32]) {
            // SAFETY: the caller guarantees the ISA.
            let nq = unsafe { $nsq(q) };
            let n = out.len().min(rows.n_rows());
            for i in 0..n {
                // SAFETY: i < n <= n_rows; the caller guarantees the ISA.
                let (d, nx) = unsafe { $dn(q, rows.row_unchecked(i)) };
                out[i] = $crate::finalize::cosine_from_parts(d, nq, nx);
            }
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn chunked_l2sq(
            q: &[$q],
            rows: &$crate::ChunkedRows<'_, $elem>,
            ids: &[u32],
            out: &mut [f32],
        ) {
            $crate::chunked::for_each_chunked(rows, ids, out, |row| {
                // SAFETY: the caller guarantees the ISA.
                unsafe { $l2(q, row) }
            });
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn chunked_ip(
            q: &[$q],
            rows: &$crate::ChunkedRows<'_, $elem>,
            ids: &[u32],
            out: &mut [f32],
        ) {
            $crate::chunked::for_each_chunked(rows, ids, out, |row| {
                // SAFETY: the caller guarantees the ISA.
                -unsafe { $dot(q, row) }
            });
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn chunked_cos(
            q: &[$q],
            rows: &$crate::ChunkedRows<'_, $elem>,
            ids: &[u32],
            out: &mut [f32],
        ) {
            // SAFETY: the caller guarantees the ISA.
            let nq = unsafe { $nsq(q) };
            $crate::chunked::for_each_chunked(rows, ids, out, |row| {
                // SAFETY: the caller guarantees the ISA.
                let (d, nx) = unsafe { $dn(q, row) };
                $crate::finalize::cosine_from_parts(d, nq, nx)
            });
        }
    };
}

pub(crate) use row_family;
