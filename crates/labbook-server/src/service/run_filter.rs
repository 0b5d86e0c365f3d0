//! The runs of a project as `wandb.Api().runs(path, filters=..., order=...)` asks for
//! them: W&B's MongoDB-style filters (`$and $or $nor $not $eq $ne $gt $gte $lt $lte $in
//! $nin $exists $regex`) over the fields the client names (`state`, `tags`, `group`,
//! `jobType`, `displayName`, `createdAt`, `config.<key>` with or without W&B's `.value`,
//! `summary_metrics.<key>`), and an order (`+created_at`, `-summary_metrics.loss`,
//! `+config.lr.value`, ...), missing values last either way.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::{Service, ServiceResult};
use crate::store::{Compare, FieldValue, RunQuery, RunRecord};

/// A filter the runs of a project are matched against.
#[derive(Debug, Clone)]
pub(crate) struct RunFilter(Map<String, Value>);

/// Why a filter cannot be used, naming what is wrong.
pub(crate) type FilterError = String;

const FIELD_OPS: [&str; 12] = [
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex", "$not",
    "$options",
];

impl RunFilter {
    /// A filter from the client's JSON text (`"{}"` matches every run). Unknown operators
    /// and malformed ones are errors that name them.
    pub(crate) fn parse(text: &str) -> Result<RunFilter, FilterError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("`filters` is not JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err("`filters` must be a JSON object".into());
        };
        check(&map)?;
        Ok(RunFilter(map))
    }

    /// Whether `run` passes.
    pub(crate) fn matches(&self, run: &RunRecord) -> bool {
        all_hold(&self.0, run)
    }

    /// The filter as a query the store answers from its indexes, when it is one: every
    /// condition a comparison (`=`, `<`, `<=`, `>`, `>=`) of a config or summary field with
    /// a number or text, joined by `$and`. (`$ne` is left out: MongoDB's matches runs
    /// without the field, the index's does not.)
    fn indexed(&self, query: RunQuery) -> Option<RunQuery> {
        indexed(&self.0, query)
    }
}

fn indexed(filter: &Map<String, Value>, mut query: RunQuery) -> Option<RunQuery> {
    for (key, condition) in filter {
        if key == "$and" {
            for part in condition.as_array()? {
                query = indexed(part.as_object()?, query)?;
            }
            continue;
        }
        let field = field_name(key)?;
        let ops: Vec<(&str, &Value)> = match condition {
            Value::Object(ops) => ops.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            plain => vec![("$eq", plain)],
        };
        for (op, arg) in ops {
            let compare = match op {
                "$eq" => Compare::Eq,
                "$gt" => Compare::Gt,
                "$gte" => Compare::Ge,
                "$lt" => Compare::Lt,
                "$lte" => Compare::Le,
                _ => return None,
            };
            let value = match arg {
                Value::Number(n) => FieldValue::Num(n.as_f64()?),
                Value::String(t) => FieldValue::Text(t.clone()),
                _ => return None,
            };
            query = query.filter(field.clone(), compare, value);
        }
    }
    Some(query)
}

/// The indexed field a client's path names: `config.lr`, `config.lr.value`,
/// `config.opt.value.name` as `config.lr` and `config.opt.name`; `summary_metrics.loss` as
/// `summary.loss`.
fn field_name(path: &str) -> Option<String> {
    let (head, rest) = path.split_once('.')?;
    match head {
        "config" => {
            let (key, inner) = rest.split_once('.').unwrap_or((rest, ""));
            let inner = inner
                .strip_prefix("value")
                .map_or(inner, |r| r.trim_start_matches('.'));
            Some(if inner.is_empty() {
                format!("config.{key}")
            } else {
                format!("config.{key}.{inner}")
            })
        }
        "summary_metrics" | "summaryMetrics" | "summary" => Some(format!("summary.{rest}")),
        _ => None,
    }
}

fn check(filter: &Map<String, Value>) -> Result<(), FilterError> {
    for (key, value) in filter {
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let Value::Array(parts) = value else {
                    return Err(format!("`{key}` takes a list of filters"));
                };
                for part in parts {
                    let Value::Object(part) = part else {
                        return Err(format!("each of `{key}` must be a filter object"));
                    };
                    check(part)?;
                }
            }
            op if op.starts_with('$') => return Err(format!("`{op}` is not a filter operator")),
            _ => check_condition(value)?,
        }
    }
    Ok(())
}

fn check_condition(condition: &Value) -> Result<(), FilterError> {
    let Value::Object(ops) = condition else {
        return Ok(());
    };
    if !ops.keys().any(|k| k.starts_with('$')) {
        return Ok(());
    }
    for (op, arg) in ops {
        if !FIELD_OPS.contains(&op.as_str()) {
            return Err(format!("`{op}` is not a filter operator"));
        }
        match op.as_str() {
            "$in" | "$nin" if !arg.is_array() => return Err(format!("`{op}` takes a list")),
            "$regex" => {
                let pattern = arg.as_str().ok_or("`$regex` takes a string")?;
                regex::Regex::new(pattern).map_err(|e| format!("`$regex` {pattern:?}: {e}"))?;
            }
            "$not" => check_condition(arg)?,
            _ => {}
        }
    }
    Ok(())
}

fn all_hold(filter: &Map<String, Value>, run: &RunRecord) -> bool {
    filter.iter().all(|(key, value)| match key.as_str() {
        "$and" => parts(value).all(|p| all_hold(p, run)),
        "$or" => parts(value).any(|p| all_hold(p, run)),
        "$nor" => !parts(value).any(|p| all_hold(p, run)),
        path => holds(field(run, path).as_ref(), value),
    })
}

fn parts(value: &Value) -> impl Iterator<Item = &Map<String, Value>> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

/// Whether a field's value (`None`: the run has no such field) meets a condition: a plain
/// value (equality) or an object of operators.
fn holds(found: Option<&Value>, condition: &Value) -> bool {
    let Value::Object(ops) = condition else {
        return equal(found, condition);
    };
    if !ops.keys().any(|k| k.starts_with('$')) {
        return equal(found, condition);
    }
    let options = ops.get("$options").and_then(Value::as_str).unwrap_or("");
    ops.iter().all(|(op, arg)| match op.as_str() {
        "$eq" => equal(found, arg),
        "$ne" => !equal(found, arg),
        "$gt" => compare(found, arg).is_some_and(Ordering::is_gt),
        "$gte" => compare(found, arg).is_some_and(Ordering::is_ge),
        "$lt" => compare(found, arg).is_some_and(Ordering::is_lt),
        "$lte" => compare(found, arg).is_some_and(Ordering::is_le),
        "$in" => arg
            .as_array()
            .is_some_and(|a| a.iter().any(|v| equal(found, v))),
        "$nin" => !arg
            .as_array()
            .is_some_and(|a| a.iter().any(|v| equal(found, v))),
        "$exists" => arg.as_bool().unwrap_or(true) == found.is_some_and(|v| !v.is_null()),
        "$regex" => regex_matches(found, arg, options),
        "$not" => !holds(found, arg),
        _ => true, // `$options`, read with `$regex`
    })
}

fn regex_matches(found: Option<&Value>, pattern: &Value, options: &str) -> bool {
    let (Some(Value::String(text)), Some(pattern)) = (found, pattern.as_str()) else {
        return false;
    };
    let pattern = if options.contains('i') {
        format!("(?i){pattern}")
    } else {
        pattern.to_owned()
    };
    regex::Regex::new(&pattern).is_ok_and(|r| r.is_match(text))
}

/// Equality as MongoDB has it: numbers by value (1 == 1.0), and a list field equals a
/// value it contains.
fn equal(found: Option<&Value>, want: &Value) -> bool {
    match (found, want) {
        (None | Some(Value::Null), Value::Null) => true,
        (None, _) => false,
        (Some(Value::Array(items)), want) if !want.is_array() => {
            items.iter().any(|item| same(item, want))
        }
        (Some(v), want) => same(v, want),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Numbers with numbers, text with text; anything else does not compare.
fn compare(found: Option<&Value>, want: &Value) -> Option<Ordering> {
    match (found?, want) {
        (a, b) if a.is_number() && b.is_number() => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// A field of a run by the path the client names.
pub(crate) fn field(run: &RunRecord, path: &str) -> Option<Value> {
    let text = |s: &Option<String>| s.clone().map(Value::from);
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    match head {
        "state" => Some(Value::from(super::history::state(run))),
        "tags" => Some(Value::from(run.tags.clone())),
        "group" => text(&run.group),
        "jobType" | "job_type" => text(&run.job_type),
        "displayName" | "display_name" => text(&run.display_name),
        "name" | "id" => Some(Value::from(run.key.run.clone())),
        "notes" | "description" => text(&run.notes),
        "host" => text(&run.host),
        "sweep" | "sweepName" | "sweep_name" => text(&run.sweep),
        "createdAt" | "created_at" => time(run.created_ms),
        "heartbeatAt" | "heartbeat_at" => time(run.heartbeat_ms.or(run.created_ms)),
        "config" => config_field(run.config.as_ref()?, rest),
        "summary_metrics" | "summaryMetrics" | "summary" => {
            walk(run.summary.as_ref()?.json.as_ref()?, rest)
        }
        _ => None,
    }
}

/// A time as the read API shows it (`2026-12-03T18:07:11Z`), which sorts as text.
pub(crate) fn time(ms: Option<i64>) -> Option<Value> {
    let t = chrono::DateTime::from_timestamp_millis(ms?)?;
    Some(Value::from(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

/// `config.lr` and `config.lr.value` both mean the value of `lr` (W&B keeps each config
/// key as `{"value": ...}`); further parts go into it (`config.model.depth`).
fn config_field(config: &Value, rest: &str) -> Option<Value> {
    let (key, inner) = rest.split_once('.').unwrap_or((rest, ""));
    let entry = config.get(key)?;
    let value = entry.get("value").unwrap_or(entry);
    let inner = inner
        .strip_prefix("value")
        .map_or(inner, |r| r.trim_start_matches('.'));
    walk(value, inner)
}

fn walk(value: &Value, path: &str) -> Option<Value> {
    let mut at = value;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        at = at.get(part)?;
    }
    Some(at.clone())
}

/// An order as the client sends it: `+created_at`, `-summary_metrics.loss`, ... (no sign:
/// ascending).
#[derive(Debug, Clone)]
pub(crate) struct RunOrder {
    path: String,
    descending: bool,
}

impl RunOrder {
    pub(crate) fn parse(text: &str) -> RunOrder {
        let text = text.trim();
        let (descending, path) = match text.strip_prefix('-') {
            Some(path) => (true, path),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let path = if path.is_empty() { "created_at" } else { path };
        RunOrder {
            path: path.to_owned(),
            descending,
        }
    }

    /// Sorts `runs`: by the field, runs without it last either way, then by creation.
    pub(crate) fn sort(&self, runs: &mut [RunRecord]) {
        // Times by the millisecond, not by their text (which stops at the second).
        let key = |r: &RunRecord| match self.path.as_str() {
            "created_at" | "createdAt" => r.created_ms.map(Value::from),
            "heartbeat_at" | "heartbeatAt" => r.heartbeat_ms.or(r.created_ms).map(Value::from),
            path => field(r, path).filter(|v| !v.is_null()),
        };
        let mut keyed: Vec<(Option<Value>, RunRecord)> =
            runs.iter().map(|r| (key(r), r.clone())).collect();
        keyed.sort_by(|(a, ra), (b, rb)| {
            let by_field = match (a, b) {
                (Some(a), Some(b)) => {
                    let o = compare(Some(a), b).unwrap_or(Ordering::Equal);
                    if self.descending { o.reverse() } else { o }
                }
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            by_field.then_with(|| ra.created_ms.cmp(&rb.created_ms))
        });
        for (slot, (_, run)) in runs.iter_mut().zip(keyed) {
            *slot = run;
        }
    }
}

impl RunOrder {
    /// The order as the store's: `Some(None)` for creation order (reversed when
    /// descending), `Some(field)` for a config or summary field, `None` for another.
    fn indexed(&self) -> Option<Option<(String, bool)>> {
        match self.path.as_str() {
            "created_at" | "createdAt" => Some(None),
            path => Some(Some((field_name(path)?, self.descending))),
        }
    }
}

/// A page of runs and how many there are in all.
pub(crate) struct RunPage {
    pub(crate) total: usize,
    pub(crate) runs: Vec<RunRecord>,
}

impl Service {
    /// The projects of `entity` that hold runs, by name, each with when its first run was
    /// made.
    pub(crate) async fn projects(&self, entity: &str) -> ServiceResult<Vec<(String, Option<i64>)>> {
        let mut projects: std::collections::BTreeMap<String, Option<i64>> =
            std::collections::BTreeMap::new();
        for run in self.meta.runs().await? {
            if run.key.entity == entity {
                let first = projects
                    .entry(run.key.project.clone())
                    .or_insert(run.created_ms);
                *first = match (*first, run.created_ms) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        Ok(projects.into_iter().collect())
    }

    /// `count` runs of `entity/project` that pass `filter`, in `order`, from the `from`th
    /// on. A filter and order the store's indexes answer (config and summary comparisons)
    /// are asked of them, and only the page's runs are read; any other is matched run by
    /// run.
    pub(crate) async fn runs_page(
        &self,
        entity: &str,
        project: &str,
        filter: &RunFilter,
        order: &RunOrder,
        (from, count): (usize, usize),
    ) -> ServiceResult<RunPage> {
        let query = filter.indexed(RunQuery::new(entity, project));
        let (Some(mut query), Some(by)) = (query, order.indexed()) else {
            let runs = self.project_runs(entity, project, filter, order).await?;
            let total = runs.len();
            let runs = runs.into_iter().skip(from).take(count).collect();
            return Ok(RunPage { total, runs });
        };
        let reversed = by.is_none() && order.descending;
        query.order = by;
        let mut names = self.meta.find_runs(&query).await?;
        if reversed {
            names.reverse();
        }
        let mut runs = Vec::new();
        for name in names.iter().skip(from).take(count) {
            let key = crate::store::RunKey::new(entity, project, name.as_str());
            if let Some(run) = self.meta.run(&key).await? {
                runs.push(run);
            }
        }
        Ok(RunPage {
            total: names.len(),
            runs,
        })
    }

    /// The runs of `entity/project` that pass `filter`, in `order`.
    pub(crate) async fn project_runs(
        &self,
        entity: &str,
        project: &str,
        filter: &RunFilter,
        order: &RunOrder,
    ) -> ServiceResult<Vec<RunRecord>> {
        let mut runs: Vec<RunRecord> = self
            .meta
            .runs()
            .await?
            .into_iter()
            .filter(|r| r.key.entity == entity && r.key.project == project)
            .filter(|r| filter.matches(r))
            .collect();
        order.sort(&mut runs);
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{JsonLine, RunKey};

    fn run(name: &str, lr: f64, loss: Option<f64>, tags: &[&str], state: bool) -> RunRecord {
        RunRecord {
            key: RunKey::new("e", "p", name),
            config: Some(json!({"lr": {"value": lr}, "opt": {"value": {"name": "adam"}}})),
            summary: loss.map(|l| JsonLine::parse(json!({"loss": l}).to_string())),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            complete: state,
            exit_code: state.then_some(0),
            display_name: Some(format!("run-{name}")),
            created_ms: Some(1_700_000_000_000 + name.len() as i64 * 1000),
            ..RunRecord::default()
        }
    }

    fn names(filter: &str, runs: &[RunRecord]) -> Vec<String> {
        let f = RunFilter::parse(filter).unwrap();
        runs.iter()
            .filter(|r| f.matches(r))
            .map(|r| r.key.run.clone())
            .collect()
    }

    #[test]
    fn every_operator_on_every_kind_of_field() {
        let runs = [
            run("a", 0.1, Some(0.5), &["x"], true),
            run("bb", 0.01, Some(0.2), &["x", "y"], false),
            run("ccc", 0.001, None, &[], true),
        ];
        let cases: [(&str, &[&str]); 20] = [
            ("{}", &["a", "bb", "ccc"]),
            (r#"{"config.lr": 0.01}"#, &["bb"]),
            (r#"{"config.lr.value": {"$gte": 0.01}}"#, &["a", "bb"]),
            (r#"{"config.opt.value.name": "adam"}"#, &["a", "bb", "ccc"]),
            (r#"{"summary_metrics.loss": {"$lt": 0.3}}"#, &["bb"]),
            (r#"{"summary_metrics.loss": {"$exists": false}}"#, &["ccc"]),
            (
                r#"{"summary_metrics.loss": {"$gt": 0.1, "$lte": 0.5}}"#,
                &["a", "bb"],
            ),
            (r#"{"state": "finished"}"#, &["a", "ccc"]),
            (r#"{"state": {"$ne": "finished"}}"#, &["bb"]),
            (r#"{"tags": "y"}"#, &["bb"]),
            (r#"{"tags": {"$in": ["x"]}}"#, &["a", "bb"]),
            (r#"{"tags": {"$nin": ["x"]}}"#, &["ccc"]),
            (r#"{"displayName": {"$regex": "^run-b"}}"#, &["bb"]),
            (
                r#"{"display_name": {"$regex": "RUN-C", "$options": "i"}}"#,
                &["ccc"],
            ),
            (r#"{"config.lr": {"$not": {"$gt": 0.005}}}"#, &["ccc"]),
            (
                r#"{"$or": [{"config.lr": 0.1}, {"tags": "y"}]}"#,
                &["a", "bb"],
            ),
            (
                r#"{"$and": [{"state": "finished"}, {"config.lr": {"$lt": 0.05}}]}"#,
                &["ccc"],
            ),
            (r#"{"$nor": [{"state": "finished"}]}"#, &["bb"]),
            (
                r#"{"config.lr": {"$eq": 0.001}, "state": "finished"}"#,
                &["ccc"],
            ),
            (
                r#"{"createdAt": {"$gt": "2023-11-14T22:13:21Z"}}"#,
                &["bb", "ccc"],
            ),
        ];
        for (filter, want) in cases {
            assert_eq!(names(filter, &runs), want, "{filter}");
        }
    }

    #[test]
    fn simple_filters_and_orders_go_to_the_index() {
        let q = |text: &str| {
            RunFilter::parse(text)
                .unwrap()
                .indexed(RunQuery::new("e", "p"))
        };
        let query = q(r#"{"config.lr.value": {"$gte": 0.01, "$lt": 1}, "$and": [{"summary_metrics.loss": 0.5}, {"config.opt.value.name": "adam"}]}"#).unwrap();
        let fields: Vec<(&str, Compare)> = query
            .filters
            .iter()
            .map(|(f, c, _)| (f.as_str(), *c))
            .collect();
        assert_eq!(
            fields,
            [
                ("summary.loss", Compare::Eq),
                ("config.opt.name", Compare::Eq),
                ("config.lr", Compare::Ge),
                ("config.lr", Compare::Lt)
            ]
        );
        for other in [
            r#"{"config.lr": {"$ne": 1}}"#,
            r#"{"$or": [{"config.lr": 1}]}"#,
            r#"{"state": "finished"}"#,
            r#"{"config.flag": true}"#,
            r#"{"tags": "x"}"#,
        ] {
            assert!(q(other).is_none(), "{other} is matched run by run");
        }
        assert_eq!(
            RunOrder::parse("-summary_metrics.loss").indexed(),
            Some(Some(("summary.loss".into(), true)))
        );
        assert_eq!(RunOrder::parse("+created_at").indexed(), Some(None));
        assert_eq!(RunOrder::parse("+display_name").indexed(), None);
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        for (filter, says) in [
            ("[1]", "must be a JSON object"),
            (r#"{"$xor": []}"#, "`$xor`"),
            (r#"{"a": {"$near": 1}}"#, "`$near`"),
            (r#"{"a": {"$in": 1}}"#, "takes a list"),
            (r#"{"a": {"$regex": "("}}"#, "`$regex`"),
            ("{", "not JSON"),
        ] {
            let e = RunFilter::parse(filter).unwrap_err();
            assert!(e.contains(says), "{filter}: {e}");
        }
    }

    #[test]
    fn orders_put_missing_values_last_either_way() {
        let mut runs = vec![
            run("a", 0.1, Some(0.5), &[], true),
            run("bb", 0.01, None, &[], true),
            run("ccc", 0.001, Some(0.2), &[], true),
        ];
        let order = |runs: &mut Vec<RunRecord>, text: &str| {
            RunOrder::parse(text).sort(runs);
            runs.iter().map(|r| r.key.run.clone()).collect::<Vec<_>>()
        };
        assert_eq!(
            order(&mut runs, "+summary_metrics.loss"),
            ["ccc", "a", "bb"]
        );
        assert_eq!(
            order(&mut runs, "-summary_metrics.loss"),
            ["a", "ccc", "bb"]
        );
        assert_eq!(order(&mut runs, "-config.lr.value"), ["a", "bb", "ccc"]);
        assert_eq!(order(&mut runs, "+created_at"), ["a", "bb", "ccc"]);
        assert_eq!(order(&mut runs, "-created_at"), ["ccc", "bb", "a"]);
    }
}
