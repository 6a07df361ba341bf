//! Metadata records and index reports as JSON, typed as in Python.
//!
//! A record is a JSON object whose values are strings, integers, floats or
//! booleans. The number's spelling decides its type, as Python's `json` module
//! does: `1` is an integer (`Value::Int`, 64-bit signed) and `1.0`, `1e0` are
//! floats (`Value::Float`), so a filter on `1` does not match `1.0`. An integer
//! outside the 64-bit signed range, a repeated key, a nested value, `null` as a
//! value, or anything but an object is `SAGEVEC_ERR_BAD_JSON`. Written back, an
//! integer has no decimal point and a float always has one (or an exponent); a
//! NaN or infinite float (which only the Python binding can store) is written
//! `NaN`, `Infinity` or `-Infinity`, as Python's `json.dumps` writes it.

use std::fmt;
use std::time::Duration;

use ::sagevec_index::{IndexStats, Metadata, Value};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::status::{Error, SAGEVEC_ERR_BAD_JSON};

fn bad(message: impl fmt::Display) -> Error {
    Error::new(SAGEVEC_ERR_BAD_JSON, message)
}

/// A JSON object's entries in order, each value still as its raw text.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Obj;
        impl<'de> Visitor<'de> for Obj {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, &'de RawValue)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("key {key:?} appears twice")));
                    }
                    out.push((key, map.next_value()?));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Obj)
    }
}

/// One value from its raw JSON text.
fn value_of(key: &str, raw: &RawValue) -> Result<Value, Error> {
    let text = raw.get();
    let first = text.as_bytes().first().copied().unwrap_or(b' ');
    match first {
        b'"' => serde_json::from_str::<String>(text)
            .map(Value::Str)
            .map_err(|e| bad(format!("metadata value {key:?}: {e}"))),
        b't' | b'f' => serde_json::from_str::<bool>(text)
            .map(Value::Bool)
            .map_err(|e| bad(format!("metadata value {key:?}: {e}"))),
        b'-' | b'0'..=b'9' => {
            if text.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) {
                text.parse::<f64>()
                    .map(Value::Float)
                    .map_err(|e| bad(format!("metadata value {key:?}: {e}")))
            } else {
                text.parse::<i64>().map(Value::Int).map_err(|_| {
                    bad(format!(
                        "metadata value {key:?}: {text} does not fit a 64-bit signed integer"
                    ))
                })
            }
        }
        _ => Err(bad(format!(
            "metadata value {key:?} must be a string, integer, float or boolean, got {text}"
        ))),
    }
}

/// A record from JSON text: an object, or `null` for no record.
pub(crate) fn parse_record(text: &str) -> Result<Option<Metadata>, Error> {
    if text.trim() == "null" {
        return Ok(None);
    }
    let entries: Entries<'_> =
        serde_json::from_str(text).map_err(|e| bad(format!("metadata record: {e}")))?;
    entries
        .0
        .into_iter()
        .map(|(k, raw)| {
            let v = value_of(&k, raw)?;
            Ok((k, v))
        })
        .collect::<Result<Metadata, Error>>()
        .map(Some)
}

fn float_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        // serde_json writes finite floats with a '.' or an exponent (ryu), which is
        // what keeps them floats when read back.
        serde_json::Value::from(x).to_string()
    }
}

/// A record as JSON text (`null` for none), keys in sorted order.
pub(crate) fn record_text(m: Option<&Metadata>) -> String {
    let Some(m) = m else {
        return "null".into();
    };
    let fields: Vec<String> = m
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::Str(s) => serde_json::Value::from(s.as_str()).to_string(),
                Value::Int(i) => i.to_string(),
                Value::Float(x) => float_text(*x),
                Value::Bool(b) => b.to_string(),
            };
            format!("{}:{value}", serde_json::Value::from(k.as_str()))
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// The stats report, with the keys and units of the Python binding's `stats()`.
pub(crate) fn stats_text(s: &IndexStats) -> String {
    let us = |t: Duration| t.as_secs_f64() * 1e6;
    serde_json::json!({
        "len": s.len,
        "dim": s.dim,
        "metric": s.metric.name(),
        "version": s.version,
        "graph": {
            "slots": s.graph.slots,
            "removed_slots": s.graph.removed_slots,
            "max_level": s.graph.max_level,
            "walks_f16": s.graph.walks_f16,
            "f16_scale": s.graph.f16_scale,
            "clipped_rows": s.graph.clipped_rows,
        },
        "rows_stored": s.rows_stored,
        "searches": s.searches,
        "batch_searches": s.batch_searches,
        "vectors_added": s.vectors_added,
        "vectors_removed": s.vectors_removed,
        "compactions": s.compactions,
        "repairs": s.repairs,
        "checkpoints": s.checkpoints,
        "builder_errors": s.builder_errors,
        "last_builder_error": s.last_builder_error,
        "exact_fallbacks": s.exact_fallbacks,
        "latency": {
            "count": s.latency.count,
            "mean_us": us(s.latency.mean),
            "p50_us": us(s.latency.p50),
            "p99_us": us(s.latency.p99),
        },
        "memory_bytes": {
            "vectors": s.memory.vectors,
            "graphs": s.memory.graphs,
            "rows": s.memory.rows,
            "total": s.memory.total(),
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<Value, Error> {
        let m = parse_record(text)?.expect("a record");
        Ok(m.into_values().next().expect("one value"))
    }

    #[test]
    fn number_spelling_decides_the_type() {
        assert_eq!(one(r#"{"a": 1}"#).unwrap(), Value::Int(1));
        assert_eq!(one(r#"{"a": -7}"#).unwrap(), Value::Int(-7));
        assert_eq!(one(r#"{"a": 1.0}"#).unwrap(), Value::Float(1.0));
        assert_eq!(one(r#"{"a": 1e3}"#).unwrap(), Value::Float(1000.0));
        assert_eq!(one(r#"{"a": -2E-1}"#).unwrap(), Value::Float(-0.2));
        assert_eq!(
            one(r#"{"a": 9223372036854775807}"#).unwrap(),
            Value::Int(i64::MAX)
        );
        assert_eq!(
            one(r#"{"a": -9223372036854775808}"#).unwrap(),
            Value::Int(i64::MIN)
        );
        assert_eq!(one(r#"{"a": true}"#).unwrap(), Value::Bool(true));
        assert_eq!(
            one(r#"{"a": "x\"y\u00e9"}"#).unwrap(),
            Value::Str("x\"yé".into())
        );
    }

    #[test]
    fn what_python_cannot_store_is_refused() {
        for text in [
            r#"{"a": 9223372036854775808}"#,
            r#"{"a": -9223372036854775809}"#,
            r#"{"a": null}"#,
            r#"{"a": [1]}"#,
            r#"{"a": {"b": 1}}"#,
            r#"{"a": 1, "a": 2}"#,
            r#"[1, 2]"#,
            r#""text""#,
            r#"{"a": NaN}"#,
            r#"{"a": 1,}"#,
            r#"{"a": 1} trailing"#,
            "",
        ] {
            let e = parse_record(text).unwrap_err();
            assert_eq!(e.status, SAGEVEC_ERR_BAD_JSON, "{text}: {}", e.message);
        }
        assert_eq!(parse_record(" null ").unwrap(), None);
        assert_eq!(parse_record("{}").unwrap(), Some(Metadata::new()));
    }

    #[test]
    fn records_round_trip_with_their_types() {
        let text = r#"{"b": 1, "a": 1.0, "c": "s", "d": false, "e": 1e300, "f": -0.0}"#;
        let m = parse_record(text).unwrap().unwrap();
        let back = record_text(Some(&m));
        assert_eq!(
            back,
            r#"{"a":1.0,"b":1,"c":"s","d":false,"e":1e+300,"f":-0.0}"#
        );
        assert_eq!(parse_record(&back).unwrap().unwrap(), m);
        assert_eq!(record_text(None), "null");
        let mut odd = Metadata::new();
        odd.insert("n".into(), Value::Float(f64::NAN));
        odd.insert("p".into(), Value::Float(f64::INFINITY));
        odd.insert("q".into(), Value::Float(f64::NEG_INFINITY));
        assert_eq!(
            record_text(Some(&odd)),
            r#"{"n":NaN,"p":Infinity,"q":-Infinity}"#
        );
    }
}
