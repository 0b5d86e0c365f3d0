//! W&B custom charts: line, scatter, bar, confusion matrix, PR and ROC curves.
//!
//! Each chart is a [`Table`] logged under `<key>_table` plus a panel in the run's config at
//! `_wandb.visualize.<key>`, exactly as the official client's `wandb.plot.*` write them
//! (protocol §4). Log the returned value under the chart's key:
//!
//! ```
//! use labbook_core::media::plot;
//! let loss = plot::line_xy(&[0.0, 1.0, 2.0], &[1.0, 0.5, 0.25], "step", "loss", "Loss")?;
//! let cm = plot::confusion_matrix(&[0, 1, 2], &[0, 2, 2], &["cat", "dog", "bird"], "Confusion")?;
//! // run.log([("loss_curve", loss), ("cm", cm)])
//! # let _ = (loss, cm);
//! # Ok::<(), labbook_core::Error>(())
//! ```

use super::{Media, MediaContext, Table};
use crate::error::{Error, Result};
use crate::value::Value;

/// A custom chart: a table and the panel that draws it. Built by the functions of
/// [`crate::media::plot`]; log it with `Value::from` (they return it as a [`Value`] already).
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    table: Table,
    panel: &'static str,
    fields: Vec<(String, Value)>,
    strings: Vec<(String, String)>,
}

impl From<Chart> for Value {
    fn from(c: Chart) -> Value {
        Value::Media(Box::new(Media::Chart(c)))
    }
}

fn bad(reason: String) -> Error {
    Error::InvalidMedia(reason)
}

fn need_column(table: &Table, name: &str, chart: &str) -> Result<()> {
    match table.column_index(name) {
        Some(_) => Ok(()),
        None => Err(bad(format!(
            "{chart}: the table has no column {name:?} (columns: {:?})",
            table.columns()
        ))),
    }
}

fn chart(
    table: Table,
    panel: &'static str,
    fields: Vec<(&str, Value)>,
    strings: Vec<(&str, &str)>,
) -> Value {
    Value::from(Chart {
        table,
        panel,
        fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        strings: strings
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    })
}

/// A line chart of columns `x` and `y` of `table` (`wandb.plot.line`).
///
/// ```
/// use labbook_core::media::{Table, plot};
/// let t = Table::from_rows(["step", "loss"], [vec![0.into(), 1.0.into()], vec![1.into(), 0.5.into()]])?;
/// let v = plot::line(t, "step", "loss", "Loss")?;
/// # let _ = v;
/// # Ok::<(), labbook_core::Error>(())
/// ```
pub fn line(table: Table, x: &str, y: &str, title: &str) -> Result<Value> {
    need_column(&table, x, "line")?;
    need_column(&table, y, "line")?;
    Ok(chart(
        table,
        "wandb/line/v0",
        vec![("x", x.into()), ("y", y.into()), ("stroke", Value::Null)],
        vec![("title", title)],
    ))
}

fn xy_table(xs: &[f64], ys: &[f64], x: &str, y: &str, chart: &str) -> Result<Table> {
    if xs.len() != ys.len() {
        return Err(bad(format!(
            "{chart}: {} x values but {} y values",
            xs.len(),
            ys.len()
        )));
    }
    if x == y {
        return Err(bad(format!(
            "{chart}: x and y need two column names, got {x:?} twice"
        )));
    }
    Table::from_rows(
        [x, y],
        xs.iter()
            .zip(ys)
            .map(|(a, b)| vec![(*a).into(), (*b).into()]),
    )
}

/// A line chart of `ys` against `xs`, in a table with columns named `x` and `y`.
///
/// ```
/// let v = labbook_core::media::plot::line_xy(&[0.0, 1.0], &[1.0, 0.5], "step", "loss", "Loss")?;
/// # let _ = v;
/// # Ok::<(), labbook_core::Error>(())
/// ```
pub fn line_xy(xs: &[f64], ys: &[f64], x: &str, y: &str, title: &str) -> Result<Value> {
    line(xy_table(xs, ys, x, y, "line")?, x, y, title)
}

/// A scatter plot of columns `x` and `y` of `table` (`wandb.plot.scatter`).
///
/// ```
/// use labbook_core::media::{Table, plot};
/// let t = Table::from_rows(["a", "b"], [vec![0.1.into(), 0.2.into()]])?;
/// let v = plot::scatter(t, "a", "b", "A vs B")?;
/// # let _ = v;
/// # Ok::<(), labbook_core::Error>(())
/// ```
pub fn scatter(table: Table, x: &str, y: &str, title: &str) -> Result<Value> {
    need_column(&table, x, "scatter")?;
    need_column(&table, y, "scatter")?;
    Ok(chart(
        table,
        "wandb/scatter/v0",
        vec![("x", x.into()), ("y", y.into())],
        vec![("title", title)],
    ))
}

/// A scatter plot of `ys` against `xs`, in a table with columns named `x` and `y`.
pub fn scatter_xy(xs: &[f64], ys: &[f64], x: &str, y: &str, title: &str) -> Result<Value> {
    scatter(xy_table(xs, ys, x, y, "scatter")?, x, y, title)
}

/// A bar chart of column `value` per `label` of `table` (`wandb.plot.bar`).
///
/// ```
/// use labbook_core::media::{Table, plot};
/// let t = Table::from_rows(["label", "value"], [vec!["a".into(), 1.into()], vec!["b".into(), 2.into()]])?;
/// let v = plot::bar(t, "label", "value", "Counts")?;
/// # let _ = v;
/// # Ok::<(), labbook_core::Error>(())
/// ```
pub fn bar(table: Table, label: &str, value: &str, title: &str) -> Result<Value> {
    need_column(&table, label, "bar")?;
    need_column(&table, value, "bar")?;
    Ok(chart(
        table,
        "wandb/bar/v0",
        vec![("label", label.into()), ("value", value.into())],
        vec![("title", title)],
    ))
}

/// A confusion matrix of class ids (`wandb.plot.confusion_matrix(y_true=, preds=,
/// class_names=)`): one row per (actual, predicted) pair with its count. Ids index
/// `class_names`; an id out of range or lists of different lengths are refused.
///
/// ```
/// use labbook_core::media::plot;
/// let v = plot::confusion_matrix(&[0, 1, 1], &[0, 1, 0], &["neg", "pos"], "CM")?;
/// assert!(plot::confusion_matrix(&[0, 2], &[0, 1], &["neg", "pos"], "CM").is_err());
/// # let _ = v;
/// # Ok::<(), labbook_core::Error>(())
/// ```
pub fn confusion_matrix<S: AsRef<str>>(
    y_true: &[usize],
    y_pred: &[usize],
    class_names: &[S],
    title: &str,
) -> Result<Value> {
    if y_true.len() != y_pred.len() {
        return Err(bad(format!(
            "confusion_matrix: {} true labels but {} predictions",
            y_true.len(),
            y_pred.len()
        )));
    }
    let n = class_names.len();
    if n == 0 {
        return Err(bad("confusion_matrix: no class names".into()));
    }
    let mut counts = vec![0u64; n * n];
    for (i, (&t, &p)) in y_true.iter().zip(y_pred).enumerate() {
        for (what, id) in [("true label", t), ("prediction", p)] {
            if id >= n {
                return Err(bad(format!(
                    "confusion_matrix: {what} {i} is class {id}, but there are {n} class names"
                )));
            }
        }
        counts[t * n + p] += 1;
    }
    let mut table = Table::new(["Actual", "Predicted", "nPredictions"]);
    for a in 0..n {
        for p in 0..n {
            table.add_row(vec![
                class_names[a].as_ref().into(),
                class_names[p].as_ref().into(),
                Value::F64(counts[a * n + p] as f64),
            ])?;
        }
    }
    Ok(chart(
        table,
        "wandb/confusion_matrix/v1",
        vec![
            ("Actual", "Actual".into()),
            ("Predicted", "Predicted".into()),
            ("nPredictions", "nPredictions".into()),
        ],
        vec![("title", title)],
    ))
}

/// Checks curve inputs and returns the classes present in `y_true`, sorted, with their
/// labels.
fn curve_classes<S: AsRef<str>>(
    y_true: &[usize],
    y_probas: &[Vec<f64>],
    labels: Option<&[S]>,
    chart: &str,
) -> Result<Vec<(usize, Value)>> {
    if y_true.len() != y_probas.len() {
        return Err(bad(format!(
            "{chart}: {} true labels but {} rows of probabilities",
            y_true.len(),
            y_probas.len()
        )));
    }
    if y_true.is_empty() {
        return Err(bad(format!("{chart}: no samples")));
    }
    let width = y_probas[0].len();
    if let Some((i, r)) = y_probas.iter().enumerate().find(|(_, r)| r.len() != width) {
        return Err(bad(format!(
            "{chart}: row {i} of probabilities has {} values, row 0 has {width}",
            r.len()
        )));
    }
    let mut classes: Vec<usize> = y_true.to_vec();
    classes.sort_unstable();
    classes.dedup();
    classes
        .into_iter()
        .map(|c| {
            if c >= width {
                return Err(bad(format!(
                    "{chart}: class {c} appears in y_true but the probabilities have {width} columns"
                )));
            }
            let label = match labels {
                Some(l) => Value::from(
                    l.get(c)
                        .ok_or_else(|| {
                            bad(format!("{chart}: class {c} has no label ({} labels)", l.len()))
                        })?
                        .as_ref(),
                ),
                None => Value::from(c),
            };
            Ok((c, label))
        })
        .collect()
}

/// sklearn's `_binary_clf_curve`: cumulative false and true positives at each distinct
/// score, from the highest score down.
fn binary_clf_curve(positive: &[bool], scores: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut fps, mut tps) = (Vec::new(), Vec::new());
    let mut tp = 0.0;
    for (i, &o) in order.iter().enumerate() {
        if positive[o] {
            tp += 1.0;
        }
        let last_of_group = order
            .get(i + 1)
            .is_none_or(|&next| scores[next] != scores[o]);
        if last_of_group {
            tps.push(tp);
            fps.push((i + 1) as f64 - tp);
        }
    }
    (fps, tps)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round_ties_even() / 1000.0
}

/// A precision-recall curve per class (`wandb.plot.pr_curve`): for each class in
/// `y_true`, the precision at 21 recall levels, scoring with that class's column of
/// `y_probas`. `labels` name the class ids.
///
/// ```
/// use labbook_core::media::plot;
/// let probas = vec![vec![0.8, 0.2], vec![0.3, 0.7], vec![0.4, 0.6]];
/// let v = plot::pr_curve(&[0, 1, 1], &probas, Some(&["neg", "pos"]), "PR")?;
/// # let _ = v;
/// # Ok::<(), labbook_core::Error>(())
/// ```
pub fn pr_curve<S: AsRef<str>>(
    y_true: &[usize],
    y_probas: &[Vec<f64>],
    labels: Option<&[S]>,
    title: &str,
) -> Result<Value> {
    let classes = curve_classes(y_true, y_probas, labels, "pr_curve")?;
    const INTERP: usize = 21;
    let interp: Vec<f64> = (0..INTERP)
        .rev()
        .map(|i| i as f64 / (INTERP - 1) as f64)
        .collect();
    let mut table = Table::new(["class", "precision", "recall"]);
    for (c, label) in classes {
        let positive: Vec<bool> = y_true.iter().map(|&t| t == c).collect();
        let scores: Vec<f64> = y_probas.iter().map(|r| r[c]).collect();
        let (fps, tps) = binary_clf_curve(&positive, &scores);
        let total = tps.last().copied().unwrap_or(0.0);
        // sklearn's order: increasing threshold, then (precision 1, recall 0).
        let mut precision: Vec<f64> = tps
            .iter()
            .zip(&fps)
            .rev()
            .map(|(t, f)| if t + f > 0.0 { t / (t + f) } else { 0.0 })
            .collect();
        precision.push(1.0);
        let mut recall: Vec<f64> = tps
            .iter()
            .rev()
            .map(|t| if total == 0.0 { 1.0 } else { t / total })
            .collect();
        recall.push(0.0);
        for i in 1..precision.len() {
            precision[i] = precision[i].max(precision[i - 1]);
        }
        precision.reverse();
        recall.reverse();
        for r in &interp {
            let idx = recall.partition_point(|x| x < r).min(recall.len() - 1);
            table.add_row(vec![
                label.clone(),
                round3(precision[idx]).into(),
                round3(*r).into(),
            ])?;
        }
    }
    Ok(chart(
        table,
        "wandb/area-under-curve/v0",
        vec![
            ("x", "recall".into()),
            ("y", "precision".into()),
            ("class", "class".into()),
        ],
        vec![
            ("title", title),
            ("x-axis-title", "Recall"),
            ("y-axis-title", "Precision"),
        ],
    ))
}

/// A ROC curve per class (`wandb.plot.roc_curve`): for each class in `y_true`, the false
/// and true positive rates at each threshold of that class's column of `y_probas`
/// (sklearn's `roc_curve` with `drop_intermediate`). `labels` name the class ids.
///
/// ```
/// use labbook_core::media::plot;
/// let probas = vec![vec![0.8, 0.2], vec![0.3, 0.7], vec![0.4, 0.6]];
/// let v = plot::roc_curve(&[0, 1, 1], &probas, None::<&[&str]>, "ROC")?;
/// # let _ = v;
/// # Ok::<(), labbook_core::Error>(())
/// ```
pub fn roc_curve<S: AsRef<str>>(
    y_true: &[usize],
    y_probas: &[Vec<f64>],
    labels: Option<&[S]>,
    title: &str,
) -> Result<Value> {
    let classes = curve_classes(y_true, y_probas, labels, "roc_curve")?;
    let mut table = Table::new(["class", "fpr", "tpr"]);
    for (c, label) in classes {
        let positive: Vec<bool> = y_true.iter().map(|&t| t == c).collect();
        let scores: Vec<f64> = y_probas.iter().map(|r| r[c]).collect();
        let (fps, tps) = binary_clf_curve(&positive, &scores);
        let keep: Vec<usize> = if fps.len() > 2 {
            (0..fps.len())
                .filter(|&i| {
                    i == 0
                        || i == fps.len() - 1
                        || fps[i + 1] - 2.0 * fps[i] + fps[i - 1] != 0.0
                        || tps[i + 1] - 2.0 * tps[i] + tps[i - 1] != 0.0
                })
                .collect()
        } else {
            (0..fps.len()).collect()
        };
        let (fn_last, tn_last) = (fps[fps.len() - 1], tps[tps.len() - 1]);
        let rate = |x: f64, total: f64| if total > 0.0 { x / total } else { f64::NAN };
        table.add_row(vec![label.clone(), 0.0.into(), 0.0.into()])?;
        for i in keep {
            table.add_row(vec![
                label.clone(),
                round3(rate(fps[i], fn_last)).into(),
                round3(rate(tps[i], tn_last)).into(),
            ])?;
        }
    }
    Ok(chart(
        table,
        "wandb/area-under-curve/v0",
        vec![
            ("x", "fpr".into()),
            ("y", "tpr".into()),
            ("class", "class".into()),
        ],
        vec![
            ("title", title),
            ("x-axis-title", "False positive rate"),
            ("y-axis-title", "True positive rate"),
        ],
    ))
}

impl Chart {
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        self.table.validate()
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        self.table.approx_bytes()
    }

    /// Writes the table (under `key`, normally `<chart key>_table`) and adds the panel to
    /// the config at `_wandb.visualize.<chart key>`.
    pub(crate) fn materialize(
        self,
        key: &str,
        ctx: &mut MediaContext<'_>,
    ) -> std::result::Result<Value, String> {
        let chart_key = key.strip_suffix("_table").unwrap_or(key);
        let panel = panel_config(self.panel, self.fields, self.strings, key);
        let value = self.table.materialize(key, ctx)?;
        ctx.config.push((
            vec!["_wandb".into(), "visualize".into(), chart_key.to_owned()],
            panel,
        ));
        Ok(value)
    }
}

fn named(name: &str, fields: Vec<Value>) -> Value {
    Value::map([("name", Value::from(name)), ("fields", Value::List(fields))])
}

/// The config value the official client writes for a custom chart.
fn panel_config(
    panel: &str,
    fields: Vec<(String, Value)>,
    strings: Vec<(String, String)>,
    table_key: &str,
) -> Value {
    let summary_table = Value::map([
        ("name", Value::from("summaryTable")),
        (
            "args",
            Value::List(vec![Value::map([
                ("name", Value::from("tableKey")),
                ("value", Value::from(table_key)),
            ])]),
        ),
        ("fields", Value::List(vec![])),
    ]);
    let run_sets = Value::map([
        ("name", Value::from("runSets")),
        (
            "args",
            Value::List(vec![Value::map([
                ("name", Value::from("runSets")),
                ("value", Value::from("${runSets}")),
            ])]),
        ),
        (
            "fields",
            Value::List(vec![
                named("id", vec![]),
                named("name", vec![]),
                named("_defaultColorIndex", vec![]),
                summary_table,
            ]),
        ),
    ]);
    Value::map([
        ("panel_type", Value::from("Vega2")),
        (
            "panel_config",
            Value::map([
                ("panelDefId", Value::from(panel)),
                ("fieldSettings", Value::Map(fields)),
                (
                    "stringSettings",
                    Value::Map(strings.into_iter().map(|(k, v)| (k, v.into())).collect()),
                ),
                (
                    "transform",
                    Value::map([("name", Value::from("tableWithLeafColNames"))]),
                ),
                (
                    "userQuery",
                    Value::map([("queryFields", Value::List(vec![run_sets]))]),
                ),
            ]),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::ArtifactSink;

    fn chart_of(v: Value) -> Chart {
        match v {
            Value::Media(m) => match *m {
                Media::Chart(c) => c,
                _ => panic!("not a chart"),
            },
            _ => panic!("not media"),
        }
    }

    #[test]
    fn confusion_matrix_counts_pairs_as_the_official_client() {
        let c = chart_of(
            confusion_matrix(&[0, 1, 2, 1], &[0, 2, 2, 1], &["cat", "dog", "bird"], "CM").unwrap(),
        );
        let counts: Vec<String> = c.table.rows().iter().map(|r| r[2].to_json()).collect();
        assert_eq!(
            counts,
            [
                "1.0", "0.0", "0.0", "0.0", "1.0", "1.0", "0.0", "0.0", "1.0"
            ]
        );
        assert_eq!(c.table.rows()[5][0].to_json(), r#""dog""#);
        assert_eq!(c.table.rows()[5][1].to_json(), r#""bird""#);
    }

    #[test]
    fn bad_inputs_are_refused_clearly() {
        let e = confusion_matrix(&[0, 1], &[0], &["a", "b"], "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 true labels but 1 predictions"), "{e}");
        let e = confusion_matrix(&[0, 5], &[0, 1], &["a", "b"], "")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("true label 1 is class 5, but there are 2 class names"),
            "{e}"
        );
        let e = line_xy(&[1.0], &[1.0, 2.0], "x", "y", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 x values but 2 y values"), "{e}");
        let t = Table::new(["a"]);
        let e = line(t, "a", "b", "").unwrap_err().to_string();
        assert!(e.contains("no column \"b\""), "{e}");
        let e = roc_curve(
            &[0, 3],
            &[vec![0.5, 0.5], vec![0.1, 0.9]],
            None::<&[&str]>,
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("class 3"), "{e}");
    }

    #[test]
    fn roc_matches_sklearn() {
        // sklearn.metrics.roc_curve([0,1,1,0,1], [.1,.8,.35,.4,.9], pos_label=1):
        // fpr [0, 0, 0, .5, .5, 1], tpr [0, .333, .667, .667, 1, 1] with drop_intermediate.
        let p: Vec<Vec<f64>> = [0.1, 0.8, 0.35, 0.4, 0.9]
            .iter()
            .map(|&s| vec![1.0 - s, s])
            .collect();
        let c = chart_of(roc_curve(&[0, 1, 1, 0, 1], &p, None::<&[&str]>, "").unwrap());
        let pos: Vec<(String, String)> = c
            .table
            .rows()
            .iter()
            .filter(|r| r[0] == Value::from(1usize))
            .map(|r| (r[1].to_json(), r[2].to_json()))
            .collect();
        let want = [
            ("0.0", "0.0"),
            ("0.0", "0.333"),
            ("0.0", "0.667"),
            ("0.5", "0.667"),
            ("0.5", "1.0"),
            ("1.0", "1.0"),
        ];
        let got: Vec<(&str, &str)> = pos.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn pr_curve_has_21_recall_levels_per_class() {
        let p = vec![
            vec![0.8, 0.2],
            vec![0.3, 0.7],
            vec![0.4, 0.6],
            vec![0.6, 0.4],
        ];
        let c = chart_of(pr_curve(&[0, 1, 1, 0], &p, Some(&["n", "p"]), "").unwrap());
        assert_eq!(c.table.len(), 42);
        // Perfectly separable: precision 1 at every recall level.
        assert!(c.table.rows().iter().all(|r| r[1] == Value::F64(1.0)));
        assert_eq!(c.table.rows()[0][2], Value::F64(1.0));
        assert_eq!(c.table.rows()[20][2], Value::F64(0.0));
    }

    #[test]
    fn line_panel_is_written_to_the_config_as_the_official_client() {
        let d = tempfile::tempdir().unwrap();
        let files = d.path().join("files");
        let mut ctx = MediaContext {
            files_dir: &files,
            step: Some(2),
            written: vec![],
            config: vec![],
            artifacts: ArtifactSink::default(),
        };
        let c = chart_of(line_xy(&[0.0], &[1.0], "step", "loss", "Loss").unwrap());
        c.materialize("lp_table", &mut ctx).unwrap();
        let (path, v) = &ctx.config[0];
        assert_eq!(path, &["_wandb", "visualize", "lp"]);
        assert_eq!(
            v.to_json(),
            r#"{"panel_type":"Vega2","panel_config":{"panelDefId":"wandb/line/v0","fieldSettings":{"x":"step","y":"loss","stroke":null},"stringSettings":{"title":"Loss"},"transform":{"name":"tableWithLeafColNames"},"userQuery":{"queryFields":[{"name":"runSets","args":[{"name":"runSets","value":"${runSets}"}],"fields":[{"name":"id","fields":[]},{"name":"name","fields":[]},{"name":"_defaultColorIndex","fields":[]},{"name":"summaryTable","args":[{"name":"tableKey","value":"lp_table"}],"fields":[]}]}]}}}"#
        );
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::{CASES, edge_f64};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Charts of any data (NaN, mismatched lengths, unknown classes) are made or refused
        /// with a reason.
        #[test]
        fn charts_are_made_or_refused(
            xs in prop::collection::vec(edge_f64(), 0..12),
            ys in prop::collection::vec(edge_f64(), 0..12),
            y_true in prop::collection::vec(0usize..5, 0..12),
            y_pred in prop::collection::vec(0usize..5, 0..12),
            probas in prop::collection::vec(prop::collection::vec(edge_f64(), 0..4), 0..12),
            names in prop::collection::vec("\\PC{0,4}", 0..5),
        ) {
            let _ = line_xy(&xs, &ys, "x", "y", "t");
            let _ = scatter_xy(&xs, &ys, "x", "y", "t");
            let _ = confusion_matrix(&y_true, &y_pred, &names, "cm");
            let _ = pr_curve(&y_true, &probas, Some(&names), "pr");
            let _ = roc_curve(&y_true, &probas, None::<&[&str]>, "roc");
        }
    }
}
