//! No kernel reads outside its slices: inputs are placed flush against `PROT_NONE`
//! guard pages (the last element of one input is the last byte before a guard, the
//! first element of another is the first byte after one), and every shape of every
//! ISA under test (f32 kernels, f16-row stored kernels and `encode`) runs over every
//! tail length. An over-read (or over-write) would fault and kill this test binary.

mod common;

use common::*;
use sagevec_kernels::{Metric, Rows, f16};

const PAGE: usize = 4096;
const RW_PAGES: usize = 24;

/// An anonymous mapping `[guard | RW_PAGES read-write | guard]`.
struct Guarded {
    base: *mut u8,
    len: usize,
}

impl Guarded {
    fn new() -> Self {
        let len = (RW_PAGES + 2) * PAGE;
        // SAFETY: an anonymous private mapping with no address hint has no
        // preconditions; the result is checked against MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED, "mmap failed");
        let base = base.cast::<u8>();
        // SAFETY: both ranges are whole pages inside the mapping just created.
        unsafe {
            assert_eq!(libc::mprotect(base.cast(), PAGE, libc::PROT_NONE), 0);
            assert_eq!(
                libc::mprotect(base.add(len - PAGE).cast(), PAGE, libc::PROT_NONE),
                0
            );
        }
        Guarded { base, len }
    }

    /// The read-write pages as f32s.
    fn floats(&mut self) -> &mut [f32] {
        // SAFETY: the RW pages are mapped, page-aligned (so f32-aligned), owned by
        // self and borrowed mutably once through &mut self.
        unsafe {
            std::slice::from_raw_parts_mut(self.base.add(PAGE).cast::<f32>(), RW_PAGES * PAGE / 4)
        }
    }

    /// The read-write pages as f16s.
    fn halves(&mut self) -> &mut [f16] {
        // SAFETY: as for `floats`; f16 is 2 bytes, plain data, any bit pattern valid.
        unsafe {
            std::slice::from_raw_parts_mut(self.base.add(PAGE).cast::<f16>(), RW_PAGES * PAGE / 2)
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `new`.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

#[test]
fn no_kernel_reads_past_its_slices() {
    let mut g = Guarded::new();
    let mut rng = SplitMix64::new(0x6A2D_0001);
    let all = g.floats();
    let total = all.len();
    for (i, x) in all.iter_mut().enumerate() {
        *x = ((i * 7919) % 101) as f32 / 50.0 - 1.0;
    }
    let all: &[f32] = all;
    let lens = (0..=300usize).chain([383, 512, 767, 768, 769, 1024, 1536, 4099]);
    for t in tables() {
        for n in lens.clone() {
            // `tail`: n floats ending at the upper guard; `head`: n starting at the lower one.
            let tail = &all[total - n..];
            let head = &all[..n];
            for metric in Metric::ALL {
                let d = t.distance(metric, tail, head).unwrap();
                let d2 = t.distance(metric, head, tail).unwrap();
                assert!(d.is_finite() && d2.is_finite());
            }
            if n == 0 {
                continue;
            }
            // Five rows flush against each guard (tiles of 3/4 rows leave edges).
            let rows_tail = Rows::contiguous(&all[total - 5 * n..], n).unwrap();
            let rows_head = Rows::contiguous(&all[..5 * n], n).unwrap();
            let mut out = [0.0f32; 5];
            let mut gout = [0.0f32; 3];
            let ids = [4u32, 0, rng.below(5) as u32];
            for metric in Metric::ALL {
                t.distances(metric, head, rows_tail, &mut out).unwrap();
                t.distances(metric, tail, rows_head, &mut out).unwrap();
                t.distances_gather(metric, head, rows_tail, &ids, &mut gout)
                    .unwrap();
                t.distances_gather(metric, tail, rows_head, &ids, &mut gout)
                    .unwrap();
            }
            t.squared_norms(rows_tail, &mut out).unwrap();
            t.squared_norms(rows_head, &mut out).unwrap();
            let mut m = [0.0f32; 25];
            t.dot_matrix(rows_head, rows_tail, &mut m).unwrap();
            t.dot_matrix(rows_tail, rows_head, &mut m).unwrap();
            let (mut kid, mut kd) = ([0u64; 15], [0.0f32; 15]);
            for metric in Metric::ALL {
                t.knn(metric, rows_head, rows_tail, None, 3, &mut kid, &mut kd)
                    .unwrap();
                t.knn(metric, rows_tail, rows_head, None, 3, &mut kid, &mut kd)
                    .unwrap();
            }
        }
    }
}

#[test]
fn no_stored_kernel_reads_past_its_slices() {
    // Queries (f32) and rows (f16) flush against guards, in two separate mappings.
    let mut gq = Guarded::new();
    let mut gx = Guarded::new();
    let mut rng = SplitMix64::new(0x6A2D_0002);
    let qs = gq.floats();
    let q_total = qs.len();
    for (i, x) in qs.iter_mut().enumerate() {
        *x = ((i * 7919) % 101) as f32 / 50.0 - 1.0;
    }
    let qs: &[f32] = qs;
    let x_total = gx.halves().len();
    for (i, x) in gx.halves().iter_mut().enumerate() {
        *x = f16::from_f32(((i * 104_729) % 97) as f32 / 48.0 - 1.0);
    }
    let lens = (0..=300usize).chain([383, 512, 767, 768, 769, 1024, 1536, 4099]);
    for t in tables() {
        let xs: &[f16] = gx.halves();
        for n in lens.clone() {
            let (q_tail, q_head) = (&qs[q_total - n..], &qs[..n]);
            let (x_tail, x_head) = (&xs[x_total - n..], &xs[..n]);
            for metric in Metric::ALL {
                for (q, x) in [(q_tail, x_head), (q_head, x_tail), (q_tail, x_tail)] {
                    assert!(t.stored_distance(metric, q, x).unwrap().is_finite());
                }
            }
            if n == 0 {
                continue;
            }
            // Five rows flush against each guard.
            let rows_tail = Rows::contiguous(&xs[x_total - 5 * n..], n).unwrap();
            let rows_head = Rows::contiguous(&xs[..5 * n], n).unwrap();
            let mut out = [0.0f32; 5];
            let mut gout = [0.0f32; 3];
            let ids = [4u32, 0, rng.below(5) as u32];
            for metric in Metric::ALL {
                for (q, rows) in [(q_head, rows_tail), (q_tail, rows_head)] {
                    t.stored_distances(metric, q, rows, &mut out).unwrap();
                    t.stored_distances_gather(metric, q, rows, &ids, &mut gout)
                        .unwrap();
                }
            }
        }
        // Encode: source and destination each flush against a guard, both ends.
        for n in (0..=300usize).chain([1024, 4099]) {
            let xs = gx.halves();
            t.encode(&qs[q_total - n..], 0.5, &mut xs[..n]).unwrap();
            t.encode(&qs[..n], 0.5, &mut xs[x_total - n..]).unwrap();
            t.encode(&qs[q_total - n..], 0.5, &mut xs[x_total - n..])
                .unwrap();
        }
    }
}
