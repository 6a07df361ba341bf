//! `NodeBuffer`: raw, 64-byte-aligned bytes placed on one node by first touch.
//!
//! Linux places an anonymous page on the NUMA node of the thread that first writes
//! it. A buffer of at least [`MMAP_MIN`] bytes is a fresh `mmap` (untouched pages),
//! and one byte of every page is written by the node's pinned workers; smaller
//! buffers come from the allocator, zeroed on one of the node's workers. The
//! scheduler knows no element type: the index casts these bytes to its rows.

use std::alloc::{self, Layout};
use std::fmt;
use std::ptr::NonNull;

use rayon::prelude::*;

use crate::pool::NumaPool;

/// Alignment of every [`NodeBuffer`]: one cache line.
pub const ALIGN: usize = 64;
/// Buffers this large or larger are mapped with `mmap` and first-touched page by page.
pub const MMAP_MIN: usize = 64 * 1024;

#[derive(Debug)]
enum Storage {
    Empty,
    Heap(Layout),
    #[cfg(unix)]
    Mapped(usize),
}

/// Zeroed bytes owned like a `Box<[u8]>`, aligned to [`ALIGN`], whose pages were
/// first touched by workers of one node of a [`NumaPool`].
pub struct NodeBuffer {
    ptr: NonNull<u8>,
    len: usize,
    node: usize,
    storage: Storage,
}

// SAFETY: a NodeBuffer uniquely owns its allocation, like Box<[u8]>: moving it to
// another thread moves that ownership.
unsafe impl Send for NodeBuffer {}
// SAFETY: shared access only hands out `&[u8]`; mutation needs `&mut self`.
unsafe impl Sync for NodeBuffer {}

impl NodeBuffer {
    /// `len` zeroed bytes on node index `node` of `pool` (first touch by its workers;
    /// on a synthetic topology, by the real CPUs those workers are pinned to). The
    /// placement holds when the pool is pinned; unpinned workers may run anywhere.
    ///
    /// Panics if `node >= pool.n_nodes()`; aborts like `Vec` if memory runs out.
    pub fn zeroed(pool: &NumaPool, node: usize, len: usize) -> NodeBuffer {
        assert!(node < pool.n_nodes(), "node index {node} out of range");
        if len == 0 {
            return NodeBuffer {
                // An aligned, never-dereferenced address, as `Vec` uses for empty buffers.
                ptr: NonNull::new(std::ptr::without_provenance_mut(ALIGN)).expect("non-zero"),
                len,
                node,
                storage: Storage::Empty,
            };
        }
        #[cfg(unix)]
        if len >= MMAP_MIN {
            return Self::mapped(pool, node, len);
        }
        let layout = Layout::from_size_align(len, ALIGN).expect("buffer size overflows");
        let addr = pool.install(node, || {
            // SAFETY: `layout` has a non-zero size (len > 0).
            unsafe { alloc::alloc_zeroed(layout) as usize }
        });
        let Some(ptr) = NonNull::new(addr as *mut u8) else {
            alloc::handle_alloc_error(layout)
        };
        NodeBuffer {
            ptr,
            len,
            node,
            storage: Storage::Heap(layout),
        }
    }

    #[cfg(unix)]
    fn mapped(pool: &NumaPool, node: usize, len: usize) -> NodeBuffer {
        let page = page_size();
        let map_len = len
            .div_ceil(page)
            .checked_mul(page)
            .filter(|&m| m <= isize::MAX as usize)
            .expect("buffer size overflows");
        // SAFETY: an anonymous private mapping with no address hint touches no
        // existing memory; the result is checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            alloc::handle_alloc_error(Layout::from_size_align(len, ALIGN).expect("checked"));
        }
        let base = p as usize;
        pool.install(node, || {
            (0..map_len / page)
                .into_par_iter()
                .with_min_len(16)
                .for_each(|i| {
                    // SAFETY: `base + i * page` lies inside the `map_len`-byte mapping
                    // we own; anonymous pages already read as zero, and writing a zero
                    // makes this (pinned) thread the one that faults the page in.
                    unsafe { std::ptr::write_volatile((base + i * page) as *mut u8, 0) };
                });
        });
        NodeBuffer {
            ptr: NonNull::new(p.cast()).expect("mmap returned a non-null address"),
            len,
            node,
            storage: Storage::Mapped(map_len),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Node index (into the pool's placement) the buffer was placed on.
    pub fn node(&self) -> usize {
        self.node
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` initialised (zeroed, then only written
        // through `&mut self`) bytes that we own, or dangling-aligned with len 0.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The bytes, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Start of the bytes (64-byte aligned).
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// Start of the bytes, mutably (64-byte aligned).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for NodeBuffer {
    fn drop(&mut self) {
        match self.storage {
            Storage::Empty => {}
            // SAFETY: allocated by `alloc_zeroed` with exactly this layout.
            Storage::Heap(layout) => unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) },
            #[cfg(unix)]
            Storage::Mapped(map_len) => {
                // SAFETY: the whole mapping we created, unmapped once.
                let rc = unsafe { libc::munmap(self.ptr.as_ptr().cast(), map_len) };
                debug_assert_eq!(rc, 0, "munmap failed");
            }
        }
    }
}

impl fmt::Debug for NodeBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeBuffer")
            .field("len", &self.len)
            .field("node", &self.node)
            .field("storage", &self.storage)
            .finish()
    }
}

#[cfg(unix)]
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
}
