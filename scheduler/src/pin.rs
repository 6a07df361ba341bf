//! CPU masks of threads: read them and pin a thread to one CPU.
//!
//! We call `sched_getaffinity`/`sched_setaffinity` through `libc::syscall` with a
//! buffer sized at run time rather than through `core_affinity` or `cpu_set_t`:
//! `cpu_set_t` stops at 1024 CPUs, and `core_affinity` hides the error (it returns a
//! bool), which `NumaPool` reports in `pin_failures()`.

use std::io;

/// Bits in one word of a kernel CPU mask.
#[cfg(target_os = "linux")]
const WORD_BITS: usize = libc::c_ulong::BITS as usize;

/// The CPUs the calling thread may run on, in increasing order.
///
/// This is the *thread's* mask: inside a pinned `NumaPool` worker it is that worker's
/// one CPU. Use [`process_cpus`] for the mask the process started with.
pub fn current_thread_cpus() -> io::Result<Vec<usize>> {
    get_affinity(0)
}

/// The CPUs of the process's mask (taskset, cgroup cpusets), read from the
/// process's main thread so that a caller pinned by us still sees the whole set.
///
/// Falls back to the calling thread's mask if the main thread cannot be queried.
pub fn process_cpus() -> io::Result<Vec<usize>> {
    let pid = std::process::id();
    #[cfg(target_os = "linux")]
    {
        // The main thread's TID equals the PID, so this reads the main thread's mask.
        let tid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
        match get_affinity(tid) {
            Ok(cpus) if !cpus.is_empty() => Ok(cpus),
            _ => get_affinity(0),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        get_affinity(0)
    }
}

/// Lowers the calling thread's scheduling priority by `by` nice steps from
/// where it is (capped at 19; Linux keeps a nice value per thread, and a new
/// thread starts at its creator's): background work then yields to the
/// process's other threads that want the same cores, whatever nice the process
/// itself runs at. Elsewhere it does nothing.
pub(crate) fn lower_current_thread_priority(by: i32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid takes no argument and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
        // getpriority may return -1 as a value: errno tells an error apart.
        // SAFETY: `__errno_location` returns this thread's errno slot, always valid.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: plain syscall on an integer thread id of this process.
        let current = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) };
        let err = io::Error::last_os_error();
        if current == -1 && err.raw_os_error() != Some(0) {
            return Err(err);
        }
        let nice = current.saturating_add(by).min(19);
        // SAFETY: plain syscall on an integer thread id of this process; nothing
        // is read or written through pointers.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = by;
        Ok(())
    }
}

/// Pins the calling thread to exactly `cpu`.
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let mut mask = vec![0 as libc::c_ulong; cpu / WORD_BITS + 1];
        mask[cpu / WORD_BITS] |= 1 << (cpu % WORD_BITS);
        let bytes = std::mem::size_of_val(mask.as_slice());
        // SAFETY: `mask` is a live buffer of exactly `bytes` bytes that the kernel only
        // reads; pid 0 names the calling thread.
        let rc = unsafe { libc::syscall(libc::SYS_sched_setaffinity, 0, bytes, mask.as_ptr()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cpu;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "thread pinning is implemented for Linux only",
        ))
    }
}

/// `sched_getaffinity(tid)` as a sorted list of CPU numbers, growing the buffer until
/// the kernel's mask fits.
fn get_affinity(tid: i32) -> io::Result<Vec<usize>> {
    #[cfg(target_os = "linux")]
    {
        let mut n_words = 1024 / WORD_BITS;
        loop {
            let mut mask = vec![0 as libc::c_ulong; n_words];
            let bytes = std::mem::size_of_val(mask.as_slice());
            // SAFETY: `mask` is a live, writable buffer of exactly `bytes` bytes; the
            // kernel writes at most that many.
            let rc = unsafe {
                libc::syscall(libc::SYS_sched_getaffinity, tid, bytes, mask.as_mut_ptr())
            };
            if rc >= 0 {
                let cpus = mask
                    .iter()
                    .enumerate()
                    .flat_map(|(w, &word)| {
                        (0..WORD_BITS)
                            .filter(move |b| word & (1 << b) != 0)
                            .map(move |b| w * WORD_BITS + b)
                    })
                    .collect();
                return Ok(cpus);
            }
            let err = io::Error::last_os_error();
            // EINVAL: the buffer is smaller than the kernel's mask.
            if err.raw_os_error() == Some(libc::EINVAL) && n_words < (1 << 16) {
                n_words *= 2;
                continue;
            }
            return Err(err);
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = tid;
        let n = std::thread::available_parallelism().map_or(1, usize::from);
        Ok((0..n).collect())
    }
}

/// Parses a Linux cpulist such as `0-3,8,10-11` (also used for node lists).
pub(crate) fn parse_cpulist(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.trim().split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("bad cpu list {s:?}");
        match part.split_once('-') {
            Some((a, b)) => {
                let a: usize = a.parse().map_err(|_| bad())?;
                let b: usize = b.parse().map_err(|_| bad())?;
                if b < a {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Formats sorted-or-not CPU numbers compactly, in the given order, merging runs:
/// `[0,1,2,3,8]` -> `0-3,8`.
pub(crate) fn fmt_list(items: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < items.len() {
        let mut j = i;
        while j + 1 < items.len() && items[j + 1] == items[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if j >= i + 2 {
            out.push_str(&format!("{}-{}", items[i], items[j]));
        } else {
            out.push_str(&items[i].to_string());
            if j == i + 1 {
                out.push_str(&format!(",{}", items[j]));
            }
        }
        i = j + 1;
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpulist_round_trip() {
        assert_eq!(
            parse_cpulist("0-3,8,10-11\n").unwrap(),
            [0, 1, 2, 3, 8, 10, 11]
        );
        assert_eq!(parse_cpulist("").unwrap(), Vec::<usize>::new());
        assert!(parse_cpulist("3-1").is_err());
        assert!(parse_cpulist("a").is_err());
        assert_eq!(fmt_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10,11");
        assert_eq!(fmt_list(&[0, 2, 4, 6]), "0,2,4,6");
        assert_eq!(fmt_list(&[5]), "5");
        assert_eq!(fmt_list(&[]), "none");
    }

    #[test]
    fn process_mask_contains_thread_mask_of_unpinned_thread() {
        let thread = current_thread_cpus().unwrap();
        let process = process_cpus().unwrap();
        assert!(!thread.is_empty());
        assert_eq!(
            thread, process,
            "an unpinned test thread inherits the process mask"
        );
    }
}
