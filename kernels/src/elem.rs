//! The row element types the kernels accept: one sealed family. Each row type names
//! the query type it pairs with (`f32` rows: `f32` queries; `f16` rows: `f32`
//! queries, widened exactly), and has one `Family` of kernels in each ISA's
//! `KernelTable`; every public entry point is generic over `Element`.

use std::fmt::Debug;

use bytemuck::Zeroable;
use half::f16;

use crate::table::{Family, KernelTable};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
}

/// A row element type with kernels in every [`KernelTable`].
///
/// The numeric contract per type (accumulator, output) is in the crate docs.
/// Sealed: the set of element types is the set of kernel families.
pub trait Element: sealed::Sealed + Copy + Zeroable + Send + Sync + Debug + 'static {
    /// The element type of a query searched against rows of this type.
    type Query: Copy + Zeroable + Send + Sync + Debug + 'static;

    /// The type's name in kernel names (`f32` in `l2sq_f32_avx2`).
    const NAME: &'static str;

    /// This type's kernel family in `table`.
    #[doc(hidden)]
    fn family(table: &KernelTable) -> &Family<Self>;

    /// The value widened exactly to f64 (for references and tests).
    fn to_f64(self) -> f64;
}

impl Element for f32 {
    type Query = f32;
    const NAME: &'static str = "f32";

    #[inline(always)]
    fn family(table: &KernelTable) -> &Family<Self> {
        &table.f32
    }

    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Element for f16 {
    type Query = f32;
    const NAME: &'static str = "f16";

    #[inline(always)]
    fn family(table: &KernelTable) -> &Family<Self> {
        &table.f16
    }

    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self.to_f32())
    }
}
