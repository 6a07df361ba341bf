//! AVX-512 F/BW/VL kernels (16 × f32 lanes).

#[cfg(sagevec_avx512_emu)]
mod emu;
pub(crate) mod f16;
pub(crate) mod f32;
pub(crate) mod panel;
pub(crate) mod reduce;
