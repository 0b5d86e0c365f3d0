//! A run's config and summary as flat fields (`config.optim.lr`, `summary.loss`), which is
//! what a runs table filters and sorts by; and the query that does it.

use serde_json::Value;

/// A field's value: a number (booleans count as 0 and 1) or text.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A number.
    Num(f64),
    /// Text.
    Text(String),
}

/// The config as fields: each key's `value` (W&B's config wraps values as
/// `{"value": v, "desc": ...}`), nested objects flattened; `_wandb` is left out.
///
/// ```
/// use labbook_server::store::{FieldValue, config_fields};
/// use serde_json::json;
///
/// let f = config_fields(&json!({"lr": {"value": 0.1}, "model": {"value": {"depth": 4}}, "_wandb": {}}));
/// assert_eq!(f, [("config.lr".to_owned(), FieldValue::Num(0.1)), ("config.model.depth".to_owned(), FieldValue::Num(4.0))]);
/// ```
pub fn config_fields(config: &Value) -> Vec<(String, FieldValue)> {
    let mut out = Vec::new();
    if let Value::Object(map) = config {
        for (key, entry) in map {
            if key == "_wandb" {
                continue;
            }
            let value = match entry {
                Value::Object(wrapped) if wrapped.contains_key("value") => &wrapped["value"],
                other => other,
            };
            flatten(&format!("config.{key}"), value, &mut out);
        }
    }
    out
}

/// The summary as fields, nested objects flattened; media (objects with a `_type`) left out.
///
/// ```
/// use labbook_server::store::{FieldValue, summary_fields};
/// use serde_json::json;
///
/// let f = summary_fields(&json!({"loss": 0.5, "img": {"_type": "image-file"}, "best": {"acc": 0.9}}));
/// assert_eq!(f, [("summary.best.acc".to_owned(), FieldValue::Num(0.9)), ("summary.loss".to_owned(), FieldValue::Num(0.5))]);
/// ```
pub fn summary_fields(summary: &Value) -> Vec<(String, FieldValue)> {
    let mut out = Vec::new();
    if let Value::Object(map) = summary {
        for (key, value) in map {
            flatten(&format!("summary.{key}"), value, &mut out);
        }
    }
    out
}

fn flatten(name: &str, value: &Value, out: &mut Vec<(String, FieldValue)>) {
    match value {
        Value::Number(n) => {
            if let Some(n) = n.as_f64() {
                out.push((name.to_owned(), FieldValue::Num(n)));
            }
        }
        Value::Bool(b) => out.push((name.to_owned(), FieldValue::Num(f64::from(u8::from(*b))))),
        Value::String(s) => out.push((name.to_owned(), FieldValue::Text(s.clone()))),
        Value::Object(map) if !map.contains_key("_type") => {
            for (key, inner) in map {
                flatten(&format!("{name}.{key}"), inner, out);
            }
        }
        Value::Object(_) | Value::Array(_) | Value::Null => {}
    }
}

/// How a filter compares a field with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Equal.
    Eq,
    /// Not equal (runs without the field do not match).
    Ne,
    /// Less than.
    Lt,
    /// At most.
    Le,
    /// Greater than.
    Gt,
    /// At least.
    Ge,
}

impl Compare {
    /// Whether `a <op> b` holds; numbers compare with numbers, text with text.
    pub fn holds(self, a: &FieldValue, b: &FieldValue) -> bool {
        let ordering = match (a, b) {
            (FieldValue::Num(x), FieldValue::Num(y)) => x.partial_cmp(y),
            (FieldValue::Text(x), FieldValue::Text(y)) => Some(x.cmp(y)),
            _ => None,
        };
        let Some(o) = ordering else {
            return false;
        };
        match self {
            Compare::Eq => o.is_eq(),
            Compare::Ne => o.is_ne(),
            Compare::Lt => o.is_lt(),
            Compare::Le => o.is_le(),
            Compare::Gt => o.is_gt(),
            Compare::Ge => o.is_ge(),
        }
    }

    /// The operator in SQL.
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Compare::Eq => "=",
            Compare::Ne => "<>",
            Compare::Lt => "<",
            Compare::Le => "<=",
            Compare::Gt => ">",
            Compare::Ge => ">=",
        }
    }
}

/// Runs of one project whose fields pass every filter, ordered by one field.
///
/// ```
/// use labbook_server::store::{Compare, FieldValue, RunQuery};
///
/// let q = RunQuery::new("ent", "proj")
///     .filter("config.lr", Compare::Eq, FieldValue::Num(0.01))
///     .order_by("summary.loss", false);
/// assert_eq!(q.filters.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RunQuery {
    /// The entity.
    pub entity: String,
    /// The project.
    pub project: String,
    /// Every one must hold.
    pub filters: Vec<(String, Compare, FieldValue)>,
    /// The field to sort by and whether descending; runs without it come last. Without
    /// one, creation order.
    pub order: Option<(String, bool)>,
    /// At most this many runs.
    pub limit: Option<usize>,
}

impl RunQuery {
    /// Every run of the project, in creation order.
    pub fn new(entity: impl Into<String>, project: impl Into<String>) -> RunQuery {
        RunQuery {
            entity: entity.into(),
            project: project.into(),
            filters: Vec::new(),
            order: None,
            limit: None,
        }
    }

    /// Adds a filter.
    #[must_use]
    pub fn filter(mut self, field: impl Into<String>, op: Compare, value: FieldValue) -> Self {
        self.filters.push((field.into(), op, value));
        self
    }

    /// Sorts by `field`.
    #[must_use]
    pub fn order_by(mut self, field: impl Into<String>, descending: bool) -> Self {
        self.order = Some((field.into(), descending));
        self
    }

    /// Keeps the first `n`.
    #[must_use]
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
}

/// Orders two runs' sort values as [`RunQuery::order`] says: missing values last, numbers
/// before text.
pub(crate) fn order_values(
    a: Option<&FieldValue>,
    b: Option<&FieldValue>,
    descending: bool,
) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let rank = |v: Option<&FieldValue>| match v {
        Some(FieldValue::Num(_)) => 0,
        Some(FieldValue::Text(_)) => 1,
        None => 2,
    };
    let by_kind = rank(a).cmp(&rank(b));
    if by_kind != Ordering::Equal {
        return by_kind;
    }
    let o = match (a, b) {
        (Some(FieldValue::Num(x)), Some(FieldValue::Num(y))) => x.total_cmp(y),
        (Some(FieldValue::Text(x)), Some(FieldValue::Text(y))) => x.cmp(y),
        _ => Ordering::Equal,
    };
    if descending { o.reverse() } else { o }
}
