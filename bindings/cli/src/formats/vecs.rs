//! The `.fvecs` / `.ivecs` / `.bvecs` row formats (the INRIA TEXMEX corpora:
//! SIFT1M, GIST1M, BIGANN).
//!
//! Each row is a little-endian `i32` dimension `d`, then `d` values: `f32`,
//! `i32` or `u8`. There is no file header, so the rows are read one by one and
//! checked as they come: the dimension must be in `1..=MAX_VECS_DIM` and equal to
//! row 0's, and the file must not end inside a row. With a row limit, nothing
//! after the last row wanted is read (except, with a limit of 0, row 0's
//! dimension prefix, which gives the matrix its `dim`).

use std::io::{self, Read, Write};
use std::path::Path;

use super::error::{FormatError, FormatErrorKind as Kind};
use super::stream::{decode_into, read_full, write_encoded};
use super::{IdMatrix, MAX_VECS_DIM, Matrix};

/// Rows read from a `*vecs` file, before the caller decides what no rows means.
struct Rows<T> {
    rows: usize,
    dim: Option<usize>,
    data: Vec<T>,
}

/// Reads rows of `N`-byte elements decoded with `f`, up to `max_rows` if given.
/// `file_len`, when known, sizes the output once instead of growing it.
fn read_rows<R: Read, const N: usize, T>(
    r: &mut R,
    path: &Path,
    file_len: Option<u64>,
    max_rows: Option<usize>,
    f: impl Fn([u8; N]) -> T,
) -> Result<Rows<T>, FormatError> {
    let io_err = |e| FormatError::io(path, "reading", e);
    let reached = |rows: usize| max_rows.is_some_and(|m| rows >= m);
    let mut out = Rows {
        rows: 0,
        dim: None,
        data: Vec::new(),
    };
    let mut row_buf = Vec::new();
    loop {
        if out.dim.is_some() && reached(out.rows) {
            break;
        }
        let mut prefix = [0u8; 4];
        let got = read_full(r, &mut prefix).map_err(io_err)?;
        if got == 0 {
            break;
        }
        let row = out.rows;
        if got < 4 {
            return Err(FormatError::at_row(
                path,
                row,
                Kind::Truncated,
                format!("file ends inside the 4-byte dimension prefix ({got} bytes)"),
            ));
        }
        let d = i32::from_le_bytes(prefix);
        let d = match usize::try_from(d) {
            Ok(d) if (1..=MAX_VECS_DIM).contains(&d) => d,
            _ => {
                return Err(FormatError::at_row(
                    path,
                    row,
                    Kind::BadDimension,
                    format!("dimension {d} (must be 1..={MAX_VECS_DIM})"),
                ));
            }
        };
        match out.dim {
            None => {
                out.dim = Some(d);
                row_buf = vec![0u8; d * N];
                let row_len = 4 + (d * N) as u64;
                let est_rows =
                    file_len.map_or(1, |len| usize::try_from(len / row_len).unwrap_or(1));
                let est_rows = max_rows.map_or(est_rows, |m| m.min(est_rows));
                out.data.reserve(est_rows.saturating_mul(d));
            }
            Some(d0) if d0 != d => {
                return Err(FormatError::at_row(
                    path,
                    row,
                    Kind::Ragged,
                    format!("dimension {d}, but row 0 has dimension {d0}"),
                ));
            }
            Some(_) => {}
        }
        if reached(out.rows) {
            break;
        }
        let got = read_full(r, &mut row_buf).map_err(io_err)?;
        if got < row_buf.len() {
            return Err(FormatError::at_row(
                path,
                row,
                Kind::Truncated,
                format!(
                    "file ends inside this row ({got} of its {} value bytes)",
                    row_buf.len()
                ),
            ));
        }
        decode_into(&row_buf, &mut out.data, &f);
        out.rows += 1;
    }
    Ok(out)
}

/// Vectors need a row to know their dimension.
fn into_matrix(path: &Path, rows: Rows<f32>, ext: &str) -> Result<Matrix, FormatError> {
    match rows.dim {
        Some(dim) => Ok(Matrix {
            rows: rows.rows,
            dim,
            data: rows.data,
        }),
        None => Err(FormatError::new(
            path,
            Kind::NoRows,
            format!("no rows: the dimension of an empty .{ext} file is unknown"),
        )),
    }
}

/// Reads an `.fvecs` file (rows of `f32`).
pub(crate) fn read_fvecs<R: Read>(
    r: &mut R,
    path: &Path,
    file_len: Option<u64>,
    max_rows: Option<usize>,
) -> Result<Matrix, FormatError> {
    let rows = read_rows(r, path, file_len, max_rows, f32::from_le_bytes)?;
    into_matrix(path, rows, "fvecs")
}

/// Reads a `.bvecs` file (rows of `u8`), converting each value to `f32`.
pub(crate) fn read_bvecs<R: Read>(
    r: &mut R,
    path: &Path,
    file_len: Option<u64>,
    max_rows: Option<usize>,
) -> Result<Matrix, FormatError> {
    let rows = read_rows(r, path, file_len, max_rows, |[b]| f32::from(b))?;
    into_matrix(path, rows, "bvecs")
}

/// Reads an `.ivecs` file (rows of `i32`) as ids; an empty file is an empty
/// matrix with 0 columns.
pub(crate) fn read_ivecs<R: Read>(
    r: &mut R,
    path: &Path,
    file_len: Option<u64>,
) -> Result<IdMatrix, FormatError> {
    let rows = read_rows(r, path, file_len, None, |b| {
        i64::from(i32::from_le_bytes(b))
    })?;
    Ok(IdMatrix {
        rows: rows.rows,
        cols: rows.dim.unwrap_or(0),
        data: rows.data,
    })
}

/// Writes each row as its dimension then its values. The caller has checked the
/// shape, that `cols` is in `1..=MAX_VECS_DIM`, and that every value encodes.
fn write_rows<W: Write, const N: usize, T: Copy>(
    w: &mut W,
    rows: usize,
    cols: usize,
    data: &[T],
    f: impl Fn(T) -> [u8; N] + Copy,
) -> io::Result<()> {
    if rows == 0 {
        return Ok(());
    }
    // cols <= MAX_VECS_DIM, checked by the caller.
    let prefix = i32::try_from(cols).unwrap_or(i32::MAX).to_le_bytes();
    for row in data.chunks_exact(cols) {
        w.write_all(&prefix)?;
        write_encoded(w, row, f)?;
    }
    Ok(())
}

/// Writes `m` as `.fvecs`. The caller has checked the shape and dimension.
pub(crate) fn write_fvecs<W: Write>(w: &mut W, m: &Matrix) -> io::Result<()> {
    write_rows(w, m.rows, m.dim, &m.data, f32::to_le_bytes)
}

/// Writes `m` as `.ivecs`. The caller has checked the shape, the dimension, and
/// that every id fits in `i32`.
pub(crate) fn write_ivecs<W: Write>(w: &mut W, m: &IdMatrix) -> io::Result<()> {
    write_rows(w, m.rows, m.cols, &m.data, |x: i64| {
        i32::try_from(x).unwrap_or(i32::MAX).to_le_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "t.fvecs";

    /// A `*vecs` file from (dimension prefix, value bytes) per row.
    fn file(rows: &[(i32, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (d, vals) in rows {
            out.extend_from_slice(&d.to_le_bytes());
            out.extend_from_slice(vals);
        }
        out
    }

    /// A matrix with its values as bits, so NaN compares equal to itself.
    fn bits(m: &Matrix) -> (usize, usize, Vec<u32>) {
        (m.rows, m.dim, m.data.iter().map(|x| x.to_bits()).collect())
    }

    fn f32_row(vals: &[f32]) -> (i32, Vec<u8>) {
        (
            vals.len() as i32,
            vals.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    fn fvecs(bytes: &[u8], max_rows: Option<usize>) -> Result<Matrix, FormatError> {
        let path = Path::new(P);
        let a = read_fvecs(&mut &bytes[..], path, None, max_rows);
        let b = read_fvecs(&mut &bytes[..], path, Some(bytes.len() as u64), max_rows);
        match (&a, &b) {
            (Ok(x), Ok(y)) => assert_eq!(bits(x), bits(y)),
            (Err(x), Err(y)) => assert_eq!((x.kind(), x.row()), (y.kind(), y.row())),
            _ => panic!("{a:?} vs {b:?}"),
        }
        b
    }

    fn err(bytes: &[u8]) -> FormatError {
        fvecs(bytes, None).unwrap_err()
    }

    #[test]
    fn reads_rows_and_limits() {
        let bytes = file(&[
            f32_row(&[1.0, 2.0]),
            f32_row(&[3.0, -0.0]),
            f32_row(&[5.0, 6.0]),
        ]);
        let m = fvecs(&bytes, None).unwrap();
        assert_eq!((m.rows, m.dim), (3, 2));
        assert_eq!(m.row(1)[0], 3.0);
        assert_eq!(m.row(1)[1].to_bits(), (-0.0f32).to_bits());
        let m = fvecs(&bytes, Some(2)).unwrap();
        assert_eq!((m.rows, m.dim, m.data.len()), (2, 2, 4));
        let m = fvecs(&bytes, Some(0)).unwrap();
        assert_eq!((m.rows, m.dim, m.data.len()), (0, 2, 0));
    }

    #[test]
    fn a_limit_does_not_read_past_it() {
        let mut bytes = file(&[f32_row(&[1.0]), f32_row(&[2.0])]);
        bytes.extend_from_slice(&[0xde, 0xad]); // garbage after row 1
        assert_eq!(fvecs(&bytes, Some(2)).unwrap().rows, 2);
        assert_eq!(err(&bytes).kind(), Kind::Truncated);
    }

    #[test]
    fn empty_file_has_no_rows_for_vectors_but_is_empty_ids() {
        let e = err(&[]);
        assert_eq!(e.kind(), Kind::NoRows);
        assert_eq!(
            e.to_string(),
            "t.fvecs: no rows: the dimension of an empty .fvecs file is unknown"
        );
        let m = read_ivecs(&mut &[][..], Path::new("t.ivecs"), Some(0)).unwrap();
        assert_eq!((m.rows, m.cols, m.data.len()), (0, 0, 0));
    }

    #[test]
    fn bad_dimensions_name_the_row() {
        for d in [0, -1, i32::MIN, MAX_VECS_DIM as i32 + 1, i32::MAX] {
            let bytes = file(&[f32_row(&[1.0]), (d, vec![0; 4])]);
            let e = err(&bytes);
            assert_eq!(
                (e.kind(), e.row()),
                (Kind::BadDimension, Some(1)),
                "{d}: {e}"
            );
            let msg = e.to_string();
            assert!(msg.starts_with("t.fvecs: row 1: dimension "), "{msg}");
            assert!(msg.contains(&d.to_string()), "{msg}");
        }
    }

    #[test]
    fn ragged_rows_name_the_row() {
        let bytes = file(&[f32_row(&[1.0, 2.0]), f32_row(&[1.0, 2.0]), f32_row(&[1.0])]);
        let e = err(&bytes);
        assert_eq!((e.kind(), e.row()), (Kind::Ragged, Some(2)));
        assert_eq!(
            e.to_string(),
            "t.fvecs: row 2: dimension 1, but row 0 has dimension 2"
        );
    }

    #[test]
    fn truncation_names_the_row() {
        let bytes = file(&[f32_row(&[1.0, 2.0]), f32_row(&[3.0, 4.0])]);
        for cut in 1..bytes.len() {
            let result = fvecs(&bytes[..cut], None);
            if cut == 12 {
                assert_eq!(result.unwrap().rows, 1);
                continue;
            }
            let e = result.unwrap_err();
            assert_eq!(e.kind(), Kind::Truncated, "cut {cut}: {e}");
            assert_eq!(e.row(), Some(cut / 12), "cut {cut}: {e}");
        }
    }

    #[test]
    fn bvecs_and_ivecs_values() {
        let bytes = file(&[(3, vec![0, 128, 255]), (3, vec![1, 2, 3])]);
        let m = read_bvecs(&mut &bytes[..], Path::new("t.bvecs"), None, None).unwrap();
        assert_eq!((m.rows, m.dim), (2, 3));
        assert_eq!(m.data, [0.0, 128.0, 255.0, 1.0, 2.0, 3.0]);
        let vals: Vec<u8> = [i32::MIN, -1, i32::MAX]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let bytes = file(&[(3, vals)]);
        let m = read_ivecs(&mut &bytes[..], Path::new("t.ivecs"), None).unwrap();
        assert_eq!(m.data, [i64::from(i32::MIN), -1, i64::from(i32::MAX)]);
    }

    #[test]
    fn writers_match_the_layout() {
        let m = Matrix {
            rows: 2,
            dim: 2,
            data: vec![1.0, 2.0, 3.0, 4.0],
        };
        let mut out = Vec::new();
        write_fvecs(&mut out, &m).unwrap();
        assert_eq!(out, file(&[f32_row(&[1.0, 2.0]), f32_row(&[3.0, 4.0])]));
        let ids = IdMatrix {
            rows: 1,
            cols: 2,
            data: vec![-7, 9],
        };
        let mut out = Vec::new();
        write_ivecs(&mut out, &ids).unwrap();
        assert_eq!(out, [2, 0, 0, 0, 0xf9, 0xff, 0xff, 0xff, 9, 0, 0, 0]);
    }
}
