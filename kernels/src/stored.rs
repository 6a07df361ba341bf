//! Rows stored narrower than f32 (f16, bf16), searched with an f32 query.
//!
//! A graph or a scan that is limited by memory bandwidth reads half the bytes when
//! its rows are 16-bit. The query stays f32; each row element is widened *exactly*
//! to f32 (every f16 and bf16 is an f32) and then the f32 kernel's arithmetic runs
//! unchanged, so on one ISA `distance(q, x16)` is bit for bit
//! `distance(q, widen(x16))`, and the f32 numeric contract holds for the widened
//! row. What narrow storage loses is in [`encode`](crate::KernelTable::encode):
//! rounding each element to nearest-even, with a relative error of at most 2⁻¹¹
//! (f16, in its normal range) or 2⁻⁸ (bf16, over f32's whole range). Scale f16 rows
//! (and the query) by a power of two first ([`f16_scale_for`]) to keep them in
//! range; a power of two scales every distance under every metric by a constant
//! and leaves their order unchanged. bf16 has f32's exponent range and needs none.

use std::fmt::Debug;

pub use half::{bf16, f16};

use crate::elem::Element;
use crate::table::KernelTable;

/// A row element type stored by rounding f32 values ([`KernelTable::encode`]) and
/// searched with an f32 query: f16 and bf16. Each one is an [`Element`] with
/// `Query = f32`.
pub trait StoredElement: Element<Query = f32> {
    /// This type's encode/decode kernels in `table`.
    #[doc(hidden)]
    fn codec(table: &KernelTable) -> &Codec<Self>;

    /// The value widened exactly to f32.
    fn to_f32(self) -> f32;
}

impl StoredElement for f16 {
    #[inline(always)]
    fn codec(table: &KernelTable) -> &Codec<Self> {
        &table.f16_codec
    }

    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
}

impl StoredElement for bf16 {
    #[inline(always)]
    fn codec(table: &KernelTable) -> &Codec<Self> {
        &table.bf16_codec
    }

    #[inline(always)]
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
}

/// f32 source, scale, stored destination. Safety: ISA available.
pub(crate) type EncodeFn<S> = unsafe fn(&[f32], f32, &mut [S]);
/// Stored source, f32 destination. Safety: ISA available.
pub(crate) type DecodeFn<S> = unsafe fn(&[S], &mut [f32]);

/// One stored element type's conversions for one ISA.
#[doc(hidden)]
pub struct Codec<S> {
    pub(crate) encode: EncodeFn<S>,
    pub(crate) decode: DecodeFn<S>,
}

impl<S> Debug for Codec<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec").finish_non_exhaustive()
    }
}

/// Largest finite f16 (65504).
pub const F16_MAX: f32 = 65504.0;

/// The power of two `s` that brings `max_abs` (the largest `|x|` over the rows to
/// store) into `[2^14, 2^15)`: `x · s` then fits f16 with headroom (a query a
/// little larger than every row stays finite too) and small elements keep f16's
/// full 11-bit precision down to `max_abs · 2⁻¹⁵`. `1.0` for 0 or a non-finite
/// `max_abs`. The scale is exact: multiplying by it changes no f32 mantissa.
pub fn f16_scale_for(max_abs: f32) -> f32 {
    if !(max_abs.is_finite() && max_abs > 0.0) {
        return 1.0;
    }
    // max_abs = m · 2^e with m in [1, 2): want m · 2^(e + k) in [2^14, 2^15).
    let e = exponent_of(max_abs);
    let k = (14 - e).clamp(-126, 127);
    pow2(k)
}

/// `floor(log2(x))` for a positive finite `x` (subnormals included).
fn exponent_of(x: f32) -> i32 {
    let bits = x.to_bits();
    let biased = ((bits >> 23) & 0xff) as i32;
    if biased == 0 {
        // Subnormal: value = mantissa · 2^-149.
        let mant = bits & 0x7f_ffff;
        31 - mant.leading_zeros() as i32 - 149
    } else {
        biased - 127
    }
}

/// `2^k` for `k` in `-126..=127` (a normal f32, so exact).
fn pow2(k: i32) -> f32 {
    f32::from_bits(((k + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_lands_the_largest_value_in_its_band() {
        for x in [
            1e-30f32,
            1e-8,
            0.003,
            0.5,
            1.0,
            1.5,
            2.0,
            255.0,
            16384.0,
            65504.0,
            1e6,
            3e38,
            f32::from_bits(1),
            f32::MIN_POSITIVE,
        ] {
            let s = f16_scale_for(x);
            assert_eq!(s.to_bits() & 0x7f_ffff, 0, "{s} is not a power of two");
            let y = f64::from(x) * f64::from(s);
            // Extreme inputs hit the clamp of the exponent range.
            if (1e-30..=3e38).contains(&x) && x > 1e-37 {
                assert!((16384.0..32768.0).contains(&y), "{x} scaled by {s} = {y}");
            }
        }
        for x in [0.0f32, -1.0, f32::NAN, f32::INFINITY] {
            assert_eq!(f16_scale_for(x), 1.0);
        }
    }
}
