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
//!   saturates. Many-to-many dots run the 4×4 register tile of `tile4.rs` with
//!   `vpdpbusd` (`VnniTile`), the base path pair by pair.

use super::arch::*;

use super::reduce::hsum4_epi32_avx512;
use super::tile4::{Tile4, dot_tile4_vnni};
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

/// The VNNI many-to-many dots of i8/u8 rows for `dot_tile4`: 64 bytes per step,
/// each row offset by 128 once, the query's correction per step, exact i32 lanes
/// (one block: longer rows run pair by pair).
pub(crate) struct VnniTile<T>(core::marker::PhantomData<T>);

impl<T: Bytes + crate::elem::Element> Tile4 for VnniTile<T> {
    type Elem = T;
    type Acc = __m512i;
    const STEP: usize = 64;
    const MAX_DIM: usize = BLOCK;

    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vnni")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    #[inline]
    unsafe fn zero() -> __m512i {
        _mm512_setzero_si512()
    }

    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vnni")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    #[inline]
    unsafe fn load(p: *const T, rem: usize) -> __m512i {
        // SAFETY: the caller guarantees `rem` readable bytes; a masked load touches
        // only its selected lanes.
        unsafe {
            if rem == 64 {
                _mm512_loadu_si512(p.cast())
            } else {
                _mm512_maskz_loadu_epi8(byte_mask(rem), p.cast::<i8>())
            }
        }
    }

    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vnni")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    #[inline]
    unsafe fn row_operand(x: __m512i) -> __m512i {
        _mm512_xor_si512(x, _mm512_set1_epi8(0x80u8 as i8))
    }

    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vnni")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    #[inline]
    unsafe fn step(acc: __m512i, q: __m512i, xt: __m512i) -> __m512i {
        let (u, s) = T::operands(q, xt);
        _mm512_dpbusd_epi32(acc, u, s)
    }

    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vnni")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    #[inline]
    unsafe fn correct(corr: __m512i, q: __m512i) -> __m512i {
        let (u, s) = T::operands(q, _mm512_set1_epi8(0x80u8 as i8));
        _mm512_dpbusd_epi32(corr, u, s)
    }

    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vnni")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    #[inline]
    unsafe fn finish(acc: [__m512i; 4], corr: __m512i) -> [f32; 4] {
        let row = acc.map(|a| _mm512_sub_epi32(a, corr));
        // SAFETY: AVX-512 available. Each wrapped lane sum is the exact dot (one
        // block; module docs).
        unsafe { hsum4_epi32_avx512(row[0], row[1], row[2], row[3]) }.map(|v| v as f32)
    }

    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512vnni")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    #[inline]
    unsafe fn pair(a: &[T], b: &[T]) -> f32 {
        // SAFETY: same features.
        unsafe { dot_vnni(a, b) }
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
        int_family!($t, "avx512vnni", l2sq, dot_vnni, norm_sq_vnni, dot_tile4_vnni::<VnniTile<$t>>, [
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
