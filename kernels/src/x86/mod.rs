//! x86-64 SIMD kernels. Every function here carries `#[target_feature]` and is
//! reached only through a `KernelTable` that exists after detection.

pub(crate) mod avx2;
pub(crate) mod avx512;
