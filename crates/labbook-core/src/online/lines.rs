//! Records of the transaction log as the JSON lines W&B's file_stream and UpsertBucket
//! take. Values stay the JSON text the log holds (NaN and Infinity included), so what is
//! uploaded is byte for byte what was logged.

use crate::wire::proto;

/// A JSON object under construction: keys in first-set order, leaves as raw JSON text.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Tree(Vec<(String, Node)>);

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Raw(String),
    Obj(Tree),
}

impl Tree {
    /// Sets `path` to `raw`, creating objects on the way (a leaf on the way is replaced).
    pub(crate) fn set(&mut self, path: &[&str], raw: &str) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let slot = match self.0.iter().position(|(k, _)| k == first) {
            Some(i) => &mut self.0[i].1,
            None => {
                self.0
                    .push(((*first).to_owned(), Node::Obj(Tree::default())));
                &mut self.0.last_mut().expect("just pushed").1
            }
        };
        if rest.is_empty() {
            *slot = Node::Raw(raw.to_owned());
            return;
        }
        if !matches!(slot, Node::Obj(_)) {
            *slot = Node::Obj(Tree::default());
        }
        if let Node::Obj(t) = slot {
            t.set(rest, raw);
        }
    }

    /// Removes `path` if present.
    pub(crate) fn remove(&mut self, path: &[&str]) {
        match path {
            [] => {}
            [last] => self.0.retain(|(k, _)| k != last),
            [first, rest @ ..] => {
                if let Some((_, Node::Obj(t))) = self.0.iter_mut().find(|(k, _)| k == first) {
                    t.remove(rest);
                }
            }
        }
    }

    /// Wraps every top-level value as `{"value": v}` (W&B's config shape).
    pub(crate) fn as_config(&self) -> Tree {
        Tree(
            self.0
                .iter()
                .map(|(k, n)| {
                    (
                        k.clone(),
                        Node::Obj(Tree(vec![("value".to_owned(), n.clone())])),
                    )
                })
                .collect(),
        )
    }

    pub(crate) fn to_json(&self) -> String {
        let mut out = String::with_capacity(64);
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        out.push('{');
        for (i, (k, n)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(k).unwrap_or_else(|_| "\"\"".into()));
            out.push(':');
            match n {
                Node::Raw(r) => out.push_str(r),
                Node::Obj(t) => t.write(out),
            }
        }
        out.push('}');
    }
}

/// The path of an item: its nested key if it has one, else its key. An item nested deeper
/// than [`MAX_NESTED_KEY`](crate::wire::MAX_NESTED_KEY) has none (it is skipped).
fn path<'a>(key: &'a str, nested: &'a [String]) -> Vec<&'a str> {
    if nested.is_empty() {
        vec![key]
    } else if nested.len() > crate::wire::MAX_NESTED_KEY {
        Vec::new()
    } else {
        nested.iter().map(String::as_str).collect()
    }
}

/// A history record as one `wandb-history.jsonl` line, with `_step` set to `step`.
pub(crate) fn history_line(rec: &proto::HistoryRecord, step: i64) -> String {
    let mut t = Tree::default();
    for item in &rec.item {
        t.set(&path(&item.key, &item.nested_key), &item.value_json);
    }
    t.set(&["_step"], &step.to_string());
    t.to_json()
}

/// The `_step` a history record gives, if any.
pub(crate) fn history_step(rec: &proto::HistoryRecord) -> Option<i64> {
    rec.item
        .iter()
        .find(|i| i.key == "_step" && i.nested_key.is_empty())
        .and_then(|i| i.value_json.trim().parse::<i64>().ok())
}

/// Applies a summary record's updates and removals.
pub(crate) fn apply_summary(t: &mut Tree, rec: &proto::SummaryRecord) {
    for item in &rec.update {
        t.set(&path(&item.key, &item.nested_key), &item.value_json);
    }
    for item in &rec.remove {
        t.remove(&path(&item.key, &item.nested_key));
    }
}

/// Applies a config record's updates and removals.
pub(crate) fn apply_config(t: &mut Tree, rec: &proto::ConfigRecord) {
    for item in &rec.update {
        t.set(&path(&item.key, &item.nested_key), &item.value_json);
    }
    for item in &rec.remove {
        t.remove(&path(&item.key, &item.nested_key));
    }
}

fn seconds(ts: &Option<prost_types::Timestamp>) -> f64 {
    ts.as_ref()
        .map_or(0.0, |t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
}

/// A system-metrics record as one `wandb-events.jsonl` line.
pub(crate) fn events_line(rec: &proto::StatsRecord, start: f64) -> String {
    let mut t = Tree::default();
    for item in &rec.item {
        t.set(&[&format!("system.{}", item.key)], &item.value_json);
    }
    let ts = seconds(&rec.timestamp);
    t.set(&["_wandb"], "true");
    t.set(&["_timestamp"], &json_f64(ts));
    t.set(&["_runtime"], &json_f64((ts - start).max(0.0)));
    t.to_json()
}

fn json_f64(v: f64) -> String {
    serde_json::Number::from_f64(v).map_or_else(|| "0".to_owned(), |n| n.to_string())
}

/// A console record as `output.log` lines: `<UTC timestamp> <text>`, stderr prefixed
/// `ERROR `.
pub(crate) fn output_lines(rec: &proto::OutputRawRecord) -> Vec<String> {
    let ts = rec.timestamp.as_ref().map_or_else(String::new, |t| {
        chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
            .unwrap_or_default()
    });
    let prefix = if rec.output_type == 0 { "ERROR " } else { "" };
    rec.line
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| format!("{prefix}{ts} {}", l.trim_end_matches('\r')))
        .collect()
}

/// The run's start time in seconds.
pub(crate) fn start_time(run: &proto::RunRecord) -> f64 {
    seconds(&run.start_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_nest_replace_and_remove() {
        let mut t = Tree::default();
        t.set(&["a"], "1");
        t.set(&["b", "x"], "NaN");
        t.set(&["b", "y"], "\"s\"");
        t.set(&["a"], "2");
        assert_eq!(t.to_json(), r#"{"a":2,"b":{"x":NaN,"y":"s"}}"#);
        t.remove(&["b", "x"]);
        t.set(&["a", "deep"], "true");
        assert_eq!(t.to_json(), r#"{"a":{"deep":true},"b":{"y":"s"}}"#);
        assert_eq!(
            t.as_config().to_json(),
            r#"{"a":{"value":{"deep":true}},"b":{"value":{"y":"s"}}}"#
        );
    }

    #[test]
    fn history_lines_carry_the_given_step() {
        let rec = proto::HistoryRecord {
            item: vec![
                proto::HistoryItem {
                    key: "_step".into(),
                    value_json: "3".into(),
                    ..Default::default()
                },
                proto::HistoryItem {
                    key: "loss".into(),
                    value_json: "0.5".into(),
                    ..Default::default()
                },
                proto::HistoryItem {
                    nested_key: vec!["val".into(), "acc".into()],
                    value_json: "Infinity".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(history_step(&rec), Some(3));
        assert_eq!(
            history_line(&rec, 4),
            r#"{"_step":4,"loss":0.5,"val":{"acc":Infinity}}"#
        );
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::CASES;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Items at any nesting (up to 10,000 deep) become a line that parses, or are
        /// skipped when deeper than a reader follows.
        #[test]
        fn nested_keys_of_any_depth_make_lines_that_parse(
            depth in prop_oneof![0usize..80, Just(10_000usize)],
            value in prop::sample::select(vec!["1", "NaN", "\"s\"", "[1,2]", "{\"a\":1}"]),
        ) {
            let nested: Vec<String> = (0..depth).map(|i| format!("k{i}")).collect();
            let rec = proto::HistoryRecord {
                item: vec![
                    proto::HistoryItem { key: "x".into(), nested_key: nested, value_json: value.into() },
                    proto::HistoryItem { key: "_step".into(), nested_key: vec![], value_json: "3".into() },
                ],
                step: None,
            };
            let line = history_line(&rec, 3);
            let parsed = crate::wire::json::parse(&line)
                .map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
            prop_assert_eq!(&parsed["_step"], &serde_json::json!(3));
        }
    }
}
