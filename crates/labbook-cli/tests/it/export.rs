//! `labbook export` of a hand-made log holding every kind of history value: each format
//! keeps what the value was (numbers, non-finite tokens, text, nested keys, media).

use std::path::Path;

use crate::support::{labbook, stdout};
use arrow_array::{Array, Float64Array, Int64Array, StringArray};
use labbook_testkit::hand_log as log;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn export(run: &Path, format: &str, out: &Path) -> std::path::PathBuf {
    stdout(&labbook(
        &[
            "export",
            run.to_str().unwrap(),
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ],
        run,
    ));
    out.join("oddrun1")
}

fn odd_run(root: &Path) -> std::path::PathBuf {
    let dir = root.join("run");
    log::write_log(&dir, &log::odd_records());
    dir
}

#[test]
fn csv_keeps_every_kind_of_value() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = export(&odd_run(tmp.path()), "csv", &tmp.path().join("out"));
    let mut r = csv::Reader::from_path(dir.join("metrics_history.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    // `_step` first, internal keys last, the rest by name; maps flattened with dots.
    assert_eq!(header.first().map(String::as_str), Some("_step"));
    assert_eq!(header.last().map(String::as_str), Some("_runtime"));
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5);
    let cell = |row: usize, key: &str| {
        let i = header
            .iter()
            .position(|h| h == key)
            .unwrap_or_else(|| panic!("{key}"));
        rows[row][i].to_owned()
    };
    for (key, want) in [
        ("loss", "0.5"),
        ("int", "7"),
        ("big", "1.8446744073709552e+19"),
        ("plus", "5"),
        ("exp", "0.00001"),
        ("tiny", "1.5e-300"),
        ("overflow", ""),
        ("nan", "NaN"),
        ("inf", "Infinity"),
        ("ninf", "-Infinity"),
        ("text", "a, \"quoted\"\nline"),
        ("nan_text", "NaN"),
        ("flag", "true"),
        ("none", ""),
        ("list", "[1,\"NaN\",\"x\"]"),
        // The flat key `obj.a` came after the map, so its value wins.
        ("obj.a", "99"),
        ("obj.b.c", "2.5"),
        ("obj.empty", "{}"),
        ("obj.u", "18446744073709551615"),
        ("img", "media/images/img_0_abc.png"),
        ("table", "[\"a.json\",\"b.json\"]"),
        ("deep.x.y", "3"),
        ("deep.x.z", "t"),
        ("one", "4"),
        ("dup", "2"),
        ("q\"k", "1"),
        ("ключ", "0"),
        ("_runtime", "0.25"),
    ] {
        assert_eq!(cell(0, key), want, "{key}");
    }
    assert_eq!(cell(1, "loss"), "n/a");
    assert_eq!(cell(1, "int"), "8.0");
    assert_eq!(cell(1, "late"), "1");
    assert_eq!(cell(0, "late"), "");
    assert_eq!(cell(2, "loss"), "0.25");
    assert_eq!(
        (cell(3, "loss").as_str(), cell(3, "acc").as_str()),
        ("2", "0.75")
    );
    assert_eq!(cell(4, "loss"), "0.0625");
    let system = std::fs::read_to_string(dir.join("system_metrics.csv")).unwrap();
    assert_eq!(
        system,
        "system.cpu,system.gpu,_timestamp\n12.5,\"{\"\"0\"\":{\"\"util\"\":50}}\",1700000000.5\nNaN,\"{\"\"0\"\":{\"\"util\"\":50}}\",1700000000.5\n"
    );
}

#[test]
fn json_lines_keep_every_kind_of_value() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = export(&odd_run(tmp.path()), "json", &tmp.path().join("out"));
    let text = std::fs::read_to_string(dir.join("metrics_history.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    let mut first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    // serde_json reads 1.5e-300 back a bit off (no float_roundtrip): check the text.
    assert!(lines[0].contains(r#""tiny":1.5e-300,"#), "{}", lines[0]);
    first.as_object_mut().unwrap().remove("tiny");
    let want = serde_json::json!({
        "_runtime": 0.25, "_step": 0, "big": 18446744073709551615.0, "deep.x.y": 3,
        "deep.x.z": "t", "dup": 2, "exp": 0.00001, "flag": true,
        "img": "media/images/img_0_abc.png", "inf": "Infinity", "int": 7,
        "list": [1, "NaN", "x"], "loss": 0.5, "nan": "NaN", "nan_text": "NaN",
        "ninf": "-Infinity", "none": null, "obj.a": 99, "obj.b.c": 2.5, "obj.empty": {},
        "obj.u": 18446744073709551615u64, "one": 4, "overflow": null, "plus": 5, "q\"k": 1,
        "table": {"_type": "table-file", "filenames": ["a.json", "b.json"], "nrows": 2},
        "text": "a, \"quoted\"\nline", "ключ": 0,
    });
    assert_eq!(first, want);
    // Keys sorted by name, compact, one object a line.
    assert_eq!(
        lines[1],
        r#"{"_step":1,"flag":false,"int":8.0,"late":1,"loss":"n/a","nan":0.125}"#
    );
    assert_eq!(lines[3], r#"{"_step":3,"acc":0.75,"loss":2}"#);
    let system = std::fs::read_to_string(dir.join("system_metrics.jsonl")).unwrap();
    assert_eq!(
        system.lines().nth(1),
        Some(r#"{"_timestamp":1700000000.5,"system.cpu":"NaN","system.gpu":{"0":{"util":50}}}"#)
    );
}

#[test]
fn parquet_types_columns_from_every_kind_of_value() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = export(&odd_run(tmp.path()), "parquet", &tmp.path().join("out"));
    let reader = ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(dir.join("metrics_history.parquet")).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let batch = reader.into_iter().next().unwrap().unwrap();
    assert_eq!(batch.num_rows(), 5);
    let col = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let floats = |name: &str| {
        col(name)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap_or_else(|| panic!("{name} is not Float64"))
            .clone()
    };
    let ints = |name: &str| {
        col(name)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap_or_else(|| panic!("{name} is not Int64"))
            .clone()
    };
    let texts = |name: &str| {
        col(name)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap_or_else(|| panic!("{name} is not Utf8"))
            .clone()
    };
    assert_eq!(batch.schema().field(0).name(), "_step");
    assert_eq!(ints("_step").values().to_vec(), vec![0, 1, 2, 3, 4]);
    // NaN and a float in one column: a float column.
    let nan = floats("nan");
    assert!(nan.value(0).is_nan());
    assert_eq!(nan.value(1), 0.125);
    assert!(nan.is_null(2));
    assert_eq!(floats("inf").value(0), f64::INFINITY);
    assert_eq!(floats("ninf").value(0), f64::NEG_INFINITY);
    // An integer then a float: floats.
    assert_eq!(
        floats("int")
            .values()
            .iter()
            .take(2)
            .copied()
            .collect::<Vec<_>>(),
        vec![7.0, 8.0]
    );
    // A number then text: text, numbers as their JSON.
    let loss = texts("loss");
    assert_eq!(
        (loss.value(0), loss.value(1), loss.value(4)),
        ("0.5", "n/a", "0.0625")
    );
    assert_eq!(texts("img").value(0), "media/images/img_0_abc.png");
    assert_eq!(texts("text").value(0), "a, \"quoted\"\nline");
    assert_eq!(ints("obj.a").value(0), 99);
    assert_eq!(floats("obj.b.c").value(0), 2.5);
    assert_eq!(texts("deep.x.z").value(0), "t");
    assert_eq!(ints("deep.x.y").value(0), 3);
    assert_eq!(floats("big").value(0), 18446744073709551615.0);
    // Only nulls: a text column of nulls.
    assert!(texts("none").is_null(0));
}
