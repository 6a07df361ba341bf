//! [`SimStorage`]: an in-memory file system that models power loss and full
//! disks, for tests (feature `test-hooks`).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{LogFile, Storage};

/// One simulated file: what a crash would leave, and what is there now.
#[derive(Clone, Debug, Default)]
struct SimFile {
    durable: Option<Vec<u8>>,
    current: Vec<u8>,
}

#[derive(Debug, Default)]
struct SimState {
    files: BTreeMap<PathBuf, SimFile>,
    locks: Vec<PathBuf>,
    /// Bytes that may still be written before appends fail with "no space".
    space_left: Option<u64>,
    /// After this many more appends, the next append writes a prefix and the
    /// machine "loses power" (every later operation fails until `crash`).
    appends_until_power_loss: Option<u64>,
    powered_off: bool,
    /// Seed of the tear lengths.
    rng: u64,
}

impl SimState {
    fn check_power(&self) -> io::Result<()> {
        if self.powered_off {
            Err(io::Error::other("simulated power loss"))
        } else {
            Ok(())
        }
    }
    fn next_rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}

/// An in-memory file system that models power loss and full disks (tests).
#[derive(Clone, Debug, Default)]
pub struct SimStorage {
    state: Arc<Mutex<SimState>>,
}

impl SimStorage {
    /// An empty file system; `seed` drives where crashes tear writes.
    pub fn new(seed: u64) -> Self {
        let s = SimStorage::default();
        s.lock_state().rng = seed | 1;
        s
    }

    fn lock_state(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After `n` more appends succeed, the next one writes a random prefix of
    /// its bytes and then power is lost: it and every later operation fail.
    pub fn power_loss_after_appends(&self, n: u64) {
        self.lock_state().appends_until_power_loss = Some(n);
    }

    /// Appends fail with "no space left" once `bytes` more have been written.
    pub fn set_space_left(&self, bytes: Option<u64>) {
        self.lock_state().space_left = bytes;
    }

    /// Reboots after a power loss: every byte that was not synced is gone (the
    /// unsynced tail of a log may survive in part, as torn sectors do), locks are
    /// released, and the file system works again.
    pub fn crash(&self) {
        let mut st = self.lock_state();
        let paths: Vec<PathBuf> = st.files.keys().cloned().collect();
        for p in paths {
            let keep_torn = st.next_rand().is_multiple_of(2);
            let cut = st.next_rand();
            let f = st.files.get_mut(&p).expect("listed");
            match f.durable.clone() {
                None => {
                    st.files.remove(&p);
                }
                Some(d) => {
                    let mut survived = d.clone();
                    // A torn tail: part of the unsynced appended bytes made it.
                    if keep_torn && f.current.len() > d.len() && f.current.starts_with(&d) {
                        let extra = f.current.len() - d.len();
                        let n = (cut % (extra as u64 + 1)) as usize;
                        survived.extend_from_slice(&f.current[d.len()..d.len() + n]);
                    }
                    f.current = survived.clone();
                    f.durable = Some(survived);
                }
            }
        }
        st.locks.clear();
        st.powered_off = false;
        st.appends_until_power_loss = None;
    }

    /// Flips one byte of a file (corruption tests).
    pub fn corrupt(&self, path: &Path, offset: usize) {
        let mut st = self.lock_state();
        if let Some(f) = st.files.get_mut(path) {
            if let Some(b) = f.current.get_mut(offset) {
                *b ^= 0x5A;
            }
            f.durable = Some(f.current.clone());
        }
    }

    /// The bytes of a file now (tests).
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        self.lock_state().files.get(path).map(|f| f.current.clone())
    }
}

#[derive(Debug)]
struct SimLog {
    fs: SimStorage,
    path: PathBuf,
}

/// The simulated file at `path` (`NotFound` once removed).
fn file_mut<'s>(st: &'s mut SimState, path: &Path) -> io::Result<&'s mut SimFile> {
    st.files
        .get_mut(path)
        .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
}

impl LogFile for SimLog {
    fn len(&self) -> u64 {
        self.fs
            .lock_state()
            .files
            .get(&self.path)
            .map_or(0, |f| f.current.len() as u64)
    }
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut st = self.fs.lock_state();
        st.check_power()?;
        let mut n = bytes.len();
        let mut result = Ok(());
        if let Some(left) = st.space_left {
            if (n as u64) > left {
                n = left as usize;
                result = Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "no space left on device (simulated)",
                ));
            }
            st.space_left = Some(left - n as u64);
        }
        match st.appends_until_power_loss {
            Some(0) => {
                n = (st.next_rand() % (n as u64 + 1)) as usize;
                st.powered_off = true;
                result = Err(io::Error::other("simulated power loss"));
            }
            Some(k) => st.appends_until_power_loss = Some(k - 1),
            None => {}
        }
        let f = file_mut(&mut st, &self.path)?;
        f.current.extend_from_slice(&bytes[..n]);
        result
    }
    fn sync(&mut self) -> io::Result<()> {
        let mut st = self.fs.lock_state();
        st.check_power()?;
        let f = file_mut(&mut st, &self.path)?;
        f.durable = Some(f.current.clone());
        Ok(())
    }
    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let mut st = self.fs.lock_state();
        st.check_power()?;
        let f = file_mut(&mut st, &self.path)?;
        f.current.truncate(len as usize);
        f.durable = Some(f.current.clone());
        Ok(())
    }
}

impl Storage for SimStorage {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        self.lock_state().check_power()
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let st = self.lock_state();
        st.check_power()?;
        st.files
            .get(path)
            .map(|f| f.current.clone())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{} not found", path.display()),
                )
            })
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.lock_state();
        st.check_power()?;
        Ok(st
            .files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut st = self.lock_state();
        st.check_power()?;
        if let Some(left) = st.space_left {
            if bytes.len() as u64 > left {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "no space left on device (simulated)",
                ));
            }
            st.space_left = Some(left - bytes.len() as u64);
        }
        st.files.insert(
            path.to_path_buf(),
            SimFile {
                durable: Some(bytes.to_vec()),
                current: bytes.to_vec(),
            },
        );
        Ok(())
    }
    fn open_log(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let mut st = self.lock_state();
        st.check_power()?;
        st.files
            .entry(path.to_path_buf())
            .or_insert_with(|| SimFile {
                durable: Some(Vec::new()),
                current: Vec::new(),
            });
        Ok(Box::new(SimLog {
            fs: self.clone(),
            path: path.to_path_buf(),
        }))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock_state();
        st.check_power()?;
        st.files
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn Debug + Send + Sync>> {
        let mut st = self.lock_state();
        st.check_power()?;
        if st.locks.iter().any(|p| p == path) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "locked (simulated)",
            ));
        }
        st.locks.push(path.to_path_buf());
        Ok(Box::new(SimLockGuard {
            fs: self.clone(),
            path: path.to_path_buf(),
        }))
    }
}

#[derive(Debug)]
struct SimLockGuard {
    fs: SimStorage,
    path: PathBuf,
}

impl Drop for SimLockGuard {
    fn drop(&mut self) {
        self.fs.lock_state().locks.retain(|p| p != &self.path);
    }
}
