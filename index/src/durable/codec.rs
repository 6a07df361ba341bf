//! Little-endian encoding of the on-disk records, with checked decoding: a
//! short or malformed buffer is an error naming the offset, never a panic.

use crate::metadata::{Metadata, Value};

/// Appends little-endian values to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Enc {
    pub(crate) buf: Vec<u8>,
}

impl Enc {
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub(crate) fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.bytes(s.as_bytes());
    }
    pub(crate) fn u64s(&mut self, v: &[u64]) {
        self.buf.reserve(v.len() * 8);
        for x in v {
            self.u64(*x);
        }
    }
    pub(crate) fn f32s(&mut self, v: &[f32]) {
        self.buf.reserve(v.len() * 4);
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }
    /// One optional metadata record.
    pub(crate) fn metadata(&mut self, m: Option<&Metadata>) {
        match m {
            None => self.u8(0),
            Some(m) => {
                self.u8(1);
                self.u32(m.len() as u32);
                for (k, v) in m {
                    self.str(k);
                    match v {
                        Value::Str(s) => {
                            self.u8(1);
                            self.str(s);
                        }
                        Value::Int(i) => {
                            self.u8(2);
                            self.u64(*i as u64);
                        }
                        Value::Float(x) => {
                            self.u8(3);
                            self.u64(x.to_bits());
                        }
                        Value::Bool(b) => {
                            self.u8(4);
                            self.u8(u8::from(*b));
                        }
                    }
                }
            }
        }
    }
}

/// Why a buffer could not be decoded: what was expected at which offset.
#[derive(Debug)]
pub(crate) struct DecodeError {
    pub(crate) offset: usize,
    pub(crate) what: String,
}

/// Reads little-endian values from a buffer, checking every length.
#[derive(Debug)]
pub(crate) struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Dec { buf, pos: 0 }
    }
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    fn err(&self, what: impl Into<String>) -> DecodeError {
        DecodeError {
            offset: self.pos,
            what: what.into(),
        }
    }
    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(self.err(format!(
                "{what}: needs {n} bytes, {} left",
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    /// A count of items of `item_bytes` each that must fit in what is left.
    pub(crate) fn count(&mut self, item_bytes: usize, what: &str) -> Result<usize, DecodeError> {
        let n = self.u64(what)? as usize;
        if n.checked_mul(item_bytes.max(1))
            .is_none_or(|b| b > self.remaining())
        {
            return Err(self.err(format!(
                "{what}: count {n} does not fit the {} bytes left",
                self.remaining()
            )));
        }
        Ok(n)
    }
    pub(crate) fn str(&mut self, what: &str) -> Result<String, DecodeError> {
        let n = self.u32(what)? as usize;
        let at = self.pos;
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError {
            offset: at,
            what: format!("{what}: not UTF-8"),
        })
    }
    pub(crate) fn u64s(&mut self, n: usize, what: &str) -> Result<Vec<u64>, DecodeError> {
        let b = self.take(n.checked_mul(8).ok_or_else(|| self.err(what))?, what)?;
        Ok(b.chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }
    pub(crate) fn f32s(&mut self, n: usize, what: &str) -> Result<Vec<f32>, DecodeError> {
        let b = self.take(n.checked_mul(4).ok_or_else(|| self.err(what))?, what)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }
    pub(crate) fn metadata(&mut self) -> Result<Option<Metadata>, DecodeError> {
        match self.u8("metadata flag")? {
            0 => Ok(None),
            1 => {
                let n = self.u32("metadata entries")? as usize;
                let mut m = Metadata::new();
                for _ in 0..n {
                    let k = self.str("metadata key")?;
                    let v = match self.u8("metadata value tag")? {
                        1 => Value::Str(self.str("metadata string")?),
                        2 => Value::Int(self.u64("metadata int")? as i64),
                        3 => Value::Float(f64::from_bits(self.u64("metadata float")?)),
                        4 => Value::Bool(self.u8("metadata bool")? != 0),
                        t => return Err(self.err(format!("unknown metadata value tag {t}"))),
                    };
                    m.insert(k, v);
                }
                Ok(Some(m))
            }
            f => Err(self.err(format!("bad metadata flag {f}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_short_buffers_are_errors() {
        let mut m = Metadata::new();
        m.insert("s".into(), Value::Str("x ✓".into()));
        m.insert("i".into(), Value::Int(-5));
        m.insert("f".into(), Value::Float(0.25));
        m.insert("b".into(), Value::Bool(true));
        let mut e = Enc::default();
        e.u64(7);
        e.f32s(&[1.5, -2.0]);
        e.metadata(Some(&m));
        e.metadata(None);
        let mut d = Dec::new(&e.buf);
        assert_eq!(d.u64("a").unwrap(), 7);
        assert_eq!(d.f32s(2, "v").unwrap(), vec![1.5, -2.0]);
        assert_eq!(d.metadata().unwrap(), Some(m));
        assert_eq!(d.metadata().unwrap(), None);
        assert_eq!(d.remaining(), 0);
        for cut in 0..e.buf.len() {
            let mut d = Dec::new(&e.buf[..cut]);
            let r = d
                .u64("a")
                .and_then(|_| d.f32s(2, "v"))
                .and_then(|_| d.metadata())
                .and_then(|_| d.metadata());
            assert!(r.is_err(), "cut {cut}");
        }
        let mut d = Dec::new(&[255, 255, 255, 255, 255, 255, 255, 255]);
        assert!(d.count(8, "n").is_err());
    }
}
