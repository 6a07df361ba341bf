//! Chunked reads and writes with little-endian element coding, shared by the
//! `.npy` and `*vecs` code.
//!
//! Data moves in chunks of [`CHUNK_BYTES`] and is converted with `as_chunks::<N>()`
//! over whole chunks, so there is no per-value `Result` in the hot loop and the
//! conversion compiles to plain loads (a no-op byte order on x86).

use std::io::{self, Read, Write};

/// Bytes per read or write: large enough that syscalls do not dominate, small
/// enough to stay in L2. A multiple of every element size (1, 2, 4, 8).
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Reads until `buf` is full or the reader ends; returns how many bytes were read
/// (less than `buf.len()` only at the end of the input).
pub(crate) fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Decodes every whole `N`-byte element of `bytes` with `f` and appends it to
/// `out` (a trailing partial element is ignored).
pub(crate) fn decode_into<const N: usize, T>(
    bytes: &[u8],
    out: &mut Vec<T>,
    f: impl Fn([u8; N]) -> T,
) {
    let (elems, _partial) = bytes.as_chunks::<N>();
    out.extend(elems.iter().map(|&b| f(b)));
}

/// Reads up to `n_bytes` (a multiple of `N`) from `r`, decoding elements into
/// `out` chunk by chunk. Returns the bytes read: less than `n_bytes` only when the
/// input ended early, in which case `out` holds every whole element before it.
pub(crate) fn read_decode<R: Read, const N: usize, T>(
    r: &mut R,
    n_bytes: u64,
    out: &mut Vec<T>,
    f: impl Fn([u8; N]) -> T,
) -> io::Result<u64> {
    let chunk = usize::try_from(n_bytes).map_or(CHUNK_BYTES, |n| n.min(CHUNK_BYTES));
    let mut buf = vec![0u8; chunk];
    let mut done = 0u64;
    while done < n_bytes {
        let want = usize::try_from(n_bytes - done).map_or(chunk, |n| n.min(chunk));
        let got = read_full(r, &mut buf[..want])?;
        // `want` is a multiple of N except possibly at an early end of input,
        // where the partial element is dropped: the caller reports it.
        decode_into(&buf[..got], out, &f);
        done += got as u64;
        if got < want {
            break;
        }
    }
    Ok(done)
}

/// Encodes `vals` with `f` and writes them to `w` in chunks of about
/// [`CHUNK_BYTES`], reusing one buffer.
pub(crate) fn write_encoded<W: Write, const N: usize, T: Copy>(
    w: &mut W,
    vals: &[T],
    f: impl Fn(T) -> [u8; N],
) -> io::Result<()> {
    let per_chunk = CHUNK_BYTES / N;
    let mut buf = vec![0u8; per_chunk.min(vals.len()) * N];
    for part in vals.chunks(per_chunk) {
        let bytes = &mut buf[..part.len() * N];
        let (elems, _) = bytes.as_chunks_mut::<N>();
        for (dst, &v) in elems.iter_mut().zip(part) {
            *dst = f(v);
        }
        w.write_all(bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most 3 bytes per call and an `Interrupted` error
    /// every other call, to exercise the retry and short-read paths.
    struct Dribble<'a> {
        data: &'a [u8],
        calls: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(2) {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "again"));
            }
            let n = buf.len().min(3).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_full_retries_short_and_interrupted_reads() {
        let data: Vec<u8> = (0..20).collect();
        let mut r = Dribble {
            data: &data,
            calls: 0,
        };
        let mut buf = [0u8; 16];
        assert_eq!(read_full(&mut r, &mut buf).unwrap(), 16);
        assert_eq!(&buf[..], &data[..16]);
        assert_eq!(read_full(&mut r, &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], &data[16..]);
    }

    #[test]
    fn read_decode_stops_at_end_and_keeps_whole_elements() {
        let vals: Vec<u32> = (0..1000).collect();
        let mut bytes = Vec::new();
        write_encoded(&mut bytes, &vals, u32::to_le_bytes).unwrap();
        // Cut inside element 700.
        let cut = &bytes[..700 * 4 + 2];
        let mut out = Vec::new();
        let got = read_decode(&mut &cut[..], 4000, &mut out, u32::from_le_bytes).unwrap();
        assert_eq!(got, 700 * 4 + 2);
        assert_eq!(out, &vals[..700]);
    }

    #[test]
    fn chunked_round_trip_across_chunk_boundaries() {
        let n = CHUNK_BYTES / 8 * 3 + 5; // three chunks of u64 and a tail
        let vals: Vec<u64> = (0..n as u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        let mut bytes = Vec::new();
        write_encoded(&mut bytes, &vals, u64::to_le_bytes).unwrap();
        assert_eq!(bytes.len(), n * 8);
        let mut out = Vec::new();
        let got = read_decode(&mut &bytes[..], n as u64 * 8, &mut out, u64::from_le_bytes).unwrap();
        assert_eq!(got, n as u64 * 8);
        assert_eq!(out, vals);
    }
}
