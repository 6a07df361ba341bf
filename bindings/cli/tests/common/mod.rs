//! What the CLI's end-to-end test files share: temporary directories and
//! running the `sagevec` binary as a user would.

#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;
use std::process::{Command, Output};

/// A directory removed when the test ends.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory, unique to this process, test name and moment.
    pub(crate) fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "sagevec-cli-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// `name` inside the directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// `name` inside the directory, as a command-line argument.
    pub(crate) fn arg(&self, name: &str) -> String {
        self.path(name)
            .to_str()
            .expect("UTF-8 temp path")
            .to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `sagevec args` with the ISA chosen automatically and two workers.
pub(crate) fn sagevec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sagevec"))
        .args(args)
        .env_remove("SAGEVEC_ISA")
        .env("SAGEVEC_NUM_THREADS", "2")
        .output()
        .expect("the sagevec binary runs")
}

/// Output bytes as text.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed and returns its stdout.
pub(crate) fn ok(args: &[&str]) -> String {
    let o = sagevec(args);
    assert!(
        o.status.success(),
        "sagevec {args:?} failed ({:?}):\n{}",
        o.status.code(),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Runs a command that must fail with exit code 2 and returns its stderr.
pub(crate) fn usage_error(args: &[&str]) -> String {
    let o = sagevec(args);
    let err = text(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(2),
        "sagevec {args:?}: expected exit 2, stdout:\n{}\nstderr:\n{err}",
        text(&o.stdout)
    );
    assert!(err.contains("error"), "{err}");
    err
}
