//! [`Tracker`]: a few lines in a hand-written tch training loop.

use labbook_core::train::{self, EvalSettings, LoopTracker, Validation};
use labbook_core::{Run, Value};
use tch::Tensor;
use tch::nn::VarStore;

use crate::error::Result;
use crate::media::Tch;
use crate::watch::Watch;

/// One validation batch for [`Tracker::validate`]: the model's real outputs, the targets,
/// optionally the loss and the input images.
///
/// ```
/// use tch::{Device, Kind, Tensor};
/// let logits = Tensor::from_slice(&[0.9f32, 0.1, 0.2, 0.8]).view([2, 2]);
/// let targets = Tensor::from_slice(&[0i64, 0]);
/// let images = Tensor::zeros([2, 1, 8, 8], (Kind::Float, Device::Cpu));
/// let batch = labbook_tch::EvalBatch::new(logits, targets).with_images(images, labbook_tch::Layout::Chw);
/// # let _ = batch;
/// ```
pub type EvalBatch = labbook_core::train::EvalBatch<Tch>;

/// Tracking for a hand-written tch training loop: one call per training step logs the loss,
/// the learning rate, the step time and throughput, the epoch and a global step; one call
/// per validation pass scores every batch from the model's real outputs, logs the
/// problematic batches with their images (labbook's evaluation hook) and the epoch's
/// validation metrics. The keys are those of [`LoopTracker`], which this wraps.
///
/// tch's optimizers do not expose their learning rate, so [`step`](Tracker::step) takes it.
///
/// ```no_run
/// # fn docs() -> Result<(), Box<dyn std::error::Error>> {
/// use tch::nn::{self, OptimizerConfig};
/// let run = labbook_core::init(labbook_core::Settings::new("tch-mnist"))?;
/// let vs = nn::VarStore::new(tch::Device::cuda_if_available());
/// // let model = net(&vs.root());
/// let lr = 1e-3;
/// let mut opt = nn::Adam::default().build(&vs, lr)?;
/// let mut track = labbook_tch::Tracker::new(&run)?.watch(&vs, 100);
/// for epoch in 0..10 {
///     track.start_epoch(epoch);
///     # let batches: Vec<(tch::Tensor, tch::Tensor)> = vec![];
///     for (x, y) in &batches {
///         # let loss = x.sum(None);
///         // let loss = model.forward_t(x, true).cross_entropy_for_logits(y);
///         opt.backward_step(&loss);
///         track.watch_step()?; // histograms every 100 steps, a counter otherwise
///         track.step(&loss, lr, x.size()[0] as usize)?;
///     }
///     // let found = track.validate(valid.iter().map(|(x, y)| {
///     //     Ok(EvalBatch::new(model.forward_t(x, false), y.shallow_clone()).with_images(x.shallow_clone(), Layout::Chw))
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
    /// A tracker writing to `run` (a clone of the handle is kept); the evaluation hook uses
    /// `EvalSettings::default()` (see [`eval_settings`](Tracker::eval_settings)).
    pub fn new(run: &Run) -> Result<Tracker> {
        Ok(Tracker {
            inner: LoopTracker::new(run)?,
            watch: None,
        })
    }

    /// Watches the variables of `store` (and their gradients) every `every` steps.
    pub fn watch(mut self, store: &VarStore, every: u64) -> Tracker {
        self.watch = Some(Watch::new(store, every));
        self
    }

    /// The evaluation hook's policies (threshold, worst-K, caps, table mode).
    pub fn eval_settings(mut self, settings: EvalSettings) -> Tracker {
        self.inner.set_eval_settings(settings);
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

    /// Starts epoch `epoch`: later rows carry it, and the step timer restarts.
    pub fn start_epoch(&mut self, epoch: usize) {
        self.inner.start_epoch(epoch);
    }

    /// Counts a step for the watch and, when it fires, adds the parameter and gradient
    /// histograms to this step's row. Call it after `backward` (or `backward_step`), before
    /// [`step`](Tracker::step). Without a watch it does nothing.
    #[inline]
    pub fn watch_step(&mut self) -> Result<bool> {
        match &mut self.watch {
            Some(w) => w.observe(self.inner.run()),
            None => Ok(false),
        }
    }

    /// Logs one training step: `loss` (one element; read back from the device), the
    /// learning rate, the time since the previous step and `samples / time`.
    pub fn step(&mut self, loss: &Tensor, lr: f64, samples: usize) -> Result<()> {
        self.step_with(loss, lr, samples, std::iter::empty::<(String, Value)>())
    }

    /// [`step`](Tracker::step) with more values in the same row (`train/accuracy`, …).
    pub fn step_with<K, I>(
        &mut self,
        loss: &Tensor,
        lr: f64,
        samples: usize,
        extra: I,
    ) -> Result<()>
    where
        K: Into<String>,
        I: IntoIterator<Item = (K, Value)>,
    {
        let loss = train::scalar_f64::<Tch>(loss)?;
        Ok(self.inner.step(loss, Some(lr), samples, extra)?)
    }

    /// One validation pass: scores each batch (`recall`, `precision`, `hmean`, `accuracy`, `loss`) from the
    /// model's outputs, hands it to the evaluation hook (the problematic ones are logged with
    /// their images, misclassified samples first), then logs `valid/loss` and
    /// `valid/accuracy` with the epoch. Batches are pulled one at a time.
    pub fn validate<I>(&mut self, batches: I) -> Result<Validation>
    where
        I: IntoIterator<Item = Result<EvalBatch>>,
    {
        let _no_grad = tch::no_grad_guard();
        let mut pass = self.inner.validation();
        for batch in batches {
            let batch = batch?;
            let (scores, loss) = batch.score()?;
            pass.batch(&scores, loss, || batch.images())?;
        }
        Ok(pass.finish()?)
    }

    /// Saves `store` to `path` and records it in the run (see
    /// [`save_checkpoint`](crate::save_checkpoint)). With [`log_models`](Tracker::log_models)
    /// it is also a model version; returns whether it became `best`.
    pub fn save_checkpoint(
        &mut self,
        store: &VarStore,
        path: impl AsRef<std::path::Path>,
    ) -> Result<bool> {
        crate::checkpoint::write(store, path.as_ref())?;
        Ok(self.inner.record_checkpoint(path.as_ref())?)
    }

    /// Logs every checkpoint [`save_checkpoint`](Tracker::save_checkpoint) saves as a
    /// version of a `model` artifact: `latest`, `epoch-<n>`, and `best` by the models'
    /// metric (`valid/accuracy` or `valid/loss` of the last validation).
    ///
    /// ```
    /// use labbook_core::Goal;
    /// use labbook_core::train::ModelCheckpoints;
    /// let run = labbook_core::Run::disabled();
    /// let models = ModelCheckpoints::new(&run, "shapes-cnn")?.best_by("valid/loss", Goal::Minimize);
    /// let track = labbook_tch::Tracker::new(&run)?.log_models(models);
    /// # let _ = track;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_models(mut self, models: labbook_core::train::ModelCheckpoints) -> Tracker {
        self.inner.log_models(models);
        self
    }
}
