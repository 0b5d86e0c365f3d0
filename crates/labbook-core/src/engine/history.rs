//! History rows: merging calls into the row of a step, committing rows, and what the
//! official client's handler adds on the way (glob-expanded metrics, step-metric values,
//! `_step`, `_runtime`, `_timestamp`). `wandb sync` skips that handler, so labbook does it.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;

use crate::engine::metric::Metric;
use crate::engine::summary::SummaryState;
use crate::value::Value;
use crate::value::key::Key;
use crate::wire::proto::RecordType;

/// When a value was logged: seconds since the run started and Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Stamp {
    pub runtime: f64,
    pub unix: f64,
}

/// The metric definitions of a run.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    exact: HashMap<String, Metric>,
    globs: Vec<Metric>,
    /// Keys whose definition came from a glob; redefining the glob replaces them.
    expanded: HashSet<String>,
    step_metrics: HashSet<String>,
}

impl Metrics {
    pub(crate) fn get(&self, key: &str) -> Option<&Metric> {
        self.exact.get(key)
    }

    fn define(&mut self, metric: Metric) {
        if let Some(step) = &metric.step_metric {
            self.step_metrics.insert(step.clone());
        }
        if metric.is_glob() {
            self.globs.retain(|g| g.name != metric.name);
            self.globs.push(metric);
        } else {
            self.exact.insert(metric.name.clone(), metric);
        }
    }

    /// The glob that claims `key`, if it is not defined yet: the longest matching prefix wins
    /// (the official core picks one at random).
    fn glob_for(&self, key: &str) -> Option<&Metric> {
        if key.starts_with('_') || self.exact.contains_key(key) {
            return None;
        }
        self.globs
            .iter()
            .filter(|g| key.starts_with(g.glob_prefix()))
            .max_by_key(|g| g.glob_prefix().len())
    }
}

/// What committing rows and defining metrics produce, in order.
#[derive(Debug)]
pub(crate) enum Emit {
    Record(Box<RecordType>),
    Row(CommittedRow),
}

/// A history row ready to encode: its items, then `_step`, `_runtime`, `_timestamp`.
#[derive(Debug)]
pub(crate) struct CommittedRow {
    pub step: u64,
    pub items: Vec<(Key, Value)>,
    pub stamp: Stamp,
}

#[derive(Debug)]
struct Row {
    step: u64,
    items: IndexMap<Key, Value>,
    stamp: Stamp,
}

/// Builds history rows and the records that go with them.
#[derive(Debug, Default)]
pub(crate) struct History {
    open: Option<Row>,
    pub metrics: Metrics,
    latest_step_values: HashMap<String, Value>,
    rows: u64,
}

impl History {
    /// Rows committed so far.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// Merges `items` into the row at `step` (committing an open row of an earlier step
    /// first) and commits it when `commit` is set. The caller has already refused steps that
    /// go backwards.
    pub(crate) fn log(
        &mut self,
        step: u64,
        commit: bool,
        items: Vec<(Key, Value)>,
        stamp: Stamp,
        summary: &mut SummaryState,
        out: &mut Vec<Emit>,
    ) {
        if self.open.as_ref().is_some_and(|r| r.step != step) {
            self.commit(summary, out);
        }
        let row = self.open.get_or_insert_with(|| Row {
            step,
            items: IndexMap::with_capacity(items.len() + 3),
            stamp,
        });
        row.stamp = stamp;
        for (k, v) in items {
            row.items.insert(k, v);
        }
        if commit {
            self.commit(summary, out);
        }
    }

    /// Adds a metric definition and writes its record.
    pub(crate) fn define(
        &mut self,
        metric: Metric,
        summary: &mut SummaryState,
        out: &mut Vec<Emit>,
    ) {
        out.push(Emit::Record(Box::new(RecordType::Metric(
            metric.to_record(None),
        ))));
        summary.touch_matching(&metric);
        if metric.is_glob() {
            let prefix = metric.glob_prefix();
            let Metrics {
                exact, expanded, ..
            } = &mut self.metrics;
            expanded.retain(|k| {
                let replaced = k.starts_with(prefix);
                if replaced {
                    exact.remove(k);
                }
                !replaced
            });
        }
        self.metrics.define(metric);
    }

    /// Commits the open row, if any.
    pub(crate) fn commit(&mut self, summary: &mut SummaryState, out: &mut Vec<Emit>) {
        let Some(mut row) = self.open.take() else {
            return;
        };
        self.expand_globs(&row, out);
        for key in &self.metrics.step_metrics {
            if let Some(v) = row.items.get(key.as_str()).filter(|v| v.as_f64().is_some()) {
                self.latest_step_values.insert(key.clone(), v.clone());
            }
        }
        let mut inserted: Vec<(Key, Value)> = Vec::new();
        for key in row.items.keys() {
            let Some(m) = self.metrics.get(key.as_str()) else {
                continue;
            };
            let Some(step_key) = m.step_metric.as_deref().filter(|_| m.syncs_step()) else {
                continue;
            };
            if row.items.contains_key(step_key)
                || inserted.iter().any(|(k, _)| k.as_str() == step_key)
            {
                continue;
            }
            let v = self
                .latest_step_values
                .get(step_key)
                .cloned()
                .unwrap_or(Value::Int(0));
            inserted.push((Key::from(step_key.to_owned()), v));
        }
        row.items.extend(inserted);

        for (k, v) in &row.items {
            summary.observe(k.as_str(), v);
        }
        summary.observe("_step", &Value::from(row.step));
        summary.observe("_runtime", &Value::F64(row.stamp.runtime));
        summary.observe("_timestamp", &Value::F64(row.stamp.unix));
        out.push(Emit::Row(CommittedRow {
            step: row.step,
            items: row.items.into_iter().collect(),
            stamp: row.stamp,
        }));
        self.rows += 1;
    }

    fn expand_globs(&mut self, row: &Row, out: &mut Vec<Emit>) {
        if self.metrics.globs.is_empty() {
            return;
        }
        for key in row.items.keys() {
            let Some(glob) = self.metrics.glob_for(key.as_str()) else {
                continue;
            };
            out.push(Emit::Record(Box::new(RecordType::Metric(
                glob.to_record(Some(key.as_str())),
            ))));
            let concrete = Metric {
                name: key.as_str().to_owned(),
                ..glob.clone()
            };
            self.metrics.expanded.insert(concrete.name.clone());
            self.metrics.define(concrete);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::metric::Summary;
    use crate::wire::proto::MetricRecord;

    fn stamp(t: f64) -> Stamp {
        Stamp {
            runtime: t,
            unix: 1_700_000_000.0 + t,
        }
    }

    fn rows(out: &[Emit]) -> Vec<serde_json::Value> {
        out.iter()
            .filter_map(|r| match r {
                Emit::Row(row) => {
                    let mut m: serde_json::Map<String, serde_json::Value> = row
                        .items
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_serde_json()))
                        .collect();
                    m.insert("_step".into(), row.step.into());
                    Some(serde_json::Value::Object(m))
                }
                _ => None,
            })
            .collect()
    }

    fn metric_records(out: &[Emit]) -> Vec<MetricRecord> {
        out.iter()
            .filter_map(|r| match r {
                Emit::Record(r) => match r.as_ref() {
                    RecordType::Metric(m) => Some(m.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    #[test]
    fn calls_at_one_step_merge_and_a_new_step_commits_the_open_row() {
        let (mut h, mut s, mut out) = (History::default(), SummaryState::default(), Vec::new());
        h.log(
            0,
            true,
            vec![("a".into(), 1.into())],
            stamp(0.1),
            &mut s,
            &mut out,
        );
        h.log(
            5,
            false,
            vec![("x".into(), 1.into())],
            stamp(0.2),
            &mut s,
            &mut out,
        );
        h.log(
            5,
            false,
            vec![("y".into(), 2.into()), ("x".into(), 3.into())],
            stamp(0.3),
            &mut s,
            &mut out,
        );
        h.log(
            7,
            false,
            vec![("z".into(), 3.into())],
            stamp(0.4),
            &mut s,
            &mut out,
        );
        assert_eq!(h.rows(), 2);
        h.commit(&mut s, &mut out);
        assert_eq!(
            rows(&out),
            vec![
                serde_json::json!({"a": 1, "_step": 0}),
                serde_json::json!({"x": 3, "y": 2, "_step": 5}),
                serde_json::json!({"z": 3, "_step": 7}),
            ]
        );
    }

    #[test]
    fn globs_expand_once_per_key_and_rows_get_the_latest_step_metric() {
        let (mut h, mut s, mut out) = (History::default(), SummaryState::default(), Vec::new());
        h.define(
            Metric::new("val/*")
                .step_metric("epoch")
                .summary(Summary::Min),
            &mut s,
            &mut out,
        );
        h.log(
            0,
            true,
            vec![("val/loss".into(), 0.5.into())],
            stamp(0.0),
            &mut s,
            &mut out,
        );
        h.log(
            1,
            true,
            vec![("epoch".into(), 1.into())],
            stamp(0.1),
            &mut s,
            &mut out,
        );
        h.log(
            2,
            true,
            vec![
                ("val/loss".into(), 0.4.into()),
                ("val/acc".into(), 0.9.into()),
            ],
            stamp(0.2),
            &mut s,
            &mut out,
        );
        h.log(
            3,
            true,
            vec![("val/loss".into(), 0.3.into()), ("epoch".into(), 2.into())],
            stamp(0.3),
            &mut s,
            &mut out,
        );
        assert_eq!(
            rows(&out),
            vec![
                serde_json::json!({"val/loss": 0.5, "epoch": 0, "_step": 0}),
                serde_json::json!({"epoch": 1, "_step": 1}),
                serde_json::json!({"val/loss": 0.4, "val/acc": 0.9, "epoch": 1, "_step": 2}),
                serde_json::json!({"val/loss": 0.3, "epoch": 2, "_step": 3}),
            ]
        );
        let metrics = metric_records(&out);
        let names: Vec<(&str, &str, bool)> = metrics
            .iter()
            .map(|m| (m.name.as_str(), m.glob_name.as_str(), m.expanded_from_glob))
            .collect();
        assert_eq!(
            names,
            vec![
                ("", "val/*", false),
                ("val/loss", "", true),
                ("val/acc", "", true)
            ]
        );
        assert!(metrics[1].summary.as_ref().unwrap().min);
        let summary = s.take_delta(|k| h.metrics.get(k));
        let loss = summary
            .update
            .iter()
            .find(|(k, _)| k == "val/loss")
            .unwrap();
        assert_eq!(loss.1.to_json(), r#"{"min":0.3}"#);
    }

    #[test]
    fn step_sync_can_be_turned_off() {
        let (mut h, mut s, mut out) = (History::default(), SummaryState::default(), Vec::new());
        h.define(
            Metric::new("val/loss")
                .step_metric("epoch")
                .step_sync(false),
            &mut s,
            &mut out,
        );
        h.log(
            0,
            true,
            vec![("val/loss".into(), 0.5.into())],
            stamp(0.0),
            &mut s,
            &mut out,
        );
        assert_eq!(
            rows(&out),
            vec![serde_json::json!({"val/loss": 0.5, "_step": 0})]
        );
    }
}
