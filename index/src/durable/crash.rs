//! Test hook (feature `test-hooks`): steps of a checkpoint where a test makes the
//! process die, to check recovery from each. Without the feature,
//! [`maybe_crash`] is empty and a checkpoint checks nothing.

/// Steps of a checkpoint where a test can make the process die (abort, as a
/// kill -9 would), to check recovery from each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "test-hooks"), allow(unreachable_pub))]
#[repr(u8)]
// The names say where in a checkpoint the crash comes: after which step.
#[allow(clippy::enum_variant_names)]
pub enum CrashPoint {
    /// The new log generation exists; no row block or links file written yet.
    AfterRotate = 1,
    /// Row blocks and links written; the manifest not yet replaced.
    AfterSegments = 2,
    /// The manifest replaced; old logs and files not yet deleted.
    AfterManifest = 3,
}

/// The armed point (`CrashPoint as u8`), 0 when none: one atomic word, so a
/// checkpoint reads it without a lock.
#[cfg(feature = "test-hooks")]
static CRASH_POINT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Test hook (feature `test-hooks`): the next checkpoint that reaches `point`
/// aborts the process (`None` disarms it). Process-wide: every index of the
/// process checks it.
#[cfg(feature = "test-hooks")]
pub fn crash_at(point: Option<CrashPoint>) {
    CRASH_POINT.store(
        point.map_or(0, |p| p as u8),
        std::sync::atomic::Ordering::SeqCst,
    );
}

/// Aborts the process if a test armed `here` (nothing without `test-hooks`).
#[inline]
#[cfg_attr(not(feature = "test-hooks"), expect(unused_variables))]
pub(super) fn maybe_crash(here: CrashPoint) {
    #[cfg(feature = "test-hooks")]
    if CRASH_POINT.load(std::sync::atomic::Ordering::SeqCst) == here as u8 {
        std::process::abort();
    }
}
