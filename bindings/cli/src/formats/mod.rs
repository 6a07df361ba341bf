//! Readers and writers for the data files the CLI takes: base vectors, queries,
//! and ground-truth neighbour ids.
//!
//! The format comes from the extension ([`Format::from_path`]):
//!
//! - **`.npy`** (numpy's `np.save`, versions 1.0, 2.0, 3.0): `\x93NUMPY`, a
//!   version, a header length, a Python dict literal such as
//!   `{'descr': '<f4', 'fortran_order': False, 'shape': (20000, 784), }`, then the
//!   elements in C order. Vectors are a 2-D `(rows, dim)` array of `<f4`, `<f2`,
//!   `<f8`, `|i1` or `|u1`, converted to `f32` (`<f8` rounds to nearest, and
//!   magnitudes beyond `f32::MAX` become ±inf); ids are a 1-D `(n,)` (one column)
//!   or 2-D `(n, k)` array of `<i4`, `<i8`, `<u4` or `<u8`, converted to `i64`.
//!   Refused: another magic or version, a header that is not a dict with exactly
//!   the keys `descr`, `fortran_order`, `shape`, Fortran order, big-endian or
//!   native-order multi-byte dtypes (not byte-swapped: save with
//!   `a.astype('<f4')`), structured dtypes, vectors of dimension 0, data shorter
//!   than the shape needs (the error names the row it stops in), and bytes after
//!   the data. Zero rows is a valid, empty matrix.
//! - **`.fvecs` / `.ivecs` / `.bvecs`** (TEXMEX): each row is a little-endian
//!   `i32` dimension `d` then `d` values (`f32` / `i32` / `u8`). Refused, naming
//!   the row: a dimension ≤ 0 or over [`MAX_VECS_DIM`], a dimension other than
//!   row 0's (ragged), and a file ending inside a row. An empty file is an empty
//!   id matrix, but an error for vectors (no row gives the dimension). `.ivecs`
//!   holds ids, so [`read_vectors`] refuses it and [`read_ids`] takes only it and
//!   `.npy`.
//!
//! Non-finite values (NaN, ±inf) in vectors are read as they are, not refused:
//! the index checks its input and reports them with its own error. Negative ids
//! are read as they are too (some ground-truth files pad with -1).
//!
//! Files are read in 1 MiB chunks and converted chunk by chunk; when the file
//! size is known, the `.npy` size is checked against the header before anything
//! is allocated. The writers produce `.npy` (`<f4` vectors, `<i8` ids, with the
//! header byte for byte as `np.save` writes it), `.fvecs` and `.ivecs`.
//!
//! ```
//! use sagevec_cli::formats::{Format, Matrix, read_vectors, write_vectors};
//!
//! let path = std::env::temp_dir().join(format!("sagevec-doc-{}.npy", std::process::id()));
//! let m = Matrix { rows: 2, dim: 3, data: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0] };
//! write_vectors(&path, &m, Format::Npy)?;
//! let back = read_vectors(&path)?;
//! assert_eq!(back.row(1), &[3.0, 4.0, 5.0]);
//! std::fs::remove_file(&path).ok();
//! # Ok::<(), sagevec_cli::formats::FormatError>(())
//! ```

mod error;
mod npy;
#[cfg(test)]
mod proptests;
mod stream;
mod vecs;

use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

pub use self::error::{FormatError, FormatErrorKind};
use self::stream::CHUNK_BYTES;

/// The largest row dimension a `*vecs` file may declare (2^20): past it, the
/// prefix is almost surely garbage (a wrong file or a misaligned row), not data.
pub const MAX_VECS_DIM: usize = 1 << 20;

/// A dense row-major `f32` matrix read from a file: `data.len() == rows * dim`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Matrix {
    /// Number of vectors.
    pub rows: usize,
    /// Values per vector.
    pub dim: usize,
    /// The values, row after row.
    pub data: Vec<f32>,
}

impl Matrix {
    /// Row `i`, the `dim` values of vector `i`.
    ///
    /// # Panics
    /// If `i >= rows` (or `data` is shorter than `rows * dim`).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// A dense row-major `i64` matrix of ids (ground-truth neighbours, labels):
/// `data.len() == rows * cols`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdMatrix {
    /// Number of rows (queries, for ground truth).
    pub rows: usize,
    /// Ids per row (k, for ground truth; 1 for a 1-D `.npy`).
    pub cols: usize,
    /// The ids, row after row.
    pub data: Vec<i64>,
}

impl IdMatrix {
    /// Row `i`, its `cols` ids.
    ///
    /// # Panics
    /// If `i >= rows` (or `data` is shorter than `rows * cols`).
    pub fn row(&self, i: usize) -> &[i64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// A data-file format, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// numpy `.npy`: vectors or ids, by dtype.
    Npy,
    /// `.fvecs`: rows of `f32` vectors.
    Fvecs,
    /// `.ivecs`: rows of `i32` ids.
    Ivecs,
    /// `.bvecs`: rows of `u8` vectors.
    Bvecs,
}

impl Format {
    /// The format of `path` from its extension (`.npy`, `.fvecs`, `.ivecs`,
    /// `.bvecs`, any case); anything else is an error naming the file.
    pub fn from_path(path: &Path) -> Result<Format, FormatError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext.to_ascii_lowercase().as_str() {
            "npy" => Ok(Format::Npy),
            "fvecs" => Ok(Format::Fvecs),
            "ivecs" => Ok(Format::Ivecs),
            "bvecs" => Ok(Format::Bvecs),
            _ => {
                let found = if ext.is_empty() {
                    "no extension".to_string()
                } else {
                    format!("extension '.{ext}'")
                };
                Err(FormatError::new(
                    path,
                    FormatErrorKind::UnknownExtension,
                    format!(
                        "unknown data format ({found}); supported: .npy, .fvecs, .ivecs, .bvecs"
                    ),
                ))
            }
        }
    }

    /// The extension without the dot: `"npy"`, `"fvecs"`, ...
    pub fn extension(self) -> &'static str {
        match self {
            Format::Npy => "npy",
            Format::Fvecs => "fvecs",
            Format::Ivecs => "ivecs",
            Format::Bvecs => "bvecs",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// Opens `path` for buffered reading; also returns its size when it is a regular
/// file (for the size checks), `None` for a pipe or device.
fn open(path: &Path) -> Result<(BufReader<File>, Option<u64>), FormatError> {
    let file = File::open(path).map_err(|e| FormatError::io(path, "cannot open", e))?;
    let len = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    Ok((BufReader::with_capacity(CHUNK_BYTES, file), len))
}

/// Creates `path` and runs `write` on a buffered writer, then flushes.
fn create(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), FormatError> {
    let file = File::create(path).map_err(|e| FormatError::io(path, "cannot create", e))?;
    let mut w = BufWriter::with_capacity(CHUNK_BYTES, file);
    write(&mut w)
        .and_then(|()| w.flush())
        .map_err(|e| FormatError::io(path, "writing", e))
}

/// Reads a vectors file (`.npy`, `.fvecs`, `.bvecs`) into an `f32` matrix, every
/// row checked; NaN and ±inf are kept (see the module docs).
pub fn read_vectors(path: &Path) -> Result<Matrix, FormatError> {
    read_vectors_with_limit(path, None)
}

/// [`read_vectors`] that stops after `max_rows` rows when given, for a quick look
/// at a big file. An `.npy` file's total size is still checked against its header
/// (that costs nothing); `*vecs` rows past the limit are not read.
pub fn read_vectors_with_limit(
    path: &Path,
    max_rows: Option<usize>,
) -> Result<Matrix, FormatError> {
    match Format::from_path(path)? {
        Format::Npy => {
            let (mut r, len) = open(path)?;
            npy::read_vectors(&mut r, path, len, max_rows)
        }
        Format::Fvecs => {
            let (mut r, len) = open(path)?;
            vecs::read_fvecs(&mut r, path, len, max_rows)
        }
        Format::Bvecs => {
            let (mut r, len) = open(path)?;
            vecs::read_bvecs(&mut r, path, len, max_rows)
        }
        Format::Ivecs => Err(FormatError::new(
            path,
            FormatErrorKind::WrongFormat,
            ".ivecs holds integer ids, not vectors (vectors: .npy, .fvecs, .bvecs)",
        )),
    }
}

/// Reads an ids file (`.npy` of `<i4`/`<i8`/`<u4`/`<u8`, 1-D or 2-D, or
/// `.ivecs`) into an `i64` matrix, every row checked.
pub fn read_ids(path: &Path) -> Result<IdMatrix, FormatError> {
    match Format::from_path(path)? {
        Format::Npy => {
            let (mut r, len) = open(path)?;
            npy::read_ids(&mut r, path, len)
        }
        Format::Ivecs => {
            let (mut r, len) = open(path)?;
            vecs::read_ivecs(&mut r, path, len)
        }
        f @ (Format::Fvecs | Format::Bvecs) => Err(FormatError::new(
            path,
            FormatErrorKind::WrongFormat,
            format!(".{f} holds vectors, not ids (ids: .npy, .ivecs)"),
        )),
    }
}

/// Checks `len == rows * cols` for a writer, before the file is created.
fn check_len(path: &Path, rows: usize, cols: usize, len: usize) -> Result<(), FormatError> {
    if rows.checked_mul(cols) == Some(len) {
        Ok(())
    } else {
        Err(FormatError::new(
            path,
            FormatErrorKind::BadShape,
            format!("matrix holds {len} values, but rows × columns is {rows} × {cols}"),
        ))
    }
}

/// Writes `m` to `path` as `.npy` (`<f4`, numpy's own header) or `.fvecs`,
/// whatever the path's extension. Checks first (so a bad matrix leaves any
/// existing file alone): `data.len() == rows * dim`, `dim > 0`, and for `.fvecs`
/// `dim <= MAX_VECS_DIM`.
pub fn write_vectors(path: &Path, m: &Matrix, format: Format) -> Result<(), FormatError> {
    check_len(path, m.rows, m.dim, m.data.len())?;
    if m.dim == 0 {
        return Err(FormatError::new(
            path,
            FormatErrorKind::BadShape,
            "vectors of dimension 0 cannot be written (they could not be read back)",
        ));
    }
    match format {
        Format::Npy => create(path, |w| npy::write_vectors(w, m)),
        Format::Fvecs => {
            check_vecs_dim(path, m.dim)?;
            create(path, |w| vecs::write_fvecs(w, m))
        }
        Format::Ivecs | Format::Bvecs => Err(FormatError::new(
            path,
            FormatErrorKind::WrongFormat,
            format!("vectors are written as .npy or .fvecs, not .{format}"),
        )),
    }
}

fn check_vecs_dim(path: &Path, dim: usize) -> Result<(), FormatError> {
    if dim > MAX_VECS_DIM {
        return Err(FormatError::new(
            path,
            FormatErrorKind::BadDimension,
            format!("dimension {dim} is over the *vecs limit of {MAX_VECS_DIM}"),
        ));
    }
    Ok(())
}

/// Writes `m` to `path` as `.npy` (`<i8`, i.e. int64, numpy's own header) or
/// `.ivecs`, whatever the path's extension. Checks first: `data.len() == rows *
/// cols`, `cols > 0` when there are rows, and for `.ivecs` that every id fits in
/// `i32` (the error names the first row that does not).
pub fn write_ids(path: &Path, m: &IdMatrix, format: Format) -> Result<(), FormatError> {
    check_len(path, m.rows, m.cols, m.data.len())?;
    if m.cols == 0 && m.rows > 0 {
        return Err(FormatError::new(
            path,
            FormatErrorKind::BadShape,
            "rows of 0 ids cannot be written",
        ));
    }
    match format {
        Format::Npy => create(path, |w| npy::write_ids(w, m)),
        Format::Ivecs => {
            check_vecs_dim(path, m.cols)?;
            if let Some(i) = m.data.iter().position(|&x| i32::try_from(x).is_err()) {
                return Err(FormatError::at_row(
                    path,
                    i / m.cols,
                    FormatErrorKind::IdOutOfRange,
                    format!(
                        "id {} in column {} does not fit the 32-bit ids of .ivecs",
                        m.data[i],
                        i % m.cols
                    ),
                ));
            }
            create(path, |w| vecs::write_ivecs(w, m))
        }
        Format::Fvecs | Format::Bvecs => Err(FormatError::new(
            path,
            FormatErrorKind::WrongFormat,
            format!("ids are written as .npy or .ivecs, not .{format}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_extension() {
        let f = |p: &str| Format::from_path(Path::new(p));
        assert_eq!(f("a/b.npy").unwrap(), Format::Npy);
        assert_eq!(f("B.FVECS").unwrap(), Format::Fvecs);
        assert_eq!(f("x.tar.ivecs").unwrap(), Format::Ivecs);
        assert_eq!(f("sift.bvecs").unwrap(), Format::Bvecs);
        for bad in ["base.npz", "base", "base.", ".npy", "dir.npy/x.csv"] {
            let e = f(bad).unwrap_err();
            assert_eq!(e.kind(), FormatErrorKind::UnknownExtension, "{bad}");
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("{bad}: ")), "{msg}");
            assert!(msg.contains(".npy, .fvecs, .ivecs, .bvecs"), "{msg}");
        }
        for f in [Format::Npy, Format::Fvecs, Format::Ivecs, Format::Bvecs] {
            let p = format!("x.{f}");
            assert_eq!(Format::from_path(Path::new(&p)).unwrap(), f);
        }
    }

    #[test]
    fn rows_slice_the_data() {
        let m = Matrix {
            rows: 2,
            dim: 2,
            data: vec![1.0, 2.0, 3.0, 4.0],
        };
        assert_eq!(m.row(1), &[3.0, 4.0]);
        let ids = IdMatrix {
            rows: 2,
            cols: 1,
            data: vec![5, 6],
        };
        assert_eq!(ids.row(0), &[5]);
    }
}
