//! History and system metrics as Parquet, through the arrow ecosystem's crates: one column
//! per key, typed from the values (integers, floats, booleans, text; media as their file
//! paths, lists and maps as JSON text).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use serde_json::Value as J;

use crate::history::{Cell, Table};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Float,
    Bool,
    Text,
}

fn kind_of_json(v: &J) -> Option<Kind> {
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

fn kind_of(table: &Table, cell: Cell) -> Option<Kind> {
    match cell {
        Cell::Null => None,
        Cell::Bool(_) => Some(Kind::Bool),
        Cell::Int(_) => Some(Kind::Int),
        Cell::Float(_) | Cell::NonFinite(_) => Some(Kind::Float),
        Cell::Json(i) => kind_of_json(table.json(i)),
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

/// A text column's text: a string itself, a media value its file path, anything else JSON.
fn text(table: &Table, cell: Cell) -> Result<String> {
    let mut out = Vec::new();
    if !Table::write_plain(cell, &mut out)?
        && let Cell::Json(i) = cell
    {
        return Ok(match table.json(i) {
            J::String(s) => s.clone(),
            J::Object(m) if m.contains_key("path") => {
                m["path"].as_str().unwrap_or_default().to_owned()
            }
            other => other.to_string(),
        });
    }
    Ok(String::from_utf8(out)?)
}

fn float(table: &Table, cell: Cell) -> Option<f64> {
    match cell {
        Cell::Int(i) => Some(i as f64),
        Cell::Float(f) | Cell::NonFinite(f) => Some(f),
        Cell::Json(i) => table.json(i).as_f64(),
        Cell::Null | Cell::Bool(_) => None,
    }
}

/// One column of a batch being built.
enum Values {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Text(Vec<Option<String>>),
}

/// Rows per record batch.
const BATCH: usize = 65_536;

/// Writes `table` to `path`, `_step` first.
pub(crate) fn write(path: &Path, table: &Table) -> Result<()> {
    let mut kinds: Vec<Option<Kind>> = vec![None; table.names().len()];
    for (cols, cells) in table.rows() {
        for (&c, &cell) in cols.iter().zip(cells) {
            let k = &mut kinds[c as usize];
            *k = merge(*k, kind_of(table, cell));
        }
    }
    let columns: Vec<(usize, Kind)> = table
        .export_order()
        .into_iter()
        .map(|c| (c as usize, kinds[c as usize].unwrap_or(Kind::Text)))
        .collect();
    let fields: Vec<Field> = columns
        .iter()
        .map(|&(c, kind)| {
            let t = match kind {
                Kind::Int => DataType::Int64,
                Kind::Float => DataType::Float64,
                Kind::Bool => DataType::Boolean,
                Kind::Text => DataType::Utf8,
            };
            Field::new(table.names()[c].as_str(), t, true)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), None)?;
    // Where each column's cell is in the current row, by column id (usize::MAX: none).
    let mut at = vec![usize::MAX; table.names().len()];
    let mut rows = table.rows().peekable();
    while rows.peek().is_some() {
        let mut values: Vec<Values> = columns
            .iter()
            .map(|&(_, kind)| match kind {
                Kind::Int => Values::Int(Vec::with_capacity(BATCH)),
                Kind::Float => Values::Float(Vec::with_capacity(BATCH)),
                Kind::Bool => Values::Bool(Vec::with_capacity(BATCH)),
                Kind::Text => Values::Text(Vec::new()),
            })
            .collect();
        for (cols, cells) in rows.by_ref().take(BATCH) {
            for (i, &c) in cols.iter().enumerate() {
                at[c as usize] = i;
            }
            for (&(c, _), v) in columns.iter().zip(&mut values) {
                let cell = cells.get(at[c]).copied();
                match v {
                    Values::Int(v) => v.push(cell.and_then(|cell| match cell {
                        Cell::Int(i) => Some(i),
                        Cell::Json(i) => table.json(i).as_i64(),
                        _ => None,
                    })),
                    Values::Float(v) => v.push(cell.and_then(|cell| float(table, cell))),
                    Values::Bool(v) => v.push(cell.and_then(|cell| match cell {
                        Cell::Bool(b) => Some(b),
                        Cell::Json(i) => table.json(i).as_bool(),
                        _ => None,
                    })),
                    Values::Text(v) => v.push(match cell {
                        None | Some(Cell::Null) => None,
                        Some(cell) => Some(text(table, cell)?),
                    }),
                }
            }
            for &c in cols {
                at[c as usize] = usize::MAX;
            }
        }
        let arrays: Vec<ArrayRef> = values
            .into_iter()
            .map(|v| -> ArrayRef {
                match v {
                    Values::Int(v) => Arc::new(v.into_iter().collect::<Int64Array>()),
                    Values::Float(v) => Arc::new(v.into_iter().collect::<Float64Array>()),
                    Values::Bool(v) => Arc::new(v.into_iter().collect::<BooleanArray>()),
                    Values::Text(v) => Arc::new(v.into_iter().collect::<StringArray>()),
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
    use std::collections::BTreeMap;

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
        let mut table = Table::default();
        for r in &rows {
            table.push_map(r);
        }
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("h.parquet");
        write(&p, &table).unwrap();
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
