//! AVX2 + FMA + F16C + POPCNT kernels (8 × f32 lanes).

pub(crate) mod bits;
pub(crate) mod codec;
pub(crate) mod f32;
pub(crate) mod float;
pub(crate) mod int8;
pub(crate) mod panel;
pub(crate) mod reduce;
pub(crate) mod scaled;
