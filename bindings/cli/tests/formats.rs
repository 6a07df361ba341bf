//! The data-file readers and writers through real files, as the CLI uses them:
//! numpy-written fixtures for every dtype (`tests/data/`, made by
//! `tests/data/make_fixtures.py`), writer output byte-identical to numpy's, every
//! bad-file case with the file and row in its message, property-tested round
//! trips and truncations on disk, and the real fashion-mnist files when present.

// One module, so that the filter `formats` (as in `cargo test -p sagevec-cli
// --lib --tests formats`) selects these together with the library's unit tests.
mod formats {
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use proptest::collection::vec;
    use proptest::prelude::*;
    use sagevec_cli::formats::{
        self, Format, FormatError, FormatErrorKind as Kind, IdMatrix, MAX_VECS_DIM, Matrix,
    };

    /// A fixture under `tests/data/`.
    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    /// A file path in the temp dir, unique to this process and call, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str) -> TempFile {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir();
            TempFile(dir.join(format!("sagevec-formats-{}-{n}-{name}", std::process::id())))
        }

        /// A temp file `name` holding `bytes`.
        fn with(name: &str, bytes: &[u8]) -> TempFile {
            let t = TempFile::new(name);
            fs::write(&t.0, bytes).unwrap();
            t
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }

    /// Checks an error's kind, path, row, and that the message names the file (and
    /// the row when there is one).
    fn check_err(e: &FormatError, path: &Path, kind: Kind, row: Option<usize>) {
        assert_eq!(e.kind(), kind, "{e}");
        assert_eq!(e.path(), path);
        assert_eq!(e.row(), row, "{e}");
        let msg = e.to_string();
        assert!(msg.starts_with(&format!("{}: ", path.display())), "{msg}");
        if let Some(r) = row {
            assert!(msg.contains(&format!(": row {r}: ")), "{msg}");
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// The 2 × 3 vector fixture values (see make_fixtures.py).
    const VEC: [f32; 6] = [0.0, 1.0, -2.0, 0.5, 255.0, -0.0];
    const IDS: [i64; 6] = [0, 1, 2, 2_147_483_647, 7, 19_999];

    #[test]
    fn numpy_fixtures_every_vector_dtype() {
        for name in [
            "f4_2x3.npy",
            "f2_2x3.npy",
            "f8_2x3.npy",
            "f4_2x3_v2.npy",
            "f4_2x3_v3.npy",
        ] {
            let m = formats::read_vectors(&fixture(name)).unwrap();
            assert_eq!((m.rows, m.dim), (2, 3), "{name}");
            assert_eq!(bits(&m.data), bits(&VEC), "{name}");
        }
        let m = formats::read_vectors(&fixture("u1_2x3.npy")).unwrap();
        assert_eq!(m.data, [0.0, 1.0, 2.0, 128.0, 254.0, 255.0]);
        let m = formats::read_vectors(&fixture("i1_2x3.npy")).unwrap();
        assert_eq!(m.data, [0.0, 1.0, -1.0, 127.0, -128.0, 5.0]);
        assert_eq!(m.row(1), &[127.0, -128.0, 5.0]);
    }

    #[test]
    fn numpy_fixtures_every_id_dtype() {
        for name in ["i4_2x3.npy", "i8_2x3.npy", "u4_2x3.npy", "u8_2x3.npy"] {
            let m = formats::read_ids(&fixture(name)).unwrap();
            assert_eq!((m.rows, m.cols), (2, 3), "{name}");
            assert_eq!(m.data, IDS, "{name}");
        }
        let m = formats::read_ids(&fixture("i4_1d.npy")).unwrap();
        assert_eq!((m.rows, m.cols), (5, 1));
        assert_eq!(m.data, [3, 1, 4, 1, 5]);
        assert_eq!(m.row(2), &[4]);
    }

    #[test]
    fn numpy_fixture_with_zero_rows_is_an_empty_matrix() {
        let m = formats::read_vectors(&fixture("f4_0x3.npy")).unwrap();
        assert_eq!((m.rows, m.dim, m.data.len()), (0, 3, 0));
    }

    #[test]
    fn numpy_fixtures_refused_with_clear_errors() {
        let p = fixture("f4_be_2x3.npy");
        let e = formats::read_vectors(&p).unwrap_err();
        check_err(&e, &p, Kind::UnsupportedDtype, None);
        assert!(e.to_string().contains("big-endian"), "{e}");
        let p = fixture("f4_fortran_2x3.npy");
        let e = formats::read_vectors(&p).unwrap_err();
        check_err(&e, &p, Kind::FortranOrder, None);
        // Ids are not vectors and vectors are not ids.
        let p = fixture("i4_2x3.npy");
        check_err(
            &formats::read_vectors(&p).unwrap_err(),
            &p,
            Kind::UnsupportedDtype,
            None,
        );
        let p = fixture("f4_2x3.npy");
        check_err(
            &formats::read_ids(&p).unwrap_err(),
            &p,
            Kind::UnsupportedDtype,
            None,
        );
    }

    #[test]
    fn writers_match_numpy_byte_for_byte() {
        let t = TempFile::new("v.npy");
        let m = Matrix {
            rows: 2,
            dim: 3,
            data: VEC.to_vec(),
        };
        formats::write_vectors(t.path(), &m, Format::Npy).unwrap();
        assert_eq!(
            fs::read(t.path()).unwrap(),
            fs::read(fixture("f4_2x3.npy")).unwrap()
        );

        let empty = Matrix {
            rows: 0,
            dim: 3,
            data: vec![],
        };
        formats::write_vectors(t.path(), &empty, Format::Npy).unwrap();
        assert_eq!(
            fs::read(t.path()).unwrap(),
            fs::read(fixture("f4_0x3.npy")).unwrap()
        );

        let ids = IdMatrix {
            rows: 2,
            cols: 3,
            data: IDS.to_vec(),
        };
        formats::write_ids(t.path(), &ids, Format::Npy).unwrap();
        assert_eq!(
            fs::read(t.path()).unwrap(),
            fs::read(fixture("i8_2x3.npy")).unwrap()
        );
    }

    /// An npy file with the given header dict text and data bytes (numpy's layout,
    /// not padded: the reader must not care).
    fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
        let text = format!("{dict}\n");
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn f4_dict(shape: &str) -> String {
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}")
    }

    #[test]
    fn bad_npy_files() {
        let rows4 = [0u8; 4 * 3 * 4];
        let cases: Vec<(&str, Vec<u8>, Kind, Option<usize>)> = vec![
            (
                "magic",
                b"PK\x03\x04not npy at all".to_vec(),
                Kind::BadMagic,
                None,
            ),
            ("empty", vec![], Kind::Truncated, None),
            (
                "version",
                {
                    let mut b = npy(&f4_dict("(4, 3)"), &rows4);
                    b[6] = 9;
                    b
                },
                Kind::UnsupportedVersion,
                None,
            ),
            (
                "not-a-dict",
                npy("['descr', '<f4']", &rows4),
                Kind::BadHeader,
                None,
            ),
            (
                "missing-key",
                npy("{'descr': '<f4', 'shape': (4, 3)}", &rows4),
                Kind::BadHeader,
                None,
            ),
            (
                "fortran",
                npy(
                    "{'descr': '<f4', 'fortran_order': True, 'shape': (4, 3)}",
                    &rows4,
                ),
                Kind::FortranOrder,
                None,
            ),
            (
                "big-endian",
                npy(
                    "{'descr': '>f4', 'fortran_order': False, 'shape': (4, 3)}",
                    &rows4,
                ),
                Kind::UnsupportedDtype,
                None,
            ),
            ("dim-0", npy(&f4_dict("(4, 0)"), &[]), Kind::BadShape, None),
            ("1-d", npy(&f4_dict("(12,)"), &rows4), Kind::BadShape, None),
            (
                "3-d",
                npy(&f4_dict("(2, 2, 3)"), &rows4),
                Kind::BadShape,
                None,
            ),
            (
                "truncated",
                npy(&f4_dict("(4, 3)"), &rows4[..12 * 2 + 7]),
                Kind::Truncated,
                Some(2),
            ),
            (
                "trailing",
                npy(&f4_dict("(4, 3)"), &[0u8; 4 * 3 * 4 + 3]),
                Kind::TrailingBytes,
                None,
            ),
        ];
        for (name, bytes, kind, row) in cases {
            let t = TempFile::with(&format!("{name}.npy"), &bytes);
            let e = formats::read_vectors(t.path()).unwrap_err();
            check_err(&e, t.path(), kind, row);
        }
        // A data file that is truncated is refused even when only a few rows are
        // wanted (the size check against the header costs nothing).
        let t = TempFile::with("cut.npy", &npy(&f4_dict("(4, 3)"), &rows4[..47]));
        let e = formats::read_vectors_with_limit(t.path(), Some(1)).unwrap_err();
        check_err(&e, t.path(), Kind::Truncated, Some(3));
    }

    /// A `*vecs` file from (dimension prefix, value bytes) rows.
    fn vecs_file(rows: &[(i32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (d, vals) in rows {
            out.extend_from_slice(&d.to_le_bytes());
            out.extend_from_slice(vals);
        }
        out
    }

    #[test]
    fn bad_vecs_files() {
        let v2 = [0u8; 8];
        let huge = i32::try_from(MAX_VECS_DIM + 1).unwrap();
        let cases: Vec<(&str, Vec<u8>, Kind, Option<usize>)> = vec![
            (
                "dim-0",
                vecs_file(&[(2, &v2), (0, &[])]),
                Kind::BadDimension,
                Some(1),
            ),
            (
                "dim-neg",
                vecs_file(&[(-2, &v2)]),
                Kind::BadDimension,
                Some(0),
            ),
            (
                "dim-huge",
                vecs_file(&[(2, &v2), (2, &v2), (huge, &v2)]),
                Kind::BadDimension,
                Some(2),
            ),
            (
                "ragged",
                vecs_file(&[(2, &v2), (2, &v2), (1, &v2[..4])]),
                Kind::Ragged,
                Some(2),
            ),
            (
                "cut-row",
                vecs_file(&[(2, &v2), (2, &v2[..5])]),
                Kind::Truncated,
                Some(1),
            ),
            (
                "cut-prefix",
                vecs_file(&[(2, &v2[..]); 3])[..26].to_vec(),
                Kind::Truncated,
                Some(2),
            ),
            ("empty", vec![], Kind::NoRows, None),
        ];
        for (name, bytes, kind, row) in cases {
            let t = TempFile::with(&format!("{name}.fvecs"), &bytes);
            let e = formats::read_vectors(t.path()).unwrap_err();
            check_err(&e, t.path(), kind, row);
            // The same bytes as ids: the same error, except that no rows is fine.
            let t = TempFile::with(&format!("{name}.ivecs"), &bytes);
            match formats::read_ids(t.path()) {
                Err(e) => check_err(&e, t.path(), kind, row),
                Ok(m) => {
                    assert_eq!(kind, Kind::NoRows);
                    assert_eq!((m.rows, m.cols, m.data.len()), (0, 0, 0));
                }
            }
        }
        let t = TempFile::with("ragged.bvecs", &vecs_file(&[(3, &[1, 2, 3]), (2, &[1, 2])]));
        check_err(
            &formats::read_vectors(t.path()).unwrap_err(),
            t.path(),
            Kind::Ragged,
            Some(1),
        );
    }

    #[test]
    fn wrong_format_for_the_data_kind() {
        let t = TempFile::with("ids.ivecs", &vecs_file(&[(1, &[1, 0, 0, 0])]));
        let e = formats::read_vectors(t.path()).unwrap_err();
        check_err(&e, t.path(), Kind::WrongFormat, None);
        assert!(e.to_string().contains("ids, not vectors"), "{e}");
        for ext in ["fvecs", "bvecs"] {
            let t = TempFile::with(&format!("v.{ext}"), &vecs_file(&[(1, &[0, 0, 128, 63])]));
            let e = formats::read_ids(t.path()).unwrap_err();
            check_err(&e, t.path(), Kind::WrongFormat, None);
        }
        let e = formats::read_vectors(Path::new("base.csv")).unwrap_err();
        check_err(&e, Path::new("base.csv"), Kind::UnknownExtension, None);
        assert!(
            e.to_string().contains(".npy, .fvecs, .ivecs, .bvecs"),
            "{e}"
        );
        let missing = TempFile::new("missing.npy");
        let e = formats::read_vectors(missing.path()).unwrap_err();
        check_err(&e, missing.path(), Kind::Io, None);
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn bvecs_reads_bytes_as_floats() {
        let t = TempFile::with("b.bvecs", &vecs_file(&[(2, &[0, 255]), (2, &[7, 128])]));
        let m = formats::read_vectors(t.path()).unwrap();
        assert_eq!((m.rows, m.dim), (2, 2));
        assert_eq!(m.data, [0.0, 255.0, 7.0, 128.0]);
    }

    #[test]
    fn writer_errors_leave_existing_files_alone() {
        let t = TempFile::with("keep.ivecs", b"precious");
        let too_big = IdMatrix {
            rows: 3,
            cols: 2,
            data: vec![0, 1, 2, 3, i64::from(i32::MAX) + 1, 5],
        };
        let e = formats::write_ids(t.path(), &too_big, Format::Ivecs).unwrap_err();
        check_err(&e, t.path(), Kind::IdOutOfRange, Some(2));
        assert!(e.to_string().contains("2147483648 in column 0"), "{e}");
        let bad_len = Matrix {
            rows: 2,
            dim: 3,
            data: vec![0.0; 5],
        };
        let e = formats::write_vectors(t.path(), &bad_len, Format::Fvecs).unwrap_err();
        check_err(&e, t.path(), Kind::BadShape, None);
        let dim0 = Matrix {
            rows: 2,
            dim: 0,
            data: vec![],
        };
        let e = formats::write_vectors(t.path(), &dim0, Format::Npy).unwrap_err();
        check_err(&e, t.path(), Kind::BadShape, None);
        let ok = Matrix {
            rows: 1,
            dim: 1,
            data: vec![1.0],
        };
        for f in [Format::Ivecs, Format::Bvecs] {
            let e = formats::write_vectors(t.path(), &ok, f).unwrap_err();
            check_err(&e, t.path(), Kind::WrongFormat, None);
        }
        let ids = IdMatrix {
            rows: 1,
            cols: 1,
            data: vec![1],
        };
        for f in [Format::Fvecs, Format::Bvecs] {
            let e = formats::write_ids(t.path(), &ids, f).unwrap_err();
            check_err(&e, t.path(), Kind::WrongFormat, None);
        }
        assert_eq!(fs::read(t.path()).unwrap(), b"precious");
        // ...but i64 ids do fit .npy.
        formats::write_ids(t.path(), &too_big, Format::Npy).unwrap();
        let dir = Path::new("/nonexistent-sagevec-dir/x.npy");
        let e = formats::write_vectors(dir, &ok, Format::Npy).unwrap_err();
        check_err(&e, dir, Kind::Io, None);
    }

    #[test]
    fn limit_reads_a_prefix() {
        let m = Matrix {
            rows: 5,
            dim: 2,
            data: (0..10).map(|i| i as f32).collect(),
        };
        for (ext, f) in [("npy", Format::Npy), ("fvecs", Format::Fvecs)] {
            let t = TempFile::new(&format!("lim.{ext}"));
            formats::write_vectors(t.path(), &m, f).unwrap();
            for limit in [0, 1, 3, 5, 9] {
                let got = formats::read_vectors_with_limit(t.path(), Some(limit)).unwrap();
                let rows = limit.min(5);
                assert_eq!((got.rows, got.dim), (rows, 2), "{ext} {limit}");
                assert_eq!(got.data, &m.data[..rows * 2]);
            }
        }
    }

    #[test]
    fn every_cut_of_a_file_on_disk_is_an_error_or_whole_rows() {
        let m = Matrix {
            rows: 3,
            dim: 2,
            data: vec![1.0, -0.0, f32::NAN, 4.0, 5.0, 6.0],
        };
        let ids = IdMatrix {
            rows: 3,
            cols: 2,
            data: vec![1, -1, 3, 4, 5, 6],
        };
        let full = TempFile::new("full");
        let cut = TempFile::new("cut");
        for f in [Format::Npy, Format::Fvecs] {
            formats::write_vectors(full.path(), &m, f).unwrap();
            let bytes = fs::read(full.path()).unwrap();
            let cut_path = cut.path().with_extension(f.extension());
            for n in 0..bytes.len() {
                fs::write(&cut_path, &bytes[..n]).unwrap();
                match formats::read_vectors(&cut_path) {
                    Err(e) => assert_eq!(e.path(), cut_path),
                    Ok(got) => {
                        // Only a `*vecs` file cut at a row boundary reads.
                        assert_eq!(f, Format::Fvecs, "cut {n}");
                        assert_eq!(n % 12, 0);
                        assert_eq!(bits(&got.data), bits(&m.data[..n / 12 * 2]));
                    }
                }
            }
            let _ = fs::remove_file(&cut_path);
        }
        for f in [Format::Npy, Format::Ivecs] {
            formats::write_ids(full.path(), &ids, f).unwrap();
            let bytes = fs::read(full.path()).unwrap();
            let cut_path = cut.path().with_extension(f.extension());
            for n in 0..bytes.len() {
                fs::write(&cut_path, &bytes[..n]).unwrap();
                match formats::read_ids(&cut_path) {
                    Err(e) => assert_eq!(e.path(), cut_path),
                    Ok(got) => {
                        assert_eq!(f, Format::Ivecs, "cut {n}");
                        assert_eq!(n % 12, 0);
                        assert_eq!(got.data, &ids.data[..n / 12 * 2]);
                    }
                }
            }
            let _ = fs::remove_file(&cut_path);
        }
    }

    /// Any `f32` bit pattern, with -0.0, subnormals and extremes weighted up.
    fn any_f32() -> impl Strategy<Value = f32> {
        prop_oneof![
            3 => any::<u32>().prop_map(f32::from_bits),
            1 => prop::sample::select(vec![
                -0.0,
                f32::from_bits(1),
                f32::from_bits(0x807f_ffff),
                f32::MAX,
                f32::MIN,
                1e38,
                -1e-38,
            ]),
        ]
    }

    fn matrix() -> impl Strategy<Value = Matrix> {
        (1..=30usize, 1..=50usize).prop_flat_map(|(rows, dim)| {
            vec(any_f32(), rows * dim).prop_map(move |data| Matrix { rows, dim, data })
        })
    }

    fn ids(id: BoxedStrategy<i64>) -> impl Strategy<Value = IdMatrix> {
        (1..=30usize, 1..=50usize).prop_flat_map(move |(rows, cols)| {
            vec(id.clone(), rows * cols).prop_map(move |data| IdMatrix { rows, cols, data })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn vectors_round_trip_on_disk(m in matrix()) {
            for f in [Format::Npy, Format::Fvecs] {
                let t = TempFile::new(&format!("rt.{f}"));
                formats::write_vectors(t.path(), &m, f).unwrap();
                let got = formats::read_vectors(t.path()).unwrap();
                prop_assert_eq!((got.rows, got.dim), (m.rows, m.dim));
                prop_assert_eq!(bits(&got.data), bits(&m.data));
            }
        }

        #[test]
        fn ids_round_trip_on_disk(
            wide in ids(any::<i64>().boxed()),
            narrow in ids(any::<i32>().prop_map(i64::from).boxed()),
        ) {
            let t = TempFile::new("rt.npy");
            formats::write_ids(t.path(), &wide, Format::Npy).unwrap();
            prop_assert_eq!(formats::read_ids(t.path()).unwrap(), wide);
            let t = TempFile::new("rt.ivecs");
            formats::write_ids(t.path(), &narrow, Format::Ivecs).unwrap();
            prop_assert_eq!(formats::read_ids(t.path()).unwrap(), narrow);
        }
    }

    /// The real fashion-mnist files, when this checkout has them.
    fn real_file(name: &str) -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/fashion-mnist-784-l2")
            .join(name);
        if p.is_file() {
            Some(p)
        } else {
            eprintln!("skipped: {} is absent", p.display());
            None
        }
    }

    #[test]
    fn real_fashion_mnist_base_and_ground_truth() {
        let Some(base) = real_file("base.npy") else {
            return;
        };
        let start = Instant::now();
        let m = formats::read_vectors(&base).unwrap();
        let elapsed = start.elapsed();
        eprintln!(
            "read {} ({} x {} f32) in {elapsed:?}",
            base.display(),
            m.rows,
            m.dim
        );
        assert_eq!((m.rows, m.dim, m.data.len()), (20_000, 784, 20_000 * 784));
        // Pixel values 0..=255 stored as f32; sums computed with numpy.
        assert!(
            m.data
                .iter()
                .all(|&x| (0.0..=255.0).contains(&x) && x.fract() == 0.0)
        );
        let sum = |row: &[f32]| row.iter().map(|&x| f64::from(x)).sum::<f64>();
        assert_eq!(sum(m.row(0)), 40_223.0);
        assert_eq!(sum(m.row(19_999)), 96_836.0);
        assert_eq!(sum(&m.data), 1_145_184_242.0);
        assert_eq!(&m.row(0)[39..42], &[41.0, 43.0, 58.0]);

        let head = formats::read_vectors_with_limit(&base, Some(100)).unwrap();
        assert_eq!((head.rows, head.dim), (100, 784));
        assert_eq!(head.data, &m.data[..100 * 784]);

        let Some(gt) = real_file("gt_ids.npy") else {
            return;
        };
        let g = formats::read_ids(&gt).unwrap();
        assert_eq!((g.rows, g.cols), (1000, 100));
        assert_eq!(&g.row(0)[..5], &[11_827, 9_351, 18_983, 430, 653]);
        assert_eq!(&g.row(999)[97..], &[19_632, 2_268, 1_914]);
        assert_eq!(g.data.iter().sum::<i64>(), 997_650_080);
        assert!(g.data.iter().all(|&id| (0..20_000).contains(&id)));

        // The real files are not the other kind.
        let e = formats::read_ids(&base).unwrap_err();
        assert_eq!(e.kind(), Kind::UnsupportedDtype);
        let e = formats::read_vectors(&gt).unwrap_err();
        assert_eq!(e.kind(), Kind::UnsupportedDtype);
    }
}
