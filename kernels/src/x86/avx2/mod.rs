//! AVX2 + FMA (+ F16C for f16 rows) kernels (8 × f32 lanes).

pub(crate) mod f16;
pub(crate) mod f32;
pub(crate) mod panel;
pub(crate) mod reduce;
