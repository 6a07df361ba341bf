//! The small I/O layer every durable-mode file operation goes through.
//!
//! [`FsStorage`] is the real one (std::fs, `fsync`, atomic rename). With the
//! `test-hooks` feature, this module is public and holds `SimStorage` too: an
//! in-memory file system for tests that models what survives a power loss (the
//! approach of SQLite's test VFS): bytes count as durable only once synced, a
//! simulated crash throws away everything else and may tear the last append, and
//! it can run out of space on demand.

#[cfg(feature = "test-hooks")]
mod sim;

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

#[cfg(feature = "test-hooks")]
pub use sim::SimStorage;

/// An append-only file (the write-ahead log).
pub trait LogFile: Send + Debug {
    /// Bytes in the file.
    fn len(&self) -> u64;
    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends `bytes` at the end (all of them, or an error).
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes every appended byte durable.
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file back to `len` bytes and makes that durable.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

/// File operations of a durable index, so tests can inject faults.
pub trait Storage: Send + Sync + Debug {
    /// Creates `dir` and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The whole file (`ErrorKind::NotFound` if missing).
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// File names in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Replaces `path` with `bytes` atomically and durably: write a temporary
    /// file, sync it, rename it over `path`, sync the directory.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Opens `path` for appending, creating it (durably) if missing.
    fn open_log(&self, path: &Path) -> io::Result<Box<dyn LogFile>>;
    /// Removes a file (and syncs its directory).
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `path` (created if missing) for as long as the
    /// returned guard lives; `ErrorKind::WouldBlock` if another holder has it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn Debug + Send + Sync>>;
}

/// How long [`FsStorage::lock`] retries a busy lock before giving up.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsStorage;

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

#[derive(Debug)]
struct FsLog {
    file: File,
    len: u64,
}

impl LogFile for FsLog {
    fn len(&self) -> u64 {
        self.len
    }
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let r = self.file.write_all(bytes);
        // On error the file may hold part of `bytes`: the caller truncates.
        if r.is_ok() {
            self.len += bytes.len() as u64;
        } else {
            self.len = self.file.metadata().map(|m| m.len()).unwrap_or(self.len);
        }
        r
    }
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.file.sync_all()?;
        self.len = len;
        Ok(())
    }
}

impl Storage for FsStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        sync_dir(parent(path))
    }
    fn open_log(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let existed = path.exists();
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        if !existed {
            file.sync_all()?;
            sync_dir(parent(path))?;
        }
        let len = file.metadata()?.len();
        Ok(Box::new(FsLog { file, len }))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)?;
        sync_dir(parent(path))
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn Debug + Send + Sync>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        // A lock can also be held for a moment by a child this process forks: it
        // inherits the descriptor until its exec closes it (close-on-exec). So a
        // busy lock is retried for a short while before it counts as another
        // process's (seen as flaky `Locked` errors while tests spawned children).
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Box::new(file)),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "another process has this index open for writing",
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
        }
    }
}
