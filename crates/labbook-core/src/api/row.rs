//! A history or system-metrics row as read back, and a stream of them.

use std::collections::BTreeMap;

use serde::Deserialize as _;
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

    /// The row as a type of your own, by serde: each field a key (a nested map a struct,
    /// `_step` a `#[serde(rename = "_step")]` field). A value W&B wrote as `NaN` or
    /// `Infinity` reads as that string: give such a field
    /// `#[serde(deserialize_with = "labbook_core::api::number_or_nonfinite")]`.
    ///
    /// ```
    /// #[derive(serde::Deserialize, Debug, PartialEq)]
    /// struct Point {
    ///     #[serde(rename = "_step")]
    ///     step: u64,
    ///     #[serde(deserialize_with = "labbook_core::api::number_or_nonfinite")]
    ///     loss: f64,
    ///     acc: Option<f64>,
    /// }
    /// let row = labbook_core::api::Row::parse(r#"{"_step": 3, "loss": NaN}"#)?;
    /// let p: Point = row.to()?;
    /// assert_eq!((p.step, p.acc), (3, None));
    /// assert!(p.loss.is_nan());
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn to<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        self.clone().into_type()
    }

    /// [`Row::to`] without a copy of the row: a typed stream owns each row it reads.
    fn into_type<T: serde::de::DeserializeOwned>(self) -> Result<T> {
        let step = self.step();
        serde_json::from_value(J::Object(self.0.into_iter().collect())).map_err(|e| {
            Error::Read(format!(
                "the row at step {} does not read as {}: {e}",
                step.map_or_else(|| "(none)".to_owned(), |s| s.to_string()),
                std::any::type_name::<T>()
            ))
        })
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

    /// The rows as a type of your own ([`Row::to`]), each read as it is consumed.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let run = labbook_core::init(labbook_core::Settings::new("p").dir(dir.path()).quiet(true))?;
    /// # for i in 0..3 { run.log([("loss", labbook_core::Value::from(1.0 / f64::from(i + 1)))])?; }
    /// # run.finish()?;
    /// #[derive(serde::Deserialize)]
    /// struct Loss {
    ///     #[serde(rename = "_step")]
    ///     step: u64,
    ///     loss: f64,
    /// }
    /// let api = labbook_core::api::Api::dir(dir.path())?;
    /// let run = &api.runs(&labbook_core::api::Query::new())?[0];
    /// for row in api.history(run, &["loss"])?.typed::<Loss>() {
    ///     let Loss { step, loss } = row?;
    ///     assert!(step < 3 && loss <= 1.0);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn typed<T: serde::de::DeserializeOwned>(self) -> impl Iterator<Item = Result<T>> {
        self.map(|row| row.and_then(Row::into_type))
    }
}

/// For `#[serde(deserialize_with = ...)]` on an `f64` field of a typed row ([`Row::to`]): a
/// number, or W&B's `NaN`, `Infinity` and `-Infinity` (read back as those strings).
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct R {
///     #[serde(deserialize_with = "labbook_core::api::number_or_nonfinite")]
///     x: f64,
/// }
/// let r: R = serde_json::from_str(r#"{"x": "-Infinity"}"#)?;
/// assert_eq!(r.x, f64::NEG_INFINITY);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn number_or_nonfinite<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = J::deserialize(d)?;
    super::number(&v)
        .filter(|_| !v.is_object())
        .ok_or_else(|| serde::de::Error::custom(format!("{v} is not a number")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Loss {
        loss: f64,
    }

    #[test]
    fn a_row_that_does_not_fit_the_type_names_its_step_and_the_type() {
        let row = Row::parse(r#"{"_step": 7, "loss": "high"}"#).unwrap();
        let e = row.to::<Loss>().unwrap_err().to_string();
        assert!(e.contains("step 7") && e.contains("Loss"), "{e}");
        let ok = Row::parse(r#"{"_step": 8, "loss": 0.5}"#).unwrap();
        assert_eq!(ok.to::<Loss>().unwrap().loss, 0.5);
    }

    #[test]
    fn nonfinite_numbers_read_back_and_other_strings_do_not() {
        #[derive(serde::Deserialize)]
        struct R {
            #[serde(deserialize_with = "number_or_nonfinite")]
            x: f64,
        }
        let x = |text: &str| serde_json::from_str::<R>(text).map(|r| r.x);
        assert!(x(r#"{"x": "NaN"}"#).unwrap().is_nan());
        assert_eq!(x(r#"{"x": "Infinity"}"#).unwrap(), f64::INFINITY);
        assert_eq!(x(r#"{"x": 2}"#).unwrap(), 2.0);
        let e = x(r#"{"x": "fast"}"#).unwrap_err().to_string();
        assert!(e.contains("\"fast\" is not a number"), "{e}");
    }
}
