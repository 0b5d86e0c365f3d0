//! History and system metrics as Parquet, through the arrow ecosystem's crates: one column
//! per key, typed from the values (integers, floats, booleans, text; media as their file
//! paths, lists and maps as JSON text).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use serde_json::Value as J;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Float,
    Bool,
    Text,
}

fn kind_of(v: &J) -> Option<Kind> {
    match v {
        J::Null => None,
        J::Bool(_) => Some(Kind::Bool),
        J::Number(n) if n.is_i64() => Some(Kind::Int),
        J::Number(_) => Some(Kind::Float),
        // W&B writes non-finite numbers as tokens; they stay floats.
        J::String(s) if matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity") => Some(Kind::Float),
        _ => Some(Kind::Text),
    }
}

fn merge(a: Option<Kind>, b: Option<Kind>) -> Option<Kind> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(x), Some(y)) if x == y => Some(x),
        (Some(Kind::Int), Some(Kind::Float)) | (Some(Kind::Float), Some(Kind::Int)) => {
            Some(Kind::Float)
        }
        _ => Some(Kind::Text),
    }
}

fn text(v: &J) -> String {
    match v {
        J::String(s) => s.clone(),
        J::Object(m) if m.contains_key("path") => m["path"].as_str().unwrap_or_default().to_owned(),
        other => other.to_string(),
    }
}

fn float(v: &J) -> Option<f64> {
    match v {
        J::Number(n) => n.as_f64(),
        J::String(s) if s == "NaN" => Some(f64::NAN),
        J::String(s) if s == "Infinity" => Some(f64::INFINITY),
        J::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// Writes `rows` to `path`, `_step` first.
pub(crate) fn write(path: &Path, rows: &[BTreeMap<String, J>]) -> Result<()> {
    let mut kinds: BTreeMap<&String, Option<Kind>> = BTreeMap::new();
    for r in rows {
        for (k, v) in r {
            let e = kinds.entry(k).or_insert(None);
            *e = merge(*e, kind_of(v));
        }
    }
    let mut columns: Vec<(&String, Kind)> = kinds
        .into_iter()
        .map(|(k, kind)| (k, kind.unwrap_or(Kind::Text)))
        .collect();
    columns.sort_by_key(|(k, _)| (k.as_str() != "_step", k.starts_with('_'), (*k).clone()));
    let fields: Vec<Field> = columns
        .iter()
        .map(|(k, kind)| {
            let t = match kind {
                Kind::Int => DataType::Int64,
                Kind::Float => DataType::Float64,
                Kind::Bool => DataType::Boolean,
                Kind::Text => DataType::Utf8,
            };
            Field::new(k.as_str(), t, true)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), None)?;
    for chunk in rows.chunks(65_536) {
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|(k, kind)| -> ArrayRef {
                let cells = chunk.iter().map(|r| r.get(*k));
                match kind {
                    Kind::Int => {
                        Arc::new(cells.map(|v| v.and_then(J::as_i64)).collect::<Int64Array>())
                    }
                    Kind::Float => {
                        Arc::new(cells.map(|v| v.and_then(float)).collect::<Float64Array>())
                    }
                    Kind::Bool => Arc::new(
                        cells
                            .map(|v| v.and_then(J::as_bool))
                            .collect::<BooleanArray>(),
                    ),
                    Kind::Text => Arc::new(
                        cells
                            .map(|v| v.filter(|v| !v.is_null()).map(text))
                            .collect::<StringArray>(),
                    ),
                }
            })
            .collect();
        writer.write(&RecordBatch::try_new(schema.clone(), arrays)?)?;
    }
    writer.close()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    #[test]
    fn columns_are_typed_from_their_values() {
        let rows: Vec<BTreeMap<String, J>> = (0..3)
            .map(|i| {
                BTreeMap::from([
                    ("_step".to_owned(), J::from(i)),
                    ("loss".to_owned(), if i == 1 { J::from("NaN") } else { J::from(0.5) }),
                    ("epoch".to_owned(), J::from(i)),
                    ("img".to_owned(), serde_json::json!({"_type": "image-file", "path": format!("media/images/x_{i}.png")})),
                ])
            })
            .collect();
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("h.parquet");
        write(&p, &rows).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&p).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let batch = reader.into_iter().next().unwrap().unwrap();
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, vec!["_step", "epoch", "img", "loss"]);
        assert_eq!(schema.field(0).data_type(), &DataType::Int64);
        assert_eq!(schema.field(3).data_type(), &DataType::Float64);
        let loss = batch
            .column(3)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert!(loss.value(1).is_nan());
        let img = batch
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(img.value(2), "media/images/x_2.png");
    }
}
