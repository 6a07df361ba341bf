//! Machine-limit probes for reports: peak FMA rate and streaming read bandwidth.
//!
//! They measure the ceilings kernel throughput is quoted against (`sagevec bench
//! kernels`); they are not kernels and nothing in the search path calls them, so
//! they live here, not in the kernels crate other engines embed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sagevec_kernels::{AlignedVec, Isa, IsaError, KernelTable, Rows};

/// Peak single-thread f32 FMA rate of `isa`, in GFLOP/s (an FMA counts 2 flops),
/// from independent FMA chains: the best of three runs of at least `min_time` each
/// (interference on a shared machine only ever lowers a peak). For `Scalar` it is
/// the rate of independent mul+add chains in baseline code, which the compiler may
/// pack into SSE2: what code without a dispatched ISA can reach.
pub(crate) fn peak_fma_gflops(isa: Isa, min_time: Duration) -> Result<f64, IsaError> {
    isa.require()?;
    let mut iters: u64 = 1 << 16;
    let mut best = 0.0f64;
    let mut runs = 0;
    while runs < 3 {
        let start = Instant::now();
        let flops = run_fma_chains(isa, iters);
        let elapsed = start.elapsed();
        if elapsed >= min_time || iters >= 1 << 40 {
            best = best.max(flops as f64 / elapsed.as_secs_f64() / 1e9);
            runs += 1;
        } else {
            iters *= 2;
        }
    }
    Ok(best)
}

fn run_fma_chains(isa: Isa, iters: u64) -> u64 {
    match isa {
        Isa::Scalar => scalar_chains(iters),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: peak_fma_gflops checked the ISA with `require` before calling.
        Isa::Avx2 => unsafe { x86::avx2_chains(iters) },
        #[cfg(all(target_arch = "x86_64", not(sagevec_avx512_emu)))]
        // SAFETY: as above.
        Isa::Avx512 => unsafe { x86::avx512_chains(iters) },
        // Emulated AVX-512 has no peak worth measuring.
        #[cfg(sagevec_avx512_emu)]
        Isa::Avx512 => 0,
        // An ISA this probe does not know (the kernels' `Isa` is non-exhaustive).
        _ => 0,
    }
}

fn scalar_chains(iters: u64) -> u64 {
    // 16 chains: enough to cover add latency × throughput on current cores.
    let mut acc = [1.0f32; 16];
    let m = black_box(0.999_999f32);
    let a = black_box(1e-7f32);
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = *x * m + a;
        }
    }
    black_box(acc);
    iters * 16 * 2
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;
    use std::hint::black_box;

    /// # Safety
    /// AVX2 and FMA are available.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn avx2_chains(iters: u64) -> u64 {
        const CHAINS: usize = 12;
        let m = _mm256_set1_ps(black_box(0.999_999));
        let a = _mm256_set1_ps(black_box(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, m, a);
            }
        }
        black_box(acc);
        iters * (CHAINS * 8 * 2) as u64
    }

    /// # Safety
    /// AVX-512F is available.
    #[cfg(not(sagevec_avx512_emu))]
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn avx512_chains(iters: u64) -> u64 {
        const CHAINS: usize = 16;
        let m = _mm512_set1_ps(black_box(0.999_999));
        let a = _mm512_set1_ps(black_box(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, m, a);
            }
        }
        black_box(acc);
        iters * (CHAINS * 16 * 2) as u64
    }
}

/// Single-thread streaming read bandwidth in GB/s (10⁹ bytes/s), reading a buffer of
/// `bytes` bytes with the widest available kernel; the median of `repeats` passes.
pub(crate) fn read_bandwidth_gbs(bytes: usize, repeats: usize) -> f64 {
    const ROW: usize = 4096;
    let n = (bytes / 4).div_ceil(ROW) * ROW;
    let mut buf = AlignedVec::<f32>::zeroed(n);
    buf.iter_mut()
        .enumerate()
        .for_each(|(i, x)| *x = (i % 7) as f32);
    let table = KernelTable::for_isa(Isa::best()).expect("the best ISA is supported");
    let rows = Rows::contiguous(&buf, ROW).expect("buffer is a whole number of rows");
    let mut out = vec![0.0f32; rows.n_rows()];
    let mut rates = Vec::with_capacity(repeats.max(1));
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        table.squared_norms(rows, &mut out).expect("shapes match");
        let secs = start.elapsed().as_secs_f64();
        black_box(&out);
        rates.push((n * 4) as f64 / secs / 1e9);
    }
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}
