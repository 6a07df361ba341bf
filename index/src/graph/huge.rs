//! Transparent huge pages for a graph's vectors.
//!
//! A search reads whole rows at random (a 784-d f32 row is 3 KiB, most of a 4 KiB
//! page), so with 4 KiB pages nearly every row read also misses the TLB and walks
//! the page table. With 2 MiB pages the whole matrix of a 20 000 × 784 graph is 31
//! TLB entries. Linux hands out huge pages only to ranges advised with
//! `MADV_HUGEPAGE` when `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise`
//! (the common default), so the graph asks for them before it writes its rows.
//!
//! The matrix arrives already zeroed *and touched* (an aligned `alloc_zeroed` is
//! `posix_memalign` plus a memset, which faults in 4 KiB pages), and advice alone
//! only lets the kernel's background scan collapse those pages, slowly. So the
//! still-zero interior is also released (`MADV_DONTNEED`): on a private anonymous
//! mapping the next touch faults in zero-filled pages, now huge ones. The contents
//! read the same before and after (zeros). A hint: where it is refused (other
//! systems, THP off, a range smaller than one huge page) nothing changes but speed.

use bytemuck::Zeroable;
use sagevec_kernels::AlignedMatrix;

/// Huge-page granule on x86-64 Linux.
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

/// Asks the OS to back the 2 MiB-aligned interior of `m`'s storage with huge pages.
/// `m` must be all zeros (fresh from [`AlignedMatrix::zeroed`], nothing written):
/// its interior is released and reads back as zeros.
pub(crate) fn advise_huge_pages<T: Copy + Zeroable + PartialEq>(m: &AlignedMatrix<T>) {
    debug_assert!(m.as_padded_slice().iter().all(|x| *x == T::zeroed()));
    let data = m.as_padded_slice();
    advise_zeroed_region(data.as_ptr().cast(), size_of_val(data));
}

/// [`advise_huge_pages`] for a raw allocation of `bytes` bytes from `start` that
/// holds only zeros and that nothing reads or writes during the call (a live
/// graph's chunk, right after its zeroed allocation).
pub(crate) fn advise_zeroed_region(start: *const u8, bytes: usize) {
    #[cfg(target_os = "linux")]
    {
        let start = start as usize;
        let end = start + bytes;
        let (lo, hi) = (
            start.next_multiple_of(HUGE_PAGE),
            end / HUGE_PAGE * HUGE_PAGE,
        );
        if hi > lo {
            madvise_hugepage(lo, hi - lo);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, bytes);
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn madvise_hugepage(addr: usize, len: usize) {
    use std::ffi::{c_int, c_void};
    const MADV_DONTNEED: c_int = 4;
    const MADV_HUGEPAGE: c_int = 14;
    unsafe extern "C" {
        fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
    }
    // SAFETY: `addr..addr + len` is a page-aligned range inside one live allocation
    // (the caller rounds inward to 2 MiB boundaries) of private anonymous memory
    // (the global allocator's heap or its own mmap) that holds only zeros.
    // MADV_HUGEPAGE changes only how the OS backs the range. MADV_DONTNEED drops its
    // pages, after which they read as zero-filled again: the same bytes, so no Rust
    // reference to the range can observe a change. If the first call fails (no THP),
    // the second is skipped; a failed second call leaves the range as it was.
    unsafe {
        if madvise(addr as *mut c_void, len, MADV_HUGEPAGE) == 0 {
            let _ = madvise(addr as *mut c_void, len, MADV_DONTNEED);
        }
    }
}
