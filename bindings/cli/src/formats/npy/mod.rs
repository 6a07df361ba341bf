//! `.npy` data: which shapes and dtypes each reader takes, the size checks, the
//! element conversion, and the writers.
//!
//! The header is parsed and checked in [`header`] (its dict with [`pylit`]). Here
//! the shape is matched against what is asked for (vectors: `(rows, dim)` with
//! `dim > 0`; ids: `(n,)` or `(n, k)`), and the data length against the shape:
//! before reading when the file size is known (nothing is allocated for a shape
//! the file cannot hold), and again while reading, so a pipe or a file that
//! changes underneath is caught too.

mod header;
mod pylit;

use std::io::{self, Read, Write};
use std::path::Path;

use half::f16;

use self::header::{Dtype, Header, encode_header, read_header};
use super::error::{FormatError, FormatErrorKind as Kind};
use super::stream::{read_decode, read_full, write_encoded};
use super::{IdMatrix, Matrix};

/// The dtypes [`read_vectors`] converts to `f32`, for messages.
const VECTOR_DTYPES: &str = "<f4, <f2, <f8, |i1, |u1";

/// The dtypes [`read_ids`] converts to `i64`, for messages.
const ID_DTYPES: &str = "<i4, <i8, <u4, <u8";

/// Values reserved up front when the file size is unknown (a pipe): the vector
/// grows from there with the data actually read, never with a header's claim.
const BLIND_RESERVE: usize = 1 << 22;

/// A shape as Python prints it: `(3,)`, `(20000, 784)`.
fn shape_repr(shape: &[u64]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// The data size a shape implies, checked against the file size when known.
struct Layout {
    rows: usize,
    cols: usize,
    row_bytes: u64,
    total: u64,
}

fn layout(
    path: &Path,
    h: &Header,
    rows: u64,
    cols: u64,
    file_len: Option<u64>,
) -> Result<Layout, FormatError> {
    let too_big = || {
        FormatError::new(
            path,
            Kind::BadShape,
            format!(
                "shape {} of {} is too large for this machine",
                shape_repr(&h.shape),
                h.dtype.descr()
            ),
        )
    };
    let row_bytes = cols
        .checked_mul(h.dtype.size() as u64)
        .ok_or_else(too_big)?;
    let total = rows.checked_mul(row_bytes).ok_or_else(too_big)?;
    let rows_us = usize::try_from(rows).map_err(|_| too_big())?;
    let cols_us = usize::try_from(cols).map_err(|_| too_big())?;
    rows_us.checked_mul(cols_us).ok_or_else(too_big)?;
    if let Some(len) = file_len {
        let have = len.saturating_sub(h.data_offset);
        if have < total {
            return Err(truncated(path, h, have, row_bytes, total));
        }
        if have > total {
            return Err(trailing(path, h, total));
        }
    }
    Ok(Layout {
        rows: rows_us,
        cols: cols_us,
        row_bytes,
        total,
    })
}

/// The data ends after `have` of `total` bytes.
fn truncated(path: &Path, h: &Header, have: u64, row_bytes: u64, total: u64) -> FormatError {
    // have < total, so total and row_bytes are > 0.
    let row = usize::try_from(have / row_bytes.max(1)).unwrap_or(usize::MAX);
    FormatError::at_row(
        path,
        row,
        Kind::Truncated,
        format!(
            "file ends inside this row: shape {} of {} needs {total} data bytes, found {have}",
            shape_repr(&h.shape),
            h.dtype.descr()
        ),
    )
}

fn trailing(path: &Path, h: &Header, total: u64) -> FormatError {
    FormatError::new(
        path,
        Kind::TrailingBytes,
        format!(
            "extra bytes after the {total} data bytes that shape {} of {} needs",
            shape_repr(&h.shape),
            h.dtype.descr()
        ),
    )
}

/// After the last element: anything more is an error.
fn check_end<R: Read>(r: &mut R, path: &Path, h: &Header, total: u64) -> Result<(), FormatError> {
    let mut one = [0u8; 1];
    match read_full(r, &mut one) {
        Ok(0) => Ok(()),
        Ok(_) => Err(trailing(path, h, total)),
        Err(e) => Err(FormatError::io(path, "reading", e)),
    }
}

fn not_vectors(path: &Path, d: Dtype) -> FormatError {
    FormatError::new(
        path,
        Kind::UnsupportedDtype,
        format!(
            "dtype '{}' is an integer id type, not a vector type (vectors: {VECTOR_DTYPES})",
            d.descr()
        ),
    )
}

fn not_ids(path: &Path, d: Dtype) -> FormatError {
    FormatError::new(
        path,
        Kind::UnsupportedDtype,
        format!("dtype '{}' is not an id type (ids: {ID_DTYPES})", d.descr()),
    )
}

/// Reads a 2-D `(rows, dim)` array of a vector dtype as `f32`, stopping after
/// `max_rows` rows if given. The reader is at the start of the file.
pub(crate) fn read_vectors<R: Read>(
    r: &mut R,
    path: &Path,
    file_len: Option<u64>,
    max_rows: Option<usize>,
) -> Result<Matrix, FormatError> {
    let h = read_header(r, path)?;
    let [rows, dim] = h.shape[..] else {
        return Err(FormatError::new(
            path,
            Kind::BadShape,
            format!(
                "vectors need a 2-D array (rows, dim); this one has shape {}",
                shape_repr(&h.shape)
            ),
        ));
    };
    if matches!(h.dtype, Dtype::I4 | Dtype::I8 | Dtype::U4 | Dtype::U8) {
        return Err(not_vectors(path, h.dtype));
    }
    if dim == 0 {
        return Err(FormatError::new(
            path,
            Kind::BadShape,
            format!("shape {} has dimension 0", shape_repr(&h.shape)),
        ));
    }
    let lay = layout(path, &h, rows, dim, file_len)?;
    let take = max_rows.map_or(lay.rows, |m| m.min(lay.rows));
    let n_bytes = take as u64 * lay.row_bytes;
    let n_vals = take * lay.cols;
    let reserve = if file_len.is_some() {
        n_vals
    } else {
        n_vals.min(BLIND_RESERVE)
    };
    let mut data: Vec<f32> = Vec::with_capacity(reserve);
    let got = match h.dtype {
        Dtype::F4 => read_decode(r, n_bytes, &mut data, f32::from_le_bytes),
        Dtype::F2 => read_decode(r, n_bytes, &mut data, |b| f16::from_le_bytes(b).to_f32()),
        // Rounds to nearest; beyond f32's range becomes ±inf (documented).
        Dtype::F8 => read_decode(r, n_bytes, &mut data, |b| f64::from_le_bytes(b) as f32),
        Dtype::I1 => read_decode(r, n_bytes, &mut data, |b| f32::from(i8::from_le_bytes(b))),
        Dtype::U1 => read_decode(r, n_bytes, &mut data, |[b]| f32::from(b)),
        Dtype::I4 | Dtype::I8 | Dtype::U4 | Dtype::U8 => return Err(not_vectors(path, h.dtype)),
    }
    .map_err(|e| FormatError::io(path, "reading", e))?;
    if got < n_bytes {
        return Err(truncated(path, &h, got, lay.row_bytes, lay.total));
    }
    if take == lay.rows {
        check_end(r, path, &h, lay.total)?;
    }
    Ok(Matrix {
        rows: take,
        dim: lay.cols,
        data,
    })
}

/// Reads a 1-D `(n,)` (one id per row) or 2-D `(n, k)` array of an integer dtype
/// as `i64`. The reader is at the start of the file.
pub(crate) fn read_ids<R: Read>(
    r: &mut R,
    path: &Path,
    file_len: Option<u64>,
) -> Result<IdMatrix, FormatError> {
    let h = read_header(r, path)?;
    let (rows, cols) = match h.shape[..] {
        [n] => (n, 1),
        [n, k] => (n, k),
        _ => {
            return Err(FormatError::new(
                path,
                Kind::BadShape,
                format!(
                    "ids need a 1-D (n,) or 2-D (n, k) array; this one has shape {}",
                    shape_repr(&h.shape)
                ),
            ));
        }
    };
    if !matches!(h.dtype, Dtype::I4 | Dtype::I8 | Dtype::U4 | Dtype::U8) {
        return Err(not_ids(path, h.dtype));
    }
    if cols == 0 && rows > 0 {
        return Err(FormatError::new(
            path,
            Kind::BadShape,
            format!("shape {} has rows of 0 ids", shape_repr(&h.shape)),
        ));
    }
    let lay = layout(path, &h, rows, cols, file_len)?;
    let n_vals = lay.rows * lay.cols;
    let reserve = if file_len.is_some() {
        n_vals
    } else {
        n_vals.min(BLIND_RESERVE)
    };
    let mut data: Vec<i64> = Vec::with_capacity(reserve);
    let n_bytes = lay.total;
    let got = match h.dtype {
        Dtype::I4 => read_decode(r, n_bytes, &mut data, |b| i64::from(i32::from_le_bytes(b))),
        Dtype::U4 => read_decode(r, n_bytes, &mut data, |b| i64::from(u32::from_le_bytes(b))),
        // u64 ids are stored by bit pattern here and range-checked below.
        Dtype::I8 | Dtype::U8 => read_decode(r, n_bytes, &mut data, i64::from_le_bytes),
        Dtype::F2 | Dtype::F4 | Dtype::F8 | Dtype::I1 | Dtype::U1 => {
            return Err(not_ids(path, h.dtype));
        }
    }
    .map_err(|e| FormatError::io(path, "reading", e))?;
    if got < n_bytes {
        return Err(truncated(path, &h, got, lay.row_bytes, lay.total));
    }
    check_end(r, path, &h, lay.total)?;
    if h.dtype == Dtype::U8
        && let Some(i) = data.iter().position(|&x| x < 0)
    {
        let id = u64::from_le_bytes(data[i].to_le_bytes());
        return Err(FormatError::at_row(
            path,
            i / lay.cols,
            Kind::IdOutOfRange,
            format!("id {id} in column {} is larger than i64::MAX", i % lay.cols),
        ));
    }
    Ok(IdMatrix {
        rows: lay.rows,
        cols: lay.cols,
        data,
    })
}

/// Writes `m` as a `(rows, dim)` `<f4` array with numpy's exact header. The
/// caller has checked `m.data.len() == rows * dim`.
pub(crate) fn write_vectors<W: Write>(w: &mut W, m: &Matrix) -> io::Result<()> {
    w.write_all(&encode_header(Dtype::F4.descr(), &[m.rows, m.dim]))?;
    write_encoded(w, &m.data, f32::to_le_bytes)
}

/// Writes `m` as a `(rows, cols)` `<i8` (int64) array with numpy's exact header.
/// The caller has checked `m.data.len() == rows * cols`.
pub(crate) fn write_ids<W: Write>(w: &mut W, m: &IdMatrix) -> io::Result<()> {
    w.write_all(&encode_header(Dtype::I8.descr(), &[m.rows, m.cols]))?;
    write_encoded(w, &m.data, i64::to_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "t.npy";

    /// An npy file of `descr` and `shape` (as header text) over `data`.
    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let text = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut out = header::MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(data);
        out
    }

    /// A matrix with its values as bits, so NaN compares equal to itself.
    fn bits(m: &Matrix) -> (usize, usize, Vec<u32>) {
        (m.rows, m.dim, m.data.iter().map(|x| x.to_bits()).collect())
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// Reads `bytes` both as a stream (size unknown) and with the size known, and
    /// checks the two agree (same matrix, or same error kind and row).
    fn vectors(bytes: &[u8], max_rows: Option<usize>) -> Result<Matrix, FormatError> {
        let streamed = read_vectors(&mut &bytes[..], Path::new(P), None, max_rows);
        let sized = read_vectors(
            &mut &bytes[..],
            Path::new(P),
            Some(bytes.len() as u64),
            max_rows,
        );
        match (&streamed, &sized) {
            (Ok(a), Ok(b)) => assert_eq!(bits(a), bits(b)),
            (Err(a), Err(b)) => {
                assert_eq!((a.kind(), a.row()), (b.kind(), b.row()), "{a} / {b}");
            }
            _ => panic!("streamed {streamed:?} but sized {sized:?}"),
        }
        sized
    }

    fn ids(bytes: &[u8]) -> Result<IdMatrix, FormatError> {
        let streamed = read_ids(&mut &bytes[..], Path::new(P), None);
        let sized = read_ids(&mut &bytes[..], Path::new(P), Some(bytes.len() as u64));
        match (&streamed, &sized) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!((a.kind(), a.row()), (b.kind(), b.row())),
            _ => panic!("streamed {streamed:?} but sized {sized:?}"),
        }
        sized
    }

    #[test]
    fn reads_f32_and_limits_rows() {
        let vals: Vec<f32> = (0..12).map(|i| i as f32 - 3.5).collect();
        let bytes = npy("<f4", "(4, 3)", &f32_bytes(&vals));
        let m = vectors(&bytes, None).unwrap();
        assert_eq!((m.rows, m.dim), (4, 3));
        assert_eq!(m.data, vals);
        let m = vectors(&bytes, Some(2)).unwrap();
        assert_eq!((m.rows, m.dim), (2, 3));
        assert_eq!(m.data, &vals[..6]);
        let m = vectors(&bytes, Some(0)).unwrap();
        assert_eq!((m.rows, m.dim, m.data.len()), (0, 3, 0));
        assert_eq!(vectors(&bytes, Some(99)).unwrap().rows, 4);
    }

    #[test]
    fn zero_rows_is_an_empty_matrix_but_zero_dim_is_an_error() {
        let m = vectors(&npy("<f4", "(0, 5)", &[]), None).unwrap();
        assert_eq!((m.rows, m.dim, m.data.len()), (0, 5, 0));
        let e = vectors(&npy("<f4", "(3, 0)", &[]), None).unwrap_err();
        assert_eq!(e.kind(), Kind::BadShape);
        assert!(e.to_string().contains("dimension 0"), "{e}");
    }

    #[test]
    fn vector_shapes_must_be_2d() {
        for shape in ["()", "(6,)", "(1, 2, 3)"] {
            let e = vectors(&npy("<f4", shape, &[0; 24]), None).unwrap_err();
            assert_eq!(e.kind(), Kind::BadShape, "{shape}: {e}");
            assert!(e.to_string().contains(shape), "{e}");
        }
    }

    #[test]
    fn truncated_data_names_the_row() {
        let full = npy("<f4", "(4, 3)", &f32_bytes(&[1.0; 12]));
        // Cut in row 2 (bytes 24..36 of the data), and exactly after row 2.
        for (cut, row) in [(12 * 4 - 1, 3), (2 * 12 + 5, 2), (3 * 12, 3), (0, 0)] {
            let bytes = &full[..full.len() - 48 + cut];
            let e = vectors(bytes, None).unwrap_err();
            assert_eq!(e.kind(), Kind::Truncated, "{e}");
            assert_eq!(e.row(), Some(row), "{e}");
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("{P}: row {row}: ")), "{msg}");
            assert!(msg.contains("needs 48 data bytes"), "{msg}");
        }
        // A limit inside the good part still reads when streaming; the size
        // check catches the damage when the size is known.
        let bytes = &full[..full.len() - 1];
        let streamed = read_vectors(&mut &bytes[..], Path::new(P), None, Some(2)).unwrap();
        assert_eq!(streamed.rows, 2);
        let sized = read_vectors(
            &mut &bytes[..],
            Path::new(P),
            Some(bytes.len() as u64),
            Some(2),
        );
        assert_eq!(sized.unwrap_err().kind(), Kind::Truncated);
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = npy("<f4", "(2, 2)", &f32_bytes(&[1.0; 4]));
        bytes.push(0);
        let e = vectors(&bytes, None).unwrap_err();
        assert_eq!(e.kind(), Kind::TrailingBytes);
        assert!(e.to_string().contains("16 data bytes"), "{e}");
        let e = ids(&npy("<i4", "(1,)", &[1, 0, 0, 0, 9])).unwrap_err();
        assert_eq!(e.kind(), Kind::TrailingBytes);
    }

    #[test]
    fn huge_shapes_fail_without_allocating() {
        for shape in [
            "(18446744073709551615, 784)",
            "(4294967296, 4294967296)",
            "(1000000000000, 784)",
        ] {
            let bytes = npy("<f4", shape, &[0; 16]);
            let e = read_vectors(
                &mut &bytes[..],
                Path::new(P),
                Some(bytes.len() as u64),
                None,
            )
            .unwrap_err();
            assert!(
                matches!(e.kind(), Kind::BadShape | Kind::Truncated),
                "{shape}: {e}"
            );
            // Streaming: the reserve is capped, the data ends early.
            let e = read_vectors(&mut &bytes[..], Path::new(P), None, None).unwrap_err();
            assert!(
                matches!(e.kind(), Kind::BadShape | Kind::Truncated),
                "{shape}: {e}"
            );
        }
    }

    #[test]
    fn converts_every_vector_dtype() {
        let f2: Vec<u8> = [1.0f32, -0.5, 65504.0]
            .iter()
            .flat_map(|&x| f16::from_f32(x).to_le_bytes())
            .collect();
        assert_eq!(
            vectors(&npy("<f2", "(1, 3)", &f2), None).unwrap().data,
            [1.0, -0.5, 65504.0]
        );
        let f8: Vec<u8> = [1.5f64, -2.0, 1e300]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let m = vectors(&npy("<f8", "(3, 1)", &f8), None).unwrap();
        assert_eq!(m.data, [1.5, -2.0, f32::INFINITY]);
        let m = vectors(&npy("|i1", "(1, 3)", &[0x80, 0xff, 0x7f]), None).unwrap();
        assert_eq!(m.data, [-128.0, -1.0, 127.0]);
        let m = vectors(&npy("|u1", "(1, 3)", &[0x80, 0xff, 0x7f]), None).unwrap();
        assert_eq!(m.data, [128.0, 255.0, 127.0]);
    }

    #[test]
    fn non_finite_vectors_are_read_not_rejected() {
        let vals = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
        let m = vectors(&npy("<f4", "(1, 3)", &f32_bytes(&vals)), None).unwrap();
        let bits: Vec<u32> = m.data.iter().map(|x| x.to_bits()).collect();
        assert_eq!(bits, vals.map(f32::to_bits));
    }

    #[test]
    fn ids_every_dtype_and_shape() {
        let m = ids(&npy(
            "<i4",
            "(3,)",
            &[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0],
        ))
        .unwrap();
        assert_eq!((m.rows, m.cols, m.data), (3, 1, vec![1, -1, 7]));
        let m = ids(&npy("<u4", "(1, 2)", &[0xff; 8])).unwrap();
        assert_eq!(m.data, [4_294_967_295, 4_294_967_295]);
        let i8_bytes: Vec<u8> = [-5i64, i64::MAX]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(
            ids(&npy("<i8", "(2, 1)", &i8_bytes)).unwrap().data,
            [-5, i64::MAX]
        );
        let u8_bytes: Vec<u8> = [0u64, i64::MAX as u64]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(
            ids(&npy("<u8", "(1, 2)", &u8_bytes)).unwrap().data,
            [0, i64::MAX]
        );
        let m = ids(&npy("<i8", "(0,)", &[])).unwrap();
        assert_eq!((m.rows, m.cols), (0, 1));
        let m = ids(&npy("<i8", "(0, 0)", &[])).unwrap();
        assert_eq!((m.rows, m.cols), (0, 0));
    }

    #[test]
    fn u64_ids_above_i64_max_name_row_and_column() {
        let vals = [1u64, 2, 3, 4, 1 << 63, 6];
        let bytes: Vec<u8> = vals.iter().flat_map(|x| x.to_le_bytes()).collect();
        let e = ids(&npy("<u8", "(3, 2)", &bytes)).unwrap_err();
        assert_eq!(e.kind(), Kind::IdOutOfRange);
        assert_eq!(e.row(), Some(2));
        assert!(
            e.to_string().contains("id 9223372036854775808 in column 0"),
            "{e}"
        );
    }

    #[test]
    fn ids_and_vectors_refuse_each_others_dtypes() {
        let e = ids(&npy("<f4", "(1,)", &[0; 4])).unwrap_err();
        assert_eq!(e.kind(), Kind::UnsupportedDtype);
        assert!(e.to_string().contains("<i4"), "{e}");
        let e = vectors(&npy("<i4", "(1, 1)", &[0; 4]), None).unwrap_err();
        assert_eq!(e.kind(), Kind::UnsupportedDtype);
        assert!(e.to_string().contains("<f4"), "{e}");
        for shape in ["()", "(1, 1, 1)"] {
            assert_eq!(
                ids(&npy("<i4", shape, &[0; 4])).unwrap_err().kind(),
                Kind::BadShape
            );
        }
        assert_eq!(
            ids(&npy("<i4", "(2, 0)", &[])).unwrap_err().kind(),
            Kind::BadShape
        );
    }

    #[test]
    fn writers_round_trip() {
        let m = Matrix {
            rows: 2,
            dim: 3,
            data: vec![-0.0, 1e-45, f32::MAX, f32::MIN_POSITIVE, -1.0, 3.25],
        };
        let mut bytes = Vec::new();
        write_vectors(&mut bytes, &m).unwrap();
        assert_eq!(bytes.len(), 128 + 24);
        let back = vectors(&bytes, None).unwrap();
        assert_eq!(back.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), {
            m.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        });
        let ids_m = IdMatrix {
            rows: 3,
            cols: 1,
            data: vec![i64::MIN, 0, i64::MAX],
        };
        let mut bytes = Vec::new();
        write_ids(&mut bytes, &ids_m).unwrap();
        assert_eq!(ids(&bytes).unwrap(), ids_m);
    }
}
