//! `Rows`: a validated, borrowed view of a row-major matrix with a row stride.

use crate::chunked::ChunkedRows;
use crate::error::KernelError;

/// Errors unless `stride >= dim` (rows would overlap their neighbours' elements).
pub(crate) fn check_stride(dim: usize, stride: usize) -> Result<(), KernelError> {
    if stride < dim {
        return Err(KernelError::BadShape(format!(
            "stride {stride} is less than dim {dim}"
        )));
    }
    Ok(())
}

/// A borrowed row-major matrix: `n_rows` rows of `dim` elements, row `i` starting at
/// element `i * stride`. Construction checks that every row lies inside `data`, so
/// kernels can index rows without further checks.
#[derive(Debug)]
pub struct Rows<'a, T> {
    data: &'a [T],
    n_rows: usize,
    dim: usize,
    stride: usize,
}

impl<T> Clone for Rows<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Rows<'_, T> {}

impl<'a, T> Rows<'a, T> {
    /// A contiguous matrix (`stride == dim`) covering all of `data`.
    ///
    /// Errors if `dim == 0` (the row count would be undefined) or if `data.len()`
    /// is not a multiple of `dim`.
    pub fn contiguous(data: &'a [T], dim: usize) -> Result<Self, KernelError> {
        if dim == 0 {
            return Err(KernelError::BadShape(
                "dim must be at least 1 for a contiguous matrix; use Rows::strided for dim 0"
                    .into(),
            ));
        }
        if !data.len().is_multiple_of(dim) {
            return Err(KernelError::BadShape(format!(
                "data length {} is not a multiple of dim {dim}",
                data.len()
            )));
        }
        Ok(Rows {
            data,
            n_rows: data.len() / dim,
            dim,
            stride: dim,
        })
    }

    /// A matrix of `n_rows` rows of `dim` elements, `stride` elements apart.
    ///
    /// Errors if `stride < dim` (rows would overlap their neighbours' elements)
    /// or if the last row would end past `data`.
    pub fn strided(
        data: &'a [T],
        n_rows: usize,
        dim: usize,
        stride: usize,
    ) -> Result<Self, KernelError> {
        check_stride(dim, stride)?;
        if n_rows > 0 {
            let need = (n_rows - 1)
                .checked_mul(stride)
                .and_then(|x| x.checked_add(dim))
                .ok_or_else(|| KernelError::BadShape("n_rows * stride overflows usize".into()))?;
            if need > data.len() {
                return Err(KernelError::BadShape(format!(
                    "{n_rows} rows of dim {dim} with stride {stride} need {need} elements, data has {}",
                    data.len()
                )));
            }
        }
        Ok(Rows {
            data,
            n_rows,
            dim,
            stride,
        })
    }

    /// Number of rows.
    #[inline]
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Elements per row.
    #[inline]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Elements from the start of one row to the start of the next.
    #[inline]
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Whether there are no rows.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.n_rows == 0
    }

    /// Row `i`.
    ///
    /// # Panics
    /// If `i >= n_rows`.
    #[inline]
    pub fn row(&self, i: usize) -> &'a [T] {
        assert!(
            i < self.n_rows,
            "row {i} out of range for {} rows",
            self.n_rows
        );
        let start = i * self.stride;
        &self.data[start..start + self.dim]
    }

    /// The rows `start..end` as a matrix of their own.
    ///
    /// # Panics
    /// If `start > end` or `end > n_rows`.
    pub fn slice_rows(&self, start: usize, end: usize) -> Rows<'a, T> {
        assert!(
            start <= end && end <= self.n_rows,
            "row range {start}..{end} out of 0..{}",
            self.n_rows
        );
        if start == end {
            return Rows {
                data: &self.data[..0],
                n_rows: 0,
                dim: self.dim,
                stride: self.stride,
            };
        }
        let first = start * self.stride;
        let last_end = (end - 1) * self.stride + self.dim;
        Rows {
            data: &self.data[first..last_end],
            n_rows: end - start,
            dim: self.dim,
            stride: self.stride,
        }
    }

    /// Iterates over the rows.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [T]> + '_ {
        (0..self.n_rows).map(move |i| self.row(i))
    }

    /// Calls `f` with these rows described as chunked rows (one chunk of up to
    /// 2³¹ rows, two past that: the rows u32 ids reach), for the gather kernels.
    pub(crate) fn as_chunked<R>(&self, f: impl FnOnce(&ChunkedRows<'_, T>) -> R) -> R {
        const SHIFT: u32 = 31;
        let p = self.data.as_ptr();
        // Row 2³¹ starts chunk 1; it exists only when n_rows > 2³¹, and then the
        // offset is inside `data`. Rows past 2³² are unreachable by u32 ids.
        let second = if self.n_rows > 1 << SHIFT {
            p.wrapping_add((1usize << SHIFT) * self.stride)
        } else {
            p
        };
        let both = [p, second];
        // One chunk unless there are rows past 2³¹ (the gather's fast path).
        let chunks = if self.n_rows > 1 << SHIFT {
            &both[..]
        } else {
            &both[..1]
        };
        let n_rows = self.n_rows.min(2 << SHIFT);
        // SAFETY: stride >= dim (checked at construction); n_rows <= chunks.len()
        // << SHIFT (one chunk holds the first 2³¹ rows); row r < n_rows starts at
        // r * stride of `data` and is a row of `self`, whose `dim` elements
        // construction proved inside `data`, which is borrowed (so unwritten) for
        // the call; `data.as_ptr()` is non-null and aligned even when empty.
        let chunked =
            unsafe { ChunkedRows::new_unchecked(chunks, SHIFT, self.dim, self.stride, n_rows) };
        f(&chunked)
    }

    /// Pointer to the first element of row `i`, for kernels.
    ///
    /// # Safety
    /// `i < n_rows`; then `dim` elements from the pointer are inside `data`.
    #[inline(always)]
    pub(crate) unsafe fn row_ptr(&self, i: usize) -> *const T {
        debug_assert!(i < self.n_rows);
        // SAFETY: the caller guarantees i < n_rows, and construction checked
        // (n_rows - 1) * stride + dim <= data.len(), so the offset is in bounds.
        unsafe { self.data.as_ptr().add(i * self.stride) }
    }

    /// Row `i` without the bounds check.
    ///
    /// # Safety
    /// `i < n_rows`.
    #[inline(always)]
    pub(crate) unsafe fn row_unchecked(&self, i: usize) -> &'a [T] {
        // SAFETY: the caller guarantees i < n_rows; construction proved the row
        // lies inside `data`, which lives for 'a.
        unsafe { std::slice::from_raw_parts(self.row_ptr(i), self.dim) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked() {
        let data = [0.0f32; 10];
        assert_eq!(Rows::contiguous(&data, 5).unwrap().n_rows(), 2);
        assert!(Rows::contiguous(&data, 3).is_err());
        assert!(Rows::contiguous(&data, 0).is_err());
        assert!(Rows::strided(&data, 2, 4, 6).is_ok()); // 6 + 4 = 10
        assert!(Rows::strided(&data, 2, 5, 6).is_err()); // 6 + 5 = 11
        assert!(Rows::strided(&data, 1, 5, 4).is_err()); // stride < dim
        assert!(Rows::strided(&data, usize::MAX, 1, usize::MAX).is_err());
        let empty: [f32; 0] = [];
        assert_eq!(Rows::strided(&empty, 0, 8, 8).unwrap().n_rows(), 0);
    }

    #[test]
    fn rows_and_slices() {
        let data: Vec<f32> = (0..12).map(|x| x as f32).collect();
        let m = Rows::strided(&data, 3, 3, 4).unwrap();
        assert_eq!(m.row(1), &[4.0, 5.0, 6.0]);
        let s = m.slice_rows(1, 3);
        assert_eq!(s.n_rows(), 2);
        assert_eq!(s.row(1), &[8.0, 9.0, 10.0]);
        assert_eq!(m.slice_rows(2, 2).n_rows(), 0);
        assert_eq!(m.iter().count(), 3);
    }
}
