//! A parser for the Python literals an `.npy` header is made of.
//!
//! numpy writes the header with `repr()` and reads it back with
//! `ast.literal_eval`, so the header is a Python dict literal:
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (20000, 784), }`. This
//! accepts the subset that can appear there, with Python's own rules:
//!
//! - a dict with string keys in any order, an optional trailing comma, and any
//!   whitespace between tokens; duplicate keys are rejected (Python would keep the
//!   last one silently);
//! - strings in `'` or `"` of printable ASCII without escapes;
//! - non-negative decimal integers (no leading zeros, like Python 3), with an
//!   optional Python 2 `L` suffix (old numpy wrote `(20000L, 784L)`);
//! - `True`, `False`;
//! - tuples with Python's comma rule: `()` is empty, `(5,)` is a 1-tuple, `(5)`
//!   is just the integer 5; lists `[...]` (structured dtypes use them).
//!
//! Nesting is limited to [`MAX_DEPTH`] so a hostile header cannot overflow the
//! stack.

/// A parsed literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Str(String),
    Int(u64),
    Bool(bool),
    Tuple(Vec<Value>),
    List(Vec<Value>),
}

impl Value {
    /// A short name of the value's Python type, for messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "str",
            Value::Int(_) => "int",
            Value::Bool(_) => "bool",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
        }
    }
}

/// How deeply tuples and lists may nest.
pub(crate) const MAX_DEPTH: usize = 16;

/// Parses `text` as one dict literal followed only by whitespace; returns its
/// items in file order, or a message saying what is wrong and at which byte.
pub(crate) fn parse_dict(text: &[u8]) -> Result<Vec<(String, Value)>, String> {
    let mut p = Parser {
        s: text,
        pos: 0,
        depth: 0,
    };
    let items = p.dict()?;
    if p.peek().is_some() {
        return Err(format!("unexpected text after the dict at byte {}", p.pos));
    }
    Ok(items)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    /// Skips whitespace and returns the next byte without consuming it.
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
        self.s.get(self.pos).copied()
    }

    fn describe(&mut self) -> String {
        match self.peek() {
            Some(c) if c.is_ascii_graphic() => format!("'{}' at byte {}", c as char, self.pos),
            Some(c) => format!("byte 0x{c:02x} at byte {}", self.pos),
            None => "the end of the header".to_string(),
        }
    }

    fn expect(&mut self, want: u8) -> Result<(), String> {
        if self.peek() == Some(want) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!(
                "expected '{}', found {}",
                want as char,
                self.describe()
            ))
        }
    }

    fn dict(&mut self) -> Result<Vec<(String, Value)>, String> {
        self.expect(b'{')?;
        let mut items: Vec<(String, Value)> = Vec::new();
        loop {
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(items);
            }
            let key = match self.value()? {
                Value::Str(s) => s,
                other => return Err(format!("a dict key is a {}, not a str", other.type_name())),
            };
            self.expect(b':')?;
            let value = self.value()?;
            if items.iter().any(|(k, _)| *k == key) {
                return Err(format!("duplicate key '{key}'"));
            }
            items.push((key, value));
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(items);
                }
                _ => return Err(format!("expected ',' or '}}', found {}", self.describe())),
            }
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(b'\'' | b'"') => self.string(),
            Some(b'0'..=b'9') => self.int(),
            Some(b'(') => self.tuple(),
            Some(b'[') => self.list(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => self.name(),
            _ => Err(format!("expected a value, found {}", self.describe())),
        }
    }

    fn string(&mut self) -> Result<Value, String> {
        let quote = self.s[self.pos];
        let start = self.pos + 1;
        let mut end = start;
        loop {
            match self.s.get(end) {
                None => {
                    return Err(format!(
                        "string starting at byte {} is not closed",
                        start - 1
                    ));
                }
                Some(&c) if c == quote => break,
                Some(b'\\') => {
                    return Err(format!("escape sequence at byte {end} (not supported)"));
                }
                Some(&c) if (0x20..0x7f).contains(&c) => end += 1,
                Some(&c) => return Err(format!("byte 0x{c:02x} at byte {end} inside a string")),
            }
        }
        self.pos = end + 1;
        // Every byte is printable ASCII, so this is valid UTF-8.
        Ok(Value::Str(
            String::from_utf8_lossy(&self.s[start..end]).into_owned(),
        ))
    }

    fn int(&mut self) -> Result<Value, String> {
        let start = self.pos;
        let mut n: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = self.s.get(self.pos) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c - b'0')))
                .ok_or_else(|| format!("integer at byte {start} does not fit in 64 bits"))?;
            self.pos += 1;
        }
        let digits = &self.s[start..self.pos];
        if digits.len() > 1 && digits[0] == b'0' && n != 0 {
            return Err(format!("integer at byte {start} has a leading zero"));
        }
        if let Some(b'L' | b'l') = self.s.get(self.pos) {
            self.pos += 1;
        }
        if let Some(&c) = self.s.get(self.pos)
            && (c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            return Err(format!("malformed number at byte {start}"));
        }
        Ok(Value::Int(n))
    }

    fn name(&mut self) -> Result<Value, String> {
        let start = self.pos;
        while let Some(c) = self.s.get(self.pos)
            && (c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.pos += 1;
        }
        match &self.s[start..self.pos] {
            b"True" => Ok(Value::Bool(true)),
            b"False" => Ok(Value::Bool(false)),
            other => Err(format!(
                "unexpected name '{}' at byte {start}",
                String::from_utf8_lossy(other)
            )),
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "nesting deeper than {MAX_DEPTH} at byte {}",
                self.pos
            ));
        }
        self.pos += 1; // the opening bracket
        Ok(())
    }

    /// `(...)`: Python's comma rule decides between a tuple and a parenthesised
    /// value.
    fn tuple(&mut self) -> Result<Value, String> {
        self.enter()?;
        if self.peek() == Some(b')') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Tuple(Vec::new()));
        }
        let first = self.value()?;
        match self.peek() {
            Some(b')') => {
                self.pos += 1;
                self.depth -= 1;
                Ok(first)
            }
            Some(b',') => {
                let items = self.rest_of_seq(vec![first], b')')?;
                Ok(Value::Tuple(items))
            }
            _ => Err(format!("expected ',' or ')', found {}", self.describe())),
        }
    }

    fn list(&mut self) -> Result<Value, String> {
        self.enter()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::List(Vec::new()));
        }
        let first = self.value()?;
        let items = self.rest_of_seq(vec![first], b']')?;
        Ok(Value::List(items))
    }

    /// After the first item: `(, item)* ,? close`.
    fn rest_of_seq(&mut self, mut items: Vec<Value>, close: u8) -> Result<Vec<Value>, String> {
        loop {
            match self.peek() {
                Some(c) if c == close => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(items);
                }
                Some(b',') => {
                    self.pos += 1;
                    if self.peek() == Some(close) {
                        continue;
                    }
                    items.push(self.value()?);
                }
                _ => {
                    return Err(format!(
                        "expected ',' or '{}', found {}",
                        close as char,
                        self.describe()
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(s: &str) -> Result<Vec<(String, Value)>, String> {
        parse_dict(s.as_bytes())
    }

    fn get<'a>(items: &'a [(String, Value)], key: &str) -> &'a Value {
        &items.iter().find(|(k, _)| k == key).unwrap().1
    }

    #[test]
    fn numpy_header_as_written() {
        let items =
            dict("{'descr': '<f4', 'fortran_order': False, 'shape': (20000, 784), }        \n")
                .unwrap();
        assert_eq!(get(&items, "descr"), &Value::Str("<f4".into()));
        assert_eq!(get(&items, "fortran_order"), &Value::Bool(false));
        assert_eq!(
            get(&items, "shape"),
            &Value::Tuple(vec![Value::Int(20000), Value::Int(784)])
        );
    }

    #[test]
    fn key_order_spacing_quotes_and_trailing_commas_are_free() {
        let items = dict("{ \"shape\":(3 ,4,),'fortran_order':True,\n'descr' : \"|u1\"}").unwrap();
        assert_eq!(
            get(&items, "shape"),
            &Value::Tuple(vec![Value::Int(3), Value::Int(4)])
        );
        assert_eq!(get(&items, "fortran_order"), &Value::Bool(true));
        assert_eq!(get(&items, "descr"), &Value::Str("|u1".into()));
    }

    #[test]
    fn tuple_comma_rule() {
        let shape = |s: &str| get(&dict(&format!("{{'shape': {s}}}")).unwrap(), "shape").clone();
        assert_eq!(shape("()"), Value::Tuple(vec![]));
        assert_eq!(shape("(5,)"), Value::Tuple(vec![Value::Int(5)]));
        assert_eq!(shape("(5)"), Value::Int(5));
        assert_eq!(shape("((5))"), Value::Int(5));
        assert_eq!(
            shape("(0, 7)"),
            Value::Tuple(vec![Value::Int(0), Value::Int(7)])
        );
        assert_eq!(
            shape("(20000L, 784L)"),
            Value::Tuple(vec![Value::Int(20000), Value::Int(784)])
        );
        assert_eq!(shape("[('a', '<f4')]"), {
            let field = Value::Tuple(vec![Value::Str("a".into()), Value::Str("<f4".into())]);
            Value::List(vec![field])
        });
        assert_eq!(shape("[]"), Value::List(vec![]));
    }

    #[test]
    fn malformed_headers_are_errors() {
        for bad in [
            "",
            "{",
            "}",
            "{'a': 1",
            "{'a' 1}",
            "{'a': 1,,}",
            "{,}",
            "{1: 2}",
            "{'a': 1, 'a': 2}",
            "{'a': 1} x",
            "{'a': 1}{}",
            "{'a': (1 2)}",
            "{'a': (1,,)}",
            "{'a': (,)}",
            "{'a': -1}",
            "{'a': 1.5}",
            "{'a': 01}",
            "{'a': 1_000}",
            "{'a': 18446744073709551616}",
            "{'a': None}",
            "{'a': true}",
            "{'a': 'x}",
            "{'a': 'x\\'y'}",
            "{'a': 'caf\u{e9}'}",
            "{'a': {'b': 1}}",
            "{'a': 12abc}",
        ] {
            assert!(dict(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn nesting_is_limited() {
        let ok = format!(
            "{{'a': {}1{}}}",
            "(".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        assert_eq!(get(&dict(&ok).unwrap(), "a"), &Value::Int(1));
        let deep = format!("{{'a': {}1{}}}", "(".repeat(100_000), ")".repeat(100_000));
        let err = dict(&deep).unwrap_err();
        assert!(err.contains("nesting"), "{err}");
    }

    #[test]
    fn max_u64_and_zero_forms() {
        let items = dict("{'a': 18446744073709551615, 'b': 0, 'c': 00}").unwrap();
        assert_eq!(get(&items, "a"), &Value::Int(u64::MAX));
        assert_eq!(get(&items, "b"), &Value::Int(0));
        assert_eq!(get(&items, "c"), &Value::Int(0));
    }
}
