//! What a sampled history read needs of a row, read without building it: its `_step`,
//! whether it holds every key asked for, and the number under the key that drives the
//! choice. Building a `serde_json::Value` per row cost a keyed `history(samples=1000)` of
//! a million-row run most of its time; here the other keys' values are skipped, not
//! parsed.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::store::parse_lenient;

/// A row as a sampled read sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Probe {
    /// Its `_step` (a whole number, or a float cut to one).
    pub(crate) step: Option<i64>,
    /// Whether every key asked for is there (with any value, `null` too).
    pub(crate) has_all: bool,
    /// The driving key's value, if a number.
    pub(crate) value: Option<f64>,
}

/// Probes a history line for `keys`, `driver` among them. A line serde_json refuses (W&B's
/// bare `NaN`, `Infinity`) is parsed whole, leniently, instead.
pub(crate) fn probe(line: &str, keys: &[String], driver: Option<&str>) -> Probe {
    let seed = Seed { keys, driver };
    let mut de = serde_json::Deserializer::from_str(line);
    match seed.deserialize(&mut de) {
        Ok(p) => p,
        Err(_) => {
            let row = parse_lenient(line).unwrap_or(Value::Null);
            Probe {
                step: step_of(row.get("_step")),
                has_all: keys.iter().all(|k| row.get(k).is_some()),
                value: driver.and_then(|k| row.get(k)).and_then(Value::as_f64),
            }
        }
    }
}

fn step_of(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

struct Seed<'k> {
    keys: &'k [String],
    driver: Option<&'k str>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Probe;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Probe, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Probe;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a history row (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Probe, A::Error> {
        let mut seen = vec![false; self.keys.len()];
        let (mut step, mut value) = (None, None);
        while let Some(key) = map.next_key_seed(KeyOf { keys: self.keys })? {
            let wanted = key.index.and_then(|i| seen.get_mut(i));
            let is_driver = key
                .index
                .is_some_and(|i| Some(self.keys[i].as_str()) == self.driver);
            if let Some(s) = wanted {
                *s = true;
            }
            if key.is_step || is_driver {
                let v: Value = map.next_value()?;
                if key.is_step {
                    step = step_of(Some(&v));
                }
                if is_driver {
                    value = v.as_f64();
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Probe {
            step,
            has_all: seen.iter().all(|s| *s),
            value,
        })
    }
}

/// A row's key: which of the keys asked for it is, and whether it is `_step`.
struct Key {
    index: Option<usize>,
    is_step: bool,
}

/// Reads a key without keeping it (an escaped one is unescaped into a buffer serde_json
/// owns).
struct KeyOf<'k> {
    keys: &'k [String],
}

impl<'de> DeserializeSeed<'de> for KeyOf<'_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyOf<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, k: &str) -> Result<Key, E> {
        Ok(Key {
            index: self.keys.iter().position(|x| x == k),
            is_step: k == "_step",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_probe_reads_what_a_parse_would() {
        let k = keys(&["_step", "loss", "a\"b"]);
        let p = probe(
            r#"{"x": [1, {"y": 2}], "_step": 7, "loss": 0.5, "a\"b": null}"#,
            &k,
            Some("loss"),
        );
        assert_eq!(
            p,
            Probe {
                step: Some(7),
                has_all: true,
                value: Some(0.5)
            }
        );
        let p = probe(r#"{"_step": 8.0, "loss": "high"}"#, &k, Some("loss"));
        assert_eq!(
            p,
            Probe {
                step: Some(8),
                has_all: false,
                value: None
            }
        );
        // Bare NaN: serde_json refuses the line, the lenient parse reads it.
        let p = probe(r#"{"_step": 9, "loss": NaN, "a\"b": 1}"#, &k, Some("loss"));
        assert_eq!(
            p,
            Probe {
                step: Some(9),
                has_all: true,
                value: None
            }
        );
        let p = probe("not json", &k, Some("loss"));
        assert_eq!(
            p,
            Probe {
                step: None,
                has_all: false,
                value: None
            }
        );
    }
}
