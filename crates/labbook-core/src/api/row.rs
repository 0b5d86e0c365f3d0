//! A history or system-metrics row as read back, and a stream of them.

use std::collections::BTreeMap;

use serde_json::Value as J;

use crate::error::{Error, Result};

/// One row: values by key, as logged (a nested map stays an object; a media value is its
/// W&B object; `NaN` and `Infinity` are the strings `"NaN"` and `"Infinity"`).
///
/// ```
/// let row = labbook_core::api::Row::parse(r#"{"_step": 3, "loss": NaN, "eval": {"acc": 0.5}}"#)?;
/// assert_eq!(row.step(), Some(3));
/// assert!(row.f64("loss").is_some_and(f64::is_nan));
/// assert_eq!(row.f64("eval.acc"), Some(0.5));
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row(BTreeMap<String, J>);

impl Row {
    /// A row from a JSON object as W&B writes one (bare `NaN`, `Infinity` allowed).
    pub fn parse(text: &str) -> Result<Row> {
        match crate::wire::json::parse(text) {
            Ok(J::Object(m)) => Ok(Row(m.into_iter().collect())),
            Ok(_) => Err(Error::Read(format!(
                "a history row is not a JSON object: {}",
                clip(text)
            ))),
            Err(e) => Err(Error::Read(format!(
                "a history row is not JSON ({e}): {}",
                clip(text)
            ))),
        }
    }

    /// A row from its values.
    pub fn from_values(values: BTreeMap<String, J>) -> Row {
        Row(values)
    }

    /// The row's `_step`.
    pub fn step(&self) -> Option<i64> {
        self.0.get("_step").and_then(J::as_i64)
    }

    /// A value by key as logged, else by a dotted path into nested objects.
    pub fn get(&self, key: &str) -> Option<&J> {
        super::value_at(&self.0, key)
    }

    /// A value as a number (see [`number`](super::number)).
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(super::number)
    }

    /// Every value, by key.
    pub fn values(&self) -> &BTreeMap<String, J> {
        &self.0
    }

    /// Every value, by key, owned.
    pub fn into_values(self) -> BTreeMap<String, J> {
        self.0
    }

    /// Only `_step` and `keys`, if the row holds every one of `keys`.
    pub(crate) fn keep(self, keys: &[&str]) -> Option<Row> {
        if keys.is_empty() {
            return Some(self);
        }
        let mut out = BTreeMap::new();
        for k in keys {
            out.insert((*k).to_owned(), self.get(k)?.clone());
        }
        if let Some(s) = self.0.get("_step") {
            out.insert("_step".to_owned(), s.clone());
        }
        Some(Row(out))
    }
}

fn clip(text: &str) -> &str {
    let mut end = text.len().min(120);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Rows read as they are consumed: an iterator of `Result<Row>` (a read that fails ends
/// it with the error).
pub struct Rows(Box<dyn Iterator<Item = Result<Row>> + Send>);

impl Rows {
    pub(crate) fn new(rows: impl Iterator<Item = Result<Row>> + Send + 'static) -> Rows {
        Rows(Box::new(rows))
    }
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rows(..)")
    }
}

impl Iterator for Rows {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        self.0.next()
    }
}
