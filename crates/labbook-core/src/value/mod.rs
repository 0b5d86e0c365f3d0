//! Values a run can log: numbers, booleans, text, lists and nested maps, and media; metric
//! keys; config capture from any `serde::Serialize`; and keeping secrets out of both.
//!
//! `value` and `media` import each other, the one circle between labbook-core's parts
//! (`tests/architecture.rs` allows it by name): a value may hold media not yet encoded
//! ([`Value::Media`]), and encoded media are values again (the JSON W&B reads). It is one
//! recursive data type split over two folders, as `serde_json::Value` would be if its
//! numbers lived in a module of their own.

pub(crate) mod config;
pub(crate) mod key;
pub(crate) mod secrets;
mod suggest;

pub use key::Key;
pub(crate) use suggest::closest;

use std::fmt::Write as _;

use crate::media::Media;

/// A value in a history row, the summary or the config.
///
/// Numbers keep their type: an `f32` is written with its shortest `f32` form (`0.41f32` is
/// `0.41`, not `0.4099999964`), integers are written exactly, and NaN and ±infinity are
/// written as W&B writes them (`NaN`, `Infinity`, `-Infinity`).
///
/// ```
/// use labbook_core::Value;
/// assert_eq!(Value::from(0.41f32).to_json(), "0.41");
/// assert_eq!(Value::from(f64::NAN).to_json(), "NaN");
/// let nested = Value::map([("x", Value::from(1)), ("y", Value::from("two"))]);
/// assert_eq!(nested.to_json(), r#"{"x":1,"y":"two"}"#);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// JSON `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer too large for `i64` stays exact.
    UInt(u64),
    /// A 32-bit float, written in its shortest `f32` form.
    F32(f32),
    /// A 64-bit float.
    F64(f64),
    /// Text.
    Str(String),
    /// A list of values.
    List(Vec<Value>),
    /// A nested map; keys keep their order. A `/` inside a key stays part of that key.
    Map(Vec<(String, Value)>),
    /// An image, histogram, ...: written to files (or inline JSON) by the worker.
    Media(Box<Media>),
}

/// How deep lists and maps may nest in a logged value (and in a config). Deeper values
/// are refused at the call: every step of the way (checks, JSON, summaries) walks them.
pub(crate) const MAX_DEPTH: usize = 64;

impl Value {
    /// Whether lists and maps nest more than `limit` levels deep. The walk stops at the
    /// limit, so any depth is safe to ask about, and it allocates nothing.
    pub(crate) fn deeper_than(&self, limit: usize) -> bool {
        match self {
            Value::List(items) => limit == 0 || items.iter().any(|v| v.deeper_than(limit - 1)),
            Value::Map(items) => limit == 0 || items.iter().any(|(_, v)| v.deeper_than(limit - 1)),
            _ => false,
        }
    }

    /// A nested map from `(key, value)` pairs.
    ///
    /// ```
    /// use labbook_core::Value;
    /// let v = Value::map([("a", 1.into())]);
    /// assert_eq!(v.to_json(), r#"{"a":1}"#);
    /// ```
    pub fn map<K: Into<String>>(items: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(items.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The value as a float, if it is a number (booleans are not numbers here).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::UInt(u) => Some(u as f64),
            Value::F32(f) => Some(f as f64),
            Value::F64(f) => Some(f),
            _ => None,
        }
    }

    /// The value as JSON text, in the dialect W&B writes (bare `NaN`/`Infinity` tokens).
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s);
        s
    }

    /// Appends the JSON text of this value to `out`.
    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::UInt(u) => {
                let _ = write!(out, "{u}");
            }
            Value::F32(f) => write_f32(*f, out),
            Value::F64(f) => write_f64(*f, out),
            Value::Str(s) => write_json_str(s, out),
            Value::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Value::Map(items) => {
                out.push('{');
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_str(k, out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
            // Media become JSON on the worker before anything is written.
            Value::Media(_) => out.push_str("null"),
        }
    }

    /// A rough size in bytes, used to bound the logging queue by bytes rather than entries.
    #[inline]
    pub(crate) fn approx_bytes(&self) -> usize {
        const BASE: usize = std::mem::size_of::<Value>();
        match self {
            Value::Str(s) => BASE + s.len(),
            Value::List(items) => BASE + items.iter().map(Value::approx_bytes).sum::<usize>(),
            Value::Map(items) => {
                BASE + items
                    .iter()
                    .map(|(k, v)| k.len() + v.approx_bytes())
                    .sum::<usize>()
            }
            Value::Media(m) => BASE + m.approx_bytes(),
            _ => BASE,
        }
    }

    /// Converts to `serde_json::Value`; non-finite floats, which JSON cannot hold, become
    /// `null`.
    pub fn to_serde_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::UInt(u) => J::from(*u),
            Value::F32(f) => {
                // Going through the shortest f32 text keeps 0.41f32 as 0.41.
                let text = ryu::Buffer::new().format(*f).to_owned();
                if f.is_finite() {
                    text.parse::<f64>().map(J::from).unwrap_or(J::Null)
                } else {
                    J::Null
                }
            }
            Value::F64(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::Str(s) => J::String(s.clone()),
            Value::List(items) => J::Array(items.iter().map(Value::to_serde_json).collect()),
            Value::Map(items) => J::Object(
                items
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_serde_json()))
                    .collect(),
            ),
            Value::Media(_) => J::Null,
        }
    }
}

pub(crate) fn write_f64(f: f64, out: &mut String) {
    if f.is_finite() {
        out.push_str(ryu::Buffer::new().format_finite(f));
    } else {
        write_non_finite(f.is_nan(), f > 0.0, out);
    }
}

fn write_f32(f: f32, out: &mut String) {
    if f.is_finite() {
        out.push_str(ryu::Buffer::new().format_finite(f));
    } else {
        write_non_finite(f.is_nan(), f > 0.0, out);
    }
}

fn write_non_finite(nan: bool, positive: bool, out: &mut String) {
    out.push_str(if nan {
        "NaN"
    } else if positive {
        "Infinity"
    } else {
        "-Infinity"
    });
}

/// Writes `s` as a JSON string literal.
pub(crate) fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

macro_rules! from_int {
    ($variant:ident as $as:ty: $($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$variant(v as $as)
            }
        }
    )*};
}
from_int!(Int as i64: i8, i16, i32, i64, u8, u16, u32);

impl From<isize> for Value {
    fn from(v: isize) -> Value {
        Value::Int(v as i64)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        i64::try_from(v).map_or(Value::UInt(v), Value::Int)
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::from(v as u64)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::F32(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::F64(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value> + Clone> From<&[T]> for Value {
    fn from(v: &[T]) -> Value {
        Value::List(v.iter().cloned().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Value {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(b),
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::UInt(u)
                } else {
                    Value::F64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            J::String(s) => Value::Str(s),
            J::Array(a) => Value::List(a.into_iter().map(Value::from).collect()),
            J::Object(o) => Value::Map(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_shortest_and_non_finite_as_wandb_tokens() {
        assert_eq!(Value::from(0.41f32).to_json(), "0.41");
        assert_eq!(Value::from(0.1f64).to_json(), "0.1");
        assert_eq!(Value::from(1.0f64).to_json(), "1.0");
        assert_eq!(Value::from(f32::NAN).to_json(), "NaN");
        assert_eq!(Value::from(f64::INFINITY).to_json(), "Infinity");
        assert_eq!(Value::from(f32::NEG_INFINITY).to_json(), "-Infinity");
        let big: f64 = serde_json::from_str(&Value::from(1e300).to_json()).unwrap();
        assert_eq!(big, 1e300);
    }

    #[test]
    fn integers_are_exact() {
        assert_eq!(Value::from(1u64 << 62).to_json(), "4611686018427387904");
        assert_eq!(Value::from(u64::MAX).to_json(), "18446744073709551615");
        assert_eq!(Value::from(i64::MIN).to_json(), "-9223372036854775808");
    }

    #[test]
    fn strings_are_escaped_and_unicode_is_kept() {
        let v = Value::from("a\"b\\c\nd\u{1}é✓");
        assert_eq!(v.to_json(), "\"a\\\"b\\\\c\\nd\\u0001é✓\"");
        let back: String = serde_json::from_str(&v.to_json()).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é✓");
    }

    #[test]
    fn nested_values_keep_order_and_slashes() {
        let v = Value::map([
            ("z/1", Value::from(vec![1, 2])),
            ("a", Value::map([("b", Value::Null)])),
        ]);
        assert_eq!(v.to_json(), r#"{"z/1":[1,2],"a":{"b":null}}"#);
    }

    #[test]
    fn f32_to_serde_json_keeps_the_short_form() {
        assert_eq!(
            Value::from(0.41f32).to_serde_json(),
            serde_json::json!(0.41)
        );
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;
    use serde_json::Value as J;

    use super::*;
    use crate::testing::{CASES, nested_list, value};

    /// What W&B's reader makes of a value's JSON: non-finite numbers as their token names.
    fn as_read(v: &Value) -> J {
        let non_finite = |nan: bool, pos: bool| {
            J::from(if nan {
                "NaN"
            } else if pos {
                "Infinity"
            } else {
                "-Infinity"
            })
        };
        match v {
            Value::F64(f) if !f.is_finite() => non_finite(f.is_nan(), *f > 0.0),
            Value::F32(f) if !f.is_finite() => non_finite(f.is_nan(), *f > 0.0),
            Value::List(items) => J::Array(items.iter().map(as_read).collect()),
            Value::Map(items) => {
                let mut m = serde_json::Map::new();
                for (k, v) in items {
                    m.insert(k.clone(), as_read(v));
                }
                J::Object(m)
            }
            other => other.to_serde_json(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Every value's JSON reads back (W&B's dialect) as the value it was.
        #[test]
        fn json_round_trips(v in value(6)) {
            let text = v.to_json();
            let back = crate::wire::json::parse(&text)
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(back, as_read(&v), "{}", text);
            prop_assert!(v.approx_bytes() >= std::mem::size_of::<Value>());
        }

        /// The depth check agrees with the depth, and never walks past its limit.
        #[test]
        fn depth_checks_agree(depth in 0usize..200, limit in 0usize..100) {
            let v = nested_list(depth);
            prop_assert_eq!(v.deeper_than(limit), depth > limit);
        }
    }

    #[test]
    fn ten_thousand_levels_are_measured_without_recursing_that_deep() {
        let v = nested_list(10_000);
        assert!(v.deeper_than(MAX_DEPTH));
        // Dropping it is the test's business: on a thread with room for it.
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || drop(v))
            .unwrap()
            .join()
            .unwrap();
    }
}
