//! Per-vector metadata records and the filters a search can apply.
//!
//! A record maps string keys to scalar values. Filters are evaluated inside the
//! index (inside graph traversal and exact scans), never by calling back into a
//! binding: an allowed-id set, or equality predicates on metadata that must all
//! hold.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// One metadata value. Equality is typed: `Int(1)` does not equal `Float(1.0)`.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// A float (compared with `==`, so NaN never matches).
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// A vector's metadata record: keys in sorted order.
pub type Metadata = BTreeMap<String, Value>;

/// Which rows a search may return.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// Only these ids.
    Ids(HashSet<u64>),
    /// Only rows whose metadata has every one of these keys with an equal value.
    Equals(Vec<(String, Value)>),
}

impl Filter {
    /// A filter admitting the given ids.
    pub fn ids(ids: impl IntoIterator<Item = u64>) -> Self {
        Filter::Ids(ids.into_iter().collect())
    }

    /// A filter admitting rows whose metadata matches every `(key, value)`.
    pub fn equals<K: Into<String>, V: Into<Value>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Filter::Equals(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Whether a row with this id and metadata passes.
    pub fn admits(&self, id: u64, metadata: Option<&Metadata>) -> bool {
        match self {
            Filter::Ids(set) => set.contains(&id),
            Filter::Equals(pairs) => match metadata {
                Some(m) => pairs.iter().all(|(k, v)| m.get(k) == Some(v)),
                None => pairs.is_empty(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_is_typed_and_conjunctive() {
        let mut m = Metadata::new();
        m.insert("year".into(), Value::Int(2020));
        m.insert("lang".into(), "en".into());
        assert!(Filter::equals([("year", 2020i64)]).admits(1, Some(&m)));
        assert!(!Filter::equals([("year", 2020.0f64)]).admits(1, Some(&m)));
        assert!(
            !Filter::Equals(vec![
                ("year".into(), 2020i64.into()),
                ("lang".into(), "fr".into())
            ])
            .admits(1, Some(&m))
        );
        assert!(!Filter::equals([("year", 2020i64)]).admits(1, None));
        assert!(Filter::Equals(vec![]).admits(1, None));
        assert!(Filter::ids([1, 5]).admits(5, None));
        assert!(!Filter::ids([1, 5]).admits(2, Some(&m)));
    }
}
