//! The per-ISA kernel family builders.
//!
//! Each ISA module supplies, per row element type, *primitives* of a query against
//! one row (`l2sq`, `dot`, `cos_parts` / `dot_norm` / `norm_sq`, `hamming`, ...);
//! the macros here wrap them into the batch shapes (one-to-one, one-to-many over
//! strided rows, the gather over chunked rows, and the norms of the many-to-many
//! path) with the loop *inside* a function that carries the ISA's target features,
//! so primitives inline into the loop and dispatch is paid once per call, not once
//! per vector. Every generated function is `unsafe` only because it may carry
//! target features: it is memory-safe for any inputs (loops are bounded by the
//! shorter of the given lengths), and the caller must guarantee the ISA.

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

/// `MetricKernels { pair, many, chunked }` for a metric whose distance is
/// `$body` of one query `$q: &$query` (`[f32]`, `[i8]`, a `ScaledQuery`, ...) and
/// one row `$x: &[$elem]` (an expression that may call `unsafe` primitives of this
/// ISA).
macro_rules! metric_kernels {
    ([$(#[$feat:meta])*] $elem:ty, $query:ty, |$q:ident, $x:ident| $body:expr) => {{
        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn pair($q: &$query, $x: &[$elem]) -> f32 {
            // SAFETY: the caller guarantees the ISA is available.
            unsafe { $body }
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn many($q: &$query, rows: $crate::Rows<'_, $elem>, out: &mut [f32]) {
            let n = out.len().min(rows.n_rows());
            for i in 0..n {
                // SAFETY: i < n <= n_rows.
                let $x = unsafe { rows.row_unchecked(i) };
                // SAFETY: the caller guarantees the ISA.
                out[i] = unsafe { $body };
            }
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn chunked(
            $q: &$query,
            rows: &$crate::ChunkedRows<'_, $elem>,
            ids: &[u32],
            out: &mut [f32],
        ) {
            $crate::chunked::for_each_chunked(rows, ids, out, |$x| {
                // SAFETY: the caller guarantees the ISA.
                unsafe { $body }
            });
        }

        $crate::table::MetricKernels { pair, many, chunked }
    }};
}

pub(crate) use metric_kernels;

/// `MetricKernels { .. }` for the cosine distance of f32 queries against
/// `$elem` rows: one-to-one from `$parts(q, x) -> (q·x, |q|², |x|²)`; one-to-many
/// and gathers compute `$nsq(q) = |q|²` once per call and `$dn(q, x) -> (q·x, |x|²)`
/// per row.
macro_rules! cosine_kernels {
    ([$(#[$feat:meta])*] $elem:ty, $parts:path, $dn:path, $nsq:path) => {{
        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn pair(q: &[f32], x: &[$elem]) -> f32 {
            // SAFETY: the caller guarantees the ISA is available.
            let (d, na, nb) = unsafe { $parts(q, x) };
            $crate::finalize::cosine_from_parts(d, na, nb)
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn many(q: &[f32], rows: $crate::Rows<'_, $elem>, out: &mut [f32]) {
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
        unsafe fn chunked(
            q: &[f32],
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

        $crate::table::MetricKernels { pair, many, chunked }
    }};
}

pub(crate) use cosine_kernels;

/// `[l2, ip, cosine, hamming, jaccard]` for a row type of f32 queries built from
/// one-row primitives (`Family::metrics` of f32, f16 and bf16).
macro_rules! float_metrics {
    ([$(#[$feat:meta])*] $elem:ty, $l2:path, $dot:path, $parts:path, $dn:path, $nsq:path) => {
        [
            Some($crate::family::metric_kernels!([$(#[$feat])*] $elem, [f32], |q, x| $l2(q, x))),
            Some($crate::family::metric_kernels!([$(#[$feat])*] $elem, [f32], |q, x| -$dot(q, x))),
            Some($crate::family::cosine_kernels!([$(#[$feat])*] $elem, $parts, $dn, $nsq)),
            None,
            None,
        ]
    };
}

pub(crate) use float_metrics;

/// The squared-norms kernel (`Rows<$elem>` → `|rᵢ|²` via `$nsq`) of the
/// many-to-many path.
macro_rules! norms_kernel {
    ([$(#[$feat:meta])*] $elem:ty, $nsq:path) => {{
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
        norms
    }};
}

pub(crate) use norms_kernel;

/// A dot-product "tile" that runs the one-to-one `$dot` per pair (for row types
/// without a register-tiled micro-kernel): `out[i * n_x + j] = q_i · x_j`.
macro_rules! dot_tile_pairwise {
    ([$(#[$feat:meta])*] $elem:ty, $dot:path) => {{
        /// # Safety
        /// The ISA this module is built for is available. (Memory-safe for any
        /// shapes: it writes only the `out[..n_q * n_x]` that exist.)
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn tile(q: $crate::Rows<'_, $elem>, x: $crate::Rows<'_, $elem>, out: &mut [f32]) {
            let n_x = x.n_rows();
            for (i, qi) in q.iter().enumerate() {
                for (j, xj) in x.iter().enumerate() {
                    if let Some(o) = out.get_mut(i * n_x + j) {
                        // SAFETY: the caller guarantees the ISA.
                        *o = unsafe { $dot(qi, xj) };
                    }
                }
            }
        }
        tile
    }};
}

pub(crate) use dot_tile_pairwise;
