//! The CLI's error type and its mapping to exit codes.
//!
//! Two kinds matter to scripts: bad input (exit 2, like clap's usage errors) and a
//! failure while running (exit 1). A broken stdout pipe is neither: the reader has
//! gone, so the program stops quietly with success.

use std::fmt;
use std::io;
use std::process::ExitCode;

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Bad input: an unknown or unsupported ISA, a bad option value, an unwritable
    /// output path. Exit code 2.
    Usage(String),
    /// A failure while running (I/O, a kernel error). Exit code 1.
    Runtime(String),
    /// stdout was closed by its reader: stop quietly, exit code 0.
    BrokenPipe,
}

impl CliError {
    /// Prints the message (if any) to stderr and returns the exit code.
    pub(crate) fn report(&self) -> std::process::ExitCode {
        match self {
            CliError::Usage(msg) => {
                eprintln!("sagevec: error: {msg}");
                ExitCode::from(2)
            }
            CliError::Runtime(msg) => {
                eprintln!("sagevec: error: {msg}");
                ExitCode::from(1)
            }
            CliError::BrokenPipe => ExitCode::SUCCESS,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(msg) | CliError::Runtime(msg) => f.write_str(msg),
            CliError::BrokenPipe => f.write_str("broken pipe"),
        }
    }
}

impl From<io::Error> for CliError {
    fn from(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Runtime(format!("writing output: {err}"))
        }
    }
}

impl From<sagevec_kernels::KernelError> for CliError {
    fn from(err: sagevec_kernels::KernelError) -> Self {
        CliError::Runtime(format!("kernel call failed: {err}"))
    }
}
