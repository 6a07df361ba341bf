//! AVX2 + FMA kernels (8 × f32 lanes).

pub(crate) mod f32;
pub(crate) mod panel;
pub(crate) mod reduce;
