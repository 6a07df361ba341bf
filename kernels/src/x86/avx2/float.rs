//! f32-query kernels for AVX2 + FMA + F16C over f32, f16 and bf16 rows
//! (`*_f32_avx2`, `*_f16_avx2`, `*_bf16_avx2`): one generic body per primitive.
//!
//! Numeric contract:
//!
//! | row | widening (8 per load) | accumulator | output | notes |
//! |---|---|---|---|---|
//! | f32 | none (`vmovups ymm`) | f32 (4 × 8 lanes, FMA) | f32 | dot error ≤ γₙ Σ\|aᵢbᵢ\| (Higham); cosine finished in f64 |
//! | f16 | `vmovdqu xmm` + `vcvtph2ps ymm` (exact) | as f32 | f32 | bit for bit the f32 kernel on the widened row |
//! | bf16 | `vpmovzxwd ymm` + `vpslld 16` (exact) | as f32 | f32 | bit for bit the f32 kernel on the widened row |
//!
//! The row type only changes how 8 row elements become 8 f32 lanes; accumulators,
//! unroll, reduction order and the scalar tail (one element at a time, the same
//! exact widening) are the same code, so a 16-bit row's result is the f32 kernel's
//! on the widened row by construction (`tests/stored.rs` checks it bit for bit).
//!
//! Key instructions: `vfmadd231ps` (2 per cycle on Haswell/Zen 3, latency 4–5, so
//! 4 independent accumulators keep both FMA ports busy), unaligned loads (any start
//! offset and stride work), and a scalar tail for the last `n mod 8` elements so no
//! load ever reads past a slice (no masked loads, which valgrind and older CPUs
//! handle poorly). `vcvtph2ps` is 1 per cycle on a port the FMAs do not need at
//! this ratio; the bf16 widening is an integer zero-extend and shift.

use core::arch::x86_64::*;

use half::{bf16, f16};

use super::reduce::{hsum_acc4_avx2, hsum4_avx2};
use crate::table::{Family, ManyToMany, PanelKernel};

const LANES: usize = 8;

/// A row element type that widens exactly to f32, 8 at a time (f32, f16, bf16;
/// and i8/u8 codes for the scaled kernels).
pub(crate) trait Widen8: Copy {
    /// Loads 8 elements from `p` and widens them exactly to f32.
    ///
    /// # Safety
    /// AVX2, FMA and F16C are available and `p..p + 8` is readable.
    unsafe fn load8(p: *const Self) -> __m256;

    /// One element widened exactly to f32 (the same value `load8` gives its lane).
    ///
    /// # Safety
    /// AVX2, FMA and F16C are available.
    unsafe fn widen1(self) -> f32;
}

/// `impl Widen8 for $t`: 8 elements at `p` become f32 lanes by `$load`; one
/// element `x` by `$one` (the same value, for the scalar tail).
macro_rules! widen8 {
    ($t:ty, |$p:ident| $load:expr, |$x:ident| $one:expr) => {
        impl Widen8 for $t {
            #[target_feature(enable = "avx2,fma,f16c")]
            #[inline]
            unsafe fn load8($p: *const $t) -> __m256 {
                // SAFETY: the caller guarantees 8 readable elements; unaligned load.
                unsafe { $load }
            }

            #[target_feature(enable = "avx2,fma,f16c")]
            #[inline]
            unsafe fn widen1(self) -> f32 {
                let $x = self;
                $one
            }
        }
    };
}

widen8!(f32, |p| _mm256_loadu_ps(p), |x| x);
// `vcvtph2ps` on one lane in the tail (no run-time detection branch, unlike
// `f16::to_f32`; the value is the same).
widen8!(f16, |p| _mm256_cvtph_ps(_mm_loadu_si128(p.cast())), |x| {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(x.to_bits()))))
});
// A bf16 is the high half of an f32: zero-extend each to 32 bits, shift up.
widen8!(
    bf16,
    |p| _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(
        _mm_loadu_si128(p.cast())
    ))),
    |x| f32::from_bits(u32::from(x.to_bits()) << 16)
);
// i8/u8 codes (the scaled kernels): 8 bytes extended to i32, converted exactly.
widen8!(
    i8,
    |p| _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p.cast()))),
    |x| f32::from(x)
);
widen8!(
    u8,
    |p| _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(p.cast()))),
    |x| f32::from(x)
);

/// `Σ step(qᵢ, xᵢ)` over the shorter length, for a lane-wise accumulation
/// `vstep(q, x, acc)` and its scalar twin `sstep(q, x, sum)` for the last `n mod 8`
/// elements: 4 accumulators over 32-element blocks, then 8-element steps into the
/// first, the accumulators summed in a fixed order, then the scalar tail; both
/// operands widened exactly. The body shared by `dot` and `l2sq`.
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn sum_lanes<Q: Widen8, T: Widen8>(
    q: &[Q],
    x: &[T],
    vstep: impl Fn(__m256, __m256, __m256) -> __m256,
    sstep: impl Fn(f32, f32, f32) -> f32,
) -> f32 {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 4 * LANES <= n {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8u + 8 <= i + 32 <= n.
            let (vq, vx) = unsafe {
                (
                    Q::load8(pq.add(i + u * LANES)),
                    T::load8(px.add(i + u * LANES)),
                )
            };
            *acc_u = vstep(vq, vx, *acc_u);
        }
        i += 4 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 8 <= n.
        let (vq, vx) = unsafe { (Q::load8(pq.add(i)), T::load8(px.add(i))) };
        acc[0] = vstep(vq, vx, acc[0]);
        i += LANES;
    }
    // SAFETY: AVX2 available.
    let mut sum = unsafe { hsum_acc4_avx2(acc) };
    while i < n {
        // SAFETY: F16C available.
        sum = sstep(unsafe { q[i].widen1() }, unsafe { x[i].widen1() }, sum);
        i += 1;
    }
    sum
}

/// `Σ qᵢ xᵢ` over the shorter length, both widened exactly (an f32 query against
/// a row; or two rows of one type: the bf16 many-to-many dots).
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot<Q: Widen8, T: Widen8>(q: &[Q], x: &[T]) -> f32 {
    // SAFETY: same contract.
    unsafe {
        sum_lanes(
            q,
            x,
            |vq, vx, acc| _mm256_fmadd_ps(vq, vx, acc),
            |a, b, s| s + a * b,
        )
    }
}

/// `Σ aᵢ²` of a row of `T` widened exactly.
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn norm_rows<T: Widen8>(a: &[T]) -> f32 {
    // SAFETY: same contract.
    unsafe { dot::<T, T>(a, a) }
}

/// `Σ (qᵢ - xᵢ)²` over the shorter length.
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn l2sq<T: Widen8>(q: &[f32], x: &[T]) -> f32 {
    // SAFETY: same contract.
    unsafe {
        sum_lanes(
            q,
            x,
            |vq, vx, acc| {
                let d = _mm256_sub_ps(vq, vx);
                _mm256_fmadd_ps(d, d, acc)
            },
            |a, b, s| {
                let d = a - b;
                s + d * d
            },
        )
    }
}

/// `(Σ qᵢxᵢ, Σ qᵢ² (0 unless `QUERY_NORM`), Σ xᵢ²)` in one pass: the cosine parts,
/// and (without the query's norm, which one-to-many kernels compute once) the
/// dot and row norm.
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn parts<T: Widen8, const QUERY_NORM: bool>(q: &[f32], x: &[T]) -> (f32, f32, f32) {
    let n = q.len().min(x.len());
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut dot = [_mm256_setzero_ps(); 2];
    let mut na = [_mm256_setzero_ps(); 2];
    let mut nb = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 2 * LANES <= n {
        for u in 0..2 {
            // SAFETY: i + 8u + 8 <= i + 16 <= n.
            let (va, vb) = unsafe {
                (
                    _mm256_loadu_ps(pq.add(i + u * LANES)),
                    T::load8(px.add(i + u * LANES)),
                )
            };
            dot[u] = _mm256_fmadd_ps(va, vb, dot[u]);
            if QUERY_NORM {
                na[u] = _mm256_fmadd_ps(va, va, na[u]);
            }
            nb[u] = _mm256_fmadd_ps(vb, vb, nb[u]);
        }
        i += 2 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 8 <= n.
        let (va, vb) = unsafe { (_mm256_loadu_ps(pq.add(i)), T::load8(px.add(i))) };
        dot[0] = _mm256_fmadd_ps(va, vb, dot[0]);
        if QUERY_NORM {
            na[0] = _mm256_fmadd_ps(va, va, na[0]);
        }
        nb[0] = _mm256_fmadd_ps(vb, vb, nb[0]);
        i += LANES;
    }
    // SAFETY: AVX2 available.
    let sums = unsafe {
        hsum4_avx2(
            _mm256_add_ps(dot[0], dot[1]),
            _mm256_add_ps(na[0], na[1]),
            _mm256_add_ps(nb[0], nb[1]),
            _mm256_setzero_ps(),
        )
    };
    let mut out = [0.0f32; 4];
    // SAFETY: out has room for 4 floats.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), sums) };
    let (mut d, mut sa, mut sb) = (out[0], out[1], out[2]);
    while i < n {
        // SAFETY: F16C available.
        let b = unsafe { x[i].widen1() };
        d += q[i] * b;
        if QUERY_NORM {
            sa += q[i] * q[i];
        }
        sb += b * b;
        i += 1;
    }
    (d, sa, sb)
}

/// `(Σ qᵢxᵢ, Σ qᵢ², Σ xᵢ²)` in one pass.
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn cos_parts<T: Widen8>(q: &[f32], x: &[T]) -> (f32, f32, f32) {
    // SAFETY: same contract.
    unsafe { parts::<T, true>(q, x) }
}

/// `(Σ qᵢxᵢ, Σ xᵢ²)` in one pass (the query's norm is computed once by the caller).
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_norm<T: Widen8>(q: &[f32], x: &[T]) -> (f32, f32) {
    // SAFETY: same contract.
    let (d, _, nx) = unsafe { parts::<T, false>(q, x) };
    (d, nx)
}

/// `Σ aᵢ²` of an f32 vector (a query's norm; the f32 rows' norms).
///
/// # Safety
/// AVX2, FMA and F16C are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn norm_sq(a: &[f32]) -> f32 {
    // SAFETY: same contract.
    unsafe { dot::<f32, f32>(a, a) }
}

/// The `[l2, ip, cosine, -, -]` kernels of rows of `T` against f32 queries.
macro_rules! float_family {
    ($t:ty) => {
        crate::family::float_metrics!(
            [#[target_feature(enable = "avx2,fma,f16c")]]
            $t, l2sq::<$t>, dot::<f32, $t>, cos_parts::<$t>, dot_norm::<$t>, norm_sq
        )
    };
}

/// f32 rows.
pub(crate) const F32: Family<f32> = Family {
    variant: "avx2",
    metrics: float_family!(f32),
    many_to_many: Some(ManyToMany {
        norms: crate::family::norms_kernel!([#[target_feature(enable = "avx2,fma,f16c")]] f32, norm_sq),
        dot_tile: super::f32::dot_tile_f32_avx2,
        knn_panels: Some(PanelKernel {
            rows: super::panel::PANEL,
            run: super::panel::knn_panels_f32_avx2,
        }),
    }),
};

/// f16 rows (f32 queries).
pub(crate) const F16: Family<f16> = Family {
    variant: "avx2",
    metrics: float_family!(f16),
    many_to_many: None,
};

/// bf16 rows (f32 queries; bf16 queries in the many-to-many shapes).
pub(crate) const BF16: Family<bf16> = Family {
    variant: "avx2",
    metrics: float_family!(bf16),
    many_to_many: Some(ManyToMany {
        norms: crate::family::norms_kernel!([#[target_feature(enable = "avx2,fma,f16c")]] bf16, norm_rows::<bf16>),
        dot_tile: crate::family::dot_tile_pairwise!([#[target_feature(enable = "avx2,fma,f16c")]] bf16, dot::<bf16, bf16>),
        knn_panels: None,
    }),
};
