//! Ctrl-C for long calls.
//!
//! Python runs signal handlers (the one that raises `KeyboardInterrupt`) only
//! on the main thread and only when that thread holds the GIL, so a call that
//! computes for seconds with the GIL released would hold Ctrl-C off until it
//! ends. Long calls are therefore cut up:
//!
//! - Batch searches ([`chunked`]) run over their queries in chunks. The first,
//!   small chunk runs on the calling thread and measures the cost per query;
//!   if the rest would take longer than [`INLINE`], a helper thread runs it in
//!   chunks of about [`CHUNK`] each while the calling thread wakes every
//!   [`POLL`], takes the GIL for a moment and checks for signals. On a signal
//!   the helper stops after its current chunk and the exception (normally
//!   `KeyboardInterrupt`) is raised. The calling thread, not the helper,
//!   waits for the GIL, so a busy Python thread never stalls the search.
//! - Waits ([`wait_polling`]) run in slices of [`POLL`] with a signal check
//!   between slices.
//! - Writes are all or nothing: signals are checked while the input is read
//!   and once more just before the commit, never during it (a commit that has
//!   started completes, and the interpreter raises the `KeyboardInterrupt`
//!   right after the call returns).
//!
//! Only reads are chunked, so an interrupted call leaves the index as it was.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// How long a chunk of a long batch should take: short enough for Ctrl-C to
/// land within about 100 ms, long enough that the pause between chunks (the
/// workers of the pool wait for the slowest of them) stays below 1 %.
pub(crate) const CHUNK: Duration = Duration::from_millis(40);

/// How often a thread waiting for a long call checks for signals.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// A rest of a batch estimated to take no longer than this runs in one more
/// chunk on the calling thread, with no helper thread and no signal check
/// (the longest a signal waits then, below the ~100 ms aimed at).
pub(crate) const INLINE: Duration = Duration::from_millis(50);

/// Runs `work` over `0..n` with the GIL released, in chunks, checking for
/// signals between them (see the module notes). `first` is the size of the
/// first chunk: a batch no larger runs in one call of `work`, exactly as
/// without chunking. No later chunk is smaller than `min` items (unless fewer
/// are left): for work whose cost per call does not shrink with the chunk
/// (exact search streams the whole base once per call).
///
/// `work` gets the chunk and a stop flag, raised once a signal arrives while a
/// helper thread runs the chunks: work that can give up part-way (a batch search
/// through `batch_search_cancellable`) checks it and returns early, so Ctrl-C
/// need not wait for a long chunk to end. (The first chunk, on the calling
/// thread, gets a flag nobody raises.) `first = 0` skips that measuring chunk:
/// every chunk, of `min` items, runs on the helper thread, for work that checks
/// the flag and whose cost per item falls with the chunk (an exact batch).
///
/// Returns `Err` (the signal handler's exception, normally
/// `KeyboardInterrupt`) when a signal arrived; `work` must then leave nothing
/// behind that matters (reads only). Otherwise the result of the chunks: the
/// first error of `work` stops the run.
pub(crate) fn chunked<E, F>(
    py: Python<'_>,
    n: usize,
    first: usize,
    min: usize,
    work: F,
) -> PyResult<Result<(), E>>
where
    E: Send,
    F: FnMut(Range<usize>, &AtomicBool) -> Result<(), E> + Send,
{
    let mut work = work;
    let never = AtomicBool::new(false);
    if first == 0 && n > 0 {
        // No cost measured yet: chunks of `min`.
        return py.detach(move || with_helper(0, n, f64::INFINITY, min, work));
    }
    let first = first.clamp(1, n.max(1));
    if n <= first {
        return Ok(py.detach(|| work(0..n, &never)));
    }
    py.detach(move || {
        let start = Instant::now();
        if let Err(e) = work(0..first, &never) {
            return Ok(Err(e));
        }
        let per_item = start.elapsed().as_secs_f64() / first as f64;
        let rest = per_item * (n - first) as f64;
        if rest <= INLINE.as_secs_f64() {
            return Ok(work(first..n, &never));
        }
        with_helper(first, n, per_item, min, work)
    })
}

/// The long case of [`chunked`]: a scoped helper thread runs the chunks from
/// `done` on; this (the calling) thread checks for signals every [`POLL`].
/// If no thread can be started, the chunks run here, with a signal check
/// (taking the GIL) between them.
fn with_helper<E, F>(
    done: usize,
    n: usize,
    per_item: f64,
    min: usize,
    mut work: F,
) -> PyResult<Result<(), E>>
where
    E: Send,
    F: FnMut(Range<usize>, &AtomicBool) -> Result<(), E> + Send,
{
    let stop = AtomicBool::new(false);
    let (finished, wait) = mpsc::channel::<()>();
    let helped = std::thread::scope(|s| {
        let stop = &stop;
        let work = &mut work;
        let helper = std::thread::Builder::new()
            .name("sagevec-batch".into())
            .spawn_scoped(s, move || {
                let result = run_chunks(done, n, per_item, min, work, stop);
                // The receiver outlives this thread (the scope joins it first).
                let _ = finished.send(());
                result
            });
        let Ok(helper) = helper else {
            return None;
        };
        loop {
            match wait.recv_timeout(POLL) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = Python::attach(|py| py.check_signals()) {
                        stop.store(true, Ordering::Relaxed);
                        // Wait for the chunk in progress: it borrows what the
                        // caller is about to free.
                        let _ = helper.join();
                        return Some(Err(e));
                    }
                }
            }
        }
        Some(match helper.join() {
            Ok(result) => Ok(result),
            Err(panic) => std::panic::resume_unwind(panic),
        })
    });
    if let Some(result) = helped {
        return result;
    }
    // No helper thread: chunks here, one signal check between each.
    let mut from = done;
    let mut per_item = per_item;
    while from < n {
        let size = chunk_size(per_item, min, n - from);
        let t = Instant::now();
        if let Err(e) = work(from..from + size, &stop) {
            return Ok(Err(e));
        }
        per_item = t.elapsed().as_secs_f64() / size as f64;
        from += size;
        if from < n {
            Python::attach(|py| py.check_signals())?;
        }
    }
    Ok(Ok(()))
}

/// Items for the next chunk: about [`CHUNK`] at `per_item` seconds each, and
/// no small chunk left over at the end.
fn chunk_size(per_item: f64, min: usize, left: usize) -> usize {
    let size = ((CHUNK.as_secs_f64() / per_item.max(1e-9)) as usize)
        .max(min)
        .clamp(1, left);
    if left - size < size / 2 { left } else { size }
}

/// Chunks from `done` to `n`, each sized to take about [`CHUNK`] at the last
/// measured cost per item, until done, an error, or `stop`.
fn run_chunks<E>(
    mut done: usize,
    n: usize,
    mut per_item: f64,
    min: usize,
    work: &mut impl FnMut(Range<usize>, &AtomicBool) -> Result<(), E>,
    stop: &AtomicBool,
) -> Result<(), E> {
    while done < n {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let size = chunk_size(per_item, min, n - done);
        let t = Instant::now();
        work(done..done + size, stop)?;
        per_item = t.elapsed().as_secs_f64() / size as f64;
        done += size;
    }
    Ok(())
}

/// Waits (GIL released) in slices of at most [`POLL`]: `slice(limit)` waits up
/// to `limit` and returns `Some` once done. Between slices the GIL is taken
/// and signals checked, so Ctrl-C ends the wait (with `KeyboardInterrupt`).
/// `deadline`: give up then (returns `None`).
pub(crate) fn wait_polling<T: Send>(
    py: Python<'_>,
    deadline: Option<Instant>,
    mut slice: impl FnMut(Duration) -> PyResult<Option<T>> + Send,
) -> PyResult<Option<T>> {
    loop {
        let limit = deadline.map_or(POLL, |d| {
            d.saturating_duration_since(Instant::now()).min(POLL)
        });
        if let Some(v) = py.detach(|| slice(limit))? {
            return Ok(Some(v));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        py.check_signals()?;
    }
}

/// Copies `src` with the GIL held (the caller's array may be written by
/// another thread once the GIL is released), checking for signals every few
/// megabytes so that reading a huge batch can be interrupted.
pub(crate) fn copy_checking_signals(py: Python<'_>, src: &[f32]) -> PyResult<Vec<f32>> {
    /// 16 MiB of floats between checks (a few milliseconds of copying).
    const STEP: usize = 4 << 20;
    if src.len() <= STEP {
        return Ok(src.to_vec());
    }
    let mut out = Vec::with_capacity(src.len());
    for part in src.chunks(STEP) {
        py.check_signals()?;
        out.extend_from_slice(part);
    }
    Ok(out)
}
