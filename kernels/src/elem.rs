//! Element types the kernels accept. f32 today; f16, bf16 and i8 slot in as new
//! `Element` impls with a field in each ISA's `KernelTable`, without touching
//! the public entry points, which are generic over `Element`.

use std::fmt::Debug;

use bytemuck::Zeroable;

use crate::table::{ElemKernels, KernelTable};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
}

/// A vector element type with kernels in every [`KernelTable`].
///
/// The numeric contract per type (accumulator, output) is in the crate docs.
/// Sealed: the set of element types is the set of kernel families.
pub trait Element: sealed::Sealed + Copy + Zeroable + Send + Sync + Debug + 'static {
    /// The type's name in kernel names (`f32` in `l2sq_f32_avx2`).
    const NAME: &'static str;

    /// This type's kernel family in `table`.
    #[doc(hidden)]
    fn family(table: &KernelTable) -> &ElemKernels<Self>;

    /// The value widened exactly to f64 (for references and tests).
    fn to_f64(self) -> f64;
}

impl Element for f32 {
    const NAME: &'static str = "f32";

    #[inline(always)]
    fn family(table: &KernelTable) -> &ElemKernels<Self> {
        &table.f32
    }

    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}
