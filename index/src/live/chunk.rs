//! Never-moving chunks of graph slots: each chunk holds `rows` slots' vectors (and
//! walk copy), links, levels, locks, ids, tombstones and metadata, allocated once
//! and freed only with the graph.
//!
//! The one rule that makes the raw row storage sound: a slot's rows are written
//! exactly once, by the thread that reserved the slot, before anything can read
//! them: before the slot is linked into the graph (links are release stores that a
//! walker acquires) and before a snapshot counts it (published through `ArcSwap`, a
//! release/acquire pair). Every read is of such a finished row, so no read races a
//! write; rows are never written again.

#![allow(unsafe_code)]

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::ptr::NonNull;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use bytemuck::Zeroable;

use crate::metadata::Metadata;
use crate::sync::{AtomicU8, AtomicU32, AtomicU64, Mutex};

/// The x86-64 Linux huge-page size.
const HUGE_PAGE: usize = 2 << 20;

/// `deleted_at` of a slot that has not been removed.
pub(crate) const ALIVE: u64 = u64::MAX;

/// Fixed-size, 64-byte-aligned, zero-initialised rows of `stride` elements, each
/// written once (see the module docs).
pub(crate) struct RowBlock<T> {
    ptr: NonNull<T>,
    rows: usize,
    stride: usize,
    layout: Layout,
}

// SAFETY: the block owns its allocation outright. Shared access is sound because a
// row is written once by its only writer before any reader can reach it (module
// docs), and never again: no write ever races a read or another write.
unsafe impl<T: Send> Send for RowBlock<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for RowBlock<T> {}

impl<T: Copy + Zeroable> RowBlock<T> {
    /// `rows` zeroed rows of `stride` elements.
    pub(crate) fn new(rows: usize, stride: usize) -> Self {
        let elems = rows.checked_mul(stride).expect("chunk size overflows");
        let bytes = (elems * size_of::<T>()).max(64);
        // Blocks of a huge page or more start on one, so every 2 MiB of them can be
        // a huge page (the walk copy of a 784-d graph is read a random row at a
        // time: with 4 KiB pages nearly every read would miss the TLB).
        let align = if bytes >= HUGE_PAGE { HUGE_PAGE } else { 64 };
        let layout = Layout::from_size_align(bytes, align).expect("chunk layout");
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else {
            handle_alloc_error(layout)
        };
        // Fresh, all-zero and untouched by anyone else: huge pages may back it.
        crate::graph::huge::advise_zeroed_region(raw, bytes);
        RowBlock {
            ptr,
            rows,
            stride,
            layout,
        }
    }

    /// Writes row `r` (`src.len() <= stride`; the rest of the row stays zero).
    ///
    /// # Safety
    /// The caller is the only thread that ever writes row `r`, writes it once, and
    /// no thread reads it until the caller publishes it (a release store that the
    /// reader's acquire load pairs with).
    pub(crate) unsafe fn write(&self, r: usize, src: &[T]) {
        assert!(r < self.rows && src.len() <= self.stride);
        // SAFETY: `r * stride + src.len() <= rows * stride` elements from the base are
        // inside the allocation; by the contract no other access to them is live.
        unsafe {
            std::ptr::copy_nonoverlapping(
                src.as_ptr(),
                self.ptr.as_ptr().add(r * self.stride),
                src.len(),
            );
        }
    }

    /// The first `len` elements of row `r`.
    ///
    /// # Safety
    /// Row `r` has been written and published to this thread (see [`write`](Self::write)),
    /// so it is never written again while the slice lives.
    pub(crate) unsafe fn row(&self, r: usize, len: usize) -> &[T] {
        assert!(r < self.rows && len <= self.stride);
        // SAFETY: in bounds as in `write`; by the contract the elements are immutable
        // from now on.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(r * self.stride), len) }
    }

    /// Rows `from..to` (`to <= rows`) as one slice ending at row `to - 1`'s `len`th
    /// element: a strided matrix for the one-to-many kernels.
    ///
    /// # Safety
    /// Every row in `from..to` has been written and published to this thread.
    pub(crate) unsafe fn rows(&self, from: usize, to: usize, len: usize) -> &[T] {
        assert!(from < to && to <= self.rows && len <= self.stride);
        let n = (to - from - 1) * self.stride + len;
        // SAFETY: the range lies inside the allocation; its rows are immutable by the
        // contract. Padding elements between rows are zero and never written.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(from * self.stride), n) }
    }

    /// The first element of row 0 (the chunk's base in a gather's pointer table).
    pub(crate) fn base(&self) -> *const T {
        self.ptr.as_ptr().cast_const()
    }
}

impl<T> Drop for RowBlock<T> {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout, freed once.
        unsafe { dealloc(self.ptr.as_ptr().cast(), self.layout) };
    }
}

/// The graph side of a chunk's slots: links, levels, locks, ids, tombstones and
/// metadata.
pub(crate) struct NodeBlock {
    /// Level-0 lists, `1 + 2m` slots per node (`[count, id, ...]`).
    pub(crate) level0: Box<[AtomicU32]>,
    pub(crate) in_links: Box<[AtomicU32]>,
    pub(crate) levels: Box<[AtomicU8]>,
    /// Upper-level lists of nodes above level 0: `level` lists of `1 + m` slots,
    /// level 1 first; set before the node is linked.
    pub(crate) upper: Box<[OnceLock<Box<[AtomicU32]>>]>,
    pub(crate) locks: Box<[Mutex<()>]>,
    pub(crate) ids: Box<[AtomicU64]>,
    /// The version from which the slot is removed ([`ALIVE`] if it is not).
    pub(crate) deleted_at: Box<[AtomicU64]>,
    pub(crate) metadata: Box<[OnceLock<Box<Metadata>>]>,
}

impl NodeBlock {
    pub(crate) fn new(rows: usize, m: usize) -> Self {
        fn atomics<A>(n: usize, f: impl Fn() -> A) -> Box<[A]> {
            (0..n).map(|_| f()).collect()
        }
        NodeBlock {
            level0: atomics(rows * (1 + 2 * m), || AtomicU32::new(0)),
            in_links: atomics(rows, || AtomicU32::new(0)),
            levels: atomics(rows, || AtomicU8::new(0)),
            upper: atomics(rows, OnceLock::new),
            locks: atomics(rows, || Mutex::new(())),
            ids: atomics(rows, || AtomicU64::new(0)),
            deleted_at: atomics(rows, || AtomicU64::new(ALIVE)),
            metadata: atomics(rows, OnceLock::new),
        }
    }

    /// Heap bytes of the link arrays: lists, in-link counts, levels, locks and
    /// upper-list slots (the upper lists themselves are [`upper_bytes`](Self::upper_bytes)).
    pub(crate) fn link_bytes(&self) -> usize {
        self.level0.len() * 4
            + self.in_links.len() * 4
            + self.levels.len()
            + self.upper.len() * size_of::<OnceLock<Box<[AtomicU32]>>>()
            + self.locks.len() * size_of::<Mutex<()>>()
    }

    /// Heap bytes of the row records: ids, tombstones and metadata slots (the
    /// metadata records themselves not counted).
    pub(crate) fn row_bytes(&self) -> usize {
        self.ids.len() * 8
            + self.deleted_at.len() * 8
            + self.metadata.len() * size_of::<OnceLock<Box<Metadata>>>()
    }

    /// Heap bytes of the upper lists allocated so far.
    pub(crate) fn upper_bytes(&self) -> usize {
        self.upper
            .iter()
            .filter_map(|u| u.get())
            .map(|u| u.len() * 4)
            .sum()
    }

    /// Whether slot `r` is live for a reader of snapshot `version`.
    #[inline(always)]
    pub(crate) fn alive_at(&self, r: usize, version: u64) -> bool {
        self.deleted_at[r].load(Ordering::Acquire) > version
    }
}

/// One row chunk: the vectors (and walk copy) of `rows` slots.
pub(crate) struct Chunk {
    pub(crate) vectors: RowBlock<f32>,
    /// The f16 copy searches walk, if the graph keeps one.
    pub(crate) walk: Option<RowBlock<sagevec_kernels::f16>>,
}

#[cfg(all(test, not(sagevec_loom)))]
mod tests {
    use super::*;

    #[test]
    fn rows_are_aligned_zeroed_and_round_trip() {
        let b = RowBlock::<f32>::new(8, 16);
        assert_eq!(b.base() as usize % 64, 0);
        // SAFETY: single-threaded test; each row written once before it is read.
        unsafe {
            b.write(3, &[1.0, 2.0, 3.0]);
            assert_eq!(b.row(3, 4), &[1.0, 2.0, 3.0, 0.0]);
            assert_eq!(b.row(2, 16), &[0.0; 16]);
            b.write(4, &[4.0]);
            let two = b.rows(3, 5, 3);
            assert_eq!(two.len(), 16 + 3);
            assert_eq!((two[0], two[16]), (1.0, 4.0));
        }
        let n = NodeBlock::new(4, 2);
        assert_eq!(n.level0.len(), 4 * 5);
        assert!(n.alive_at(0, 7));
        n.deleted_at[0].store(5, Ordering::Release);
        assert!(n.alive_at(0, 4) && !n.alive_at(0, 5));
    }
}
