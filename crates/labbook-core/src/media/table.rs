//! Tables: W&B's `table-file`, with the `run_table` artifact the official client records
//! for each logged table (protocol §4).

use std::fmt::Write as _;

use super::MediaContext;
use super::files::{sha256_hex, write_media};
use super::image::Image;
use crate::error::{Error, Result};
use crate::media::Media;
use crate::value::{Value, write_json_str};
use crate::wire::artifact::{self, Entry};

/// A table of typed columns: each column holds one kind of value (numbers, text,
/// booleans, lists, maps or images) or nulls, as W&B's tables do.
///
/// Logged like any value; it is written as `media/table/<key>_<step>_<sha20>.table.json`
/// and recorded as a `run_table` artifact, as the official client does. A run may log at
/// most [`Table::MAX_ROWS`] rows in one table.
///
/// ```
/// use labbook_core::Value;
/// use labbook_core::media::{Image, Table};
/// let mut t = Table::new(["epoch", "loss", "sample"]);
/// t.add_row(vec![1.into(), 0.5.into(), Image::gray(2, 2, vec![0; 4])?.into()])?;
/// t.add_row(vec![2.into(), 0.25.into(), Value::Null])?;
/// assert_eq!(t.len(), 2);
/// assert!(t.add_row(vec![3.into()]).is_err()); // ragged rows are refused
/// assert!(t.add_row(vec!["x".into(), 0.1.into(), Value::Null]).is_err()); // text in a number column
/// let v = Value::from(t); // run.log([("predictions", v)])
/// # let _ = v;
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
    kinds: Vec<Option<&'static str>>,
}

impl Table {
    /// The most rows a table logged to a run may have (the official client's
    /// `Table.MAX_ROWS`).
    pub const MAX_ROWS: usize = 10_000;

    /// An empty table with these column names.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Table {
        let columns: Vec<String> = columns.into_iter().map(Into::into).collect();
        let kinds = vec![None; columns.len()];
        Table {
            columns,
            rows: Vec::new(),
            kinds,
        }
    }

    /// A table with these columns and rows; fails as [`Table::add_row`] does.
    ///
    /// ```
    /// use labbook_core::media::Table;
    /// let t = Table::from_rows(["x", "y"], vec![vec![0.into(), 1.0.into()], vec![1.into(), 0.5.into()]])?;
    /// assert_eq!(t.columns(), ["x", "y"]);
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn from_rows<S: Into<String>>(
        columns: impl IntoIterator<Item = S>,
        rows: impl IntoIterator<Item = Vec<Value>>,
    ) -> Result<Table> {
        let mut t = Table::new(columns);
        for row in rows {
            t.add_row(row)?;
        }
        Ok(t)
    }

    /// Appends a row. Refused (and nothing added) when it has another number of cells than
    /// there are columns, when a cell's kind differs from what its column already holds, or
    /// when a cell holds media other than an image.
    pub fn add_row(&mut self, row: Vec<Value>) -> Result<()> {
        if row.len() != self.columns.len() {
            return Err(Error::InvalidMedia(format!(
                "table row {} has {} cells but the table has {} columns ({:?})",
                self.rows.len(),
                row.len(),
                self.columns.len(),
                self.columns
            )));
        }
        let mut kinds = self.kinds.clone();
        for (i, cell) in row.iter().enumerate() {
            let Some(kind) = kind_of(cell).map_err(|why| {
                Error::InvalidMedia(format!(
                    "table row {}, column {:?}: {why}",
                    self.rows.len(),
                    self.columns[i]
                ))
            })?
            else {
                continue;
            };
            match kinds[i] {
                Some(k) if k != kind => {
                    return Err(Error::InvalidMedia(format!(
                        "table row {}, column {:?}: a {kind} value in a column of {k} values",
                        self.rows.len(),
                        self.columns[i]
                    )));
                }
                _ => kinds[i] = Some(kind),
            }
        }
        self.kinds = kinds;
        self.rows.push(row);
        Ok(())
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows.
    pub fn rows(&self) -> &[Vec<Value>] {
        &self.rows
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The index of a column by name.
    pub(crate) fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        if self.rows.len() > Table::MAX_ROWS {
            return Err(format!(
                "the table has {} rows; W&B accepts at most {} rows in a table logged to a run",
                self.rows.len(),
                Table::MAX_ROWS
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.columns {
            if !seen.insert(c.as_str()) {
                return Err(format!("the table has two columns named {c:?}"));
            }
        }
        Ok(())
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        self.rows
            .iter()
            .flat_map(|r| r.iter())
            .map(|v| match v {
                Value::Media(m) => m.approx_bytes(),
                v => v.approx_bytes(),
            })
            .sum::<usize>()
            + self.columns.iter().map(String::len).sum::<usize>()
    }

    /// Writes the table file and its `run_table` artifact, returning the `table-file` JSON.
    #[expect(
        clippy::too_many_lines,
        reason = "one pass writes the cells, both JSON dialects and the run_table artifact"
    )]
    pub(crate) fn materialize(
        self,
        key: &str,
        ctx: &mut MediaContext<'_>,
    ) -> std::result::Result<Value, String> {
        self.validate()?;
        let column_types = self.column_types();
        let (ncols, nrows) = (self.columns.len(), self.rows.len());
        let mut images: Vec<Entry> = Vec::new();
        let mut run_rows = Vec::with_capacity(nrows);
        let mut art_rows = Vec::with_capacity(nrows);
        for row in self.rows {
            let mut run_row = Vec::with_capacity(ncols);
            let mut art_row = Vec::with_capacity(ncols);
            for cell in row {
                match cell {
                    Value::Media(m) => match *m {
                        Media::Image(img) => {
                            art_row.push(image_cell(img, &mut images)?);
                            run_row.push(Value::from("Image"));
                        }
                        _ => return Err("a table cell may only hold an image".into()),
                    },
                    other => {
                        art_row.push(other.clone());
                        run_row.push(other);
                    }
                }
            }
            run_rows.push(Value::List(run_row));
            art_rows.push(Value::List(art_row));
        }
        let columns = Value::List(
            self.columns
                .iter()
                .map(|c| Value::from(c.as_str()))
                .collect(),
        );

        let mut file = String::new();
        write_run_json(
            &Value::Map(vec![
                ("columns".into(), columns.clone()),
                ("data".into(), Value::List(run_rows)),
            ]),
            &mut file,
        );
        let written = write_media(
            ctx.files_dir,
            "media/table",
            key,
            ctx.step,
            "table.json",
            file.as_bytes(),
        )?;
        ctx.written.push(written.path.clone());

        let mut art = String::new();
        write_py_json(
            &Value::Map(vec![
                ("_type".into(), Value::from("table")),
                ("column_types".into(), column_types),
                ("columns".into(), columns),
                ("data".into(), Value::List(art_rows)),
                ("log_mode".into(), Value::from("IMMUTABLE")),
                ("ncols".into(), Value::from(ncols)),
                ("nrows".into(), Value::from(nrows)),
            ]),
            &mut art,
        );
        let entry_name = format!("{}.table.json", key.replace('/', "_"));
        images.push(Entry {
            path: entry_name.clone(),
            bytes: art.into_bytes(),
        });
        let run_dir = ctx.files_dir.parent().unwrap_or(ctx.files_dir);
        let recorded = artifact::run_table(
            run_dir,
            ctx.artifacts.run_id,
            ctx.artifacts.project,
            key,
            images,
        )?;
        let value = Value::Map(vec![
            ("_type".into(), Value::from("table-file")),
            ("path".into(), Value::from(written.path)),
            ("sha256".into(), Value::from(written.sha256)),
            ("size".into(), Value::from(written.size)),
            ("ncols".into(), Value::from(ncols)),
            ("nrows".into(), Value::from(nrows)),
            ("log_mode".into(), Value::from("IMMUTABLE")),
            (
                "artifact_path".into(),
                Value::from(format!(
                    "wandb-client-artifact://{}/{entry_name}",
                    recorded.client_id
                )),
            ),
            (
                "_latest_artifact_path".into(),
                Value::from(format!(
                    "wandb-client-artifact://{}:latest/{entry_name}",
                    recorded.sequence_client_id
                )),
            ),
        ]);
        ctx.artifacts.records.push(recorded.record);
        Ok(value)
    }

    /// W&B's `column_types`: a `typedDict` of, per column, the union of `none` and the
    /// type of its values.
    fn column_types(&self) -> Value {
        let mut map = Vec::with_capacity(self.columns.len());
        for (i, name) in self.columns.iter().enumerate() {
            let last = self
                .rows
                .iter()
                .rev()
                .map(|r| &r[i])
                .find(|v| !matches!(v, Value::Null));
            let t = last.map_or_else(|| wb("unknown"), type_of);
            let mut allowed = vec![wb("none"), t];
            allowed.sort_by_key(|t| match t {
                Value::Map(m) => m
                    .iter()
                    .find(|(k, _)| k == "wb_type")
                    .map(|(_, v)| v.to_json())
                    .unwrap_or_default(),
                _ => String::new(),
            });
            map.push((
                name.clone(),
                Value::map([
                    (
                        "params",
                        Value::map([("allowed_types", Value::List(allowed))]),
                    ),
                    ("wb_type", "union".into()),
                ]),
            ));
        }
        Value::map([
            ("params", Value::map([("type_map", Value::Map(map))])),
            ("wb_type", "typedDict".into()),
        ])
    }
}

impl From<Table> for Value {
    fn from(t: Table) -> Value {
        Value::Media(Box::new(Media::Table(t)))
    }
}

fn wb(name: &str) -> Value {
    Value::map([("wb_type", Value::from(name))])
}

/// The kind a column holds, or `None` for a null cell.
fn kind_of(v: &Value) -> std::result::Result<Option<&'static str>, String> {
    Ok(Some(match v {
        Value::Null => return Ok(None),
        Value::Bool(_) => "boolean",
        Value::Int(_) | Value::UInt(_) | Value::F32(_) | Value::F64(_) => "number",
        Value::Str(_) => "string",
        Value::List(items) => {
            if items.iter().any(|i| matches!(i, Value::Media(_))) {
                return Err("media inside a list cannot be a table cell".into());
            }
            "list"
        }
        Value::Map(items) => {
            if items.iter().any(|(_, i)| matches!(i, Value::Media(_))) {
                return Err("media inside a map cannot be a table cell".into());
            }
            "typedDict"
        }
        Value::Media(m) => match **m {
            Media::Image(_) => "image-file",
            _ => return Err("a table cell may only hold an image among media".into()),
        },
    }))
}

/// The official client's type JSON of one value.
fn type_of(v: &Value) -> Value {
    match v {
        Value::Null => wb("none"),
        Value::Bool(_) => wb("boolean"),
        Value::Int(_) | Value::UInt(_) | Value::F32(_) | Value::F64(_) => wb("number"),
        Value::Str(_) => wb("string"),
        Value::List(items) => Value::map([
            (
                "params",
                Value::map([
                    (
                        "element_type",
                        items.first().map_or_else(|| wb("unknown"), type_of),
                    ),
                    ("length", Value::from(items.len())),
                ]),
            ),
            ("wb_type", "list".into()),
        ]),
        Value::Map(items) => Value::map([
            (
                "params",
                Value::map([(
                    "type_map",
                    Value::Map(items.iter().map(|(k, v)| (k.clone(), type_of(v))).collect()),
                )]),
            ),
            ("wb_type", "typedDict".into()),
        ]),
        Value::Media(_) => {
            let unset = || {
                Value::map([
                    (
                        "params",
                        Value::map([("is_set", false.into()), ("val", Value::map::<&str>([]))]),
                    ),
                    ("wb_type", "const".into()),
                ])
            };
            Value::map([
                (
                    "params",
                    Value::map([
                        ("box_class_maps", unset()),
                        ("box_layers", unset()),
                        (
                            "box_score_keys",
                            Value::map([
                                (
                                    "params",
                                    Value::map([
                                        ("is_set", true.into()),
                                        ("val", Value::List(vec![])),
                                    ]),
                                ),
                                ("wb_type", "const".into()),
                            ]),
                        ),
                        ("class_map", unset()),
                        ("mask_class_maps", unset()),
                        ("mask_layers", unset()),
                    ]),
                ),
                ("wb_type", "image-file".into()),
            ])
        }
    }
}

/// Encodes an image cell into the artifact's `media/images/<sha20>.<ext>` and returns the
/// cell JSON the artifact's table holds.
fn image_cell(img: Image, entries: &mut Vec<Entry>) -> std::result::Result<Value, String> {
    let (bytes, format) = img.encode()?;
    let sha256 = sha256_hex(&bytes);
    let path = format!("media/images/{}.{format}", &sha256[..20]);
    let (width, height) = img.size();
    let mut fields = vec![("_type".to_owned(), Value::from("image-file"))];
    if let Some(c) = img.caption {
        fields.push(("caption".into(), Value::from(c)));
    }
    fields.extend([
        ("format".to_owned(), Value::from(format)),
        ("height".to_owned(), Value::from(height)),
        ("path".to_owned(), Value::from(path.clone())),
        ("sha256".to_owned(), Value::from(sha256)),
        ("width".to_owned(), Value::from(width)),
    ]);
    if !entries.iter().any(|e| e.path == path) {
        entries.push(Entry { path, bytes });
    }
    Ok(Value::Map(fields))
}

/// JSON as the official client writes a table into the run's files: compact, keys in
/// order, non-ASCII kept, exponents signed (`1e+20`), non-finite numbers as bare tokens.
fn write_run_json(v: &Value, out: &mut String) {
    match v {
        Value::List(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_run_json(it, out);
            }
            out.push(']');
        }
        Value::Map(items) => {
            out.push('{');
            for (i, (k, it)) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(k, out);
                out.push(':');
                write_run_json(it, out);
            }
            out.push('}');
        }
        Value::F32(_) | Value::F64(_) => {
            let s = v.to_json();
            match s.split_once('e') {
                Some((m, e)) if !e.starts_with('-') => {
                    let _ = write!(out, "{m}e+{e}");
                }
                _ => out.push_str(&s),
            }
        }
        other => other.write_json(out),
    }
}

/// JSON as Python's `json.dumps(..., sort_keys=True)` writes it: `", "` and `": "`
/// separators, sorted keys, ASCII only, floats in `repr` form, non-finite numbers as null.
pub(crate) fn write_py_json(v: &Value, out: &mut String) {
    match v {
        Value::Null | Value::Media(_) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Value::F32(f) => {
            // The f32's shortest decimal form, read as the f64 Python would hold.
            let f = f.to_string().parse::<f64>().unwrap_or(f64::NAN);
            py_float(f, out);
        }
        Value::F64(f) => py_float(*f, out),
        Value::Str(s) => py_str(s, out),
        Value::List(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_py_json(it, out);
            }
            out.push(']');
        }
        Value::Map(items) => {
            let mut sorted: Vec<&(String, Value)> = items.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (k, it)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_str(k, out);
                out.push_str(": ");
                write_py_json(it, out);
            }
            out.push('}');
        }
    }
}

fn py_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`; non-finite values become `null` (as in the artifact's table).
fn py_float(f: f64, out: &mut String) {
    if !f.is_finite() {
        out.push_str("null");
        return;
    }
    if f.is_sign_negative() {
        out.push('-');
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len() as i32;
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            if n <= exp + 1 {
                out.push_str(&digits);
                for _ in 0..(exp + 1 - n) {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                let (a, b) = digits.split_at(exp as usize + 1);
                let _ = write!(out, "{a}.{b}");
            }
        } else {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "{mantissa}e{sign}{:02}", exp.abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::ArtifactSink;
    use crate::wire::artifact::b64_md5;

    fn py(v: Value) -> String {
        let mut s = String::new();
        write_py_json(&v, &mut s);
        s
    }

    #[test]
    fn floats_are_written_as_python_repr() {
        for (f, want) in [
            (1e20, "1e+20"),
            (1e-7, "1e-07"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (0.1, "0.1"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (f64::NAN, "null"),
        ] {
            assert_eq!(py(Value::F64(f)), want, "{f}");
        }
        assert_eq!(py(Value::F32(0.1)), "0.1");
    }

    #[test]
    fn python_json_sorts_keys_and_escapes_non_ascii() {
        let v = Value::map([("z", 1.into()), ("a", Value::from("é\n"))]);
        assert_eq!(py(v), r#"{"a": "\u00e9\n", "z": 1}"#);
    }

    #[test]
    fn ragged_rows_and_mixed_columns_are_refused() {
        let mut t = Table::new(["a", "b"]);
        let e = t.add_row(vec![1.into()]).unwrap_err().to_string();
        assert!(e.contains("1 cells but the table has 2 columns"), "{e}");
        t.add_row(vec![1.into(), Value::Null]).unwrap();
        t.add_row(vec![2.5.into(), "x".into()]).unwrap();
        let e = t
            .add_row(vec!["s".into(), "y".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column \"a\": a string value in a column of number"),
            "{e}"
        );
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn tables_over_the_row_limit_are_refused_with_the_count() {
        let t = Table::from_rows(["x"], (0..=Table::MAX_ROWS).map(|i| vec![i.into()])).unwrap();
        let e = t.validate().unwrap_err();
        assert!(e.contains("10001 rows") && e.contains("10000"), "{e}");
    }

    #[test]
    fn artifact_copy_is_byte_identical_to_the_official_clients() {
        // wandb 0.31: Table(data=[[0,1.0],[1,0.5],[2,0.25]], columns=["step","loss"]) is
        // stored in the artifact with the MD5 below (observed).
        let t = Table::from_rows(
            ["step", "loss"],
            [
                vec![0.into(), 1.0.into()],
                vec![1.into(), 0.5.into()],
                vec![2.into(), 0.25.into()],
            ],
        )
        .unwrap();
        let d = tempfile::tempdir().unwrap();
        let files = d.path().join("files");
        let mut ctx = MediaContext {
            files_dir: &files,
            step: Some(2),
            written: vec![],
            config: vec![],
            artifacts: ArtifactSink {
                run_id: "r1",
                project: "p",
                records: vec![],
            },
        };
        let v = t.materialize("lp_table", &mut ctx).unwrap().to_json();
        assert!(
            v.contains(r#""path":"media/table/lp_table_2_7250ff2c0b8605dc3c3e.table.json""#),
            "{v}"
        );
        assert!(v.contains(r#""size":61"#), "{v}");
        let rec = &ctx.artifacts.records[0];
        let m = rec.manifest.as_ref().unwrap();
        assert_eq!(m.contents[0].path, "lp_table.table.json");
        assert_eq!(m.contents[0].digest, "PrH/ghlcGtYVyqcs7RRr0A==");
        assert_eq!(rec.digest, "90cb3531632a9a166ef535550bc041fd");
        assert_eq!(rec.name, "r1".replace("r1", "run-r1-lp_table"));
        let file =
            std::fs::read(files.join("media/table/lp_table_2_7250ff2c0b8605dc3c3e.table.json"))
                .unwrap();
        assert_eq!(
            file,
            br#"{"columns":["step","loss"],"data":[[0,1.0],[1,0.5],[2,0.25]]}"#
        );
        assert_eq!(
            b64_md5(&std::fs::read(&m.contents[0].local_path).unwrap()),
            m.contents[0].digest
        );
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::{CASES, value};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Rows of any length and kind are added or refused whole; what was added writes a
        /// table file that reads back as JSON.
        #[test]
        fn rows_are_added_whole_or_refused(
            columns in prop::collection::vec("\\PC{0,6}", 0..4),
            rows in prop::collection::vec(prop::collection::vec(value(2), 0..5), 0..6),
        ) {
            let mut t = Table::new(columns.clone());
            let mut kept = 0;
            for row in rows {
                let before = t.len();
                match t.add_row(row) {
                    Ok(()) => { kept += 1; prop_assert_eq!(t.len(), before + 1); }
                    Err(_) => prop_assert_eq!(t.len(), before),
                }
            }
            prop_assert_eq!(t.len(), kept);
            let dir = tempfile::tempdir().unwrap();
            let mut ctx = crate::media::MediaContext {
                files_dir: dir.path(),
                step: Some(0),
                written: Vec::new(),
                config: Vec::new(),
                artifacts: crate::media::ArtifactSink { run_id: "r", project: "p", records: Vec::new() },
            };
            if t.validate().is_ok() {
                let v = t.materialize("t", &mut ctx).map_err(TestCaseError::fail)?;
                prop_assert!(v.to_json().contains("table-file"));
                let file = std::fs::read_to_string(dir.path().join(&ctx.written[0])).unwrap();
                prop_assert!(crate::wire::json::parse(&file).is_ok(), "{}", file);
            }
        }
    }
}
