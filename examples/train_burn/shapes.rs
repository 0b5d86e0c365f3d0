//! The example's task and model, shared with `benches/burn_step.rs` so the benchmark
//! measures exactly the training step the example runs: shapes drawn into 28x28 images
//! (with hard cases), a small CNN, and the validation output that carries the images.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use burn::config::Config;
use burn::data::dataloader::{DataLoaderBuilder, batcher::Batcher};
use burn::data::dataset::InMemDataset;
use burn::lr_scheduler::constant::ConstantLr;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, conv::Conv2d, conv::Conv2dConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData, activation::relu};
use burn::train::checkpoint::MetricCheckpointingStrategy;
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{
    AccuracyInput, AccuracyMetric, Adaptor, ItemLazy, IterationSpeedMetric, LearningRateMetric,
    LossInput, LossMetric,
};
use burn::train::{
    ClassificationOutput, InferenceStep, Learner, SupervisedTraining, TrainOutput, TrainStep,
};
use labbook::burn::burn;
use labbook::burn::{EvalBatch, EvalMetric, Layout, RecordedCheckpointer, RunLogger, Watch};
use labbook::train::{EvalSettings, ModelCheckpoints, Worse};
use labbook::{Goal, Run};

/// The run's config: everything a sweep may change.
#[derive(Config, Debug)]
pub(crate) struct TrainConfig {
    #[config(default = 6)]
    pub epochs: usize,
    #[config(default = 64)]
    pub batch_size: usize,
    #[config(default = 2e-3)]
    pub lr: f64,
    #[config(default = 6000)]
    pub train_samples: usize,
    #[config(default = 800)]
    pub valid_samples: usize,
    #[config(default = 25)]
    pub watch_every: u64,
    #[config(default = 7)]
    pub seed: u64,
}

/// What a finished [`fit`] leaves for the report.
pub(crate) struct Fitted {
    pub watch: Watch,
    pub problems: EvalMetric,
}

/// Trains the CNN with burn's `SupervisedTraining`, everything logged to `run`: the
/// metrics through labbook's logger, the problematic validation batches through its
/// evaluation metric, histograms through `Watch`, checkpoints (best validation accuracy)
/// recorded in the run and logged as versions of a `model` artifact. `work` holds burn's checkpoints.
pub(crate) fn fit(run: &Run, cfg: &TrainConfig, work: &Path) -> anyhow::Result<Fitted> {
    let device = Device::flex().autodiff();
    let logger = RunLogger::new(run)?;
    let scores = logger.epoch_scores();
    let watch = logger.watch(cfg.watch_every);
    let problems = logger.eval_metric(
        EvalSettings::default()
            .metric("recall", Worse::Lower)
            .threshold(Some(0.9))
            .worst_k(2)
            .caps(4, 8),
    );
    let train = DataLoaderBuilder::new(Batches)
        .batch_size(cfg.batch_size)
        .shuffle(cfg.seed)
        .build(dataset(cfg.train_samples, cfg.seed));
    let valid = DataLoaderBuilder::new(Batches)
        .batch_size(cfg.batch_size)
        .build(dataset(cfg.valid_samples, cfg.seed + 1));
    let ckpt = work.join("checkpoint");
    let best = MetricCheckpointingStrategy::new(
        &AccuracyMetric::new(),
        Aggregate::Mean,
        Direction::Highest,
        Split::Valid,
    );
    let learner = Learner::new(
        Cnn::new(&device, Some(watch.clone())),
        AdamConfig::new().init() as ModuleOptimizer,
        ConstantLr::new(cfg.lr),
    );
    SupervisedTraining::new(work, train, valid)
        .num_epochs(cfg.epochs)
        .with_metric_logger(logger)
        .metric_train_numeric(LossMetric::new())
        .metric_train_numeric(AccuracyMetric::new())
        .metric_train_numeric(LearningRateMetric::new())
        .metric_train_numeric(IterationSpeedMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .metric_valid_numeric(AccuracyMetric::new())
        .metric_valid(problems.clone())
        .with_custom_checkpointers(
            // Each saved checkpoint is a version of the `shapes-cnn` model artifact.
            RecordedCheckpointer::new(run, &ckpt, "model").log_models(
                ModelCheckpoints::new(run, "shapes-cnn")?.best_by("valid/accuracy", Goal::Maximize),
                scores,
            ),
            RecordedCheckpointer::new(run, &ckpt, "optim").quiet(),
            RecordedCheckpointer::new(run, &ckpt, "scheduler").quiet(),
        )
        .with_checkpointing_strategy(best)
        .with_application_logger(None)
        .launch(learner);
    Ok(Fitted { watch, problems })
}

#[path = "../common/shapes.rs"]
mod data;
pub(crate) use data::{CLASSES, SIDE, Sample};

/// The task's samples as a burn dataset.
pub(crate) fn dataset(n: usize, seed: u64) -> InMemDataset<Sample> {
    InMemDataset::new(data::samples(n, seed))
}

#[derive(Clone, Debug)]
pub(crate) struct Batch {
    images: Tensor<4>,
    targets: Tensor<1, Int>,
}

#[derive(Clone)]
pub(crate) struct Batches;
impl Batcher<Sample, Batch> for Batches {
    fn batch(&self, items: Vec<Sample>, device: &Device) -> Batch {
        let n = items.len();
        let labels: Vec<i64> = items.iter().map(|s| s.label).collect();
        let pixels: Vec<f32> = items.into_iter().flat_map(|s| s.pixels).collect();
        Batch {
            images: Tensor::from_data(TensorData::new(pixels, [n, 1, SIDE, SIDE]), device),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
        }
    }
}

#[derive(Module, Debug)]
pub(crate) struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    #[module(skip)]
    watch: Option<Watch>,
}

impl Cnn {
    pub(crate) fn new(device: &Device, watch: Option<Watch>) -> Cnn {
        Cnn {
            conv1: Conv2dConfig::new([1, 8], [3, 3]).init(device),
            conv2: Conv2dConfig::new([8, 16], [3, 3]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc1: LinearConfig::new(16 * 5 * 5, 64).init(device),
            fc2: LinearConfig::new(64, CLASSES.len()).init(device),
            watch,
        }
    }

    fn classify(&self, b: &Batch) -> ClassificationOutput {
        let x = self
            .pool
            .forward(relu(self.conv1.forward(b.images.clone())));
        let x = self.pool.forward(relu(self.conv2.forward(x)));
        let x = relu(self.fc1.forward(x.flatten::<2>(1, 3)));
        let logits = self.fc2.forward(x);
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), b.targets.clone());
        ClassificationOutput::new(loss, logits, b.targets.clone())
    }
}

/// The validation output: burn's classification output plus the input images, so the
/// evaluation hook can log the images of problematic batches.
pub(crate) struct VisionOutput {
    cls: ClassificationOutput,
    images: Tensor<4>,
}

impl ItemLazy for VisionOutput {
    fn sync(self) -> Result<Self, burn::tensor::ExecutionError> {
        Ok(VisionOutput {
            cls: self.cls.sync()?,
            images: self.images.without_autodiff(),
        })
    }
}
impl Adaptor<LossInput> for VisionOutput {
    fn adapt(&self) -> LossInput {
        self.cls.adapt()
    }
}
impl Adaptor<AccuracyInput> for VisionOutput {
    fn adapt(&self) -> AccuracyInput {
        self.cls.adapt()
    }
}
impl Adaptor<EvalBatch> for VisionOutput {
    fn adapt(&self) -> EvalBatch {
        let b: EvalBatch = self.cls.adapt();
        b.with_images(self.images.clone(), Layout::Chw)
    }
}

/// Nanoseconds the training thread spent in [`Watch::observe`], summed over all steps.
pub(crate) static WATCH_NANOS: AtomicU64 = AtomicU64::new(0);

impl TrainStep for Cnn {
    type Input = Batch;
    type Output = ClassificationOutput;
    fn step(&self, b: Batch) -> TrainOutput<ClassificationOutput> {
        let out = self.classify(&b);
        let grads = GradientsParams::from_grads(out.loss.backward(), self);
        if let Some(w) = &self.watch {
            let t = Instant::now();
            w.observe(self, &grads);
            let ns = t.elapsed().as_nanos() as u64;
            WATCH_NANOS.fetch_add(ns, Ordering::Relaxed);
        }
        TrainOutput { grads, item: out }
    }
}

impl InferenceStep for Cnn {
    type Input = Batch;
    type Output = VisionOutput;
    fn step(&self, b: Batch) -> VisionOutput {
        VisionOutput {
            cls: self.classify(&b),
            images: b.images,
        }
    }
}
