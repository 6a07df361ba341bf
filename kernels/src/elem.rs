//! The row element types the kernels accept: one sealed family.
//!
//! Each row type names the query type it pairs with and the metrics it has, and
//! has one [`Family`] of kernels in each ISA's [`KernelTable`]; every public entry
//! point is generic over [`Element`], so a new type is one more impl and one more
//! table field, never a parallel API.

use std::fmt::{self, Debug};

use bytemuck::{Pod, Zeroable};
use half::{bf16, f16};

use crate::metric::Metric;
use crate::table::{Family, KernelTable};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
    impl Sealed for i8 {}
    impl Sealed for u8 {}
    impl Sealed for super::Bits64 {}
}

/// A row element type with kernels in every [`KernelTable`].
///
/// | row `T` | `T::Query` | metrics | arithmetic |
/// |---|---|---|---|
/// | `f32` | `f32` | l2, ip, cosine | f32 |
/// | `f16` | `f32` | l2, ip, cosine | row widened exactly, then the f32 kernel |
/// | `bf16` | `f32` | l2, ip, cosine | row widened exactly (a shift), then the f32 kernel |
/// | `i8` | `i8` | l2, ip | exact integers |
/// | `u8` | `u8` | l2, ip | exact integers |
/// | [`Bits64`] | [`Bits64`] | hamming, jaccard | exact popcounts |
///
/// The numeric contract per type is in the crate docs. Sealed: the set of element
/// types is the set of kernel families.
pub trait Element: sealed::Sealed + Copy + Zeroable + Send + Sync + Debug + 'static {
    /// The element type of a query searched against rows of this type.
    type Query: Copy + Zeroable + Send + Sync + Debug + 'static;

    /// The type's name in kernel names and reports (`f32` in `l2_f32_avx2`).
    const NAME: &'static str;

    /// The metrics this type has kernels for; asking for another is an error
    /// ([`KernelError::UnsupportedMetric`](crate::KernelError::UnsupportedMetric)).
    const METRICS: &'static [Metric];

    /// This type's kernel family in `table`.
    #[doc(hidden)]
    fn family(table: &KernelTable) -> &Family<Self>;
}

const FLOAT_METRICS: &[Metric] = &[Metric::L2Sq, Metric::InnerProduct, Metric::Cosine];
const INT_METRICS: &[Metric] = &[Metric::L2Sq, Metric::InnerProduct];
const BIT_METRICS: &[Metric] = &[Metric::Hamming, Metric::Jaccard];

/// `impl Element for $t` reading `table.$field`.
macro_rules! element {
    ($t:ty, $query:ty, $name:literal, $metrics:expr, $field:ident) => {
        impl Element for $t {
            type Query = $query;
            const NAME: &'static str = $name;
            const METRICS: &'static [Metric] = $metrics;

            #[inline(always)]
            fn family(table: &KernelTable) -> &Family<Self> {
                &table.$field
            }
        }
    };
}

element!(f32, f32, "f32", FLOAT_METRICS, f32);
element!(f16, f32, "f16", FLOAT_METRICS, f16);
element!(bf16, f32, "bf16", FLOAT_METRICS, bf16);
element!(i8, i8, "i8", INT_METRICS, i8);
element!(u8, u8, "u8", INT_METRICS, u8);
element!(Bits64, Bits64, "bits", BIT_METRICS, bits);

/// 64 packed bits: a bit vector of `64 · dim` bits is `dim` of these (bit `j` of
/// the vector is bit `j % 64` of word `j / 64`). Hamming and Jaccard read the
/// words as sets of bits, so any packing works as long as queries and rows agree.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Pod, Zeroable)]
#[repr(transparent)]
pub struct Bits64(pub u64);

impl Debug for Bits64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bits64({:#018x})", self.0)
    }
}

impl From<u64> for Bits64 {
    fn from(word: u64) -> Self {
        Bits64(word)
    }
}
