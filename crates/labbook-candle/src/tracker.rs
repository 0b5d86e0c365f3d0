//! [`Tracker`]: a few lines in a hand-written candle training loop.

use std::time::Instant;

use candle_core::Tensor;
use candle_core::backprop::GradStore;
use candle_nn::{Optimizer, VarMap};
use labbook_core::{
    ClassScores, EpochFindings, EvalHook, EvalSettings, Image, Layout, Metric, Run, Summary, Value,
};

use crate::error::{Error, Result};
use crate::media::{images, scalar_number};
use crate::watch::Watch;

/// One validation batch for [`Tracker::validate`]: the model's real outputs, the targets,
/// optionally the loss and the input images.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// let dev = Device::Cpu;
/// let logits = Tensor::new(&[[0.9f32, 0.1], [0.2, 0.8]], &dev)?;
/// let targets = Tensor::new(&[0u32, 0], &dev)?;
/// let images = Tensor::zeros((2, 1, 8, 8), DType::F32, &dev)?;
/// let batch = labbook_candle::EvalBatch::new(logits, targets)
///     .with_images(images, labbook_candle::Layout::Chw);
/// # let _ = batch;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct EvalBatch {
    /// Class logits or probabilities, `[batch, classes]`.
    pub logits: Tensor,
    /// The true class per sample, `[batch]` (any integer dtype).
    pub targets: Tensor,
    /// The batch's loss (one element), if known.
    pub loss: Option<Tensor>,
    /// The input images and their layout, read back only for batches that get logged.
    pub images: Option<(Tensor, Layout)>,
}

impl EvalBatch {
    /// A batch without loss or images.
    pub fn new(logits: Tensor, targets: Tensor) -> EvalBatch {
        EvalBatch {
            logits,
            targets,
            loss: None,
            images: None,
        }
    }

    /// Adds the batch's loss.
    pub fn with_loss(mut self, loss: Tensor) -> EvalBatch {
        self.loss = Some(loss);
        self
    }

    /// Adds the input images: `[n, c, h, w]` ([`Layout::Chw`]) or `[n, h, w, c]`.
    pub fn with_images(mut self, images: Tensor, layout: Layout) -> EvalBatch {
        self.images = Some((images, layout));
        self
    }

    fn score(&self) -> Result<(ClassScores, Option<f64>, usize)> {
        let logits = &self.logits;
        if logits.rank() != 2 {
            return Err(Error::Rank {
                what: "evaluation logits",
                expected: "rank 2 ([batch, classes])",
                shape: logits.dims().to_vec(),
            });
        }
        let preds = ints(&logits.argmax(1)?, "predicted classes")?;
        let targets = ints(&self.targets, "evaluation targets")?;
        let loss = match &self.loss {
            Some(l) => Some(scalar_number(l)?.as_f64()),
            None => None,
        };
        let n = preds.len().min(targets.len());
        Ok((ClassScores::new(&preds, &targets), loss, n))
    }

    fn images(&self, scores: &ClassScores) -> Vec<Image> {
        let Some((tensor, layout)) = &self.images else {
            return Vec::new();
        };
        match images(tensor, *layout, usize::MAX) {
            Ok(v) => scores.misclassified_first(v),
            Err(e) => {
                tracing::warn!(target: "labbook", "labbook-candle: could not read a batch's images: {e}");
                Vec::new()
            }
        }
    }
}

fn ints(t: &Tensor, what: &'static str) -> Result<Vec<i64>> {
    if t.rank() != 1 {
        return Err(Error::Rank {
            what,
            expected: "rank 1 ([batch])",
            shape: t.dims().to_vec(),
        });
    }
    let dtype = t.dtype();
    if dtype.is_float() {
        return Err(Error::DType {
            what,
            dtype,
            hint: "class indices are integers (u8, u32 or i64)",
        });
    }
    Ok(t.to_dtype(candle_core::DType::I64)?.to_vec1::<i64>()?)
}

/// What [`Tracker::validate`] measured over one validation pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Validation {
    /// Mean loss per sample (NaN when no batch had a loss).
    pub loss: f64,
    /// Share of samples predicted right.
    pub accuracy: f64,
    /// Samples seen.
    pub samples: usize,
    /// What the evaluation hook found and logged.
    pub findings: EpochFindings,
}

/// Tracking for a hand-written candle training loop: one call per training step logs the
/// loss, the learning rate, the step time and throughput, the epoch and a global step; one
/// call per validation pass scores every batch from the model's real outputs, logs the
/// problematic batches with their images ([`EvalHook`]) and the epoch's validation metrics.
///
/// | call | logs |
/// |---|---|
/// | [`step`](Tracker::step) | one row: `train/loss`, `train/lr`, `train/step_time_ms`, `train/samples_per_s` (from the 2nd step of an epoch), `train/global_step`, `epoch` (+ `watch` histograms when it fires) |
/// | [`validate`](Tracker::validate) | `problematic_batch_<i>_…` rows; one row: `valid/loss`, `valid/accuracy`, `epoch`; summary: best `valid/accuracy`, lowest `valid/loss` |
/// | [`save_checkpoint`](Tracker::save_checkpoint) | the safetensors file saved with the run; summary `checkpoint/file`, `checkpoint/epoch`, `checkpoint/step` |
///
/// `train/*` is plotted against `train/global_step`, `valid/*` against `epoch`.
///
/// ```no_run
/// # fn docs() -> Result<(), Box<dyn std::error::Error>> {
/// use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
/// let run = labbook_core::init(labbook_core::Settings::new("candle-mnist"))?;
/// let varmap = VarMap::new();
/// // let model = Model::new(VarBuilder::from_varmap(&varmap, DType::F32, &device))?;
/// let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW::default())?;
/// let mut track = labbook_candle::Tracker::new(&run)?.watch(&varmap, 100);
/// for epoch in 0..10 {
///     track.start_epoch(epoch);
///     # let batches: Vec<(candle_core::Tensor, candle_core::Tensor)> = vec![];
///     for (x, y) in &batches {
///         # let loss = x.sum_all()?;
///         // let loss = cross_entropy(&model.forward(x)?, y)?;
///         let grads = loss.backward()?;
///         track.watch_grads(&grads)?; // histograms every 100 steps, a counter otherwise
///         opt.step(&grads)?;
///         track.step(&loss, &opt, x.dim(0)?)?;
///     }
///     // let found = track.validate(valid.iter().map(|(x, y)| {
///     //     Ok(EvalBatch::new(model.forward(x)?, y.clone()).with_images(x.clone(), Layout::Chw))
///     // }))?;
/// }
/// run.finish()?;
/// # Ok(()) }
/// ```
pub struct Tracker {
    run: Run,
    watch: Option<Watch>,
    hook: EvalHook,
    global_step: u64,
    epoch: usize,
    last: Option<Instant>,
}

impl Tracker {
    /// A tracker writing to `run` (a clone of the handle is kept). Defines the x-axes and
    /// the validation summaries; the evaluation hook uses `EvalSettings::default()` (see
    /// [`eval_settings`](Tracker::eval_settings)).
    pub fn new(run: &Run) -> Result<Tracker> {
        run.define_metric(Metric::new("train/global_step").hidden(true))?;
        run.define_metric(Metric::new("train/*").step_metric("train/global_step"))?;
        run.define_metric(Metric::new("valid/*").step_metric("epoch"))?;
        run.define_metric(
            Metric::new("valid/accuracy")
                .step_metric("epoch")
                .summary(Summary::Max)
                .summary(Summary::Last),
        )?;
        run.define_metric(
            Metric::new("valid/loss")
                .step_metric("epoch")
                .summary(Summary::Min)
                .summary(Summary::Last),
        )?;
        Ok(Tracker {
            run: run.clone(),
            watch: None,
            hook: EvalHook::new(run, EvalSettings::default()),
            global_step: 0,
            epoch: 0,
            last: None,
        })
    }

    /// Watches `varmap`: histograms and norms of its variables (and of the gradients passed
    /// to [`watch_grads`](Tracker::watch_grads)) every `every` steps.
    pub fn watch(mut self, varmap: &VarMap, every: u64) -> Tracker {
        self.watch = Some(Watch::new(varmap, every));
        self
    }

    /// The evaluation hook's policies (threshold, worst-K, caps, table mode).
    pub fn eval_settings(mut self, settings: EvalSettings) -> Tracker {
        self.hook = EvalHook::new(&self.run, settings);
        self
    }

    /// The run this tracker writes to.
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// Training steps logged so far.
    pub fn global_step(&self) -> u64 {
        self.global_step
    }

    /// Starts epoch `epoch`: later rows carry it, and the step timer restarts (so the first
    /// step's time includes loading its batch, not the last validation).
    pub fn start_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
        self.last = Some(Instant::now());
    }

    /// Counts a step for the watch and, when it fires, adds the parameter and gradient
    /// histograms to this step's row. Call it after `backward`, before [`step`](Tracker::step).
    /// Without a watch it does nothing.
    #[inline]
    pub fn watch_grads(&mut self, grads: &GradStore) -> Result<bool> {
        match &mut self.watch {
            Some(w) => w.observe(&self.run, Some(grads)),
            None => Ok(false),
        }
    }

    /// Logs one training step: `loss` (one element; read back from the device), the
    /// optimizer's learning rate, the time since the previous step and `samples / time`.
    pub fn step<O: Optimizer>(&mut self, loss: &Tensor, opt: &O, samples: usize) -> Result<()> {
        self.step_with(loss, opt, samples, std::iter::empty::<(String, Value)>())
    }

    /// [`step`](Tracker::step) with more values in the same row (`train/accuracy`, …).
    pub fn step_with<O, K, I>(
        &mut self,
        loss: &Tensor,
        opt: &O,
        samples: usize,
        extra: I,
    ) -> Result<()>
    where
        O: Optimizer,
        K: Into<String>,
        I: IntoIterator<Item = (K, Value)>,
    {
        let loss = scalar_number(loss)?.as_f64();
        let now = Instant::now();
        let mut row: Vec<(String, Value)> = Vec::with_capacity(8);
        row.push(("train/loss".into(), Value::F64(loss)));
        row.push(("train/lr".into(), Value::F64(opt.learning_rate())));
        if let Some(last) = self.last.replace(now) {
            let secs = now.duration_since(last).as_secs_f64();
            row.push(("train/step_time_ms".into(), Value::F64(secs * 1e3)));
            if secs > 0.0 {
                row.push((
                    "train/samples_per_s".into(),
                    Value::F64(samples as f64 / secs),
                ));
            }
        }
        row.push(("train/global_step".into(), Value::from(self.global_step)));
        row.push(("epoch".into(), Value::from(self.epoch)));
        row.extend(extra.into_iter().map(|(k, v)| (k.into(), v)));
        self.global_step += 1;
        self.run.log(row)?;
        Ok(())
    }

    /// One validation pass: scores each batch (`recall`, `accuracy`, `loss`) from the
    /// model's outputs, hands it to the evaluation hook (the problematic ones are logged with
    /// their images, misclassified samples first), then logs `valid/loss` and
    /// `valid/accuracy` (sample-weighted over the pass) with the epoch. The batches are
    /// pulled one at a time, so a lazy iterator keeps one batch in memory.
    pub fn validate<I>(&mut self, batches: I) -> Result<Validation>
    where
        I: IntoIterator<Item = Result<EvalBatch>>,
    {
        self.hook.start_epoch();
        let (mut samples, mut correct, mut loss_sum, mut loss_n) = (0usize, 0f64, 0f64, 0usize);
        for (index, batch) in batches.into_iter().enumerate() {
            let batch = batch?;
            let (scores, loss, n) = batch.score()?;
            samples += n;
            correct += scores.accuracy * n as f64;
            if let Some(l) = loss {
                loss_sum += l * n as f64;
                loss_n += n;
            }
            let metrics = scores.metrics(loss);
            self.hook.batch(index, &metrics, || batch.images(&scores))?;
        }
        let findings = self.hook.end_epoch()?;
        let ratio = |a: f64, n: usize| if n == 0 { f64::NAN } else { a / n as f64 };
        let v = Validation {
            loss: ratio(loss_sum, loss_n),
            accuracy: ratio(correct, samples),
            samples,
            findings,
        };
        let mut row = vec![
            ("valid/accuracy".to_owned(), Value::F64(v.accuracy)),
            ("epoch".to_owned(), Value::from(self.epoch)),
        ];
        if loss_n > 0 {
            row.push(("valid/loss".to_owned(), Value::F64(v.loss)));
        }
        self.run.log(row)?;
        Ok(v)
    }

    /// Saves `varmap` to `path` (safetensors) and records it in the run: the file is saved
    /// with the run now, and the summary says which file, epoch and step it is.
    pub fn save_checkpoint(
        &self,
        varmap: &VarMap,
        path: impl AsRef<std::path::Path>,
    ) -> Result<()> {
        crate::checkpoint::save_checkpoint(
            &self.run,
            varmap,
            path.as_ref(),
            self.epoch,
            self.global_step,
        )
    }
}
