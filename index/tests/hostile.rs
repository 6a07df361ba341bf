//! Hostile files: every file a durable index writes (manifest, log, row blocks,
//! links, and the format-1 segment files and manifest still read) is given
//! truncations, flipped bits and arbitrary bytes. Opening must answer with an
//! error naming the damaged file (or, for a log's last record, recover without
//! it), never panic or hang, and never allocate more than the files justify
//! (checked by a counting global allocator).
//!
//! `PROPTEST_CASES` scales the random cases (default 64 per file and kind).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use proptest::prelude::*;
use sagevec_index::{Durability, Index, IndexConfig, IndexError, Metadata, Value};
use sagevec_kernels::Metric;

/// The largest single allocation made while `TRACKING` is on.
struct Counting;
static TRACKING: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only records
// the size asked for.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if TRACKING.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if TRACKING.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if TRACKING.load(Ordering::Relaxed) {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const DIM: usize = 8;

fn config() -> IndexConfig {
    let mut c = IndexConfig::new(DIM, Metric::L2Sq);
    c.graph.ef_construction = 32;
    c.durability = Durability::EveryWrite;
    c
}

fn vector(i: u64) -> Vec<f32> {
    (0..DIM as u64)
        .map(|j| ((i * 31 + j * 7) % 97) as f32 / 10.0)
        .collect()
}

/// A durable directory with every file kind: a checkpoint (row blocks, links,
/// manifest) of adds, metadata and removes, and a log holding more writes.
fn make_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let index = Index::open(dir, config()).unwrap();
    let ids: Vec<u64> = (0..200).collect();
    let rows: Vec<f32> = ids.iter().flat_map(|&i| vector(i)).collect();
    let meta: Vec<Option<Metadata>> = ids
        .iter()
        .map(|&i| {
            (i % 3 == 0).then(|| {
                let mut m = Metadata::new();
                m.insert("k".into(), Value::Int(i as i64));
                m.insert("s".into(), Value::Str(format!("v{i}")));
                m
            })
        })
        .collect();
    index.add_batch(Some(&ids), &rows, Some(meta)).unwrap();
    index.remove(&[3, 4, 5]).unwrap();
    index.checkpoint().unwrap();
    for i in 500..510u64 {
        index.add(Some(i), &vector(i), None).unwrap();
    }
    index.remove(&[6]).unwrap();
    index.abandon();
}

fn fixture_v1() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1")
}

/// Every file of `dir` (the lock aside).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "LOCK")
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A scratch copy of `files` with `name` replaced by `bytes`.
fn with_file(scratch: &Path, files: &[(String, Vec<u8>)], name: &str, bytes: &[u8]) {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).unwrap();
    for (n, b) in files {
        std::fs::write(scratch.join(n), if n == name { bytes } else { b }).unwrap();
    }
}

/// Opens the scratch directory read-only (no lock, nothing written) and checks the
/// answer: an error naming `name`, or (a log only) a recovery, and in both cases
/// no allocation beyond what the files justify.
fn check_open(scratch: &Path, files: &[(String, Vec<u8>)], name: &str, dim: usize) {
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    // A fixed allowance (the kernels, one chunk of slots, thread stacks) plus a
    // multiple of the bytes on disk.
    let bound = (16 << 20) + 64 * total;
    LARGEST.store(0, Ordering::Relaxed);
    TRACKING.store(true, Ordering::Relaxed);
    let opened = Index::open_read_only(scratch, IndexConfig::new(dim, Metric::L2Sq));
    TRACKING.store(false, Ordering::Relaxed);
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= bound,
        "{name}: an allocation of {largest} bytes for {total} bytes of files"
    );
    match opened {
        Ok(index) => {
            assert!(
                name.starts_with("wal-"),
                "{name}: damage went unnoticed (opened with {} rows)",
                index.len()
            );
        }
        Err(IndexError::Corrupt { path, .. })
        | Err(IndexError::Io { path, .. })
        | Err(IndexError::UnsupportedFormat { path, .. })
        | Err(IndexError::ConfigMismatch { path, .. }) => {
            assert!(
                path.ends_with(name) || path.ends_with("MANIFEST") || Path::new(&path) == scratch,
                "{name}: the error names {path}"
            );
        }
        Err(e) => panic!("{name}: unexpected error {e:?}"),
    }
}

fn scratch(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sagevec-hostile-{tag}-{}", std::process::id()))
}

/// Every truncation near both ends and every 17th in between, for every file.
fn truncations(tag: &str, dir: &Path, dim: usize) {
    let all = files(dir);
    let s = scratch(tag);
    for (name, bytes) in &all {
        let n = bytes.len();
        let cuts = (0..n).filter(|&c| c < 48 || c + 48 >= n || c % 17 == 0);
        for cut in cuts {
            with_file(&s, &all, name, &bytes[..cut]);
            check_open(&s, &all, name, dim);
        }
    }
    let _ = std::fs::remove_dir_all(&s);
}

#[test]
fn every_truncation_of_every_file_is_an_error_or_a_torn_log_tail() {
    let dir = scratch("src-trunc");
    make_dir(&dir);
    truncations("trunc", &dir, DIM);
    let _ = std::fs::remove_dir_all(&dir);
    truncations("trunc-v1", &fixture_v1(), 8);
}

fn flips_and_noise(tag: &'static str, dir: PathBuf, dim: usize) {
    let all = files(&dir);
    let s = scratch(tag);
    let names: Vec<String> = all.iter().map(|(n, _)| n.clone()).collect();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64u32);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases * names.len() as u32,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (
        0..names.len(),
        any::<u64>(),
        prop::collection::vec(any::<u8>(), 0..2048),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(f, at, noise, flip)| {
            let (name, bytes) = &all[f];
            let damaged = if flip && !bytes.is_empty() {
                // One flipped bit somewhere in the file.
                let mut b = bytes.clone();
                let bit = (at % (b.len() as u64 * 8)) as usize;
                b[bit / 8] ^= 1 << (bit % 8);
                b
            } else if flip {
                noise
            } else {
                // Arbitrary bytes, after the file's own first 12 (magic and version)
                // half the time, so decoders get past the header.
                let mut b = if at % 2 == 0 {
                    bytes[..bytes.len().min(12)].to_vec()
                } else {
                    Vec::new()
                };
                b.extend_from_slice(&noise);
                b
            };
            with_file(&s, &all, name, &damaged);
            check_open(&s, &all, name, dim);
            Ok(())
        })
        .unwrap();
    let _ = std::fs::remove_dir_all(&s);
}

#[test]
fn flipped_bits_and_arbitrary_bytes_in_every_file_are_errors() {
    let dir = scratch("src-flip");
    make_dir(&dir);
    flips_and_noise("flip", dir.clone(), DIM);
    let _ = std::fs::remove_dir_all(&dir);
    flips_and_noise("flip-v1", fixture_v1(), 8);
}

#[test]
fn the_undamaged_files_open() {
    let dir = scratch("src-ok");
    make_dir(&dir);
    let index = Index::open_read_only(&dir, config()).unwrap();
    assert_eq!(index.len(), 200 - 3 + 10 - 1);
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
}
