//! AVX-512 F/BW/VL kernels (16 × f32 lanes), with VNNI and VPOPCNTDQ variants.

/// The intrinsics the kernels call: the real ones, or (built with
/// `--cfg sagevec_avx512_emu`) the scalar stand-ins of `emu`.
mod arch {
    #[cfg(sagevec_avx512_emu)]
    pub(crate) use super::emu::*;
    #[cfg(not(sagevec_avx512_emu))]
    pub(crate) use core::arch::x86_64::*;
}

pub(crate) mod bits;
pub(crate) mod codec;
#[cfg(sagevec_avx512_emu)]
mod emu;
pub(crate) mod f32;
pub(crate) mod float;
pub(crate) mod int8;
pub(crate) mod panel;
pub(crate) mod reduce;
pub(crate) mod scaled;
pub(crate) mod tile4;
