//! Timing harness: warm-up, batch calibration, and medians of repetitions.
//!
//! Fast operations (a 128-d distance takes nanoseconds) are timed in batches grown
//! until one batch lasts a target time, so clock overhead stays below ~0.1%; the
//! growing phase doubles as the warm-up (caches, TLB, frequency ramp). Each reported
//! figure is the median of the repetitions' per-operation times, with min and max
//! kept so the report can show how noisy the machine was.

use std::time::{Duration, Instant};

use sagevec_kernels::KernelError;

/// Seconds per operation over several repetitions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// Median seconds per operation.
    pub(crate) median: f64,
    /// Fastest repetition, seconds per operation.
    pub(crate) min: f64,
    /// Slowest repetition, seconds per operation.
    pub(crate) max: f64,
    /// Timed repetitions (the median is over these).
    pub(crate) reps: usize,
    /// Operations per repetition.
    pub(crate) iters: u64,
}

impl Sample {
    /// The sample of repetitions that took `per_op` seconds per operation each
    /// (at least one), `iters` operations per repetition.
    pub(crate) fn from_secs(mut per_op: Vec<f64>, iters: u64) -> Sample {
        assert!(!per_op.is_empty(), "a sample needs at least one repetition");
        per_op.sort_by(f64::total_cmp);
        let n = per_op.len();
        let median = if n % 2 == 1 {
            per_op[n / 2]
        } else {
            0.5 * (per_op[n / 2 - 1] + per_op[n / 2])
        };
        Sample {
            median,
            min: per_op[0],
            max: per_op[n - 1],
            reps: n,
            iters,
        }
    }

    /// `(max - min) / median`: the spread of the repetitions, as a fraction.
    pub(crate) fn spread(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median
        } else {
            0.0
        }
    }
}

type Step<'a> = dyn FnMut(u64) -> Result<(), KernelError> + 'a;

fn time_batch(f: &mut Step<'_>, iters: u64) -> Result<f64, KernelError> {
    let start = Instant::now();
    f(iters)?;
    Ok(start.elapsed().as_secs_f64())
}

/// Times `f(iters)`, which must run the operation `iters` times: grows `iters` until
/// one batch lasts at least `target` (this is also the warm-up), then takes `reps`
/// timed batches.
pub(crate) fn batched(
    reps: usize,
    target: Duration,
    mut f: impl FnMut(u64) -> Result<(), KernelError>,
) -> Result<Sample, KernelError> {
    let f: &mut Step<'_> = &mut f;
    let target = target.as_secs_f64();
    let mut iters: u64 = 1;
    loop {
        let t = time_batch(f, iters)?;
        if t >= target || iters >= 1 << 34 {
            break;
        }
        // Aim 20% past the target so the next try usually ends the loop.
        let grow = if t > 0.0 {
            (1.2 * target / t).clamp(2.0, 100.0)
        } else {
            100.0
        };
        iters = (iters as f64 * grow).ceil() as u64;
    }
    let mut per_op = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        per_op.push(time_batch(f, iters)? / iters as f64);
    }
    Ok(Sample::from_secs(per_op, iters))
}

/// Times one long operation `reps` times after `warmup` untimed runs.
pub(crate) fn repeated(
    warmup: usize,
    reps: usize,
    mut f: impl FnMut() -> Result<(), KernelError>,
) -> Result<Sample, KernelError> {
    for _ in 0..warmup {
        f()?;
    }
    let mut per_op = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        f()?;
        per_op.push(start.elapsed().as_secs_f64());
    }
    Ok(Sample::from_secs(per_op, 1))
}

/// Times one run of `f` (a calibration probe).
pub(crate) fn once(f: impl FnOnce() -> Result<(), KernelError>) -> Result<f64, KernelError> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let s = Sample::from_secs(vec![3.0, 1.0, 2.0], 4);
        assert_eq!(
            (s.median, s.min, s.max, s.reps, s.iters),
            (2.0, 1.0, 3.0, 3, 4)
        );
        let s = Sample::from_secs(vec![4.0, 1.0, 2.0, 3.0], 1);
        assert_eq!(s.median, 2.5);
        assert!((s.spread() - 1.2).abs() < 1e-12);
    }

    #[test]
    fn batched_calibrates_and_counts() {
        let mut calls = 0u64;
        let s = batched(3, Duration::from_micros(50), |n| {
            for _ in 0..n {
                calls = std::hint::black_box(calls + 1);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(s.reps, 3);
        assert!(s.iters >= 1);
        assert!(calls >= 3 * s.iters);
    }
}
