//! i8 × i8 and u8 × u8 kernels for AVX-512 (`*_i8_avx512`, `*_i8_avx512vnni`, and
//! the u8 twins): exact integer L2 and inner product.
//!
//! Numeric contract (both variants):
//!
//! | input | products | accumulator | output |
//! |---|---|---|---|
//! | i8 or u8 | exact in i32 | i32 lanes (wrapping), one block of ≤ 2¹⁵ elements at a time, then i64 | the exact integer, rounded once to f32 |
//!
//! Overflow: every block's true total is below 2¹⁵·255² < 2³¹ in magnitude, and
//! lanes add with wrapping arithmetic, so the wrapped lane sum of a block (even of
//! the offset forms below, whose intermediate sums may wrap) is the exact block
//! total; blocks add in i64. No length limit below 2⁴⁷ elements.
//!
//! Key instructions:
//! - base (F/BW): `vpmovsxbw`/`vpmovzxbw` to i16 (32 per load), then `vpmaddwd`
//!   (i16 × i16, pairs summed in i32) and `vpaddd`; L2 subtracts in i16 first. The
//!   tail is one zero-masked `vmovdqu8 ymm{k}{z}`: masked-off lanes are 0 in both
//!   operands and add nothing.
//! - VNNI: inner product with `vpdpbusd` (u8 × i8, 4 products summed into each i32
//!   lane, 64 per instruction, no saturation). It multiplies unsigned by signed, so
//!   one operand is offset by 128 with `vpxorq 0x80…`: i8 `Σ qx = Σ (x+128)q - 128Σq`
//!   and u8 `Σ qx = Σ q(x-128) + 128Σq`, the correction a second `vpdpbusd` against
//!   a constant 0x80 vector (its lanes zero in the masked tail, so they cancel). L2
//!   stays the base path (`vpdpwssd` would fuse its multiply-add, but measured no
//!   faster in L2 and slower streaming from memory on Zen 5). Not `vpdpbusds`: it
//!   saturates. Many-to-many dots run a 4×4 register tile of
//!   `vpdpbusd` (`dot_tile_vnni`), the base path pair by pair.

use super::arch::*;

use super::reduce::hsum4_epi32_avx512;
use crate::rows::Rows;
use crate::table::{Family, ManyToMany};

/// Elements per i32 block (see the module docs' overflow argument).
const BLOCK: usize = 1 << 15;

/// The mask selecting the first `rem` byte lanes, `rem < 64`.
#[inline(always)]
fn byte_mask(rem: usize) -> u64 {
    debug_assert!(rem < 64);
    (1u64 << rem) - 1
}

/// i8 or u8 lanes for the AVX-512 kernels.
pub(crate) trait Bytes: Copy {
    /// 32 elements from `p` widened to i16.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL are available and `p..p + 32` is readable.
    unsafe fn load32(p: *const Self) -> __m512i;

    /// The first `rem < 32` elements from `p` widened to i16, 0 elsewhere.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL are available and `p..p + rem` is readable.
    unsafe fn load32_tail(p: *const Self, rem: usize) -> __m512i;

    /// `(u8 operand, i8 operand)` of `vpdpbusd` from the query's bytes `q` as
    /// loaded and the row's offset by 128 (`xt = x xor 0x80…`): i8 takes the row as
    /// the unsigned operand (`Σ (x+128)q`), u8 the query (`Σ q(x-128)`). With
    /// `xt` the 0x80 vector itself, the same ordering gives the offset's
    /// correction (`Σ 128q`, `Σ -128q`), subtracted from the offset sum.
    fn operands(q: __m512i, xt: __m512i) -> (__m512i, __m512i);
}

/// `impl Bytes for $t`: bytes widened to i16 by `$widen`, the `vpdpbusd` operands
/// ordered `(u8, i8)` from `(q, xt)` as `$ops`.
macro_rules! bytes {
    ($t:ty, $widen:ident, |$q:ident, $xt:ident| $ops:expr) => {
        impl Bytes for $t {
            #[cfg_attr(
                not(sagevec_avx512_emu),
                target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
            )]
            #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
            #[inline]
            unsafe fn load32(p: *const $t) -> __m512i {
                // SAFETY: the caller guarantees 32 readable bytes; unaligned load.
                $widen(unsafe { _mm256_loadu_si256(p.cast::<__m256i>()) })
            }

            #[cfg_attr(
                not(sagevec_avx512_emu),
                target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
            )]
            #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
            #[inline]
            unsafe fn load32_tail(p: *const $t, rem: usize) -> __m512i {
                // SAFETY: the masked load touches only the `rem` selected bytes, which
                // the caller guarantees are readable; masked-off lanes cannot fault.
                $widen(unsafe { _mm256_maskz_loadu_epi8(byte_mask(rem) as u32, p.cast::<i8>()) })
            }

            #[inline(always)]
            fn operands($q: __m512i, $xt: __m512i) -> (__m512i, __m512i) {
                $ops
            }
        }
    };
}

// i8: Σ (x + 128) q, the row offset into u8 and the query signed.
bytes!(i8, _mm512_cvtepi8_epi16, |q, xt| (xt, q));
// u8: Σ q (x - 128), the query unsigned and the row offset into i8.
bytes!(u8, _mm512_cvtepu8_epi16, |q, xt| (q, xt));

/// `Σ step(q16, x16)` exactly over the shorter length, 32 elements per step in
/// blocks of `BLOCK`: `step(acc, a, b)` adds one step's i32 pair sums of the
/// i16-widened query `a` and row `b` into `acc` (both variants of dot and L2).
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
unsafe fn sum_words<T: Bytes>(
    q: &[T],
    x: &[T],
    step: impl Fn(__m512i, __m512i, __m512i) -> __m512i,
) -> f32 {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut total = 0i64;
    let mut i = 0;
    while i < n {
        let end = (i + BLOCK).min(n);
        let mut acc = [_mm512_setzero_si512(); 2];
        while i + 64 <= end {
            for (u, acc_u) in acc.iter_mut().enumerate() {
                let j = i + 32 * u;
                // SAFETY: j + 32 <= i + 64 <= end <= n.
                let (a, b) = unsafe { (T::load32(pq.add(j)), T::load32(px.add(j))) };
                *acc_u = step(*acc_u, a, b);
            }
            i += 64;
        }
        if i + 32 <= end {
            // SAFETY: i + 32 <= end <= n.
            let (a, b) = unsafe { (T::load32(pq.add(i)), T::load32(px.add(i))) };
            acc[0] = step(acc[0], a, b);
            i += 32;
        }
        if i < end {
            // Only in the last block (BLOCK is a multiple of 32): end == n.
            // SAFETY: lanes i..end are inside both slices.
            let (a, b) = unsafe {
                (
                    T::load32_tail(pq.add(i), end - i),
                    T::load32_tail(px.add(i), end - i),
                )
            };
            acc[1] = step(acc[1], a, b);
            i = end;
        }
        // The block's wrapped lane sum is its exact total (module docs).
        total += i64::from(_mm512_reduce_add_epi32(_mm512_add_epi32(acc[0], acc[1])));
    }
    total as f32
}

/// `Σ qᵢxᵢ` exactly (then rounded to f32): `vpmaddwd` + `vpaddd`.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn dot<T: Bytes>(q: &[T], x: &[T]) -> f32 {
    // SAFETY: same contract.
    unsafe {
        sum_words(q, x, |acc, a, b| {
            _mm512_add_epi32(acc, _mm512_madd_epi16(a, b))
        })
    }
}

/// `Σ (qᵢ - xᵢ)²` exactly (then rounded to f32): `vpsubw`, `vpmaddwd`, `vpaddd`.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn l2sq<T: Bytes>(q: &[T], x: &[T]) -> f32 {
    // SAFETY: same contract.
    unsafe {
        sum_words(q, x, |acc, a, b| {
            let d = _mm512_sub_epi16(a, b);
            _mm512_add_epi32(acc, _mm512_madd_epi16(d, d))
        })
    }
}

/// `Σ xᵢ²` exactly (the many-to-many norms).
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn norm_sq<T: Bytes>(x: &[T]) -> f32 {
    // SAFETY: same contract.
    unsafe { dot(x, x) }
}

/// `Σ qᵢxᵢ` exactly with `vpdpbusd` on 64 bytes per step (module docs).
///
/// # Safety
/// AVX-512 F/BW/VL, VNNI, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vnni")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn dot_vnni<T: Bytes>(q: &[T], x: &[T]) -> f32 {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr().cast::<i8>(), x.as_ptr().cast::<i8>());
    let flip = _mm512_set1_epi8(0x80u8 as i8);
    let mut total = 0i64;
    let mut i = 0;
    while i < n {
        let end = (i + BLOCK).min(n);
        let (mut acc, mut corr) = ([_mm512_setzero_si512(); 2], _mm512_setzero_si512());
        let mut add = |acc_u: &mut __m512i, vq: __m512i, vx: __m512i| {
            let (u, s) = T::operands(vq, _mm512_xor_si512(vx, flip));
            *acc_u = _mm512_dpbusd_epi32(*acc_u, u, s);
            let (cu, cs) = T::operands(vq, flip);
            corr = _mm512_dpbusd_epi32(corr, cu, cs);
        };
        while i + 128 <= end {
            for (u, acc_u) in acc.iter_mut().enumerate() {
                // SAFETY: i + 64u + 64 <= i + 128 <= end <= n.
                let (vq, vx) = unsafe {
                    (
                        _mm512_loadu_si512(pq.add(i + 64 * u).cast()),
                        _mm512_loadu_si512(px.add(i + 64 * u).cast()),
                    )
                };
                add(acc_u, vq, vx);
            }
            i += 128;
        }
        while i < end {
            let rem = (end - i).min(64);
            // SAFETY: lanes i..i + rem are inside both slices; a masked load touches
            // only its selected lanes.
            let (vq, vx) = unsafe {
                if rem == 64 {
                    (
                        _mm512_loadu_si512(pq.add(i).cast()),
                        _mm512_loadu_si512(px.add(i).cast()),
                    )
                } else {
                    let k = byte_mask(rem);
                    (
                        _mm512_maskz_loadu_epi8(k, pq.add(i)),
                        _mm512_maskz_loadu_epi8(k, px.add(i)),
                    )
                }
            };
            add(&mut acc[0], vq, vx);
            i += rem;
        }
        let block = _mm512_sub_epi32(_mm512_add_epi32(acc[0], acc[1]), corr);
        // The block's wrapped lane sum is its exact total (module docs).
        total += i64::from(_mm512_reduce_add_epi32(block));
    }
    total as f32
}

/// Queries and rows per VNNI register tile.
const TILE: usize = 4;

/// `out[i * n_x + j] = q_i · x_j` exactly (rounded once to f32) for all pairs, by
/// a 4×4 register tile: per 64 bytes of `d`, 4 query and 4 row loads (each row
/// offset by 128 once) feed 16 `vpdpbusd` into 16 i32 accumulators (16 + 4 + 2 =
/// 22 of 32 zmm registers); each query's offset correction is one more
/// `vpdpbusd` per step, shared by its 4 rows. The `d mod 64` tail is one masked
/// step. Rows longer than one i32 block, and the edges, use the one-to-one kernel.
///
/// # Safety
/// AVX-512 F/BW/VL, VNNI, AVX2 and FMA are available. (Memory-safe for any
/// shapes: it writes only the `out[..n_q * n_x]` that exist, reads only the rows.)
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vnni")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn dot_tile_vnni<T: Bytes>(q: Rows<'_, T>, x: Rows<'_, T>, out: &mut [f32]) {
    let (n_q, n_x) = (q.n_rows(), x.n_rows());
    let d = q.dim().min(x.dim());
    // Checked: a wrapped product would let the stores below run past `out`.
    match n_q.checked_mul(n_x) {
        Some(total) if total <= out.len() => {}
        _ => return,
    }
    // Tiles cover whole blocks only (the i32 sums of a block are exact).
    let (tiled_q, tiled_x) = if d <= BLOCK {
        (n_q - n_q % TILE, n_x - n_x % TILE)
    } else {
        (0, 0)
    };
    let flip = _mm512_set1_epi8(0x80u8 as i8);
    for j in (0..tiled_x).step_by(TILE) {
        // SAFETY: j + c < tiled_x <= n_x.
        let xp: [*const i8; TILE] =
            core::array::from_fn(|c| unsafe { x.row_ptr(j + c) }.cast::<i8>());
        for i in (0..tiled_q).step_by(TILE) {
            // SAFETY: i + r < tiled_q <= n_q.
            let qp: [*const i8; TILE] =
                core::array::from_fn(|r| unsafe { q.row_ptr(i + r) }.cast::<i8>());
            let mut acc = [[_mm512_setzero_si512(); TILE]; TILE];
            let mut corr = [_mm512_setzero_si512(); TILE];
            let mut t = 0;
            while t < d {
                let rem = (d - t).min(64);
                let load = |p: *const i8| {
                    // SAFETY: bytes t..t + rem are inside the row (t < d <= dim); a
                    // masked load touches only its selected lanes.
                    unsafe {
                        if rem == 64 {
                            _mm512_loadu_si512(p.add(t).cast())
                        } else {
                            _mm512_maskz_loadu_epi8(byte_mask(rem), p.add(t))
                        }
                    }
                };
                let qv: [__m512i; TILE] = core::array::from_fn(|r| load(qp[r]));
                for r in 0..TILE {
                    let (cu, cs) = T::operands(qv[r], flip);
                    corr[r] = _mm512_dpbusd_epi32(corr[r], cu, cs);
                }
                for c in 0..TILE {
                    let xt = _mm512_xor_si512(load(xp[c]), flip);
                    for r in 0..TILE {
                        let (u, s) = T::operands(qv[r], xt);
                        acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], u, s);
                    }
                }
                t += rem;
            }
            for r in 0..TILE {
                let row: [__m512i; TILE] =
                    core::array::from_fn(|c| _mm512_sub_epi32(acc[r][c], corr[r]));
                // SAFETY: AVX-512 available. Each wrapped lane sum is the exact dot
                // (one block; module docs).
                let sums = unsafe { hsum4_epi32_avx512(row[0], row[1], row[2], row[3]) };
                let o = (i + r) * n_x + j;
                for (c, &v) in sums.iter().enumerate() {
                    out[o + c] = v as f32;
                }
            }
        }
    }
    // The edges: queries past the tiled ones against the tiled rows, then every
    // query against the rows past them.
    for i in tiled_q..n_q {
        for j in 0..tiled_x {
            // SAFETY: rows in range; the ISA is available.
            out[i * n_x + j] = unsafe { dot_vnni(q.row_unchecked(i), x.row_unchecked(j)) };
        }
    }
    for i in 0..n_q {
        for j in tiled_x..n_x {
            // SAFETY: rows in range; the ISA is available.
            out[i * n_x + j] = unsafe { dot_vnni(q.row_unchecked(i), x.row_unchecked(j)) };
        }
    }
}

/// `Σ xᵢ²` exactly with VNNI.
///
/// # Safety
/// AVX-512 F/BW/VL, VNNI, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vnni")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn norm_sq_vnni<T: Bytes>(x: &[T]) -> f32 {
    // SAFETY: same contract.
    unsafe { dot_vnni(x, x) }
}

/// The `[l2, ip, -, -, -]` kernels and the many-to-many tile of `T` rows.
macro_rules! int_family {
    ($t:ty, $variant:literal, $l2:ident, $dot:ident, $nsq:ident, $tile:expr, [$($feat:tt)*]) => {
        Family {
            variant: $variant,
            metrics: [
                Some(crate::family::metric_kernels!([$($feat)*] $t, [$t], |q, x| $l2(q, x))),
                Some(crate::family::metric_kernels!([$($feat)*] $t, [$t], |q, x| -$dot(q, x))),
                None,
                None,
                None,
            ],
            many_to_many: Some(ManyToMany {
                norms: crate::family::norms_kernel!([$($feat)*] $t, $nsq),
                dot_tile: $tile,
                knn_panels: None,
            }),
        }
    };
}

macro_rules! base_family {
    ($t:ty) => {
        int_family!($t, "avx512", l2sq, dot, norm_sq, crate::family::dot_tile_pairwise!([
            #[cfg_attr(
                not(sagevec_avx512_emu),
                target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
            )]
            #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
        ] $t, dot), [
            #[cfg_attr(
                not(sagevec_avx512_emu),
                target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
            )]
            #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
        ])
    };
}

macro_rules! vnni_family {
    ($t:ty) => {
        int_family!($t, "avx512vnni", l2sq, dot_vnni, norm_sq_vnni, dot_tile_vnni::<$t>, [
            #[cfg_attr(
                not(sagevec_avx512_emu),
                target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vnni")
            )]
            #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
        ])
    };
}

/// i8 rows and queries, AVX-512 F/BW.
pub(crate) const I8: Family<i8> = base_family!(i8);
/// u8 rows and queries, AVX-512 F/BW.
pub(crate) const U8: Family<u8> = base_family!(u8);
/// i8 rows and queries, AVX-512 VNNI.
pub(crate) const I8_VNNI: Family<i8> = vnni_family!(i8);
/// u8 rows and queries, AVX-512 VNNI.
pub(crate) const U8_VNNI: Family<u8> = vnni_family!(u8);
