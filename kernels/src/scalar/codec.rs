//! Scalar f32 ↔ f16 / bf16 conversions: `half`'s, round-to-nearest-even.

use half::{bf16, f16};

use crate::stored::Codec;

fn encode_f16(src: &[f32], scale: f32, dst: &mut [f16]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f16::from_f32(s * scale);
    }
}

fn encode_bf16(src: &[f32], scale: f32, dst: &mut [bf16]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = bf16::from_f32(s * scale);
    }
}

fn decode<T: super::float::Widen>(src: &[T], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.widen();
    }
}

/// f16 rows.
pub(crate) const F16: Codec<f16> = Codec {
    encode: encode_f16,
    decode: decode::<f16>,
};

/// bf16 rows.
pub(crate) const BF16: Codec<bf16> = Codec {
    encode: encode_bf16,
    decode: decode::<bf16>,
};
