//! [`RunLogger`]: burn's `MetricLogger` writing a labbook run.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use burn::train::logger::MetricLogger;
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricAttributes, MetricDefinition, MetricId, NumericEntry};
use labbook_core::{Goal, Metric, Run, Summary, Value};

use crate::error::Result;
use crate::eval::EvalMetric;
use crate::watch::Watch;

/// Rows of values waiting for the training step they belong to.
pub(crate) type Pending = Vec<(u64, Vec<(String, Value)>)>;

/// State shared by a logger and the helpers made from it ([`Watch`], [`EvalMetric`]).
#[derive(Default)]
pub(crate) struct Shared {
    /// Values from [`Watch`], by the training step they belong to; the logger adds them to
    /// that step's row.
    pub(crate) pending: Mutex<Pending>,
    /// Held while a row is written, so rows from the logger's thread and from the
    /// evaluation metric's thread never interleave.
    pub(crate) rows: Mutex<()>,
    /// Each epoch's final metric values (`valid/accuracy` -> epoch -> value), for scoring
    /// checkpoints.
    pub(crate) epochs: Mutex<HashMap<String, BTreeMap<usize, f64>>>,
}

/// Each epoch's final metric values as [`RunLogger`] logged them, for
/// [`RecordedCheckpointer::log_models`](crate::RecordedCheckpointer::log_models) to score
/// checkpoints with. burn flushes its events before it checkpoints, so an epoch's values
/// are here when its checkpoint is saved.
#[derive(Clone)]
pub struct EpochScores(Arc<Shared>);

impl std::fmt::Debug for EpochScores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EpochScores")
            .field(&*lock(&self.0.epochs))
            .finish()
    }
}

impl EpochScores {
    /// The final value of `metric` (`valid/accuracy`, or the row key
    /// `epoch/valid/accuracy`) in `epoch`.
    pub fn get(&self, metric: &str, epoch: usize) -> Option<f64> {
        let metric = metric.strip_prefix("epoch/").unwrap_or(metric);
        lock(&self.0.epochs).get(metric)?.get(&epoch).copied()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The key labbook logs a burn metric under: its name in lower case, every run of other
/// characters than letters and digits made one `_`.
///
/// ```
/// assert_eq!(labbook_burn::metric_key("Learning Rate"), "learning_rate");
/// assert_eq!(labbook_burn::metric_key("Top-5 Accuracy"), "top_5_accuracy");
/// ```
pub fn metric_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_alphanumeric() {
            key.extend(c.to_lowercase());
        } else if !key.is_empty() && !key.ends_with('_') {
            key.push('_');
        }
    }
    while key.ends_with('_') {
        key.pop();
    }
    if key.is_empty() {
        key.push_str("metric");
    }
    key
}

fn split_prefix(split: &Split) -> String {
    match split {
        Split::Train => "train".into(),
        Split::Valid => "valid".into(),
        Split::Test(None) => "test".into(),
        Split::Test(Some(tag)) => format!("test/{}", metric_key(tag)),
    }
}

struct Def {
    name: Arc<String>,
    key: String,
}

/// burn's [`MetricLogger`], writing to a labbook [`Run`].
///
/// # What lands where
///
/// | burn | labbook |
/// |---|---|
/// | a training iteration's numeric metrics | one row: `train/<metric>`, `train/global_step` (counted here: burn passes none), `train/step_time_ms`, `epoch` |
/// | a validation iteration | one row: `valid/<metric>`, `epoch` |
/// | burn's test split (evaluator) | `test/<metric>`, or `test/<tag>/<metric>` for a tagged test |
/// | the epoch's final values (`NumericEntry::Final`) | one row: `epoch/<split>/<metric>` and `epoch`; `epoch/*` is plotted against `epoch` (`define_metric`), and numeric metrics keep their best epoch in the summary |
/// | the end of an epoch | summary: `<split>/<metric>` = the epoch's value, `epoch` |
///
/// Metric names become keys through [`metric_key`] (`Learning Rate` -> `learning_rate`).
/// Text metrics are not logged. Rows are committed with [`Run::log`], so they never
/// collide with rows the program logs itself.
///
/// # `read_numeric`
///
/// Registering any logger removes burn's default `FileMetricLogger`, and burn's
/// best-checkpoint strategy and early stopping read the numeric history back through
/// `read_numeric`. This logger keeps that history in memory (one small entry per metric
/// and iteration), exactly as burn's file logger would return it, so both keep working.
/// After resuming from a checkpoint, only the epochs of this process are known.
///
/// ```no_run
/// # fn docs() -> Result<(), Box<dyn std::error::Error>> {
/// use labbook_burn::RunLogger;
/// let run = labbook_core::init(labbook_core::Settings::new("mnist"))?;
/// let logger = RunLogger::new(&run)?;
/// let watch = logger.watch(100);          // call watch.observe(..) in TrainStep::step
/// let problems = logger.eval_metric(labbook_core::train::EvalSettings::default()); // metric_valid(problems)
/// // SupervisedTraining::new(..).with_metric_logger(logger)...
/// # let _ = (watch, problems); Ok(()) }
/// ```
pub struct RunLogger {
    run: Run,
    shared: Arc<Shared>,
    defs: HashMap<MetricId, Def>,
    history: HashMap<(Arc<String>, Split), BTreeMap<usize, Vec<NumericEntry>>>,
    finals: HashMap<Split, Vec<(String, f64)>>,
    train_step: u64,
    last_train: Option<Instant>,
    failures: u64,
}

impl std::fmt::Debug for RunLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLogger")
            .field("run", &self.run)
            .field("train_step", &self.train_step)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl RunLogger {
    /// A logger writing to `run` (a clone of the handle is kept). Defines the x-axes:
    /// `train/*` against `train/global_step`, `epoch/*` against `epoch`.
    pub fn new(run: &Run) -> Result<RunLogger> {
        run.define_metric(Metric::new("train/global_step").hidden(true))?;
        run.define_metric(Metric::new("train/*").step_metric("train/global_step"))?;
        run.define_metric(Metric::new("epoch/*").step_metric("epoch"))?;
        Ok(RunLogger {
            run: run.clone(),
            shared: Arc::new(Shared::default()),
            defs: HashMap::new(),
            history: HashMap::new(),
            finals: HashMap::new(),
            train_step: 0,
            last_train: None,
            failures: 0,
        })
    }

    /// A [`Watch`] whose histograms and norms join the rows of this logger, every `every`
    /// training steps (0 turns it off, and so does a disabled run).
    pub fn watch(&self, every: u64) -> Watch {
        let every = if self.run.is_disabled() { 0 } else { every };
        Watch::new(self.shared.clone(), every)
    }

    /// An [`EvalMetric`] for `metric_valid`, logging problematic validation batches to this
    /// logger's run.
    pub fn eval_metric(&self, settings: labbook_core::train::EvalSettings) -> EvalMetric {
        EvalMetric::with_shared(&self.run, settings, self.shared.clone())
    }

    /// The epochs' final metric values, shared with this logger (see [`EpochScores`]).
    pub fn epoch_scores(&self) -> EpochScores {
        EpochScores(self.shared.clone())
    }

    /// The run this logger writes to.
    pub fn run(&self) -> &Run {
        &self.run
    }

    fn log_row(&mut self, row: Vec<(String, Value)>) {
        let result = {
            let _g = lock(&self.shared.rows);
            self.run.log(row)
        };
        if let Err(e) = result {
            self.failures += 1;
            if self.failures == 1 {
                tracing::warn!(target: "labbook", "labbook-burn could not log a row ({e}); later failures are counted, not shown");
            }
        }
    }

    fn record(&mut self, name: &Arc<String>, split: &Split, epoch: usize, entry: NumericEntry) {
        self.history
            .entry((name.clone(), split.clone()))
            .or_default()
            .entry(epoch)
            .or_default()
            .push(entry);
    }
}

fn parse(serialized: &str, numeric: Option<&NumericEntry>) -> Option<NumericEntry> {
    NumericEntry::deserialize(serialized)
        .ok()
        .or_else(|| numeric.cloned())
}

impl MetricLogger for RunLogger {
    fn log(&mut self, update: MetricsUpdate, epoch: usize, split: &Split) {
        let prefix = split_prefix(split);
        let mut row: Vec<(String, Value)> =
            Vec::with_capacity(update.entries.len() + update.entries_numeric.len() + 4);
        let mut is_final = false;
        let numeric = update
            .entries_numeric
            .iter()
            .map(|u| (&u.entry, u.numeric_entry.as_ref()));
        let plain = update.entries.iter().map(|e| (e, None));
        let mut finals = Vec::new();
        for (entry, numeric_entry) in numeric.chain(plain) {
            let Some(def) = self.defs.get(&entry.metric_id) else {
                continue;
            };
            let (name, key) = (def.name.clone(), def.key.clone());
            if entry.serialized_entry.is_not_available() {
                continue;
            }
            let Some(value) = parse(&entry.serialized_entry.serialized, numeric_entry) else {
                continue; // a text metric
            };
            let current = match (&value, numeric_entry) {
                (NumericEntry::Final(_), _) => None,
                (_, Some(n)) => Some(n.current()),
                (v, None) => Some(v.current()),
            };
            match current {
                Some(v) => row.push((format!("{prefix}/{key}"), Value::from(v))),
                None => {
                    is_final = true;
                    let v = value.current();
                    row.push((format!("epoch/{prefix}/{key}"), Value::from(v)));
                    finals.push((format!("{prefix}/{key}"), v));
                }
            }
            self.record(&name, split, epoch, value);
        }
        if row.is_empty() {
            return;
        }
        row.push(("epoch".into(), Value::from(epoch)));
        if is_final {
            self.finals.entry(split.clone()).or_default().extend(finals);
        } else if *split == Split::Train {
            let step = self.train_step;
            self.train_step += 1;
            row.push(("train/global_step".into(), Value::from(step)));
            let now = Instant::now();
            if let Some(last) = self.last_train.replace(now) {
                let ms = now.duration_since(last).as_secs_f64() * 1e3;
                row.push(("train/step_time_ms".into(), Value::from(ms)));
            }
            let mut pending = lock(&self.shared.pending);
            if !pending.is_empty() {
                let mut keep = Vec::new();
                for (at, items) in pending.drain(..) {
                    if at <= step {
                        row.extend(items);
                    } else {
                        keep.push((at, items));
                    }
                }
                *pending = keep;
            }
        }
        self.log_row(row);
    }

    fn read_numeric(
        &mut self,
        name: &str,
        epoch: usize,
        split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        let key = (Arc::new(name.to_owned()), split.clone());
        Ok(self
            .history
            .get(&key)
            .and_then(|epochs| epochs.get(&epoch))
            .cloned()
            .unwrap_or_default())
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        let key = metric_key(&definition.name);
        if let MetricAttributes::Numeric(attrs) = &definition.attributes {
            // burn reports accuracy (and its other ratios) in percent; a final-score name
            // shows a fraction for every framework.
            if attrs.unit.as_deref() == Some("%") {
                for prefix in ["train", "valid", "test", "epoch/train", "epoch/valid"] {
                    if let Err(e) = self.run.score_in_percent(format!("{prefix}/{key}")) {
                        tracing::warn!(target: "labbook", "labbook-burn: {e}");
                    }
                }
            }
            let goal = if attrs.higher_is_better {
                Goal::Maximize
            } else {
                Goal::Minimize
            };
            for split in ["train", "valid"] {
                let m = Metric::new(format!("epoch/{split}/{key}"))
                    .step_metric("epoch")
                    .summary(Summary::Best)
                    .summary(Summary::Last)
                    .goal(goal);
                if let Err(e) = self.run.define_metric(m) {
                    tracing::warn!(target: "labbook", "labbook-burn could not define {key}: {e}");
                }
            }
        }
        self.defs.insert(
            definition.metric_id.clone(),
            Def {
                name: definition.name.clone(),
                key,
            },
        );
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        let finals = self.finals.remove(&summary.split).unwrap_or_default();
        {
            let mut epochs = lock(&self.shared.epochs);
            for (key, v) in &finals {
                epochs
                    .entry(key.clone())
                    .or_default()
                    .insert(summary.epoch_number, *v);
            }
        }
        let mut result = self.run.set_summary("epoch", summary.epoch_number);
        for (key, v) in finals {
            result = result.and(self.run.set_summary(key, v));
        }
        if let Err(e) = result {
            self.failures += 1;
            tracing::warn!(target: "labbook", "labbook-burn could not set the epoch summary: {e}");
        }
    }
}

impl Drop for RunLogger {
    fn drop(&mut self) {
        if self.failures > 1 {
            tracing::warn!(target: "labbook", "labbook-burn: {} rows or summaries could not be logged", self.failures);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(metric_key("Loss"), "loss");
        assert_eq!(metric_key("  CPU Usage (%) "), "cpu_usage");
        assert_eq!(metric_key("---"), "metric");
        assert_eq!(
            split_prefix(&Split::Test(Some(Arc::new("Hard Cases".into())))),
            "test/hard_cases"
        );
    }
}
