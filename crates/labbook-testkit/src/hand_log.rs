//! Hand-made transaction logs: values and encodings labbook's own writer never produces
//! (official-client number formats, nested keys, unknown fields), to check that readers
//! make the same of them.

use std::path::{Path, PathBuf};

use labbook_wire::Framer;
use labbook_wire::proto::{
    ConfigRecord, HistoryItem, HistoryRecord, HistoryStep, Record, RecordType, RunRecord,
    StatsItem, StatsRecord, SummaryItem, SummaryRecord, timestamp,
};
use prost::Message as _;

/// A flat history item.
pub fn item(key: &str, value_json: &str) -> HistoryItem {
    HistoryItem {
        key: key.into(),
        nested_key: vec![],
        value_json: value_json.into(),
    }
}

/// A history item under a nested key path (as the official client writes `run.log({"a":
/// {"b": 1}})` when asked to).
pub fn nested(path: &[&str], value_json: &str) -> HistoryItem {
    HistoryItem {
        key: String::new(),
        nested_key: path.iter().map(|s| (*s).to_owned()).collect(),
        value_json: value_json.into(),
    }
}

pub fn history(num: i64, step: i64, item: Vec<HistoryItem>) -> Vec<u8> {
    Record {
        num,
        record_type: Some(RecordType::History(HistoryRecord {
            item,
            step: Some(HistoryStep { num: step }),
        })),
    }
    .encode_to_vec()
}

/// Appends an unknown length-delimited field (number `tag`) to a message's bytes, as the
/// official client's records carry fields labbook does not declare.
pub fn with_unknown_field(mut bytes: Vec<u8>, tag: u32, body: &[u8]) -> Vec<u8> {
    let mut key = u64::from(tag << 3 | 2);
    while key >= 0x80 {
        bytes.push((key as u8) | 0x80);
        key >>= 7;
    }
    bytes.push(key as u8);
    bytes.push(body.len() as u8);
    bytes.extend_from_slice(body);
    bytes
}

/// Records (as bytes) with every kind of history value: numbers in formats labbook does
/// not write, non-finite tokens, text that needs quoting, booleans, null, lists, nested
/// maps, nested keys, media, a key set twice, a column that starts late; plus a run
/// record, a summary and system metrics.
pub fn odd_records() -> Vec<Vec<u8>> {
    let run = Record {
        num: 1,
        record_type: Some(RecordType::Run(RunRecord {
            run_id: "oddrun1".into(),
            project: "p".into(),
            display_name: "odd".into(),
            ..Default::default()
        })),
    }
    .encode_to_vec();
    let image =
        r#"{"_type": "image-file", "path": "media/images/img_0_abc.png", "width": 8, "height": 8}"#;
    let row0 = history(
        2,
        0,
        vec![
            item("loss", "0.5"),
            item("int", "7"),
            item("big", "18446744073709551615"),
            item("plus", "+5"),
            item("exp", "1e-05"),
            item("tiny", "1.5E-300"),
            item("overflow", "1e999"),
            item("nan", "NaN"),
            item("inf", "Infinity"),
            item("ninf", "-Infinity"),
            item("text", r#""a, \"quoted\"\nline""#),
            item("nan_text", r#""NaN""#),
            item("flag", "true"),
            item("none", "null"),
            item("list", "[1, NaN, \"x\"]"),
            item(
                "obj",
                r#"{"a": 1, "b": {"c": 2.50}, "empty": {}, "u": 18446744073709551615}"#,
            ),
            item("obj.a", "99"),
            item("img", image),
            item(
                "table",
                r#"{"_type": "table-file", "filenames": ["a.json", "b.json"], "nrows": 2}"#,
            ),
            nested(&["deep", "x", "y"], "3"),
            nested(&["deep", "x", "z"], "\"t\""),
            nested(&["one"], "4"),
            item("dup", "1"),
            item("dup", "2"),
            item("q\"k", "1"),
            item("ключ", "-0"),
            item("_step", "0"),
            item("_runtime", "0.25"),
        ],
    );
    let row1 = history(
        3,
        1,
        vec![
            item("_step", "1"),
            item("loss", "\"n/a\""),
            item("int", "8.0"),
            item("late", "1"),
            item("flag", "false"),
            item("nan", "0.125"),
        ],
    );
    // An official-client-style record: unknown fields on the record and on an item.
    let row2 = {
        let mut it = item("loss", "0.25").encode_to_vec();
        it = with_unknown_field(it, 7, b"x");
        let mut body = Vec::new();
        body.push(0x0A);
        body.push(it.len() as u8);
        body.extend_from_slice(&it);
        let step = item("_step", "2").encode_to_vec();
        body.push(0x0A);
        body.push(step.len() as u8);
        body.extend_from_slice(&step);
        let mut rec = vec![0x08, 4, 0x12, body.len() as u8];
        rec.extend_from_slice(&body);
        with_unknown_field(rec, 200, b"info")
    };
    // The history field twice: prost merges the two into one row.
    let row3 = {
        let a = HistoryRecord {
            item: vec![item("_step", "3"), item("loss", "1")],
            step: None,
        }
        .encode_to_vec();
        let b = HistoryRecord {
            item: vec![item("acc", "0.75"), item("loss", "2")],
            step: None,
        }
        .encode_to_vec();
        let mut rec = vec![0x08, 5];
        for part in [a, b] {
            rec.push(0x12);
            rec.push(part.len() as u8);
            rec.extend_from_slice(&part);
        }
        rec
    };
    // An unknown group field (a wire type long out of use): prost skips it, and the export
    // leaves such a record to prost.
    let row4 = {
        let mut rec = history(6, 4, vec![item("_step", "4"), item("loss", "0.0625")]);
        // Field 201, start group (3) ... end group (4).
        rec.extend_from_slice(&[0xCB, 0x0C, 0xCC, 0x0C]);
        rec
    };
    let summary = Record {
        num: 6,
        record_type: Some(RecordType::Summary(SummaryRecord {
            update: vec![SummaryItem {
                key: "loss".into(),
                nested_key: vec![],
                value_json: "0.25".into(),
            }],
            remove: vec![],
        })),
    }
    .encode_to_vec();
    let config = Record {
        num: 7,
        record_type: Some(RecordType::Config(ConfigRecord {
            update: vec![SummaryItem {
                key: "lr".into(),
                nested_key: vec![],
                value_json: "0.001".into(),
            }],
            remove: vec![],
        })),
    }
    .encode_to_vec();
    let stats = |num: i64, cpu: &str| {
        Record {
            num,
            record_type: Some(RecordType::Stats(StatsRecord {
                stats_type: 0,
                timestamp: Some(timestamp(1_700_000_000.5)),
                item: vec![
                    StatsItem {
                        key: "cpu".into(),
                        value_json: cpu.into(),
                    },
                    StatsItem {
                        key: "gpu".into(),
                        value_json: r#"{"0": {"util": 50}}"#.into(),
                    },
                ],
            })),
        }
        .encode_to_vec()
    };
    vec![
        run,
        row0,
        row1,
        row2,
        row3,
        row4,
        summary,
        config,
        stats(8, "12.5"),
        stats(9, "NaN"),
    ]
}

/// Frames `records` into a `.wandb` file in `dir` (created), returning the file's path.
pub fn write_log(dir: &Path, records: &[Vec<u8>]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut f = Framer::new_file();
    for r in records {
        f.append(r);
    }
    let path = dir.join("run-oddrun1.wandb");
    std::fs::write(&path, f.pending()).unwrap();
    path
}
