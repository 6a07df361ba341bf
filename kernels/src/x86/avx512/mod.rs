//! AVX-512 F/BW/VL kernels (16 × f32 lanes).

pub(crate) mod f32;
pub(crate) mod panel;
pub(crate) mod reduce;
