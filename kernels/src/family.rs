//! The per-ISA kernel family builder.
//!
//! Each ISA module supplies f32 *primitives* (`dot`, `l2sq`, `cos_parts`,
//! `dot_norm`, `norm_sq`, `dot_tile`); [`f32_family!`] wraps them into the batch
//! shapes (pair, one-to-many, gather, norms) with the loop *inside* a function that
//! carries the ISA's target features, so primitives inline into the loop and
//! dispatch is paid once per call, not once per vector.

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

/// `out[j] = f(rows.row(ids[j]))`, prefetching the rows `GATHER_PREFETCH_ROWS` ids
/// ahead. Inlined into each ISA's gather kernel, so `f` runs with its features.
///
/// # Panics
/// If an id is out of range (the safe entry point checks them first).
#[inline(always)]
pub(crate) fn for_each_gathered<T>(
    rows: crate::Rows<'_, T>,
    ids: &[u32],
    out: &mut [f32],
    mut f: impl FnMut(&[T]) -> f32,
) {
    let row_bytes = rows.dim() * size_of::<T>();
    for (i, (o, &id)) in out.iter_mut().zip(ids).enumerate() {
        if let Some(&ahead) = ids.get(i + GATHER_PREFETCH_ROWS)
            && (ahead as usize) < rows.n_rows()
        {
            prefetch_lines(rows.row(ahead as usize).as_ptr(), row_bytes);
        }
        *o = f(rows.row(id as usize));
    }
}

/// Builds `pub(crate) const FAMILY: ElemKernels<f32>` for one ISA.
///
/// Every generated function is `unsafe` only because it may carry target features:
/// it is memory-safe for any inputs (loops are bounded by the shorter of the given
/// lengths), and the caller must guarantee the ISA is available.
macro_rules! f32_family {
    (
        $(#[$feat:meta])*
        dot = $dot:path,
        l2sq = $l2:path,
        cos_parts = $cos:path,
        dot_norm = $dn:path,
        norm_sq = $nsq:path,
        dot_tile = $tile:path,
        knn_panels = $panels:expr $(,)?
    ) => {
        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn pair_l2sq(a: &[f32], b: &[f32]) -> f32 {
            // SAFETY: the caller guarantees the ISA is available.
            unsafe { $l2(a, b) }
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn pair_ip(a: &[f32], b: &[f32]) -> f32 {
            // SAFETY: the caller guarantees the ISA is available.
            -unsafe { $dot(a, b) }
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn pair_cos(a: &[f32], b: &[f32]) -> f32 {
            // SAFETY: the caller guarantees the ISA is available.
            let (d, na, nb) = unsafe { $cos(a, b) };
            $crate::finalize::cosine_from_parts(d, na, nb)
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn many_l2sq(q: &[f32], rows: $crate::Rows<'_, f32>, out: &mut [f32]) {
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
        unsafe fn many_ip(q: &[f32], rows: $crate::Rows<'_, f32>, out: &mut [f32]) {
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
        unsafe fn many_cos(q: &[f32], rows: $crate::Rows<'_, f32>, out: &mut [f32]) {
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
        unsafe fn gather_l2sq(
            q: &[f32],
            rows: $crate::Rows<'_, f32>,
            ids: &[u32],
            out: &mut [f32],
        ) {
            $crate::family::for_each_gathered(rows, ids, out, |row| {
                // SAFETY: the caller guarantees the ISA.
                unsafe { $l2(q, row) }
            });
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn gather_ip(
            q: &[f32],
            rows: $crate::Rows<'_, f32>,
            ids: &[u32],
            out: &mut [f32],
        ) {
            $crate::family::for_each_gathered(rows, ids, out, |row| {
                // SAFETY: the caller guarantees the ISA.
                -unsafe { $dot(q, row) }
            });
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn gather_cos(
            q: &[f32],
            rows: $crate::Rows<'_, f32>,
            ids: &[u32],
            out: &mut [f32],
        ) {
            // SAFETY: the caller guarantees the ISA.
            let nq = unsafe { $nsq(q) };
            $crate::family::for_each_gathered(rows, ids, out, |row| {
                // SAFETY: the caller guarantees the ISA.
                let (d, nx) = unsafe { $dn(q, row) };
                $crate::finalize::cosine_from_parts(d, nq, nx)
            });
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn norms(rows: $crate::Rows<'_, f32>, out: &mut [f32]) {
            let n = out.len().min(rows.n_rows());
            for i in 0..n {
                // SAFETY: i < n <= n_rows; the caller guarantees the ISA.
                out[i] = unsafe { $nsq(rows.row_unchecked(i)) };
            }
        }

        pub(crate) const FAMILY: $crate::table::ElemKernels<f32> = $crate::table::ElemKernels {
            pair: [pair_l2sq, pair_ip, pair_cos],
            many: [many_l2sq, many_ip, many_cos],
            gather: [gather_l2sq, gather_ip, gather_cos],
            norms,
            dot_tile: $tile,
            knn_panels: $panels,
        };
    };
}

pub(crate) use f32_family;

/// Builds `pub(crate) const FAMILY: StoredKernels<$elem>` for one ISA from
/// f32-query-against-stored-row primitives (`dot`, `l2sq`, `cos_parts`,
/// `dot_norm`), the f32 `norm_sq` for the query, `encode` and `decode`; same loop shapes
/// and safety contract as [`f32_family!`].
macro_rules! stored_family {
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
        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn pair_l2sq(q: &[f32], x: &[$elem]) -> f32 {
            // SAFETY: the caller guarantees the ISA is available.
            unsafe { $l2(q, x) }
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn pair_ip(q: &[f32], x: &[$elem]) -> f32 {
            // SAFETY: the caller guarantees the ISA is available.
            -unsafe { $dot(q, x) }
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn pair_cos(q: &[f32], x: &[$elem]) -> f32 {
            // SAFETY: the caller guarantees the ISA is available.
            let (d, na, nb) = unsafe { $cos(q, x) };
            $crate::finalize::cosine_from_parts(d, na, nb)
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn many_l2sq(q: &[f32], rows: $crate::Rows<'_, $elem>, out: &mut [f32]) {
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
        unsafe fn many_ip(q: &[f32], rows: $crate::Rows<'_, $elem>, out: &mut [f32]) {
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
        unsafe fn many_cos(q: &[f32], rows: $crate::Rows<'_, $elem>, out: &mut [f32]) {
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
        unsafe fn gather_l2sq(
            q: &[f32],
            rows: $crate::Rows<'_, $elem>,
            ids: &[u32],
            out: &mut [f32],
        ) {
            $crate::family::for_each_gathered(rows, ids, out, |row| {
                // SAFETY: the caller guarantees the ISA.
                unsafe { $l2(q, row) }
            });
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn gather_ip(
            q: &[f32],
            rows: $crate::Rows<'_, $elem>,
            ids: &[u32],
            out: &mut [f32],
        ) {
            $crate::family::for_each_gathered(rows, ids, out, |row| {
                // SAFETY: the caller guarantees the ISA.
                -unsafe { $dot(q, row) }
            });
        }

        /// # Safety
        /// The ISA this module is built for is available.
        $(#[$feat])*
        #[allow(unused_unsafe)]
        unsafe fn gather_cos(
            q: &[f32],
            rows: $crate::Rows<'_, $elem>,
            ids: &[u32],
            out: &mut [f32],
        ) {
            // SAFETY: the caller guarantees the ISA.
            let nq = unsafe { $nsq(q) };
            $crate::family::for_each_gathered(rows, ids, out, |row| {
                // SAFETY: the caller guarantees the ISA.
                let (d, nx) = unsafe { $dn(q, row) };
                $crate::finalize::cosine_from_parts(d, nq, nx)
            });
        }

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

        pub(crate) const FAMILY: $crate::stored::StoredKernels<$elem> =
            $crate::stored::StoredKernels {
                pair: [pair_l2sq, pair_ip, pair_cos],
                many: [many_l2sq, many_ip, many_cos],
                gather: [gather_l2sq, gather_ip, gather_cos],
                encode,
                decode,
            };
    };
}

pub(crate) use stored_family;
