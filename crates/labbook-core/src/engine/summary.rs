//! The run summary: each key's latest value, or the aggregates `define_metric` asked for.
//!
//! `wandb sync` does not derive the summary from history (protocol §2.4), so labbook writes
//! what the official client's handler would. Two deliberate differences, both documented:
//! non-finite values are left out of min/max/mean/best (one NaN does not poison them), and
//! `Summary::Best` is honoured (the 0.31 core ignores it).

use std::collections::{HashMap, HashSet};

use indexmap::IndexSet;

use crate::engine::metric::{Goal, Metric, Summary};
use crate::value::Value;

#[derive(Clone, Debug)]
struct Stats {
    first: Value,
    last: Value,
    min: Option<(f64, Value)>,
    max: Option<(f64, Value)>,
    sum: f64,
    count: u64,
}

impl Stats {
    fn new(v: &Value) -> Stats {
        let mut s = Stats {
            first: v.clone(),
            last: v.clone(),
            min: None,
            max: None,
            sum: 0.0,
            count: 0,
        };
        s.add_number(v);
        s
    }

    fn observe(&mut self, v: &Value) {
        self.last = v.clone();
        self.add_number(v);
    }

    fn add_number(&mut self, v: &Value) {
        let Some(x) = v.as_f64().filter(|x| x.is_finite()) else {
            return;
        };
        if self.min.as_ref().is_none_or(|(m, _)| x < *m) {
            self.min = Some((x, v.clone()));
        }
        if self.max.as_ref().is_none_or(|(m, _)| x > *m) {
            self.max = Some((x, v.clone()));
        }
        self.sum += x;
        self.count += 1;
    }

    fn render(&self, metric: Option<&Metric>) -> Option<Value> {
        let modes: &[Summary] = metric.map_or(&[], |m| &m.summaries);
        if modes.contains(&Summary::None) {
            return None;
        }
        if modes.is_empty() {
            return Some(self.last.clone());
        }
        let mut out: Vec<(String, Value)> = Vec::new();
        let mut put = |name: &str, v: Option<Value>| {
            if let Some(v) = v {
                out.push((name.to_owned(), v));
            }
        };
        let has = |s: Summary| modes.contains(&s);
        if has(Summary::Min) {
            put("min", self.min.as_ref().map(|m| m.1.clone()));
        }
        if has(Summary::Max) {
            put("max", self.max.as_ref().map(|m| m.1.clone()));
        }
        if has(Summary::Mean) && self.count > 0 {
            put("mean", Some(Value::F64(self.sum / self.count as f64)));
        }
        if has(Summary::Best) {
            let best = match metric.and_then(|m| m.goal) {
                Some(Goal::Minimize) => &self.min,
                Some(Goal::Maximize) => &self.max,
                None => &None,
            };
            put("best", best.as_ref().map(|b| b.1.clone()));
        }
        if has(Summary::First) {
            put("first", Some(self.first.clone()));
        }
        if has(Summary::Last) {
            put("last", Some(self.last.clone()));
        }
        if out.is_empty() {
            // Aggregates of a key that never held a finite number: its latest value says more
            // than an empty object.
            return Some(self.last.clone());
        }
        Some(Value::Map(out))
    }
}

/// The summary being built by the worker; written out in coalesced records.
#[derive(Debug, Default)]
pub(crate) struct SummaryState {
    stats: HashMap<String, Stats>,
    explicit: HashMap<String, Value>,
    dirty: IndexSet<String>,
    written: HashSet<String>,
}

/// Summary changes to write: updated keys and removed keys.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct SummaryDelta {
    pub update: Vec<(String, Value)>,
    pub remove: Vec<String>,
}

impl SummaryState {
    /// The summary of a resumed run: the earlier run's values stand (and go into the first
    /// summary record, so the resumed log and its upload hold the whole summary) until a key
    /// is logged or set again.
    pub(crate) fn resumed(earlier: Vec<(String, Value)>) -> SummaryState {
        let mut state = SummaryState::default();
        for (k, v) in earlier {
            state.set(&k, v);
        }
        state
    }

    /// A value from a history row.
    pub(crate) fn observe(&mut self, key: &str, value: &Value) {
        match self.stats.get_mut(key) {
            Some(s) => s.observe(value),
            None => {
                self.stats.insert(key.to_owned(), Stats::new(value));
            }
        }
        self.explicit.remove(key);
        self.mark(key);
    }

    /// A value set with `set_summary`; it stands until the key is logged again.
    pub(crate) fn set(&mut self, key: &str, value: Value) {
        self.explicit.insert(key.to_owned(), value);
        self.mark(key);
    }

    /// Marks keys a new metric definition applies to, so they are rendered again.
    pub(crate) fn touch_matching(&mut self, metric: &Metric) {
        let keys: Vec<String> = self
            .stats
            .keys()
            .filter(|k| {
                if metric.is_glob() {
                    k.starts_with(metric.glob_prefix())
                } else {
                    **k == metric.name
                }
            })
            .cloned()
            .collect();
        for k in keys {
            self.mark(&k);
        }
    }

    fn mark(&mut self, key: &str) {
        if !self.dirty.contains(key) {
            self.dirty.insert(key.to_owned());
        }
    }

    pub(crate) fn is_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The changes since the last call, rendered with each key's metric definition.
    pub(crate) fn take_delta<'m>(
        &mut self,
        metric_for: impl Fn(&str) -> Option<&'m Metric>,
    ) -> SummaryDelta {
        let mut delta = SummaryDelta::default();
        for key in std::mem::take(&mut self.dirty) {
            let rendered = match self.explicit.get(&key) {
                Some(v) => Some(v.clone()),
                None => self
                    .stats
                    .get(&key)
                    .and_then(|s| s.render(metric_for(&key))),
            };
            match rendered {
                Some(v) => {
                    self.written.insert(key.clone());
                    delta.update.push((key, v));
                }
                None => {
                    if self.written.remove(&key) {
                        delta.remove.push(key);
                    }
                }
            }
        }
        delta
    }

    /// The whole current summary, for `wandb-summary.json` and the final-score name.
    pub(crate) fn snapshot<'m>(
        &self,
        metric_for: impl Fn(&str) -> Option<&'m Metric>,
    ) -> Vec<(String, Value)> {
        let mut keys: Vec<&String> = self.stats.keys().chain(self.explicit.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter_map(|k| {
                let v = match self.explicit.get(k) {
                    Some(v) => Some(v.clone()),
                    None => self.stats.get(k).and_then(|s| s.render(metric_for(k))),
                };
                v.map(|v| (k.clone(), v))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta_json(state: &mut SummaryState, metric: Option<&Metric>) -> serde_json::Value {
        let d = state.take_delta(|_| metric);
        Value::Map(d.update).to_serde_json()
    }

    #[test]
    fn undefined_keys_keep_their_latest_raw_value() {
        let mut s = SummaryState::default();
        s.observe("loss", &Value::from(0.5));
        s.observe("loss", &Value::from(0.25f32));
        assert_eq!(delta_json(&mut s, None), serde_json::json!({"loss": 0.25}));
        assert!(!s.is_dirty());
    }

    #[test]
    fn aggregates_skip_non_finite_values() {
        let m = Metric::new("loss")
            .summary(Summary::Min)
            .summary(Summary::Max)
            .summary(Summary::Mean)
            .summary(Summary::Last)
            .summary(Summary::First);
        let mut s = SummaryState::default();
        for v in [3.0, f64::NAN, 1.0, f64::INFINITY, 2.0] {
            s.observe("loss", &Value::from(v));
        }
        assert_eq!(
            delta_json(&mut s, Some(&m)),
            serde_json::json!({"loss": {"min": 1.0, "max": 3.0, "mean": 2.0, "first": 3.0, "last": 2.0}})
        );
    }

    #[test]
    fn best_follows_the_goal_and_none_removes_the_key() {
        let best = Metric::new("acc")
            .summary(Summary::Best)
            .goal(Goal::Maximize);
        let mut s = SummaryState::default();
        for v in [0.5, 0.9, 0.7] {
            s.observe("acc", &Value::from(v));
        }
        assert_eq!(
            delta_json(&mut s, Some(&best)),
            serde_json::json!({"acc": {"best": 0.9}})
        );
        let none = Metric::new("acc").summary(Summary::None);
        s.touch_matching(&none);
        let d = s.take_delta(|_| Some(&none));
        assert_eq!(
            d,
            SummaryDelta {
                update: vec![],
                remove: vec!["acc".into()]
            }
        );
    }

    #[test]
    fn an_explicit_value_stands_until_the_key_is_logged_again() {
        let mut s = SummaryState::default();
        s.observe("best", &Value::from(1));
        s.set("best", Value::from(42));
        assert_eq!(delta_json(&mut s, None), serde_json::json!({"best": 42}));
        s.observe("best", &Value::from(7));
        assert_eq!(delta_json(&mut s, None), serde_json::json!({"best": 7}));
    }

    #[test]
    fn string_metrics_with_numeric_summaries_fall_back_to_the_latest_value() {
        let m = Metric::new("phase").summary(Summary::Min);
        let mut s = SummaryState::default();
        s.observe("phase", &Value::from("warmup"));
        assert_eq!(
            delta_json(&mut s, Some(&m)),
            serde_json::json!({"phase": "warmup"})
        );
    }
}
