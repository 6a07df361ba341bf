//! Property tests over in-memory files, each read twice: as a stream (size
//! unknown, as from a pipe) and with the size known (as from a regular file).
//!
//! - Round trips through the writers are bit-exact, for any `f32` bit pattern
//!   (NaN payloads, -0.0, subnormals, ±max) and any id.
//! - Cutting a valid file at any byte is an error, never a panic or a wrong
//!   matrix. The one exception is inherent to the row formats: a `*vecs` file cut
//!   at a row boundary is a valid, shorter file, and must read as exactly the
//!   rows before the cut.
//! - Overwriting any byte of an `.npy` preamble or header, or of a `*vecs` file,
//!   gives an error or a consistent matrix, never a panic.

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;

use super::error::{FormatError, FormatErrorKind as Kind};
use super::{IdMatrix, Matrix, npy, vecs};

/// Any `f32` bit pattern, with the edge cases weighted up.
fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => any::<u32>().prop_map(f32::from_bits),
        1 => prop::sample::select(vec![
            0.0,
            -0.0,
            f32::from_bits(1),          // smallest subnormal
            -f32::from_bits(0x007f_ffff), // largest subnormal, negative
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NAN,
        ]),
    ]
}

fn matrix(max_rows: usize, max_dim: usize) -> impl Strategy<Value = Matrix> {
    (1..=max_rows, 1..=max_dim).prop_flat_map(|(rows, dim)| {
        vec(any_f32(), rows * dim).prop_map(move |data| Matrix { rows, dim, data })
    })
}

/// Ids that fit `i32` (so `.ivecs` can hold them) or, with `wide`, any `i64`.
fn id_matrix(max_rows: usize, max_cols: usize, wide: bool) -> impl Strategy<Value = IdMatrix> {
    let id = if wide {
        any::<i64>().boxed()
    } else {
        any::<i32>().prop_map(i64::from).boxed()
    };
    (1..=max_rows, 1..=max_cols).prop_flat_map(move |(rows, cols)| {
        vec(id.clone(), rows * cols).prop_map(move |data| IdMatrix { rows, cols, data })
    })
}

fn bits(m: &Matrix) -> (usize, usize, Vec<u32>) {
    (m.rows, m.dim, m.data.iter().map(|x| x.to_bits()).collect())
}

/// Which reader to run on the bytes.
#[derive(Debug, Clone, Copy)]
enum Reader {
    NpyVectors,
    Fvecs,
    NpyIds,
    Ivecs,
}

/// What a read gives, with floats as bits so NaN compares equal.
#[derive(Debug, PartialEq)]
enum Got {
    Vectors(usize, usize, Vec<u32>),
    Ids(IdMatrix),
}

/// Reads `bytes` streamed and sized; the two must agree. Returns the sized one.
fn read(reader: Reader, bytes: &[u8]) -> Result<Got, FormatError> {
    let path = Path::new("p.bin");
    let once = |len: Option<u64>| -> Result<Got, FormatError> {
        let r = &mut &bytes[..];
        let got = match reader {
            Reader::NpyVectors => npy::read_vectors(r, path, len, None).map(|m| bits(&m)),
            Reader::Fvecs => vecs::read_fvecs(r, path, len, None).map(|m| bits(&m)),
            Reader::NpyIds => return npy::read_ids(r, path, len).map(Got::Ids),
            Reader::Ivecs => return vecs::read_ivecs(r, path, len).map(Got::Ids),
        };
        got.map(|(rows, dim, b)| Got::Vectors(rows, dim, b))
    };
    let streamed = once(None);
    let sized = once(Some(bytes.len() as u64));
    match (&streamed, &sized) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!((a.kind(), a.row()), (b.kind(), b.row()), "{a} / {b}"),
        _ => panic!("streamed {streamed:?} but sized {sized:?}"),
    }
    if let Ok(got) = &sized {
        let consistent = match got {
            Got::Vectors(rows, dim, data) => rows * dim == data.len() && *dim > 0,
            Got::Ids(m) => m.rows * m.cols == m.data.len(),
        };
        assert!(consistent, "inconsistent matrix {got:?}");
    }
    sized
}

fn npy_vectors(m: &Matrix) -> Vec<u8> {
    let mut out = Vec::new();
    npy::write_vectors(&mut out, m).unwrap();
    out
}

fn fvecs(m: &Matrix) -> Vec<u8> {
    let mut out = Vec::new();
    vecs::write_fvecs(&mut out, m).unwrap();
    out
}

fn npy_ids(m: &IdMatrix) -> Vec<u8> {
    let mut out = Vec::new();
    npy::write_ids(&mut out, m).unwrap();
    out
}

fn ivecs(m: &IdMatrix) -> Vec<u8> {
    let mut out = Vec::new();
    vecs::write_ivecs(&mut out, m).unwrap();
    out
}

/// Every cut of an `.npy` file is `Truncated`, in the row the data stops in.
fn check_npy_cuts(reader: Reader, bytes: &[u8], row_bytes: usize) {
    let data_offset = 128; // every header these tests write is one 64-byte-aligned line
    assert_eq!(bytes[data_offset - 1], b'\n');
    for cut in 0..bytes.len() {
        let e = read(reader, &bytes[..cut]).expect_err("a cut npy file must not read");
        assert_eq!(e.kind(), Kind::Truncated, "cut {cut}: {e}");
        let row = cut.checked_sub(data_offset).map(|d| d / row_bytes);
        assert_eq!(e.row(), row, "cut {cut}: {e}");
    }
}

/// A `*vecs` cut is `Truncated` in the row it falls in, or exactly the whole rows
/// before it when it falls on a boundary.
fn check_vecs_cuts(reader: Reader, bytes: &[u8], row_len: usize, full: &Got) {
    for cut in 0..bytes.len() {
        let got = read(reader, &bytes[..cut]);
        let rows = cut / row_len;
        if !cut.is_multiple_of(row_len) {
            let e = got.expect_err("a cut inside a row must not read");
            assert_eq!(
                (e.kind(), e.row()),
                (Kind::Truncated, Some(rows)),
                "cut {cut}: {e}"
            );
            continue;
        }
        match (full, got) {
            (Got::Vectors(_, dim, data), Ok(Got::Vectors(r, d, b))) => {
                assert_eq!((r, d, &b[..]), (rows, *dim, &data[..rows * dim]));
            }
            (Got::Vectors(..), Err(e)) if cut == 0 => assert_eq!(e.kind(), Kind::NoRows),
            (Got::Ids(m), Ok(Got::Ids(g))) => {
                assert_eq!(g.rows, rows);
                assert_eq!(g.data, &m.data[..rows * m.cols]);
                assert_eq!(g.cols, if rows == 0 { 0 } else { m.cols });
            }
            (_, other) => panic!("cut {cut} at a row boundary gave {other:?}"),
        }
    }
}

/// Bytes numpy headers are made of, to make corruptions that almost parse.
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        any::<u8>(),
        prop::sample::select(b"(),:{}[]'\" 0123456789LTFrue\n<>|fiu".to_vec()),
    ]
}

proptest! {
    #[test]
    fn npy_vectors_round_trip_bit_exact(m in matrix(40, 70)) {
        let got = read(Reader::NpyVectors, &npy_vectors(&m)).unwrap();
        let (rows, dim, b) = bits(&m);
        prop_assert_eq!(got, Got::Vectors(rows, dim, b));
    }

    #[test]
    fn fvecs_round_trip_bit_exact(m in matrix(40, 70)) {
        let got = read(Reader::Fvecs, &fvecs(&m)).unwrap();
        let (rows, dim, b) = bits(&m);
        prop_assert_eq!(got, Got::Vectors(rows, dim, b));
    }

    #[test]
    fn npy_ids_round_trip(m in id_matrix(40, 70, true)) {
        prop_assert_eq!(read(Reader::NpyIds, &npy_ids(&m)).unwrap(), Got::Ids(m));
    }

    #[test]
    fn ivecs_round_trip(m in id_matrix(40, 70, false)) {
        prop_assert_eq!(read(Reader::Ivecs, &ivecs(&m)).unwrap(), Got::Ids(m));
    }

    #[test]
    fn every_cut_of_an_npy_file_is_an_error(m in matrix(5, 7), ids in id_matrix(5, 7, true)) {
        check_npy_cuts(Reader::NpyVectors, &npy_vectors(&m), m.dim * 4);
        check_npy_cuts(Reader::NpyIds, &npy_ids(&ids), ids.cols * 8);
    }

    #[test]
    fn every_cut_of_a_vecs_file_is_an_error_or_its_whole_rows(
        m in matrix(5, 7),
        ids in id_matrix(5, 7, false),
    ) {
        let (rows, dim, b) = bits(&m);
        check_vecs_cuts(Reader::Fvecs, &fvecs(&m), 4 + 4 * dim, &Got::Vectors(rows, dim, b));
        check_vecs_cuts(Reader::Ivecs, &ivecs(&ids), 4 + 4 * ids.cols, &Got::Ids(ids));
    }

    #[test]
    fn corrupt_npy_headers_never_panic(
        m in matrix(4, 6),
        ids in id_matrix(4, 6, true),
        edits in vec((0..128usize, header_byte()), 1..4),
    ) {
        for (reader, mut bytes) in [
            (Reader::NpyVectors, npy_vectors(&m)),
            (Reader::NpyIds, npy_ids(&ids)),
        ] {
            for &(at, byte) in &edits {
                bytes[at] = byte;
            }
            let _ = read(reader, &bytes);
        }
    }

    #[test]
    fn corrupt_vecs_files_never_panic(
        m in matrix(4, 6),
        ids in id_matrix(4, 6, false),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        for (reader, mut bytes) in [(Reader::Fvecs, fvecs(&m)), (Reader::Ivecs, ivecs(&ids))] {
            for (at, byte) in &edits {
                let i = at.index(bytes.len());
                bytes[i] = *byte;
            }
            let _ = read(reader, &bytes);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..300),
        with_magic in any::<bool>(),
    ) {
        let mut bytes = bytes;
        if with_magic {
            let mut head = b"\x93NUMPY\x01\x00".to_vec();
            head.append(&mut bytes);
            bytes = head;
        }
        for reader in [Reader::NpyVectors, Reader::NpyIds, Reader::Fvecs, Reader::Ivecs] {
            let _ = read(reader, &bytes);
        }
    }
}
