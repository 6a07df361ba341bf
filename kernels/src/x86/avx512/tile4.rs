//! The 4×4 register tile of the many-to-many dot products whose instructions
//! reduce several products per lane: `vpdpbusd` (i8/u8 with VNNI) and `vdpbf16ps`
//! (bf16 with AVX-512 BF16). One generic body (`dot_tile4`), one copy per feature
//! set; a `Tile4` kernel says how 64 bytes load, step and finish.
//!
//! Per 64 bytes of `d`: 4 query and 4 row loads (a row's operand prepared once)
//! feed 16 multiply-accumulates into 16 accumulators (plus, for i8/u8, one
//! correction per query shared by its 4 rows): 16 + 4 + 4 + 1 ≤ 32 zmm registers.
//! The `d mod step` tail is one zero-masked load. Rows longer than the kernel's
//! `MAX_DIM`, and the edges of the tiling, use its one-to-one kernel.

// Register tiles index accumulators as acc[r][c]; index loops say that most plainly.
#![allow(clippy::needless_range_loop)]

use super::arch::*;
use crate::elem::Element;
use crate::rows::Rows;

/// Queries and rows per register tile.
const TILE: usize = 4;

/// One kind of many-to-many dot for `dot_tile4`. Every method is called only from
/// a tile function that enables its features.
pub(crate) trait Tile4 {
    /// The row (and query) element type.
    type Elem: Element;
    /// An accumulator register.
    type Acc: Copy;
    /// Elements per 64-byte load.
    const STEP: usize;
    /// The longest row the tile takes (longer ones run pair by pair).
    const MAX_DIM: usize;
    /// A zero accumulator.
    ///
    /// # Safety
    /// The kernel's features are available.
    unsafe fn zero() -> Self::Acc;
    /// Elements `0..rem` (`rem <= STEP`) from `p`, zero elsewhere.
    ///
    /// # Safety
    /// The kernel's features are available and `p..p + rem` is readable.
    unsafe fn load(p: *const Self::Elem, rem: usize) -> __m512i;
    /// A row's loaded bytes as the multiply operand (prepared once per row).
    ///
    /// # Safety
    /// The kernel's features are available.
    unsafe fn row_operand(x: __m512i) -> __m512i;
    /// `acc + q · x` over the lanes.
    ///
    /// # Safety
    /// The kernel's features are available.
    unsafe fn step(acc: Self::Acc, q: __m512i, x: __m512i) -> Self::Acc;
    /// A query's correction accumulated alongside (none: `corr` unchanged).
    ///
    /// # Safety
    /// The kernel's features are available.
    unsafe fn correct(corr: Self::Acc, q: __m512i) -> Self::Acc;
    /// One tile row's four dots from its accumulators and the query's correction.
    ///
    /// # Safety
    /// The kernel's features are available.
    unsafe fn finish(acc: [Self::Acc; TILE], corr: Self::Acc) -> [f32; TILE];
    /// The one-to-one dot (edges and long rows).
    ///
    /// # Safety
    /// The kernel's features are available.
    unsafe fn pair(a: &[Self::Elem], b: &[Self::Elem]) -> f32;
}

/// `dot_tile4` for one feature set (so the kernel's methods inline into it).
macro_rules! dot_tile4 {
    ($name:ident, [$($feat:tt)*]) => {
        /// `out[i * n_x + j] = q_i · x_j` for all pairs (see the module docs).
        ///
        /// # Safety
        /// The features this function enables are available. (Memory-safe for
        /// any shapes: it writes only the `out[..n_q * n_x]` that exist and reads
        /// only inside the rows.)
        $($feat)*
        pub(crate) unsafe fn $name<K: Tile4>(
            q: Rows<'_, K::Elem>,
            x: Rows<'_, K::Elem>,
            out: &mut [f32],
        ) {
            let (n_q, n_x) = (q.n_rows(), x.n_rows());
            let d = q.dim().min(x.dim());
            // Checked: a wrapped product would let the stores below run past `out`.
            match n_q.checked_mul(n_x) {
                Some(total) if total <= out.len() => {}
                _ => return,
            }
            let (tiled_q, tiled_x) = if d <= K::MAX_DIM {
                (n_q - n_q % TILE, n_x - n_x % TILE)
            } else {
                (0, 0)
            };
            for j in (0..tiled_x).step_by(TILE) {
                let xp: [*const K::Elem; TILE] = core::array::from_fn(|c| {
                    // SAFETY: j + c < tiled_x <= n_x.
                    unsafe { x.row_ptr(j + c) }
                });
                for i in (0..tiled_q).step_by(TILE) {
                    let qp: [*const K::Elem; TILE] = core::array::from_fn(|r| {
                        // SAFETY: i + r < tiled_q <= n_q.
                        unsafe { q.row_ptr(i + r) }
                    });
                    // SAFETY: the features are this function's.
                    let zero = unsafe { K::zero() };
                    let mut acc = [[zero; TILE]; TILE];
                    let mut corr = [zero; TILE];
                    let mut t = 0;
                    while t < d {
                        let rem = (d - t).min(K::STEP);
                        let qv: [__m512i; TILE] = core::array::from_fn(|r| {
                            // SAFETY: elements t..t + rem are inside each row
                            // (t < d <= dim); the features are this function's.
                            unsafe { K::load(qp[r].add(t), rem) }
                        });
                        for r in 0..TILE {
                            // SAFETY: the features are this function's.
                            corr[r] = unsafe { K::correct(corr[r], qv[r]) };
                        }
                        for c in 0..TILE {
                            // SAFETY: as for the query loads.
                            let xv = unsafe { K::row_operand(K::load(xp[c].add(t), rem)) };
                            for r in 0..TILE {
                                // SAFETY: the features are this function's.
                                acc[r][c] = unsafe { K::step(acc[r][c], qv[r], xv) };
                            }
                        }
                        t += rem;
                    }
                    for r in 0..TILE {
                        // SAFETY: the features are this function's.
                        let dots = unsafe { K::finish(acc[r], corr[r]) };
                        let o = (i + r) * n_x + j;
                        out[o..o + TILE].copy_from_slice(&dots);
                    }
                }
            }
            // The edges: queries past the tiled ones against the tiled rows, then
            // every query against the rows past them.
            for i in tiled_q..n_q {
                for j in 0..tiled_x {
                    // SAFETY: rows in range; the features are this function's.
                    out[i * n_x + j] = unsafe { K::pair(q.row_unchecked(i), x.row_unchecked(j)) };
                }
            }
            for i in 0..n_q {
                for j in tiled_x..n_x {
                    // SAFETY: rows in range; the features are this function's.
                    out[i * n_x + j] = unsafe { K::pair(q.row_unchecked(i), x.row_unchecked(j)) };
                }
            }
        }
    };
}

dot_tile4!(dot_tile4_vnni, [
    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vnni")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
]);

dot_tile4!(dot_tile4_bf16, [
    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512bf16")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
]);
