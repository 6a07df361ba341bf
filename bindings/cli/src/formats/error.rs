//! The one error type of the data-file readers and writers.
//!
//! Every error names the file, says what was wrong, and carries the row (counted
//! from 0) where there is one, so a message alone is enough to find the bad bytes:
//! `data/base.fvecs: row 17: dimension 0 (must be 1..=1048576)`. Callers and tests
//! match on [`FormatError::kind`] rather than on message text.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What went wrong, for callers and tests that branch on the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FormatErrorKind {
    /// Opening, reading or writing the file failed; [`Error::source`] is the
    /// `io::Error`.
    Io,
    /// The extension is not one of `.npy`, `.fvecs`, `.ivecs`, `.bvecs`.
    UnknownExtension,
    /// The format does not hold this kind of data: `.ivecs` read as vectors,
    /// `.fvecs`/`.bvecs` read as ids, or a writer asked for a format it cannot
    /// write.
    WrongFormat,
    /// An `.npy` file does not start with `\x93NUMPY`.
    BadMagic,
    /// An `.npy` format version other than 1.0, 2.0 or 3.0.
    UnsupportedVersion,
    /// The `.npy` header is not the Python dict literal numpy writes, or lacks
    /// (or adds) a key.
    BadHeader,
    /// An element type this reader does not convert (including big-endian).
    UnsupportedDtype,
    /// An `.npy` array stored in Fortran (column-major) order.
    FortranOrder,
    /// An unusable shape: not 2-D (ids: 1-D or 2-D), a zero dimension, a size that
    /// overflows, or a matrix whose `data.len()` is not `rows * dim`.
    BadShape,
    /// A `*vecs` row whose dimension prefix is ≤ 0 or larger than
    /// [`MAX_VECS_DIM`](super::MAX_VECS_DIM).
    BadDimension,
    /// A `*vecs` row whose dimension differs from the first row's.
    Ragged,
    /// The file ends before the data its header (or row prefix) promises.
    Truncated,
    /// Bytes follow the last element an `.npy` header accounts for.
    TrailingBytes,
    /// A vectors file with no rows, so the dimension is unknown.
    NoRows,
    /// An id that does not fit the target type: a `uint64` above `i64::MAX` when
    /// reading, an id outside `i32` when writing `.ivecs`.
    IdOutOfRange,
}

/// A data-file error: the file, the cause ([`FormatErrorKind`]), the row when
/// there is one, and a message that says what was found and what was expected.
#[derive(Debug)]
pub struct FormatError {
    path: PathBuf,
    kind: FormatErrorKind,
    row: Option<usize>,
    detail: String,
    source: Option<io::Error>,
}

impl FormatError {
    /// An error about `path` with no row.
    pub(crate) fn new(path: &Path, kind: FormatErrorKind, detail: impl Into<String>) -> Self {
        FormatError {
            path: path.to_path_buf(),
            kind,
            row: None,
            detail: detail.into(),
            source: None,
        }
    }

    /// An error about row `row` (from 0) of `path`.
    pub(crate) fn at_row(
        path: &Path,
        row: usize,
        kind: FormatErrorKind,
        detail: impl Into<String>,
    ) -> Self {
        FormatError {
            row: Some(row),
            ..FormatError::new(path, kind, detail)
        }
    }

    /// An I/O failure while `doing` something (for example "reading") with `path`.
    pub(crate) fn io(path: &Path, doing: &str, err: io::Error) -> Self {
        FormatError {
            source: Some(err),
            ..FormatError::new(path, FormatErrorKind::Io, doing)
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cause, to branch on.
    pub fn kind(&self) -> FormatErrorKind {
        self.kind
    }

    /// The row (counted from 0) the error is in, when it is about one row.
    pub fn row(&self) -> Option<usize> {
        self.row
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path.display())?;
        if let Some(row) = self.row {
            write!(f, "row {row}: ")?;
        }
        f.write_str(&self.detail)?;
        if let Some(err) = &self.source {
            write!(f, ": {err}")?;
        }
        Ok(())
    }
}

impl Error for FormatError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_file_row_and_cause() {
        let e = FormatError::at_row(
            Path::new("d/x.fvecs"),
            17,
            FormatErrorKind::Ragged,
            "dimension 3 but row 0 has 4",
        );
        assert_eq!(
            e.to_string(),
            "d/x.fvecs: row 17: dimension 3 but row 0 has 4"
        );
        assert_eq!(e.row(), Some(17));
        assert_eq!(e.path(), Path::new("d/x.fvecs"));
        assert!(e.source().is_none());
    }

    #[test]
    fn io_error_keeps_its_source() {
        let err = io::Error::new(io::ErrorKind::NotFound, "gone");
        let e = FormatError::io(Path::new("a.npy"), "cannot open", err);
        assert_eq!(e.kind(), FormatErrorKind::Io);
        assert_eq!(e.to_string(), "a.npy: cannot open: gone");
        assert!(e.source().is_some());
    }
}
