//! The framework-free half of a hand-written training loop's tracking: step rows with
//! timing and throughput, validation passes through the evaluation hook. The candle and tch
//! adapters read their tensors and call this, so both log the same keys.

use std::time::Instant;

use crate::engine::metric::{Metric, Summary};
use crate::error::Result;
use crate::media::Image;
use crate::run::Run;
use crate::train::ModelCheckpoints;
use crate::train::eval::{ClassScores, EpochFindings, EvalHook, EvalSettings};
use crate::value::Value;

/// What one validation pass measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Validation {
    /// Mean loss per sample (NaN when no batch had a loss).
    pub loss: f64,
    /// Share of samples predicted right (NaN for no samples).
    pub accuracy: f64,
    /// Samples seen.
    pub samples: usize,
    /// What the evaluation hook found and logged.
    pub findings: EpochFindings,
}

/// Tracking for a hand-written training loop, with plain numbers (the framework adapters
/// wrap it with tensor conversions):
///
/// | call | logs |
/// |---|---|
/// | [`step`](LoopTracker::step) | one row: `train/loss`, `train/lr`, `train/step_time_ms` and `train/samples_per_s` (time since the previous step, or since `start_epoch`), `train/global_step`, `epoch`, your extra values |
/// | [`validation`](LoopTracker::validation) … [`finish`](ValidationPass::finish) | `problematic_batch_<i>_…` rows from the evaluation hook; one row: `valid/loss`, `valid/accuracy`, `epoch`; summary: best `valid/accuracy`, lowest `valid/loss` |
///
/// `train/*` is plotted against `train/global_step`, `valid/*` against `epoch`.
///
/// ```
/// use labbook_core::Run;
/// use labbook_core::train::{ClassScores, LoopTracker};
/// let run = Run::disabled();
/// let mut t = LoopTracker::new(&run)?;
/// t.start_epoch(0);
/// t.step(0.7, Some(1e-3), 64, [("train/accuracy", 0.5.into())])?;
/// let mut pass = t.validation();
/// pass.batch(&ClassScores::new(&[0, 1], &[0, 0]), Some(0.9), Vec::new)?;
/// let v = pass.finish()?;
/// assert_eq!((v.samples, v.accuracy), (2, 0.5));
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[derive(Debug)]
pub struct LoopTracker {
    run: Run,
    hook: EvalHook,
    global_step: u64,
    epoch: usize,
    last: Option<Instant>,
    /// The last validation's loss and accuracy: a checkpoint's score.
    validated: Option<(f64, f64)>,
    models: Option<ModelCheckpoints>,
}

impl LoopTracker {
    /// A tracker writing to `run` (a clone of the handle is kept). Defines the x-axes and
    /// the validation summaries; the evaluation hook uses `EvalSettings::default()`.
    pub fn new(run: &Run) -> Result<LoopTracker> {
        run.define_metric(Metric::new("train/global_step").hidden(true))?;
        run.define_metric(Metric::new("train/*").step_metric("train/global_step"))?;
        run.define_metric(Metric::new("valid/*").step_metric("epoch"))?;
        let best = |key: &str, s: Summary| {
            Metric::new(key)
                .step_metric("epoch")
                .summary(s)
                .summary(Summary::Last)
        };
        run.define_metric(best("valid/accuracy", Summary::Max))?;
        run.define_metric(best("valid/loss", Summary::Min))?;
        Ok(LoopTracker {
            run: run.clone(),
            hook: EvalHook::new(run, EvalSettings::default()),
            global_step: 0,
            epoch: 0,
            last: None,
            validated: None,
            models: None,
        })
    }

    /// Logs every recorded checkpoint as a version of a `model` artifact too (`latest`,
    /// `epoch-<n>`, and `best` by the models' metric: `valid/accuracy` or `valid/loss`,
    /// scored from the last validation pass).
    ///
    /// ```
    /// use labbook_core::{Goal, Run};
    /// use labbook_core::train::{LoopTracker, ModelCheckpoints};
    /// let run = Run::disabled();
    /// let mut t = LoopTracker::new(&run)?;
    /// t.log_models(ModelCheckpoints::new(&run, "shapes-cnn")?.best_by("valid/accuracy", Goal::Maximize));
    /// # Ok::<(), labbook_core::Error>(())
    /// ```
    pub fn log_models(&mut self, models: ModelCheckpoints) {
        if let Some(m) = models
            .metric()
            .filter(|m| !matches!(*m, "valid/accuracy" | "valid/loss"))
        {
            tracing::warn!(target: "labbook", "model versions are judged by {m:?}, which this loop does not compute (valid/accuracy or valid/loss): none will be marked best");
        }
        self.models = Some(models);
    }

    /// Records a checkpoint file the loop just saved ([`Run::record_checkpoint`]: kept with
    /// the run, the summary says which file, epoch and step), and with
    /// [`log_models`](LoopTracker::log_models) logs it as a model version. Returns whether
    /// it became the `best` version.
    pub fn record_checkpoint(&mut self, path: &std::path::Path) -> Result<bool> {
        self.run
            .record_checkpoint(path, self.epoch, self.global_step)?;
        let Some(models) = &mut self.models else {
            return Ok(false);
        };
        let score = match (models.metric(), self.validated) {
            (Some("valid/accuracy"), Some((_, accuracy))) => Some(accuracy),
            (Some("valid/loss"), Some((loss, _))) => Some(loss),
            _ => None,
        };
        models.log(path, self.epoch, score)
    }

    /// The evaluation hook's policies (threshold, worst-K, caps, table mode).
    pub fn set_eval_settings(&mut self, settings: EvalSettings) {
        self.hook = EvalHook::new(&self.run, settings);
    }

    /// The run this tracker writes to.
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// Training steps logged so far.
    pub fn global_step(&self) -> u64 {
        self.global_step
    }

    /// The epoch rows carry now.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Starts epoch `epoch`: later rows carry it, and the step timer restarts (so the first
    /// step's time includes loading its batch, not the last validation).
    pub fn start_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
        self.last = Some(Instant::now());
    }

    /// Logs one training step's row.
    pub fn step<K, I>(&mut self, loss: f64, lr: Option<f64>, samples: usize, extra: I) -> Result<()>
    where
        K: Into<String>,
        I: IntoIterator<Item = (K, Value)>,
    {
        let now = Instant::now();
        let mut row: Vec<(String, Value)> = Vec::with_capacity(8);
        row.push(("train/loss".into(), Value::F64(loss)));
        if let Some(lr) = lr {
            row.push(("train/lr".into(), Value::F64(lr)));
        }
        if let Some(last) = self.last.replace(now) {
            let secs = now.duration_since(last).as_secs_f64();
            row.push(("train/step_time_ms".into(), Value::F64(secs * 1e3)));
            if secs > 0.0 {
                let rate = samples as f64 / secs;
                row.push(("train/samples_per_s".into(), Value::F64(rate)));
            }
        }
        row.push(("train/global_step".into(), Value::from(self.global_step)));
        row.push(("epoch".into(), Value::from(self.epoch)));
        row.extend(extra.into_iter().map(|(k, v)| (k.into(), v)));
        self.global_step += 1;
        self.run.log(row)
    }

    /// Starts a validation pass: hand it each batch's scores, then [`finish`](ValidationPass::finish) it.
    pub fn validation(&mut self) -> ValidationPass<'_> {
        self.hook.start_epoch();
        ValidationPass {
            tracker: self,
            index: 0,
            samples: 0,
            correct: 0.0,
            loss_sum: 0.0,
            loss_n: 0,
        }
    }
}

/// One validation pass of a [`LoopTracker`].
#[derive(Debug)]
pub struct ValidationPass<'a> {
    tracker: &'a mut LoopTracker,
    index: usize,
    samples: usize,
    correct: f64,
    loss_sum: f64,
    loss_n: usize,
}

impl ValidationPass<'_> {
    /// One batch: its scores, its mean loss if known, and a closure giving its images
    /// (misclassified first), called only if the hook logs or keeps the batch.
    pub fn batch<F>(&mut self, scores: &ClassScores, loss: Option<f64>, images: F) -> Result<()>
    where
        F: FnOnce() -> Vec<Image>,
    {
        let n = scores.wrong.len();
        self.samples += n;
        self.correct += scores.accuracy * n as f64;
        if let Some(l) = loss {
            self.loss_sum += l * n as f64;
            self.loss_n += n;
        }
        let index = self.index;
        self.index += 1;
        self.tracker.hook.batch(index, &scores.metrics(loss), || {
            scores.misclassified_first(images())
        })
    }

    /// Ends the pass: the hook logs its worst batches, then one row with `valid/accuracy`,
    /// `valid/loss` (sample-weighted over the pass) and the epoch.
    pub fn finish(self) -> Result<Validation> {
        let t = self.tracker;
        let findings = t.hook.end_epoch()?;
        let ratio = |a: f64, n: usize| if n == 0 { f64::NAN } else { a / n as f64 };
        let v = Validation {
            loss: ratio(self.loss_sum, self.loss_n),
            accuracy: ratio(self.correct, self.samples),
            samples: self.samples,
            findings,
        };
        let mut row = vec![
            ("valid/accuracy".to_owned(), Value::F64(v.accuracy)),
            ("epoch".to_owned(), Value::from(t.epoch)),
        ];
        if self.loss_n > 0 {
            row.push(("valid/loss".to_owned(), Value::F64(v.loss)));
        }
        t.run.log(row)?;
        t.validated = Some((v.loss, v.accuracy));
        Ok(v)
    }
}
