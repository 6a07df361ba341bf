//! i8 × i8 and u8 × u8 kernels for AVX2 (`*_i8_avx2`, `*_u8_avx2`): exact integer
//! L2 and inner product.
//!
//! Numeric contract:
//!
//! | input | widening | products | accumulator | output |
//! |---|---|---|---|---|
//! | i8 or u8 | `vpmovsxbw` / `vpmovzxbw` to i16 (16 per load) | `vpmaddwd`: i16 × i16, pairs summed in i32 (exact: \|pair\| ≤ 2·255² < 2³¹) | i32 lanes, one block of ≤ 2¹⁵ elements at a time, then i64 | the exact integer, rounded once to f32 |
//!
//! L2 subtracts in i16 first (`vpsubw`, \|d\| ≤ 255) and squares with `vpmaddwd`.
//! `vpmaddubsw` (u8 × i8) would take twice the elements per instruction but
//! saturates its i16 pair sums (2·255·128 > 2¹⁵), so it is not exact and is not
//! used. Overflow: a block of 2¹⁵ elements sums to at most 2¹⁵·255² < 2³¹, and
//! lanes add with wrapping arithmetic, so each block's lane sum is the exact block
//! total; blocks add in i64. No length limit below 2⁴⁷ elements.

use core::arch::x86_64::*;

use super::reduce::hsum_epi32_avx2;
use crate::table::{Family, ManyToMany};

/// Elements per i32 block (see the module docs' overflow argument).
pub(crate) const BLOCK: usize = 1 << 15;

/// i8 or u8: 16 elements widened to i16.
pub(crate) trait Widen16: Copy + Into<i32> {
    /// # Safety
    /// AVX2 is available and `p..p + 16` is readable.
    unsafe fn load16(p: *const Self) -> __m256i;
}

impl Widen16 for i8 {
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn load16(p: *const i8) -> __m256i {
        // SAFETY: the caller guarantees 16 readable bytes; unaligned load.
        _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(p.cast::<__m128i>()) })
    }
}

impl Widen16 for u8 {
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn load16(p: *const u8) -> __m256i {
        // SAFETY: the caller guarantees 16 readable bytes; unaligned load.
        _mm256_cvtepu8_epi16(unsafe { _mm_loadu_si128(p.cast::<__m128i>()) })
    }
}

/// `Σ f(qᵢ, xᵢ)` exactly, where `f` is `vpmaddwd` of `pair(q16, x16)`: the shared
/// block loop of `dot` and `l2sq`, with the scalar `tail` for the last `n mod 16`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn sum_pairs<T: Widen16>(
    q: &[T],
    x: &[T],
    pair: impl Fn(__m256i, __m256i) -> (__m256i, __m256i),
    tail: impl Fn(i32, i32) -> i64,
) -> f32 {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut total = 0i64;
    let mut i = 0;
    while i + 16 <= n {
        let end = (i + BLOCK).min(n);
        let mut acc = [_mm256_setzero_si256(); 2];
        while i + 32 <= end {
            for (u, acc_u) in acc.iter_mut().enumerate() {
                // SAFETY: i + 16u + 16 <= i + 32 <= end <= n.
                let (a, b) =
                    unsafe { pair(T::load16(pq.add(i + 16 * u)), T::load16(px.add(i + 16 * u))) };
                *acc_u = _mm256_add_epi32(*acc_u, _mm256_madd_epi16(a, b));
            }
            i += 32;
        }
        if i + 16 <= end {
            // SAFETY: i + 16 <= end <= n.
            let (a, b) = unsafe { pair(T::load16(pq.add(i)), T::load16(px.add(i))) };
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(a, b));
            i += 16;
        }
        // SAFETY: AVX2 available. The block's lane sum is exact (module docs).
        total += i64::from(unsafe { hsum_epi32_avx2(_mm256_add_epi32(acc[0], acc[1])) });
    }
    while i < n {
        total += tail(q[i].into(), x[i].into());
        i += 1;
    }
    total as f32
}

/// `Σ qᵢxᵢ` exactly (then rounded to f32).
///
/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot<T: Widen16>(q: &[T], x: &[T]) -> f32 {
    // SAFETY: same contract.
    unsafe { sum_pairs(q, x, |a, b| (a, b), |a, b| i64::from(a * b)) }
}

/// `Σ (qᵢ - xᵢ)²` exactly (then rounded to f32).
///
/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn l2sq<T: Widen16>(q: &[T], x: &[T]) -> f32 {
    // SAFETY: same contract.
    unsafe {
        sum_pairs(
            q,
            x,
            |a, b| {
                let d = _mm256_sub_epi16(a, b);
                (d, d)
            },
            |a, b| i64::from((a - b) * (a - b)),
        )
    }
}

/// `Σ xᵢ²` exactly (the rows' norms of the many-to-many path).
///
/// # Safety
/// AVX2 is available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn norm_sq<T: Widen16>(x: &[T]) -> f32 {
    // SAFETY: same contract.
    unsafe { dot(x, x) }
}

/// The `[l2, ip, -, -, -]` kernels and the many-to-many tile of `T` rows.
macro_rules! int_family {
    ($t:ty) => {
        Family {
            variant: "avx2",
            metrics: [
                Some(crate::family::metric_kernels!(
                    [#[target_feature(enable = "avx2,fma,f16c")]] $t, [$t], |q, x| l2sq(q, x)
                )),
                Some(crate::family::metric_kernels!(
                    [#[target_feature(enable = "avx2,fma,f16c")]] $t, [$t], |q, x| -dot(q, x)
                )),
                None,
                None,
                None,
            ],
            many_to_many: Some(ManyToMany {
                norms: crate::family::norms_kernel!(
                    [#[target_feature(enable = "avx2,fma,f16c")]] $t, norm_sq
                ),
                dot_tile: crate::family::dot_tile_pairwise!(
                    [#[target_feature(enable = "avx2,fma,f16c")]] $t, dot
                ),
                knn_panels: None,
            }),
        }
    };
}

/// i8 rows and queries.
pub(crate) const I8: Family<i8> = int_family!(i8);
/// u8 rows and queries.
pub(crate) const U8: Family<u8> = int_family!(u8);
