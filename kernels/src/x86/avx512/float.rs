//! f32-query kernels for AVX-512 F/BW/VL over f32, f16 and bf16 rows
//! (`*_f32_avx512`, `*_f16_avx512`, `*_bf16_avx512`): one generic body per primitive.
//!
//! Numeric contract:
//!
//! | row | widening (16 per load) | accumulator | output | notes |
//! |---|---|---|---|---|
//! | f32 | none (`vmovups zmm`) | f32 (4 × 16 lanes, FMA) | f32 | dot error ≤ γₙ Σ\|aᵢbᵢ\| (Higham); cosine finished in f64 |
//! | f16 | `vmovdqu ymm` + `vcvtph2ps zmm` (exact) | as f32 | f32 | bit for bit the f32 kernel on the widened row |
//! | bf16 | `vpmovzxwd zmm` + `vpslld 16` (exact) | as f32 | f32 | bit for bit the f32 kernel on the widened row |
//!
//! The row type only changes how 16 row elements become 16 f32 lanes (and the
//! masked tail's load: `vmovups zmm{k}{z}` or `vmovdqu16 ymm{k}{z}`, whose masked-off
//! lanes widen to +0.0 either way); accumulators, unroll, masked tail and
//! reduction order are the same code, so a 16-bit row's result is the f32 kernel's
//! on the widened row by construction.
//!
//! Key instructions: `vfmadd231ps zmm` (2 per cycle, latency 4, so 4 accumulators),
//! unaligned loads, and for the last `n mod 16` elements a zero-masked load:
//! masked-off lanes are neither read nor able to fault, so the tail costs one
//! iteration and never reads past a slice.

use super::arch::*;

use half::{bf16, f16};

use super::reduce::{hsum_acc4_avx512, hsum4_avx512};
use super::tile4::Tile4;
use crate::table::{Family, ManyToMany, PanelKernel};

const LANES: usize = 16;

/// The mask selecting the first `rem` lanes, `rem < 16`.
#[inline(always)]
pub(crate) fn tail_mask(rem: usize) -> __mmask16 {
    debug_assert!(rem < LANES);
    ((1u32 << rem) - 1) as __mmask16
}

/// A row element type that widens exactly to f32, 16 at a time (f32, f16, bf16;
/// and i8/u8 codes for the scaled kernels).
pub(crate) trait Widen16: Copy {
    /// Loads 16 elements from `p` widened exactly to f32.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL are available and `p..p + 16` is readable.
    unsafe fn load16(p: *const Self) -> __m512;

    /// Loads the first `rem < 16` elements from `p` widened to f32, +0.0 elsewhere.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL are available and `p..p + rem` is readable.
    unsafe fn load_tail(p: *const Self, rem: usize) -> __m512;
}

/// 16 bf16 lanes (as u16) widened exactly to f32: zero-extend, shift into the
/// high half.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
fn widen_bf16(h: __m256i) -> __m512 {
    _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
}

/// `impl Widen16 for $t`: 16 elements at `p` become f32 lanes by `$load`, the
/// first `rem` by the zero-masked `$tail` (masked-off lanes are neither read nor
/// able to fault, and widen to 0.0).
macro_rules! widen16 {
    ($t:ty, |$p:ident| $load:expr, |$pt:ident, $rem:ident| $tail:expr) => {
        impl Widen16 for $t {
            #[cfg_attr(
                not(sagevec_avx512_emu),
                target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
            )]
            #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
            #[inline]
            unsafe fn load16($p: *const $t) -> __m512 {
                // SAFETY: the caller guarantees 16 readable elements; unaligned load.
                unsafe { $load }
            }

            #[cfg_attr(
                not(sagevec_avx512_emu),
                target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
            )]
            #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
            #[inline]
            unsafe fn load_tail($pt: *const $t, $rem: usize) -> __m512 {
                // SAFETY: the masked load touches only the `rem` selected lanes, which
                // the caller guarantees are readable.
                unsafe { $tail }
            }
        }
    };
}

widen16!(f32, |p| _mm512_loadu_ps(p), |p, rem| _mm512_maskz_loadu_ps(
    tail_mask(rem),
    p
));
widen16!(
    f16,
    |p| _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())),
    |p, rem| _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(tail_mask(rem), p.cast()))
);
widen16!(
    bf16,
    |p| widen_bf16(_mm256_loadu_si256(p.cast())),
    |p, rem| widen_bf16(_mm256_maskz_loadu_epi16(tail_mask(rem), p.cast()))
);
// i8/u8 codes (the scaled kernels): sign- or zero-extend to i32, convert exactly.
widen16!(
    i8,
    |p| _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p.cast()))),
    |p, rem| _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(
        tail_mask(rem),
        p
    )))
);
widen16!(
    u8,
    |p| _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(p.cast()))),
    |p, rem| _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(
        tail_mask(rem),
        p.cast()
    )))
);

/// `Σ step(qᵢ, xᵢ)` over the shorter length, both operands widened exactly, for a
/// lane-wise accumulation `step(q, x, acc)`: 4 accumulators over 64-element blocks,
/// then 16-element steps into the first, then one masked step (masked-off lanes are
/// 0 in both operands and must add 0) into the second; the accumulators are summed
/// in a fixed order. The body shared by `dot` and `l2sq`.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
#[inline]
unsafe fn sum_lanes<Q: Widen16, T: Widen16>(
    q: &[Q],
    x: &[T],
    step: impl Fn(__m512, __m512, __m512) -> __m512,
) -> f32 {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 4 * LANES <= n {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            // SAFETY: i + 16u + 16 <= i + 64 <= n.
            let (vq, vx) = unsafe {
                (
                    Q::load16(pq.add(i + u * LANES)),
                    T::load16(px.add(i + u * LANES)),
                )
            };
            *acc_u = step(vq, vx, *acc_u);
        }
        i += 4 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 16 <= n.
        let (vq, vx) = unsafe { (Q::load16(pq.add(i)), T::load16(px.add(i))) };
        acc[0] = step(vq, vx, acc[0]);
        i += LANES;
    }
    if i < n {
        // SAFETY: lanes i..n are inside both slices.
        let (vq, vx) = unsafe {
            (
                Q::load_tail(pq.add(i), n - i),
                T::load_tail(px.add(i), n - i),
            )
        };
        acc[1] = step(vq, vx, acc[1]);
    }
    // SAFETY: AVX-512 available.
    unsafe { hsum_acc4_avx512(acc) }
}

/// `Σ qᵢ xᵢ` over the shorter length, both widened exactly (an f32 query against
/// a row; or two rows of one type: the bf16 many-to-many dots).
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
// A closure, not the intrinsic itself: real intrinsics are target-feature
// functions, which do not implement `Fn` (the emulated ones do).
#[cfg_attr(sagevec_avx512_emu, allow(clippy::redundant_closure))]
pub(crate) unsafe fn dot<Q: Widen16, T: Widen16>(q: &[Q], x: &[T]) -> f32 {
    // SAFETY: same contract.
    unsafe { sum_lanes(q, x, |vq, vx, acc| _mm512_fmadd_ps(vq, vx, acc)) }
}

/// `Σ aᵢ²` of a row of `T` widened exactly.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn norm_rows<T: Widen16>(a: &[T]) -> f32 {
    // SAFETY: same contract.
    unsafe { dot::<T, T>(a, a) }
}

/// `Σ (qᵢ - xᵢ)²` over the shorter length (masked-off tail lanes are 0 - 0 = 0).
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn l2sq<T: Widen16>(q: &[f32], x: &[T]) -> f32 {
    // SAFETY: same contract.
    unsafe {
        sum_lanes(q, x, |vq, vx, acc| {
            let d = _mm512_sub_ps(vq, vx);
            _mm512_fmadd_ps(d, d, acc)
        })
    }
}

/// `(Σ qᵢxᵢ, Σ qᵢ² (0 unless `QUERY_NORM`), Σ xᵢ²)` in one pass: the cosine parts,
/// and (without the query's norm, which one-to-many kernels compute once) the
/// dot and row norm.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
unsafe fn parts<T: Widen16, const QUERY_NORM: bool>(q: &[f32], x: &[T]) -> (f32, f32, f32) {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut dot = [_mm512_setzero_ps(); 2];
    let mut na = [_mm512_setzero_ps(); 2];
    let mut nb = [_mm512_setzero_ps(); 2];
    let mut i = 0;
    while i + 2 * LANES <= n {
        for u in 0..2 {
            // SAFETY: i + 16u + 16 <= i + 32 <= n.
            let (va, vb) = unsafe {
                (
                    _mm512_loadu_ps(pq.add(i + u * LANES)),
                    T::load16(px.add(i + u * LANES)),
                )
            };
            dot[u] = _mm512_fmadd_ps(va, vb, dot[u]);
            if QUERY_NORM {
                na[u] = _mm512_fmadd_ps(va, va, na[u]);
            }
            nb[u] = _mm512_fmadd_ps(vb, vb, nb[u]);
        }
        i += 2 * LANES;
    }
    while i < n {
        let rem = (n - i).min(LANES);
        // SAFETY: lanes i..i + rem are inside both slices.
        let (va, vb) = unsafe {
            if rem == LANES {
                (_mm512_loadu_ps(pq.add(i)), T::load16(px.add(i)))
            } else {
                (f32::load_tail(pq.add(i), rem), T::load_tail(px.add(i), rem))
            }
        };
        dot[0] = _mm512_fmadd_ps(va, vb, dot[0]);
        if QUERY_NORM {
            na[0] = _mm512_fmadd_ps(va, va, na[0]);
        }
        nb[0] = _mm512_fmadd_ps(vb, vb, nb[0]);
        i += rem;
    }
    let mut out = [0.0f32; 4];
    // SAFETY: AVX-512 available; `out` holds 4 floats.
    unsafe {
        _mm_storeu_ps(
            out.as_mut_ptr(),
            hsum4_avx512(
                _mm512_add_ps(dot[0], dot[1]),
                _mm512_add_ps(na[0], na[1]),
                _mm512_add_ps(nb[0], nb[1]),
                _mm512_setzero_ps(),
            ),
        );
    }
    (out[0], out[1], out[2])
}

/// `(Σ qᵢxᵢ, Σ qᵢ², Σ xᵢ²)` in one pass.
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn cos_parts<T: Widen16>(q: &[f32], x: &[T]) -> (f32, f32, f32) {
    // SAFETY: same contract.
    unsafe { parts::<T, true>(q, x) }
}

/// `(Σ qᵢxᵢ, Σ xᵢ²)` in one pass (the query's norm is computed once by the caller).
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn dot_norm<T: Widen16>(q: &[f32], x: &[T]) -> (f32, f32) {
    // SAFETY: same contract.
    let (d, _, nx) = unsafe { parts::<T, false>(q, x) };
    (d, nx)
}

/// `Σ aᵢ²` of an f32 vector.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn norm_sq(a: &[f32]) -> f32 {
    // SAFETY: same contract.
    unsafe { dot::<f32, f32>(a, a) }
}

/// The `[l2, ip, cosine, -, -]` kernels of rows of `T` against f32 queries.
macro_rules! float_family {
    ($t:ty) => {
        crate::family::float_metrics!(
            [
                #[cfg_attr(
                    not(sagevec_avx512_emu),
                    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
                )]
                #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
            ]
            $t, l2sq::<$t>, dot::<f32, $t>, cos_parts::<$t>, dot_norm::<$t>, norm_sq
        )
    };
}

/// `crate::family::$kernel!` (`norms_kernel`, `dot_tile_pairwise`) with the base
/// AVX-512 features or those plus BF16.
macro_rules! many_to_many_kernel {
    (base, $kernel:ident, $($args:tt)*) => {
        crate::family::$kernel!(
            [
                #[cfg_attr(
                    not(sagevec_avx512_emu),
                    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
                )]
                #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
            ]
            $($args)*
        )
    };
    (bf16, $kernel:ident, $($args:tt)*) => {
        crate::family::$kernel!(
            [
                #[cfg_attr(
                    not(sagevec_avx512_emu),
                    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512bf16")
                )]
                #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
            ]
            $($args)*
        )
    };
}

/// f32 rows.
pub(crate) const F32: Family<f32> = Family {
    variant: "avx512",
    metrics: float_family!(f32),
    many_to_many: Some(ManyToMany {
        norms: many_to_many_kernel!(base, norms_kernel, f32, norm_sq),
        dot_tile: super::f32::dot_tile_f32_avx512,
        knn_panels: Some(PanelKernel {
            rows: super::panel::PANEL,
            run: super::panel::knn_panels_f32_avx512,
        }),
    }),
};

/// f16 rows (f32 queries).
pub(crate) const F16: Family<f16> = Family {
    variant: "avx512",
    metrics: float_family!(f16),
    many_to_many: None,
};

/// `Σ aᵢ bᵢ` of two bf16 rows with AVX-512 BF16 `vdpbf16ps`: 32 pairs per
/// instruction, each pair's products exact in f32 and added in with
/// round-to-nearest-even, input denormals read as zero and output denormals
/// flushed (the instruction's fixed DAZ/FTZ); 4 accumulators, the `n mod 32` tail
/// one zero-masked step. Error ≤ γₙ₊₁ Σ|aᵢbᵢ|, plus for subnormal inputs or sums
/// the terms DAZ/FTZ drop (at most 2⁻¹²⁶ per addition, and any product with a
/// subnormal factor).
///
/// # Safety
/// AVX-512 F/BW/VL and BF16, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512bf16")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn dot_bf16_dp(a: &[bf16], b: &[bf16]) -> f32 {
    const PAIRS: usize = 32;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr().cast::<i16>(), b.as_ptr().cast::<i16>());
    let load = |p: *const i16, i: usize, rem: usize| {
        // SAFETY: elements i..i + rem are inside the slice; a masked load touches
        // only its selected lanes.
        as_bf16_lanes(unsafe {
            if rem == PAIRS {
                _mm512_loadu_si512(p.add(i).cast())
            } else {
                _mm512_maskz_loadu_epi16(((1u64 << rem) - 1) as __mmask32, p.add(i))
            }
        })
    };
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 4 * PAIRS <= n {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            let j = i + u * PAIRS;
            *acc_u = _mm512_dpbf16_ps(*acc_u, load(pa, j, PAIRS), load(pb, j, PAIRS));
        }
        i += 4 * PAIRS;
    }
    while i < n {
        let rem = (n - i).min(PAIRS);
        acc[0] = _mm512_dpbf16_ps(acc[0], load(pa, i, rem), load(pb, i, rem));
        i += rem;
    }
    // SAFETY: AVX-512 available.
    unsafe { hsum_acc4_avx512(acc) }
}

/// 32 × 16 bits as bf16 lanes (same size, every bit pattern valid).
#[inline(always)]
fn as_bf16_lanes(v: __m512i) -> __m512bh {
    // SAFETY: both are 64 bytes of plain data; every bit pattern is a valid bf16.
    unsafe { core::mem::transmute::<__m512i, __m512bh>(v) }
}

/// The `vdpbf16ps` many-to-many dots of bf16 rows for `dot_tile4`: 32 elements per
/// step, no correction, f32 accumulators.
pub(crate) struct Bf16DpTile;

impl Tile4 for Bf16DpTile {
    type Elem = bf16;
    type Acc = __m512;
    const STEP: usize = 32;
    const MAX_DIM: usize = usize::MAX;

    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512bf16")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    #[inline]
    unsafe fn zero() -> __m512 {
        _mm512_setzero_ps()
    }

    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512bf16")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    #[inline]
    unsafe fn load(p: *const bf16, rem: usize) -> __m512i {
        // SAFETY: the caller guarantees `rem` readable elements; a masked load
        // touches only its selected lanes.
        unsafe {
            if rem == Self::STEP {
                _mm512_loadu_si512(p.cast())
            } else {
                _mm512_maskz_loadu_epi16(((1u64 << rem) - 1) as __mmask32, p.cast::<i16>())
            }
        }
    }

    #[inline(always)]
    unsafe fn row_operand(x: __m512i) -> __m512i {
        x
    }

    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512bf16")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    #[inline]
    unsafe fn step(acc: __m512, q: __m512i, x: __m512i) -> __m512 {
        _mm512_dpbf16_ps(acc, as_bf16_lanes(q), as_bf16_lanes(x))
    }

    #[inline(always)]
    unsafe fn correct(corr: __m512, _: __m512i) -> __m512 {
        corr
    }

    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512bf16")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    #[inline]
    unsafe fn finish(acc: [__m512; 4], _: __m512) -> [f32; 4] {
        let mut out = [0.0f32; 4];
        // SAFETY: AVX-512 available; `out` holds 4 floats.
        unsafe {
            _mm_storeu_ps(
                out.as_mut_ptr(),
                hsum4_avx512(acc[0], acc[1], acc[2], acc[3]),
            );
        }
        out
    }

    #[cfg_attr(
        not(sagevec_avx512_emu),
        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512bf16")
    )]
    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
    #[inline]
    unsafe fn pair(a: &[bf16], b: &[bf16]) -> f32 {
        // SAFETY: same features.
        unsafe { dot_bf16_dp(a, b) }
    }
}

/// `Σ aᵢ²` of a bf16 row with `vdpbf16ps`.
///
/// # Safety
/// AVX-512 F/BW/VL and BF16, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,avx512bf16")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn norm_bf16_dp(a: &[bf16]) -> f32 {
    // SAFETY: same contract.
    unsafe { dot_bf16_dp(a, a) }
}

/// bf16 rows (f32 queries; bf16 queries in the many-to-many shapes, widened).
pub(crate) const BF16: Family<bf16> = Family {
    variant: "avx512",
    metrics: float_family!(bf16),
    many_to_many: Some(ManyToMany {
        norms: many_to_many_kernel!(base, norms_kernel, bf16, norm_rows::<bf16>),
        dot_tile: many_to_many_kernel!(base, dot_tile_pairwise, bf16, dot::<bf16, bf16>),
        knn_panels: None,
    }),
};

/// bf16 rows with AVX-512 BF16: the one-to-many shapes as `BF16` (widened, bit for
/// bit f32's), the many-to-many dots (the 4×4 tile of `tile4.rs`) and norms by
/// `vdpbf16ps`.
pub(crate) const BF16_DP: Family<bf16> = Family {
    variant: "avx512bf16",
    metrics: float_family!(bf16),
    many_to_many: Some(ManyToMany {
        norms: many_to_many_kernel!(bf16, norms_kernel, bf16, norm_bf16_dp),
        dot_tile: super::tile4::dot_tile4_bf16::<Bf16DpTile>,
        knn_panels: None,
    }),
};
