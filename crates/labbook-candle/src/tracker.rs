//! [`Tracker`]: a few lines in a hand-written candle training loop.

use candle_core::Tensor;
use candle_core::backprop::GradStore;
use candle_nn::{Optimizer, VarMap};
use labbook_core::train::{self, EvalSettings, LoopTracker, Validation};
use labbook_core::{Run, Value};

use crate::error::Result;
use crate::media::Candle;
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
pub type EvalBatch = labbook_core::train::EvalBatch<Candle>;

/// Tracking for a hand-written candle training loop: one call per training step logs the
/// loss, the learning rate, the step time and throughput, the epoch and a global step; one
/// call per validation pass scores every batch from the model's real outputs, logs the
/// problematic batches with their images ([`EvalHook`](labbook_core::train::EvalHook)) and the epoch's validation metrics.
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
#[derive(Debug)]
pub struct Tracker {
    inner: LoopTracker,
    watch: Option<Watch>,
}

impl Tracker {
    /// A tracker writing to `run` (a clone of the handle is kept). Defines the x-axes and
    /// the validation summaries; the evaluation hook uses `EvalSettings::default()` (see
    /// [`eval_settings`](Tracker::eval_settings)).
    pub fn new(run: &Run) -> Result<Tracker> {
        Ok(Tracker {
            inner: LoopTracker::new(run)?,
            watch: None,
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
        self.inner.set_eval_settings(settings);
        self
    }

    /// Logs every checkpoint [`save_checkpoint`](Tracker::save_checkpoint) saves as a
    /// version of a `model` artifact: `latest`, `epoch-<n>`, and `best` by the models'
    /// metric (`valid/accuracy` or `valid/loss` of the last validation).
    ///
    /// ```
    /// use labbook_core::Goal;
    /// use labbook_core::train::ModelCheckpoints;
    /// let run = labbook_core::Run::disabled();
    /// let models = ModelCheckpoints::new(&run, "shapes-cnn")?.best_by("valid/accuracy", Goal::Maximize);
    /// let track = labbook_candle::Tracker::new(&run)?.log_models(models);
    /// # let _ = track;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_models(mut self, models: labbook_core::train::ModelCheckpoints) -> Tracker {
        self.inner.log_models(models);
        self
    }

    /// The run this tracker writes to.
    pub fn run(&self) -> &Run {
        self.inner.run()
    }

    /// Training steps logged so far.
    pub fn global_step(&self) -> u64 {
        self.inner.global_step()
    }

    /// Starts epoch `epoch`: later rows carry it, and the step timer restarts (so the first
    /// step's time includes loading its batch, not the last validation).
    pub fn start_epoch(&mut self, epoch: usize) {
        self.inner.start_epoch(epoch);
    }

    /// Counts a step for the watch and, when it fires, adds the parameter and gradient
    /// histograms to this step's row. Call it after `backward`, before [`step`](Tracker::step).
    /// Without a watch it does nothing.
    #[inline]
    pub fn watch_grads(&mut self, grads: &GradStore) -> Result<bool> {
        match &mut self.watch {
            Some(w) => w.observe(self.inner.run(), Some(grads)),
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
        let loss = train::scalar_f64::<Candle>(loss)?;
        Ok(self
            .inner
            .step(loss, Some(opt.learning_rate()), samples, extra)?)
    }

    /// One validation pass: scores each batch (`recall`, `precision`, `hmean`, `accuracy`, `loss`) from the
    /// model's outputs, hands it to the evaluation hook (the problematic ones are logged with
    /// their images, misclassified samples first), then logs `valid/loss` and
    /// `valid/accuracy` (sample-weighted over the pass) with the epoch. The batches are
    /// pulled one at a time, so a lazy iterator keeps one batch in memory.
    pub fn validate<I>(&mut self, batches: I) -> Result<Validation>
    where
        I: IntoIterator<Item = Result<EvalBatch>>,
    {
        let mut pass = self.inner.validation();
        for batch in batches {
            let batch = batch?;
            let (scores, loss) = batch.score()?;
            pass.batch(&scores, loss, || batch.images())?;
        }
        Ok(pass.finish()?)
    }

    /// Saves `varmap` to `path` (safetensors) and records it in the run: the file is saved
    /// with the run now, and the summary says which file, epoch and step it is. With
    /// [`log_models`](Tracker::log_models) it is also a model version; returns whether it
    /// became `best`.
    pub fn save_checkpoint(
        &mut self,
        varmap: &VarMap,
        path: impl AsRef<std::path::Path>,
    ) -> Result<bool> {
        crate::checkpoint::write(varmap, path.as_ref())?;
        Ok(self.inner.record_checkpoint(path.as_ref())?)
    }
}
