//! The machine's own ceilings, measured before any kernel row: peak FMA rate per
//! ISA, and single-thread read bandwidth from memory and from L2.
//!
//! Kernel rows are quoted as a percentage of these, so the table says how close a
//! kernel is to what this machine can do, not just how fast it is. Peak FMA (the
//! best of three probes, as noise only lowers a peak) and memory bandwidth (a
//! median) come from `super::probe`. L2 bandwidth is timed here
//! with the batched harness (the probe times single passes, which for a 256 KiB
//! buffer last about a microsecond, too close to the clock's own cost).

use std::hint::black_box;
use std::time::Duration;

use sagevec_kernels::{AlignedVec, Isa, KernelError, KernelTable, Rows};

use super::probe;

use super::timing;

/// Peak-FMA probes per ISA; the best one is kept.
const FMA_TRIES: u32 = 3;

/// Measured limits.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Peak single-thread FMA GFLOP/s per available ISA (an FMA counts 2 flops).
    pub(crate) peak_fma: Vec<(Isa, f64)>,
    /// Read bandwidth from memory, GB/s, and the buffer size it was measured on.
    pub(crate) mem_gbs: f64,
    pub(crate) mem_bytes: usize,
    pub(crate) mem_reps: usize,
    /// Read bandwidth from an L2-sized buffer, GB/s, with its size and ISA.
    pub(crate) l2_gbs: f64,
    pub(crate) l2_bytes: usize,
    pub(crate) l2_isa: Isa,
}

impl Limits {
    /// Peak FMA GFLOP/s of `isa` (0 if it was not measured).
    pub(crate) fn peak(&self, isa: Isa) -> f64 {
        self.peak_fma
            .iter()
            .find(|(i, _)| *i == isa)
            .map_or(0.0, |&(_, g)| g)
    }
}

/// What to measure and for how long.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LimitPlan {
    pub(crate) fma_time: Duration,
    pub(crate) mem_bytes: usize,
    pub(crate) mem_reps: usize,
    pub(crate) l2_bytes: usize,
    pub(crate) reps: usize,
    pub(crate) target: Duration,
}

/// Measures every limit; `on_line` is told each result as it arrives.
pub(crate) fn measure(
    plan: &LimitPlan,
    mut on_line: impl FnMut(&str) -> std::io::Result<()>,
) -> Result<Limits, crate::error::CliError> {
    let mut peak_fma = Vec::new();
    for isa in Isa::available() {
        // A peak is a maximum: noise only ever slows a run down, so take the best of
        // FMA_TRIES shorter probes rather than one long one.
        let mut g = 0.0f64;
        for _ in 0..FMA_TRIES {
            let try_g = probe::peak_fma_gflops(isa, plan.fma_time / FMA_TRIES)
                .map_err(|e| crate::error::CliError::Runtime(e.to_string()))?;
            g = g.max(try_g);
        }
        on_line(&format!(
            "  peak FMA, {:<6}                  {:>8.1} GFLOP/s",
            isa.name(),
            g
        ))?;
        peak_fma.push((isa, g));
    }
    let mem_gbs = probe::read_bandwidth_gbs(plan.mem_bytes, plan.mem_reps);
    on_line(&format!(
        "  read bandwidth, memory ({:>8})  {:>8.1} GB/s",
        super::report::fmt_bytes(plan.mem_bytes),
        mem_gbs
    ))?;
    let l2_isa = Isa::best();
    let l2_gbs = l2_bandwidth(l2_isa, plan)?;
    on_line(&format!(
        "  read bandwidth, L2     ({:>8})  {:>8.1} GB/s",
        super::report::fmt_bytes(plan.l2_bytes),
        l2_gbs
    ))?;
    Ok(Limits {
        peak_fma,
        mem_gbs,
        mem_bytes: plan.mem_bytes,
        mem_reps: plan.mem_reps,
        l2_gbs,
        l2_bytes: plan.l2_bytes,
        l2_isa,
    })
}

/// Read bandwidth over an L2-resident buffer: squared norms of 4 KiB rows (the same
/// reading kernel the memory probe uses), timed in batches.
fn l2_bandwidth(isa: Isa, plan: &LimitPlan) -> Result<f64, KernelError> {
    const ROW: usize = 1024;
    let n = (plan.l2_bytes / 4).div_ceil(ROW).max(1) * ROW;
    let mut buf = AlignedVec::<f32>::zeroed(n);
    buf.iter_mut()
        .enumerate()
        .for_each(|(i, x)| *x = (i % 7) as f32);
    let table = KernelTable::for_isa(isa).expect("Isa::best() is supported");
    let rows = Rows::contiguous(&buf, ROW)?;
    let mut out = vec![0.0f32; rows.n_rows()];
    let sample = timing::batched(plan.reps, plan.target, |iters| {
        for _ in 0..iters {
            table.squared_norms(black_box(rows), &mut out)?;
            black_box(&mut out);
        }
        Ok(())
    })?;
    Ok((n * 4) as f64 / sample.median / 1e9)
}
