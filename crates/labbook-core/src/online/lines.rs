//! Records of the transaction log as the JSON lines W&B's file_stream and UpsertBucket
//! take. Values stay the JSON text the log holds (NaN and Infinity included), so what is
//! uploaded is byte for byte what was logged.

use crate::wire::{Tree, item_path, proto};

/// A history record as one `wandb-history.jsonl` line, with `_step` set to `step`.
pub(crate) fn history_line(rec: &proto::HistoryRecord, step: i64) -> String {
    let mut t = Tree::default();
    for item in &rec.item {
        t.set(&item_path(&item.key, &item.nested_key), &item.value_json);
    }
    t.set(&["_step"], &step.to_string());
    t.to_json()
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
        assert_eq!(crate::wire::history_step(&rec), Some(3));
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
