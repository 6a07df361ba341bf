//! Scaled (asymmetric) kernels for AVX2 (`*_scaled_i8_avx2`, `*_scaled_u8_avx2`):
//! an f32 query against i8/u8 codes decoded as `sᵢ·xᵢ + oᵢ` (see `scaled.rs` for the
//! prepared forms and the error bound).
//!
//! Key instructions: 8 codes per step widened exactly (`vpmovsxbd`/`vpmovzxbd` +
//! `vcvtdq2ps`, the codes' `Widen8` in `float.rs`), then L2 `t = vfnmadd(s, x, a)`,
//! `acc = vfmadd(t, t, acc)`, 4 accumulators, the last `n mod 8` elements in scalar
//! code with the same single roundings (`mul_add`); the inner product `Σ wᵢxᵢ` is
//! the float `dot` kernel over the widened codes.

use core::arch::x86_64::*;

use super::float::{Widen8, dot};
use super::reduce::hsum_acc4_avx2;
use crate::scaled::{ScaledKernels, ScaledQuery};

const LANES: usize = 8;

/// `Σ (aᵢ - sᵢxᵢ)²` over the shortest length.
///
/// # Safety
/// AVX2 and FMA are available.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn l2<T: Widen8>(a: &[f32], s: &[f32], x: &[T]) -> f32 {
    let n = a.len().min(s.len()).min(x.len());
    let (pa, ps, px) = (a.as_ptr(), s.as_ptr(), x.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 4 * LANES <= n {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            let j = i + u * LANES;
            // SAFETY: j + 8 <= i + 32 <= n: inside all three slices.
            let t = unsafe {
                _mm256_fnmadd_ps(
                    _mm256_loadu_ps(ps.add(j)),
                    T::load8(px.add(j)),
                    _mm256_loadu_ps(pa.add(j)),
                )
            };
            *acc_u = _mm256_fmadd_ps(t, t, *acc_u);
        }
        i += 4 * LANES;
    }
    while i + LANES <= n {
        // SAFETY: i + 8 <= n.
        let t = unsafe {
            _mm256_fnmadd_ps(
                _mm256_loadu_ps(ps.add(i)),
                T::load8(px.add(i)),
                _mm256_loadu_ps(pa.add(i)),
            )
        };
        acc[0] = _mm256_fmadd_ps(t, t, acc[0]);
        i += LANES;
    }
    // SAFETY: AVX2 available.
    let mut sum = unsafe { hsum_acc4_avx2(acc) };
    while i < n {
        // SAFETY: F16C available.
        let t = (-s[i]).mul_add(unsafe { x[i].widen1() }, a[i]);
        sum = t.mul_add(t, sum);
        i += 1;
    }
    sum
}

/// The L2 and inner-product kernels of `T` codes.
macro_rules! scaled_family {
    ($t:ty) => {
        ScaledKernels {
            l2: crate::family::metric_kernels!(
                [#[target_feature(enable = "avx2,fma,f16c")]] $t, ScaledQuery,
                |q, x| l2::<$t>(&q.shifted, &q.scale, x)
            ),
            ip: crate::family::metric_kernels!(
                [#[target_feature(enable = "avx2,fma,f16c")]] $t, ScaledQuery,
                |q, x| -(dot::<f32, $t>(&q.weights, x) + q.bias)
            ),
        }
    };
}

/// i8 codes.
pub(crate) const I8: ScaledKernels<i8> = scaled_family!(i8);
/// u8 codes.
pub(crate) const U8: ScaledKernels<u8> = scaled_family!(u8);
