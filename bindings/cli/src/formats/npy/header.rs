//! The `.npy` preamble and header: magic, version, header length, and the dict
//! that gives the element type, the order and the shape.
//!
//! Layout (numpy's `format.py`): `\x93NUMPY`, a major and a minor version byte,
//! the header length (little-endian `u16` in version 1.0, `u32` in 2.0 and 3.0),
//! then that many header bytes: a Python dict literal padded with spaces and a
//! final `\n` so the data starts on a 64-byte boundary. Version 3.0 only changes
//! the header's text encoding (UTF-8 instead of Latin-1), which does not matter
//! here: every header we accept is ASCII.

use std::io::Read;
use std::path::Path;

use super::pylit::{self, Value};
use crate::formats::error::{FormatError, FormatErrorKind as Kind};
use crate::formats::stream::read_full;

/// The first six bytes of every `.npy` file.
pub(crate) const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The largest header accepted. numpy itself refuses headers over 10 000 bytes
/// by default; this is looser, but stops a corrupt length from allocating much.
pub(crate) const MAX_HEADER_LEN: usize = 1 << 20;

/// numpy pads the header so the data starts on a multiple of this.
const ARRAY_ALIGN: usize = 64;

/// numpy leaves room for the growth axis to reach this many digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// The element types the readers convert, by numpy `descr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    /// `<f2`, IEEE half.
    F2,
    /// `<f4`.
    F4,
    /// `<f8`.
    F8,
    /// `|i1`.
    I1,
    /// `|u1`.
    U1,
    /// `<i4`.
    I4,
    /// `<i8`.
    I8,
    /// `<u4`.
    U4,
    /// `<u8`.
    U8,
}

impl Dtype {
    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            Dtype::I1 | Dtype::U1 => 1,
            Dtype::F2 => 2,
            Dtype::F4 | Dtype::I4 | Dtype::U4 => 4,
            Dtype::F8 | Dtype::I8 | Dtype::U8 => 8,
        }
    }

    /// The `descr` numpy writes for this type.
    pub(crate) fn descr(self) -> &'static str {
        match self {
            Dtype::F2 => "<f2",
            Dtype::F4 => "<f4",
            Dtype::F8 => "<f8",
            Dtype::I1 => "|i1",
            Dtype::U1 => "|u1",
            Dtype::I4 => "<i4",
            Dtype::I8 => "<i8",
            Dtype::U4 => "<u4",
            Dtype::U8 => "<u8",
        }
    }

    /// Parses a `descr` string. Single-byte types take any byte-order mark or
    /// none (numpy writes `|`); wider types must say little-endian (`<`):
    /// big-endian data is refused rather than byte-swapped, and native (`=` or
    /// none) is refused because it depends on the machine that wrote it.
    fn parse(descr: &str) -> Result<Dtype, String> {
        let (order, code) = match descr.as_bytes().first() {
            Some(b'<' | b'>' | b'|' | b'=') => descr.split_at(1),
            _ => ("", descr),
        };
        let dtype = match code {
            "f2" => Dtype::F2,
            "f4" => Dtype::F4,
            "f8" => Dtype::F8,
            "i1" => Dtype::I1,
            "u1" => Dtype::U1,
            "i4" => Dtype::I4,
            "i8" => Dtype::I8,
            "u4" => Dtype::U4,
            "u8" => Dtype::U8,
            _ => {
                return Err(format!(
                    "dtype '{descr}' is not supported (vectors: <f4 <f2 <f8 |i1 |u1; \
                     ids: <i4 <i8 <u4 <u8)"
                ));
            }
        };
        if dtype.size() == 1 {
            // Byte order means nothing for one byte.
        } else if order == ">" {
            return Err(format!(
                "dtype '{descr}' is big-endian, which is not supported; \
                 convert with a.astype('{}')",
                dtype.descr()
            ));
        } else if order != "<" {
            return Err(format!(
                "dtype '{descr}' is not little-endian ('<'); save with a.astype('{}')",
                dtype.descr()
            ));
        }
        Ok(dtype)
    }
}

/// A parsed, checked header: C order, a supported dtype, and the shape as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// The element type.
    pub(crate) dtype: Dtype,
    /// The shape, any number of dimensions (the caller checks how many).
    pub(crate) shape: Vec<u64>,
    /// Bytes from the start of the file to the first element.
    pub(crate) data_offset: u64,
}

/// Reads and checks the preamble and header, leaving `r` at the first data byte.
pub(crate) fn read_header<R: Read>(r: &mut R, path: &Path) -> Result<Header, FormatError> {
    let io_err = |e| FormatError::io(path, "reading the npy header", e);
    let mut pre = [0u8; 10];
    let got = read_full(r, &mut pre).map_err(io_err)?;
    let n_magic = got.min(MAGIC.len());
    if pre[..n_magic] != MAGIC[..n_magic] {
        return Err(FormatError::new(
            path,
            Kind::BadMagic,
            format!(
                "not an npy file: it starts with {:?}, not b\"\\x93NUMPY\"",
                String::from_utf8_lossy(&pre[..n_magic])
            ),
        ));
    }
    if got < 8 {
        return Err(truncated_preamble(path, got));
    }
    let (header_len, data_start) = match (pre[6], pre[7]) {
        (1, 0) => {
            if got < 10 {
                return Err(truncated_preamble(path, got));
            }
            (usize::from(u16::from_le_bytes([pre[8], pre[9]])), 10)
        }
        (2 | 3, 0) => {
            let mut len = [0u8; 4];
            len[..got - 8].copy_from_slice(&pre[8..got]);
            let more = read_full(r, &mut len[got - 8..]).map_err(io_err)?;
            if got - 8 + more < 4 {
                return Err(truncated_preamble(path, got + more));
            }
            let len = u32::from_le_bytes(len);
            (usize::try_from(len).unwrap_or(usize::MAX), 12)
        }
        (major, minor) => {
            return Err(FormatError::new(
                path,
                Kind::UnsupportedVersion,
                format!("npy format version {major}.{minor} is not supported (1.0, 2.0, 3.0 are)"),
            ));
        }
    };
    if header_len > MAX_HEADER_LEN {
        return Err(FormatError::new(
            path,
            Kind::BadHeader,
            format!("header length {header_len} is over the limit of {MAX_HEADER_LEN} bytes"),
        ));
    }
    let mut text = vec![0u8; header_len];
    let got_text = read_full(r, &mut text).map_err(io_err)?;
    if got_text < header_len {
        return Err(FormatError::new(
            path,
            Kind::Truncated,
            format!("file ends inside the npy header ({got_text} of {header_len} bytes)"),
        ));
    }
    let bad_header = |msg: String| FormatError::new(path, Kind::BadHeader, msg);
    let items = pylit::parse_dict(&text)
        .map_err(|msg| bad_header(format!("header is not a valid dict literal: {msg}")))?;

    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (key, value) in items {
        match key.as_str() {
            "descr" => descr = Some(value),
            "fortran_order" => fortran = Some(value),
            "shape" => shape = Some(value),
            other => return Err(bad_header(format!("unexpected header key '{other}'"))),
        }
    }
    let missing = |k: &str| bad_header(format!("header has no '{k}' key"));
    let (descr, fortran, shape) = (
        descr.ok_or_else(|| missing("descr"))?,
        fortran.ok_or_else(|| missing("fortran_order"))?,
        shape.ok_or_else(|| missing("shape"))?,
    );
    let shape = match shape {
        Value::Tuple(dims) => dims
            .iter()
            .map(|d| match d {
                Value::Int(n) => Ok(*n),
                other => Err(bad_header(format!(
                    "'shape' holds a {}, not an int",
                    other.type_name()
                ))),
            })
            .collect::<Result<Vec<u64>, _>>()?,
        other => {
            return Err(bad_header(format!(
                "'shape' is a {}, not a tuple",
                other.type_name()
            )));
        }
    };
    let dtype = match descr {
        Value::Str(s) => {
            Dtype::parse(&s).map_err(|msg| FormatError::new(path, Kind::UnsupportedDtype, msg))?
        }
        Value::List(_) => {
            return Err(FormatError::new(
                path,
                Kind::UnsupportedDtype,
                "structured dtype (a list of fields) is not supported",
            ));
        }
        other => {
            return Err(bad_header(format!(
                "'descr' is a {}, not a str",
                other.type_name()
            )));
        }
    };
    match fortran {
        Value::Bool(false) => {}
        Value::Bool(true) => {
            return Err(FormatError::new(
                path,
                Kind::FortranOrder,
                "array is in Fortran (column-major) order, which is not supported; \
                 save np.ascontiguousarray(a) instead",
            ));
        }
        other => {
            return Err(bad_header(format!(
                "'fortran_order' is a {}, not a bool",
                other.type_name()
            )));
        }
    }
    Ok(Header {
        dtype,
        shape,
        data_offset: data_start as u64 + header_len as u64,
    })
}

fn truncated_preamble(path: &Path, got: usize) -> FormatError {
    let what = if got == 0 {
        "file is empty"
    } else {
        "file ends inside the npy preamble"
    };
    FormatError::new(path, Kind::Truncated, format!("{what} ({got} bytes)"))
}

/// The preamble and header numpy's `np.save` writes for a C-order array of
/// `descr` and `shape`, byte for byte: version 1.0 unless the header needs 2.0.
pub(crate) fn encode_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape_repr = match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_repr}, }}");
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    let text_len = dict.len() + 1; // the final '\n'
    let pad =
        |len_field: usize| ARRAY_ALIGN - (MAGIC.len() + 2 + len_field + text_len) % ARRAY_ALIGN;
    let mut out = Vec::with_capacity(16 + text_len + ARRAY_ALIGN);
    out.extend_from_slice(MAGIC);
    let v1_len = text_len + pad(2);
    if let Ok(len) = u16::try_from(v1_len) {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out.resize(out.len() + pad(2), b' ');
    } else {
        let len = text_len + pad(4);
        out.extend_from_slice(&[2, 0]);
        // A header over 4 GiB would need a shape with ~10^8 dimensions.
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out.resize(out.len() + pad(4), b' ');
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bytes: &[u8]) -> Result<Header, FormatError> {
        read_header(&mut &bytes[..], Path::new("t.npy"))
    }

    /// A preamble of `version` around `text`, with no padding.
    fn raw(version: (u8, u8), text: &str) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[version.0, version.1]);
        if version.0 == 1 {
            out.extend_from_slice(&(text.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(text.as_bytes());
        out
    }

    const BASE_TEXT: &str = "{'descr': '<f4', 'fortran_order': False, 'shape': (20000, 784), }";

    #[test]
    fn encode_matches_numpy_base_npy_header() {
        // The first 128 bytes of fashion-mnist base.npy, as numpy 2.4 wrote them.
        let mut want = Vec::new();
        want.extend_from_slice(b"\x93NUMPY\x01\x00\x76\x00");
        want.extend_from_slice(BASE_TEXT.as_bytes());
        want.resize(127, b' ');
        want.push(b'\n');
        assert_eq!(encode_header("<f4", &[20000, 784]), want);
    }

    #[test]
    fn encoded_headers_are_aligned_and_read_back() {
        for shape in [
            vec![],
            vec![0],
            vec![7],
            vec![0, 3],
            vec![3, 1],
            vec![usize::MAX, 1, 2],
        ] {
            let bytes = encode_header("<i8", &shape);
            assert_eq!(bytes.len() % ARRAY_ALIGN, 0, "{shape:?}");
            assert_eq!(bytes.last(), Some(&b'\n'));
            let h = header(&bytes).unwrap();
            assert_eq!(h.dtype, Dtype::I8);
            assert_eq!(h.shape, shape.iter().map(|&d| d as u64).collect::<Vec<_>>());
            assert_eq!(h.data_offset, bytes.len() as u64);
        }
    }

    #[test]
    fn long_header_switches_to_version_2() {
        let shape = vec![1usize; 30_000]; // "(1, 1, ..." is ~90 000 bytes
        let bytes = encode_header("<f4", &shape);
        assert_eq!(&bytes[6..8], &[2, 0]);
        assert_eq!(bytes.len() % ARRAY_ALIGN, 0);
        let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        assert_eq!(12 + len, bytes.len());
    }

    #[test]
    fn versions_1_2_3_and_python2_ints() {
        for v in [(1, 0), (2, 0), (3, 0)] {
            let h = header(&raw(v, BASE_TEXT)).unwrap();
            assert_eq!(h.shape, vec![20000, 784]);
            assert_eq!(
                h.data_offset,
                if v.0 == 1 { 10 } else { 12 } + BASE_TEXT.len() as u64
            );
        }
        let py2 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }\n";
        assert_eq!(header(&raw((1, 0), py2)).unwrap().shape, vec![2, 3]);
    }

    #[test]
    fn every_dtype_and_byte_order_rule() {
        let h = |descr: &str| {
            let text = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,)}}");
            header(&raw((1, 0), &text))
        };
        for d in [
            Dtype::F2,
            Dtype::F4,
            Dtype::F8,
            Dtype::I1,
            Dtype::U1,
            Dtype::I4,
            Dtype::I8,
            Dtype::U4,
            Dtype::U8,
        ] {
            assert_eq!(h(d.descr()).unwrap().dtype, d);
        }
        assert_eq!(h("<u1").unwrap().dtype, Dtype::U1);
        assert_eq!(h(">i1").unwrap().dtype, Dtype::I1);
        assert_eq!(h("u1").unwrap().dtype, Dtype::U1);
        for (bad, says) in [
            (">f4", "big-endian"),
            (">i8", "big-endian"),
            ("=f4", "little-endian"),
            ("f4", "little-endian"),
            ("<f16", "not supported"),
            ("<c8", "not supported"),
            ("|b1", "not supported"),
            ("<i2", "not supported"),
            ("<U10", "not supported"),
            ("", "not supported"),
        ] {
            let e = h(bad).unwrap_err();
            assert_eq!(e.kind(), Kind::UnsupportedDtype, "{bad}: {e}");
            assert!(e.to_string().contains(says), "{bad}: {e}");
            assert!(e.to_string().starts_with("t.npy: "), "{e}");
        }
    }

    #[test]
    fn bad_preambles() {
        let kind = |bytes: &[u8]| header(bytes).unwrap_err().kind();
        assert_eq!(kind(b""), Kind::Truncated);
        assert_eq!(kind(b"\x93NUM"), Kind::Truncated);
        assert_eq!(kind(b"\x93NUMPY\x01"), Kind::Truncated);
        assert_eq!(kind(b"\x93NUMPY\x01\x00\x10"), Kind::Truncated);
        assert_eq!(kind(b"\x93NUMPY\x02\x00\x10\x00"), Kind::Truncated);
        assert_eq!(kind(b"\x93NUMPY\x01\x00\x10\x00{'descr'"), Kind::Truncated);
        assert_eq!(kind(b"PK\x03\x04 this is a zip"), Kind::BadMagic);
        assert_eq!(kind(b"\x93NUMPX\x01\x00"), Kind::BadMagic);
        assert_eq!(kind(b"x"), Kind::BadMagic);
        assert_eq!(kind(&raw((4, 0), BASE_TEXT)), Kind::UnsupportedVersion);
        assert_eq!(kind(&raw((1, 1), BASE_TEXT)), Kind::UnsupportedVersion);
        assert_eq!(kind(&raw((0, 0), BASE_TEXT)), Kind::UnsupportedVersion);
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&[2, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(kind(&huge), Kind::BadHeader);
        let e = header(&raw((4, 0), BASE_TEXT)).unwrap_err();
        assert!(e.to_string().contains("version 4.0"), "{e}");
    }

    #[test]
    fn bad_dicts() {
        let check = |text: &str, want: Kind| {
            let e = header(&raw((1, 0), text)).unwrap_err();
            assert_eq!(e.kind(), want, "{text}: {e}");
        };
        check("{'descr': '<f4', 'fortran_order': False}", Kind::BadHeader);
        check("{'descr': '<f4', 'shape': (1,)}", Kind::BadHeader);
        check("{'fortran_order': False, 'shape': (1,)}", Kind::BadHeader);
        check(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
            Kind::BadHeader,
        );
        check(
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
            Kind::BadHeader,
        );
        check(
            "{'descr': 4, 'fortran_order': False, 'shape': (1,)}",
            Kind::BadHeader,
        );
        check(
            "{'descr': '<f4', 'fortran_order': False, 'shape': 5}",
            Kind::BadHeader,
        );
        check(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (5)}",
            Kind::BadHeader,
        );
        check(
            "{'descr': '<f4', 'fortran_order': False, 'shape': ('5',)}",
            Kind::BadHeader,
        );
        check(
            "{'descr': '<f4', 'fortran_order': False, 'shape': [5]}",
            Kind::BadHeader,
        );
        check(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk",
            Kind::BadHeader,
        );
        check(
            "'descr': '<f4', 'fortran_order': False, 'shape': (1,)",
            Kind::BadHeader,
        );
        check(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3)}",
            Kind::FortranOrder,
        );
        check(
            "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,)}",
            Kind::UnsupportedDtype,
        );
    }
}
