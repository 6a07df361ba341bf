//! 64-byte-aligned storage: `AlignedVec<T>` and the row-padded `AlignedMatrix<T>`.
//!
//! A cache line is 64 bytes on every x86-64 CPU we target; a 64-byte-aligned start
//! lets a 512-bit load never split a line, and rows padded to a line keep two
//! threads that write neighbouring rows off each other's lines.

use std::alloc::{self, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use bytemuck::Zeroable;

use crate::error::KernelError;
use crate::rows::Rows;

/// The alignment of every `AlignedVec` allocation, in bytes.
pub const ALIGN: usize = 64;

/// A fixed-length, heap-allocated, zero-initialised slice whose first element is
/// 64-byte aligned. Derefs to `[T]`.
pub struct AlignedVec<T: Copy + Zeroable> {
    ptr: NonNull<T>,
    len: usize,
}

// SAFETY: AlignedVec owns its elements exactly like Box<[T]>; it is Send/Sync when T is.
unsafe impl<T: Copy + Zeroable + Send> Send for AlignedVec<T> {}
// SAFETY: shared access only hands out &[T], as Box<[T]> does.
unsafe impl<T: Copy + Zeroable + Sync> Sync for AlignedVec<T> {}

impl<T: Copy + Zeroable> AlignedVec<T> {
    fn layout(len: usize) -> Layout {
        let size = len
            .checked_mul(size_of::<T>())
            .expect("AlignedVec size overflows usize");
        Layout::from_size_align(size, ALIGN.max(align_of::<T>()))
            .expect("AlignedVec layout is too large")
    }

    /// `len` zeroed elements.
    ///
    /// # Panics
    /// If the byte size overflows `isize`; aborts if the allocation fails (as `Vec` does).
    pub fn zeroed(len: usize) -> Self {
        let layout = Self::layout(len);
        if layout.size() == 0 {
            // A dangling pointer at the alignment is valid for zero-sized access.
            let ptr = NonNull::new(layout.align() as *mut T).expect("alignment is non-zero");
            return AlignedVec { ptr, len };
        }
        // SAFETY: layout has a non-zero size (checked just above).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else {
            alloc::handle_alloc_error(layout)
        };
        AlignedVec { ptr, len }
    }

    /// A copy of `src` in aligned storage.
    pub fn from_slice(src: &[T]) -> Self {
        let mut v = Self::zeroed(src.len());
        v.copy_from_slice(src);
        v
    }

    /// `len` copies of `value`.
    pub fn filled(len: usize, value: T) -> Self {
        let mut v = Self::zeroed(len);
        v.fill(value);
        v
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements as a slice.
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: ptr is valid for len initialised (zeroed or written) elements, aligned.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The elements as a mutable slice.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in as_slice, and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy + Zeroable> Drop for AlignedVec<T> {
    fn drop(&mut self) {
        let layout = Self::layout(self.len);
        if layout.size() != 0 {
            // SAFETY: allocated in `zeroed` with this same layout.
            unsafe { alloc::dealloc(self.ptr.as_ptr().cast::<u8>(), layout) };
        }
    }
}

impl<T: Copy + Zeroable> Deref for AlignedVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Copy + Zeroable> DerefMut for AlignedVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: Copy + Zeroable> Clone for AlignedVec<T> {
    fn clone(&self) -> Self {
        Self::from_slice(self)
    }
}

impl<T: Copy + Zeroable + fmt::Debug> fmt::Debug for AlignedVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Copy + Zeroable + PartialEq> PartialEq for AlignedVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

/// A row-major matrix in 64-byte-aligned storage. With padding on, each row's
/// stride is rounded up to a whole number of cache lines, so every row starts on a
/// line boundary; pad elements are zero and stay zero.
#[derive(Clone, PartialEq)]
pub struct AlignedMatrix<T: Copy + Zeroable> {
    data: AlignedVec<T>,
    n_rows: usize,
    dim: usize,
    stride: usize,
}

impl<T: Copy + Zeroable> AlignedMatrix<T> {
    /// The stride for `dim` elements: `dim` itself, or rounded up to a cache line
    /// when `pad_rows` is set.
    pub fn stride_for(dim: usize, pad_rows: bool) -> usize {
        let per_line = (ALIGN / size_of::<T>().max(1)).max(1);
        if pad_rows {
            dim.div_ceil(per_line) * per_line
        } else {
            dim
        }
    }

    /// `n_rows` zero rows of `dim` elements.
    pub fn zeroed(n_rows: usize, dim: usize, pad_rows: bool) -> Self {
        let stride = Self::stride_for(dim, pad_rows);
        let len = n_rows
            .checked_mul(stride)
            .expect("AlignedMatrix size overflows usize");
        AlignedMatrix {
            data: AlignedVec::zeroed(len),
            n_rows,
            dim,
            stride,
        }
    }

    /// A copy of a contiguous row-major `src` of `dim`-element rows.
    pub fn from_rows(src: &[T], dim: usize, pad_rows: bool) -> Result<Self, KernelError> {
        let rows = Rows::contiguous(src, dim)?;
        let mut m = Self::zeroed(rows.n_rows(), dim, pad_rows);
        for (i, row) in rows.iter().enumerate() {
            m.row_mut(i).copy_from_slice(row);
        }
        Ok(m)
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Elements per row (without padding).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Elements from one row start to the next (with padding).
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Row `i`.
    ///
    /// # Panics
    /// If `i >= n_rows`.
    pub fn row(&self, i: usize) -> &[T] {
        assert!(
            i < self.n_rows,
            "row {i} out of range for {} rows",
            self.n_rows
        );
        &self.data[i * self.stride..i * self.stride + self.dim]
    }

    /// Row `i`, mutable (the padding is not exposed).
    ///
    /// # Panics
    /// If `i >= n_rows`.
    pub fn row_mut(&mut self, i: usize) -> &mut [T] {
        assert!(
            i < self.n_rows,
            "row {i} out of range for {} rows",
            self.n_rows
        );
        let stride = self.stride;
        let dim = self.dim;
        &mut self.data[i * stride..i * stride + dim]
    }

    /// The matrix as a kernel input.
    pub fn rows(&self) -> Rows<'_, T> {
        Rows::strided(&self.data, self.n_rows, self.dim, self.stride)
            .expect("AlignedMatrix keeps its shape consistent")
    }

    /// The whole backing store, padding included.
    pub fn as_padded_slice(&self) -> &[T] {
        &self.data
    }
}

impl<T: Copy + Zeroable> fmt::Debug for AlignedMatrix<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedMatrix")
            .field("n_rows", &self.n_rows)
            .field("dim", &self.dim)
            .field("stride", &self.stride)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_zeroed() {
        for len in [0usize, 1, 3, 16, 17, 1000] {
            let v = AlignedVec::<f32>::zeroed(len);
            assert_eq!(v.as_ptr() as usize % ALIGN, 0);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
            let w = AlignedVec::<u64>::filled(len, 7);
            assert!(w.iter().all(|&x| x == 7));
            assert_eq!(w.clone(), w);
        }
    }

    #[test]
    fn padded_rows_start_on_lines() {
        let src: Vec<f32> = (0..3 * 20).map(|x| x as f32).collect();
        let m = AlignedMatrix::from_rows(&src, 20, true).unwrap();
        assert_eq!(m.stride(), 32);
        for i in 0..3 {
            assert_eq!(m.row(i).as_ptr() as usize % ALIGN, 0);
            assert_eq!(m.row(i), &src[i * 20..(i + 1) * 20]);
        }
        let r = m.rows();
        assert_eq!((r.n_rows(), r.dim(), r.stride()), (3, 20, 32));
        let unpadded = AlignedMatrix::from_rows(&src, 20, false).unwrap();
        assert_eq!(unpadded.stride(), 20);
        assert!(AlignedMatrix::from_rows(&src, 7, true).is_err());
    }
}
