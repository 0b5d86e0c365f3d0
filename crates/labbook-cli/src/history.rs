//! History rows (and system metric samples) as a compact table, read straight from the
//! records' bytes, for `labbook export`.
//!
//! [`crate::run_log::RunLog`] keeps each row as a map from owned key to `serde_json::Value`,
//! which is handy for `show` and `watch` but costs a dozen allocations a row; a million-row
//! export spent most of its time allocating and freeing them. Here a row is a run of
//! (column id, [`Cell`]) pairs in two flat vectors, keys are interned once, and a number is
//! kept as a number. What a cell means is exactly what `RunLog` would have made of the same
//! item: the same parsing, the same flattening of nested maps, the same "last value of a
//! key wins" (the tests compare the two).

use std::collections::{BTreeMap, HashMap};

use labbook_wire::proto::{HistoryRecord, StatsRecord};
use labbook_wire::{HistoryScanner, ScannedItem};
use prost::Message as _;
use serde_json::Value as J;
use serde_json::ser::{CompactFormatter, Formatter as _};

use crate::run_log::{parse, set_nested};

/// One value of a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    /// A finite float.
    Float(f64),
    /// NaN or ±Infinity. W&B writes them as bare tokens and `RunLog` reads them as the
    /// strings "NaN", "Infinity" and "-Infinity"; they are written back the same way.
    NonFinite(f64),
    /// Anything else (text, lists, maps, media, integers beyond i64): an index into the
    /// table's `json` values.
    Json(usize),
}

/// The JSON token of a non-finite float, as W&B writes it.
pub(crate) fn non_finite_token(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// The cell for the text of a `value_json` when it is a plain number, a non-finite token,
/// a boolean or null: what [`parse`] would return, without building a `serde_json::Value`.
/// `None` for anything else (text, lists, maps), which goes through [`parse`].
fn quick_cell(text: &str) -> Option<Cell> {
    // The same tests in the same order as `parse`, so that e.g. "+5" is 5 and "1e999" null.
    if let Ok(i) = text.parse::<i64>() {
        return Some(Cell::Int(i));
    }
    if text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'e' | b'E' | b'+'))
        && let Ok(f) = text.parse::<f64>()
    {
        // `serde_json::Value::from(f64)` is null for a non-finite float.
        return Some(if f.is_finite() {
            Cell::Float(f)
        } else {
            Cell::Null
        });
    }
    Some(match text {
        "NaN" => Cell::NonFinite(f64::NAN),
        "Infinity" => Cell::NonFinite(f64::INFINITY),
        "-Infinity" => Cell::NonFinite(f64::NEG_INFINITY),
        "true" => Cell::Bool(true),
        "false" => Cell::Bool(false),
        "null" => Cell::Null,
        _ => return None,
    })
}

/// Rows of cells under interned column names.
#[derive(Debug, Default)]
pub(crate) struct Table {
    names: Vec<String>,
    ids: HashMap<String, u32>,
    /// The column of each cell; the cells of row `i` are `ends[i - 1]..ends[i]`.
    cols: Vec<u32>,
    cells: Vec<Cell>,
    ends: Vec<usize>,
    json: Vec<J>,
    /// Per column, the row (counted from 1) it was last set in and the index of that cell:
    /// a key set twice in one row keeps its last value, as a map insert would.
    last: Vec<(usize, usize)>,
    /// The column of the previous history record's item at each position. Rows nearly
    /// always repeat their keys in the same order, so one string compare finds the column
    /// instead of hashing the key.
    hints: Vec<u32>,
    /// Reads the items of each history record from its bytes (labbook-wire's scanner).
    scanner: HistoryScanner,
}

impl Table {
    /// The number of rows.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Column names by id.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// The rows, each as its cells' column ids and the cells, in no particular order.
    pub(crate) fn rows(&self) -> impl Iterator<Item = (&[u32], &[Cell])> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(a, &b)| (&self.cols[a..b], &self.cells[a..b]))
    }

    /// The `_step` of the last row that has a whole-number one.
    pub(crate) fn last_step(&self) -> Option<i64> {
        let col = *self.ids.get("_step")?;
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        let spans: Vec<(usize, usize)> = starts.zip(self.ends.iter().copied()).collect();
        spans.into_iter().rev().find_map(|(a, b)| {
            let i = self.cols[a..b].iter().position(|&c| c == col)?;
            match self.cells[a + i] {
                Cell::Int(s) => Some(s),
                _ => None,
            }
        })
    }

    /// The value behind a [`Cell::Json`].
    pub(crate) fn json(&self, i: usize) -> &J {
        &self.json[i]
    }

    /// Column ids in export order: `_step` first, then the other keys, internal (`_`) keys
    /// last, each group by name.
    pub(crate) fn export_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.names.len() as u32).collect();
        order.sort_by_key(|&c| {
            let k = &self.names[c as usize];
            (k != "_step", k.starts_with('_'), k.as_str())
        });
        order
    }

    fn intern(&mut self, key: &str) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(key.to_owned());
        self.ids.insert(key.to_owned(), id);
        self.last.push((0, 0));
        id
    }

    /// [`Table::intern`] for a key's bytes (UTF-8, checked by the scan), trying the column
    /// the item at `pos` had in the previous record first: comparing bytes there saves
    /// turning them into a `&str` at all.
    fn intern_at(&mut self, key: &[u8], pos: usize) -> u32 {
        if let Some(&id) = self.hints.get(pos)
            && self
                .names
                .get(id as usize)
                .is_some_and(|n| n.as_bytes() == key)
        {
            return id;
        }
        // Lossless for the UTF-8 the scan let through.
        let id = self.intern(&String::from_utf8_lossy(key));
        if self.hints.len() <= pos {
            self.hints.resize(pos + 1, u32::MAX);
        }
        self.hints[pos] = id;
        id
    }

    fn set(&mut self, col: u32, cell: Cell) {
        let row = self.ends.len() + 1;
        let slot = &mut self.last[col as usize];
        if slot.0 == row {
            self.cells[slot.1] = cell;
        } else {
            *slot = (row, self.cells.len());
            self.cols.push(col);
            self.cells.push(cell);
        }
    }

    fn end_row(&mut self) {
        self.ends.push(self.cells.len());
    }

    /// The cell for a parsed value (nothing is flattened here).
    fn cell_of(&mut self, v: J) -> Cell {
        match v {
            J::Null => Cell::Null,
            J::Bool(b) => Cell::Bool(b),
            J::Number(ref n) => {
                if let Some(i) = n.as_i64() {
                    Cell::Int(i)
                } else if let (true, Some(f)) = (n.is_f64(), n.as_f64()) {
                    Cell::Float(f)
                } else {
                    self.push_json(v)
                }
            }
            J::String(ref s) => match s.as_str() {
                "NaN" => Cell::NonFinite(f64::NAN),
                "Infinity" => Cell::NonFinite(f64::INFINITY),
                "-Infinity" => Cell::NonFinite(f64::NEG_INFINITY),
                _ => self.push_json(v),
            },
            other => self.push_json(other),
        }
    }

    fn push_json(&mut self, v: J) -> Cell {
        self.json.push(v);
        Cell::Json(self.json.len() - 1)
    }

    /// Sets `key` to `v`, flattening nested maps into dotted keys as
    /// [`crate::run_log::flatten_into`] does (media and empty maps stay whole).
    fn set_flat(&mut self, key: String, v: J) {
        match v {
            J::Object(m) if !m.contains_key("_type") && !m.is_empty() => {
                for (k, v) in m {
                    self.set_flat(format!("{key}.{k}"), v);
                }
            }
            other => {
                let col = self.intern(&key);
                let cell = self.cell_of(other);
                self.set(col, cell);
            }
        }
    }

    /// Adds the row of a record's bytes if the record is a history record that reads
    /// without prost; `false` leaves the table as it was, and the caller decodes the
    /// record with prost (any other record, or one this reader does not take on).
    pub(crate) fn push_history_bytes(&mut self, record: &[u8]) -> bool {
        let mut scanner = std::mem::take(&mut self.scanner);
        let ok = match scanner.record(record) {
            Some(items) => {
                self.add_row(items);
                true
            }
            None => false,
        };
        self.scanner = scanner;
        ok
    }

    /// Adds the row of a history record that prost decoded.
    pub(crate) fn push_history(&mut self, h: &HistoryRecord) {
        // Encoding it back gives bytes the reader takes, and keeps one way of building rows.
        let bytes = h.encode_to_vec();
        let mut scanner = std::mem::take(&mut self.scanner);
        match scanner.history(&bytes) {
            Some(items) => self.add_row(items),
            // Cannot happen for prost's own encoding; keep the row count right regardless.
            None => self.end_row(),
        }
        self.scanner = scanner;
    }

    /// Builds a row from scanned items: `RunLog::apply` on a history record, cell for cell.
    fn add_row<'a>(&mut self, items: impl Iterator<Item = ScannedItem<'a>>) {
        let mut nested: BTreeMap<String, J> = BTreeMap::new();
        for (pos, item) in items.enumerate() {
            let value = item.value_json;
            let mut path = item.nested_key();
            let key = match path.len() {
                0 => item.key,
                1 => path.next().unwrap_or_default(),
                // Deeper than any tracker writes: skipped, as `RunLog` skips it.
                n if n > labbook_wire::MAX_NESTED_KEY => continue,
                _ => {
                    let path: Vec<String> = path.map(str::to_owned).collect();
                    set_nested(&mut nested, &path, parse(value));
                    continue;
                }
            };
            match quick_cell(value) {
                Some(cell) => {
                    let col = self.intern_at(key.as_bytes(), pos);
                    self.set(col, cell);
                }
                None => self.set_flat(key.to_owned(), parse(value)),
            }
        }
        for (k, v) in nested {
            self.set_flat(k, v);
        }
        self.end_row();
    }

    /// Adds a system metrics sample as `RunLog::apply` makes it: `_timestamp` and
    /// `system.<key>`, values not flattened.
    pub(crate) fn push_stats(&mut self, s: &StatsRecord) {
        if let Some(t) = s.timestamp {
            let col = self.intern("_timestamp");
            let t = t.seconds as f64 + f64::from(t.nanos) / 1e9;
            let cell = if t.is_finite() {
                Cell::Float(t)
            } else {
                Cell::Null
            };
            self.set(col, cell);
        }
        for it in &s.item {
            let col = self.intern(&format!("system.{}", it.key));
            let cell = match quick_cell(&it.value_json) {
                Some(c) => c,
                None => {
                    let v = parse(&it.value_json);
                    self.cell_of(v)
                }
            };
            self.set(col, cell);
        }
        self.end_row();
    }

    /// Adds a row from a map, flattening nothing (rows read from a server, and tests).
    pub(crate) fn push_map(&mut self, row: &BTreeMap<String, J>) {
        for (k, v) in row {
            let col = self.intern(k);
            let cell = self.cell_of(v.clone());
            self.set(col, cell);
        }
        self.end_row();
    }

    /// The rows as `RunLog` holds them, to compare the two (the tests and the fuzz target).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn to_maps(&self) -> Vec<BTreeMap<String, J>> {
        self.rows()
            .map(|(cols, cells)| {
                cols.iter()
                    .zip(cells)
                    .map(|(&c, &cell)| {
                        let v = match cell {
                            Cell::Null => J::Null,
                            Cell::Bool(b) => J::Bool(b),
                            Cell::Int(i) => J::from(i),
                            Cell::Float(f) => J::from(f),
                            Cell::NonFinite(f) => J::from(non_finite_token(f)),
                            Cell::Json(i) => self.json[i].clone(),
                        };
                        (self.names[c as usize].clone(), v)
                    })
                    .collect()
            })
            .collect()
    }

    /// Writes a cell as JSON, a media value as its file path.
    pub(crate) fn write_json(&self, cell: Cell, out: &mut Vec<u8>) -> std::io::Result<()> {
        match cell {
            Cell::Null => out.extend_from_slice(b"null"),
            Cell::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Cell::Int(i) => CompactFormatter.write_i64(out, i)?,
            Cell::Float(f) => CompactFormatter.write_f64(out, f)?,
            Cell::NonFinite(f) => {
                out.push(b'"');
                out.extend_from_slice(non_finite_token(f).as_bytes());
                out.push(b'"');
            }
            Cell::Json(i) => match &self.json[i] {
                J::Object(m) if m.contains_key("path") => serde_json::to_writer(out, &m["path"])?,
                v => serde_json::to_writer(out, v)?,
            },
        }
        Ok(())
    }

    /// Writes a plain-value cell's text (null: nothing); `false` for a [`Cell::Json`], whose
    /// text depends on the format.
    pub(crate) fn write_plain(cell: Cell, out: &mut Vec<u8>) -> std::io::Result<bool> {
        match cell {
            Cell::Null => {}
            Cell::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Cell::Int(i) => CompactFormatter.write_i64(out, i)?,
            Cell::Float(f) => CompactFormatter.write_f64(out, f)?,
            Cell::NonFinite(f) => out.extend_from_slice(non_finite_token(f).as_bytes()),
            Cell::Json(_) => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_cells_are_what_parse_makes_of_the_text() {
        for text in [
            "0",
            "-0",
            "+5",
            "007",
            "1.0",
            "0.001",
            "1e-05",
            "1E5",
            "-2.5e+3",
            "1e999",
            "-1e999",
            "9223372036854775807",
            "9223372036854775808",
            "18446744073709551615",
            "NaN",
            "Infinity",
            "-Infinity",
            "true",
            "false",
            "null",
            ".5",
            "5.",
            "-",
            "e",
            "",
        ] {
            let mut t = Table::default();
            let want = parse(text);
            match quick_cell(text) {
                Some(cell) => {
                    let col = t.intern("k");
                    t.set(col, cell);
                    t.end_row();
                    assert_eq!(t.len(), 1);
                    let got = match cell {
                        Cell::Null => J::Null,
                        Cell::Bool(b) => J::Bool(b),
                        Cell::Int(i) => J::from(i),
                        Cell::Float(f) => J::from(f),
                        Cell::NonFinite(f) => J::from(non_finite_token(f)),
                        Cell::Json(_) => unreachable!("quick cells are plain"),
                    };
                    assert_eq!(got, want, "{text:?}");
                }
                // Left to `parse`: nothing a quick cell would have been.
                None => assert!(
                    !matches!(want, J::Null | J::Bool(_))
                        && want.as_i64().is_none()
                        && !want.is_f64(),
                    "{text:?} -> {want:?}"
                ),
            }
        }
    }

    #[test]
    fn only_history_records_this_reader_takes_on_are_read_from_bytes() {
        let records = labbook_testkit::hand_log::odd_records();
        let mut t = Table::default();
        let taken: Vec<bool> = records.iter().map(|r| t.push_history_bytes(r)).collect();
        // run, rows 0-3 (unknown fields, a repeated history field), row 4 (a group field:
        // left to prost), summary, config, two system samples.
        assert_eq!(
            taken,
            [
                false, true, true, true, true, false, false, false, false, false
            ]
        );
        assert_eq!(t.len(), 4);
    }
}

#[cfg(test)]
mod props {
    use labbook_wire::proto::{HistoryItem, HistoryStep, Record, RecordType};
    use proptest::prelude::*;

    use super::*;
    use crate::run_log::RunLog;

    fn value_json() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            any::<f64>().prop_map(|f| f.to_string()),
            prop::sample::select(vec![
                "NaN",
                "Infinity",
                "-Infinity",
                "+5",
                "1e999",
                "-0",
                "null",
                "true",
                "[1,NaN]",
                "{\"a\":{\"b\":1}}",
                "\"text\"",
                "{\"_type\":\"image-file\",\"path\":\"p\"}",
                "",
                "{",
                "18446744073709551615",
            ])
            .prop_map(String::from),
            "\\PC{0,12}",
        ]
    }

    fn history() -> impl Strategy<Value = HistoryRecord> {
        (
            prop::collection::vec(
                (
                    "[a-z._/]{0,6}",
                    prop::collection::vec("[a-z]{0,3}", 0..4),
                    value_json(),
                ),
                0..8,
            ),
            prop::option::of(any::<i64>()),
        )
            .prop_map(|(items, step)| HistoryRecord {
                item: items
                    .into_iter()
                    .map(|(key, nested_key, value_json)| HistoryItem {
                        key,
                        nested_key,
                        value_json,
                    })
                    .collect(),
                step: step.map(|num| HistoryStep { num }),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The zero-copy scanner makes of any history record exactly what `RunLog` makes
        /// of it after prost decodes it.
        #[test]
        fn the_scanner_reads_any_history_record_as_runlog_does(h in history()) {
            let bytes = Record { num: 1, record_type: Some(RecordType::History(h.clone())) }.encode_to_vec();
            let mut scanned = Table::default();
            if !scanned.push_history_bytes(&bytes) {
                scanned.push_history(&h);
            }
            let mut log = RunLog::default();
            log.apply_all([Record { num: 1, record_type: Some(RecordType::History(h)) }]);
            prop_assert_eq!(scanned.to_maps(), log.rows);
        }
    }
}
