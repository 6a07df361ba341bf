//! Append-only row storage that readers read while one writer appends.
//!
//! A segment's rows live in two stores of the same fixed capacity, split into
//! fixed-size chunks that are allocated on first use and never move:
//! - [`VectorArena`]: the vectors, 64-byte aligned, padded to whole cache lines;
//!   dropped once a graph (which keeps its own search layout) replaces it;
//! - [`RowTable`]: each row's id, metadata and the version that removed it;
//!   shared by every form the segment takes (flat, then graph), so a removal
//!   made while the builder works is never lost.
//!
//! The one rule that makes the arena sound: a row is written exactly once, by
//! the thread that holds the index's writer lock (or by the builder into a store
//! no snapshot has published yet), *before* the snapshot that counts it is
//! published; readers only touch rows their snapshot counts. Publishing through
//! `ArcSwap` is a release/acquire pair, so a reader sees every byte the writer
//! wrote before the publish.

#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use sagevec_kernels::Rows;

use crate::metadata::Metadata;

/// `deleted_at` of a row that has not been removed.
pub(crate) const ALIVE: u64 = u64::MAX;

/// Floats per cache line.
const LINE_F32: usize = 16;

/// One cache line of floats, written once through `UnsafeCell`.
#[repr(C, align(64))]
struct Line([UnsafeCell<f32>; LINE_F32]);

impl Line {
    fn zeroed() -> Self {
        Line(std::array::from_fn(|_| UnsafeCell::new(0.0)))
    }
}

/// Rows per chunk for vectors of `stride` floats: about 2 MiB of vectors, a
/// power of two in `16..=4096`.
fn chunk_rows_for(stride: usize) -> usize {
    let target = (2 << 20) / (stride * 4);
    target.clamp(16, 4096).next_power_of_two().min(4096)
}

/// Fixed-capacity, chunked, append-only vectors (see the module docs).
pub(crate) struct VectorArena {
    dim: usize,
    /// Floats per row: `dim` rounded up to a whole number of cache lines.
    stride: usize,
    capacity: usize,
    chunk_rows: usize,
    chunks: Box<[OnceLock<Box<[Line]>>]>,
}

// SAFETY: the only non-`Sync` parts are the `UnsafeCell<f32>`s. They are written
// only through `write`, whose contract makes the writer the sole accessor of a
// row until it is published, and never written again after; every other access
// is a shared read of a published row.
unsafe impl Sync for VectorArena {}
// SAFETY: the arena owns its memory outright; moving it moves plain data.
unsafe impl Send for VectorArena {}

impl std::fmt::Debug for VectorArena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorArena")
            .field("dim", &self.dim)
            .field("capacity", &self.capacity)
            .field("chunk_rows", &self.chunk_rows)
            .finish_non_exhaustive()
    }
}

impl VectorArena {
    /// An empty arena for `capacity` rows of `dim` floats (nothing allocated yet).
    pub(crate) fn new(dim: usize, capacity: usize) -> Self {
        let stride = dim.div_ceil(LINE_F32) * LINE_F32;
        let chunk_rows = chunk_rows_for(stride);
        VectorArena {
            dim,
            stride,
            capacity,
            chunk_rows,
            chunks: (0..capacity.div_ceil(chunk_rows))
                .map(|_| OnceLock::new())
                .collect(),
        }
    }

    /// Rows per chunk: exact scans walk the arena one chunk at a time.
    pub(crate) fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }

    /// Writes row `row`.
    ///
    /// # Safety
    /// The caller is the only writer (it holds the index's writer lock, or owns an
    /// arena no snapshot has published), `row` has never been written, and no
    /// published snapshot counts `row` yet.
    pub(crate) unsafe fn write(&self, row: usize, vector: &[f32]) {
        assert!(row < self.capacity && vector.len() == self.dim);
        let lines_per_row = self.stride / LINE_F32;
        let chunk = self.chunks[row / self.chunk_rows].get_or_init(|| {
            (0..self.chunk_rows * lines_per_row)
                .map(|_| Line::zeroed())
                .collect()
        });
        let line = &chunk[(row % self.chunk_rows) * lines_per_row];
        let dst: *mut f32 = UnsafeCell::raw_get(line.0.as_ptr());
        // SAFETY: the row's `stride` floats are contiguous from its first line
        // (`repr(C)` lines of `UnsafeCell<f32>`, which has the layout of `f32`),
        // so `dim <= stride` floats from `dst` stay inside this row's lines of
        // this chunk; by the contract no other thread reads or writes them now.
        unsafe { std::ptr::copy_nonoverlapping(vector.as_ptr(), dst, self.dim) };
    }

    /// First float of row `row`'s chunk and of the row within it.
    fn row_ptr(&self, row: usize) -> *const f32 {
        let chunk = self.chunks[row / self.chunk_rows]
            .get()
            .expect("a published row lives in an allocated chunk");
        let line = &chunk[(row % self.chunk_rows) * (self.stride / LINE_F32)];
        UnsafeCell::raw_get(line.0.as_ptr()).cast_const()
    }

    /// The vector of a published row.
    pub(crate) fn vector(&self, row: usize) -> &[f32] {
        let ptr = self.row_ptr(row);
        // SAFETY: as in `write`, the row's floats are contiguous from `ptr` inside
        // its chunk; the row is published, so it is never written again and this
        // shared read cannot race a write.
        unsafe { std::slice::from_raw_parts(ptr, self.dim) }
    }

    /// Published rows `start..start + len` of one chunk as a strided matrix
    /// (`start` chunk-aligned, the range inside that chunk, `len >= 1`).
    pub(crate) fn chunk_view(&self, start: usize, len: usize) -> Rows<'_, f32> {
        assert!(start.is_multiple_of(self.chunk_rows) && (1..=self.chunk_rows).contains(&len));
        let ptr = self.row_ptr(start);
        // SAFETY: rows `start..start + len` are in one chunk, contiguous with
        // stride `stride`, and published (never written again); the slice ends
        // with the last row's `dim` floats, inside the chunk.
        let data = unsafe { std::slice::from_raw_parts(ptr, (len - 1) * self.stride + self.dim) };
        Rows::strided(data, len, self.dim, self.stride).expect("a chunk's rows fit their stride")
    }

    /// Heap bytes of the allocated chunks.
    pub(crate) fn memory_bytes(&self) -> usize {
        let allocated = self.chunks.iter().filter(|c| c.get().is_some()).count();
        allocated * self.chunk_rows * self.stride * 4
    }
}

/// One fixed block of rows' ids, tombstones and metadata.
struct RowChunk {
    ids: Box<[AtomicU64]>,
    deleted_at: Box<[AtomicU64]>,
    metadata: Box<[OnceLock<Box<Metadata>>]>,
}

/// Fixed-capacity, chunked, append-only ids, tombstones and metadata.
pub(crate) struct RowTable {
    capacity: usize,
    chunk_rows: usize,
    chunks: Box<[OnceLock<RowChunk>]>,
}

impl std::fmt::Debug for RowTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowTable")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl RowTable {
    /// An empty table for `capacity` rows (nothing allocated yet).
    pub(crate) fn new(capacity: usize) -> Self {
        let chunk_rows = 4096;
        RowTable {
            capacity,
            chunk_rows,
            chunks: (0..capacity.div_ceil(chunk_rows))
                .map(|_| OnceLock::new())
                .collect(),
        }
    }

    fn chunk(&self, row: usize) -> (&RowChunk, usize) {
        let chunk = self.chunks[row / self.chunk_rows]
            .get()
            .expect("a published row lives in an allocated chunk");
        (chunk, row % self.chunk_rows)
    }

    /// Writes row `row`'s id and metadata (a row is written once, by the only
    /// writer, before any snapshot counts it: the same contract as
    /// [`VectorArena::write`], though here it is memory-safe either way).
    pub(crate) fn write(&self, row: usize, id: u64, metadata: Option<Metadata>) {
        assert!(row < self.capacity);
        let rows = self.chunk_rows;
        let chunk = self.chunks[row / rows].get_or_init(|| RowChunk {
            ids: (0..rows).map(|_| AtomicU64::new(0)).collect(),
            deleted_at: (0..rows).map(|_| AtomicU64::new(ALIVE)).collect(),
            metadata: (0..rows).map(|_| OnceLock::new()).collect(),
        });
        let r = row % rows;
        chunk.ids[r].store(id, Ordering::Relaxed);
        if let Some(m) = metadata {
            // A row is written once, so its cell is empty and `set` succeeds.
            let _ = chunk.metadata[r].set(Box::new(m));
        }
    }

    pub(crate) fn id(&self, row: usize) -> u64 {
        let (chunk, r) = self.chunk(row);
        chunk.ids[r].load(Ordering::Relaxed)
    }

    pub(crate) fn metadata(&self, row: usize) -> Option<&Metadata> {
        let (chunk, r) = self.chunk(row);
        chunk.metadata[r].get().map(|b| &**b)
    }

    /// Whether the row is live for a reader of snapshot `version`.
    #[inline]
    pub(crate) fn alive_at(&self, row: usize, version: u64) -> bool {
        let (chunk, r) = self.chunk(row);
        chunk.deleted_at[r].load(Ordering::Acquire) > version
    }

    /// The version at which the row was removed, or [`ALIVE`].
    pub(crate) fn deleted_at(&self, row: usize) -> u64 {
        let (chunk, r) = self.chunk(row);
        chunk.deleted_at[r].load(Ordering::Acquire)
    }

    /// Marks the row removed from snapshot `version` on. Called by the writer
    /// before it publishes that version, so readers of older snapshots still see
    /// the row and readers of `version` or later never do.
    pub(crate) fn mark_deleted(&self, row: usize, version: u64) {
        let (chunk, r) = self.chunk(row);
        chunk.deleted_at[r].store(version, Ordering::Release);
    }

    /// Heap bytes of the allocated chunks (metadata records themselves not counted).
    pub(crate) fn memory_bytes(&self) -> usize {
        let allocated = self.chunks.iter().filter(|c| c.get().is_some()).count();
        allocated * self.chunk_rows * (16 + std::mem::size_of::<OnceLock<Box<Metadata>>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_across_chunks() {
        let n = 5000;
        let arena = VectorArena::new(3, n);
        let table = RowTable::new(n);
        assert!(arena.chunk_rows() >= 16);
        for row in 0..n {
            let v = [row as f32, 1.0, -2.0];
            // SAFETY: single-threaded test, each row written once.
            unsafe { arena.write(row, &v) };
            table.write(row, 100 + row as u64, None);
        }
        for row in 0..n {
            assert_eq!(arena.vector(row), &[row as f32, 1.0, -2.0]);
            assert_eq!(table.id(row), 100 + row as u64);
            assert_eq!(arena.vector(row).as_ptr() as usize % 64, 0);
            assert!(table.alive_at(row, 5));
        }
        table.mark_deleted(4097, 9);
        assert!(table.alive_at(4097, 8));
        assert!(!table.alive_at(4097, 9));
        assert_eq!(table.deleted_at(4097), 9);
        let c = arena.chunk_rows();
        let view = arena.chunk_view(c, 4);
        assert_eq!(view.row(2), &[(c + 2) as f32, 1.0, -2.0]);
    }
}
