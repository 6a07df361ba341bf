//! Scaled (asymmetric) kernels for AVX-512 (`*_scaled_i8_avx512`, u8 twin): an f32
//! query against i8/u8 codes decoded as `sᵢ·xᵢ + oᵢ` (see `scaled.rs` for the
//! prepared forms and the error bound).
//!
//! Key instructions: 16 codes per step widened exactly (`vpmovsxbd`/`vpmovzxbd` +
//! `vcvtdq2ps`, the codes' `Widen16` in `float.rs`), L2 `t = vfnmadd(s, x, a)`,
//! `acc = vfmadd(t, t, acc)` with 4 accumulators and the last `n mod 16` one
//! zero-masked step (masked-off lanes are 0 in every operand and add 0); the inner
//! product `Σ wᵢxᵢ` is the float `dot` kernel over the widened codes.

use super::arch::*;

use super::float::{Widen16, dot};
use super::reduce::hsum_acc4_avx512;
use crate::scaled::{ScaledKernels, ScaledQuery};

const LANES: usize = 16;

/// `Σ (aᵢ - sᵢxᵢ)²` over the shortest length.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA are available.
#[cfg_attr(
    not(sagevec_avx512_emu),
    target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
)]
#[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
pub(crate) unsafe fn l2<T: Widen16>(a: &[f32], s: &[f32], x: &[T]) -> f32 {
    let n = a.len().min(s.len()).min(x.len());
    let (pa, ps, px) = (a.as_ptr(), s.as_ptr(), x.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 4 * LANES <= n {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            let j = i + u * LANES;
            // SAFETY: j + 16 <= i + 64 <= n: inside all three slices.
            let t = unsafe {
                _mm512_fnmadd_ps(
                    _mm512_loadu_ps(ps.add(j)),
                    T::load16(px.add(j)),
                    _mm512_loadu_ps(pa.add(j)),
                )
            };
            *acc_u = _mm512_fmadd_ps(t, t, *acc_u);
        }
        i += 4 * LANES;
    }
    while i < n {
        let rem = (n - i).min(LANES);
        // SAFETY: lanes i..i + rem are inside all three slices.
        let t = unsafe {
            if rem == LANES {
                _mm512_fnmadd_ps(
                    _mm512_loadu_ps(ps.add(i)),
                    T::load16(px.add(i)),
                    _mm512_loadu_ps(pa.add(i)),
                )
            } else {
                _mm512_fnmadd_ps(
                    f32::load_tail(ps.add(i), rem),
                    T::load_tail(px.add(i), rem),
                    f32::load_tail(pa.add(i), rem),
                )
            }
        };
        acc[0] = _mm512_fmadd_ps(t, t, acc[0]);
        i += rem;
    }
    // SAFETY: AVX-512 available.
    unsafe { hsum_acc4_avx512(acc) }
}

/// The L2 and inner-product kernels of `T` codes.
macro_rules! scaled_family {
    ($t:ty) => {
        ScaledKernels {
            l2: crate::family::metric_kernels!(
                [
                    #[cfg_attr(
                        not(sagevec_avx512_emu),
                        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
                    )]
                    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
                ]
                $t, ScaledQuery, |q, x| l2::<$t>(&q.shifted, &q.scale, x)
            ),
            ip: crate::family::metric_kernels!(
                [
                    #[cfg_attr(
                        not(sagevec_avx512_emu),
                        target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")
                    )]
                    #[cfg_attr(sagevec_avx512_emu, target_feature(enable = "avx2,fma"))]
                ]
                $t, ScaledQuery, |q, x| -(dot::<f32, $t>(&q.weights, x) + q.bias)
            ),
        }
    };
}

/// i8 codes.
pub(crate) const I8: ScaledKernels<i8> = scaled_family!(i8);
/// u8 codes.
pub(crate) const U8: ScaledKernels<u8> = scaled_family!(u8);
