//! The main job: a small CNN trained with burn on a synthetic shapes task (squares, discs,
//! crosses and triangles drawn into 28x28 images, with hard cases: noise, occlusion, faint
//! and small shapes), logged with labbook: config, per-step and per-epoch metrics, learning
//! rate, step time and throughput, system metrics, parameter and gradient histograms, the
//! problematic validation batches with their images (their metrics come from the model's
//! real predictions), a recorded best checkpoint, and a final-score run name.
//!
//! ```console
//! $ cargo run --release --example train_burn --features burn,labbook-burn/flex
//! $ LABBOOK_QUICK=1 cargo run --example train_burn --features burn,labbook-burn/flex  # seconds
//! ```
//!
//! Prints the caller-side cost of labbook per training step (the `Watch` calls on the
//! training thread; the logger runs on burn's event thread) and the training steps/s; run
//! it with `WANDB_MODE=disabled` to compare.

use std::sync::Arc;
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
use labbook::burn::{self as lb, BatchLayout, EvalBatch, RecordedCheckpointer, RunLogger, Watch};
use labbook::{EvalSettings, Settings, Worse};

#[derive(Config, Debug)]
pub struct TrainConfig {
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

const CLASSES: [&str; 4] = ["square", "disc", "cross", "triangle"];
const SIDE: usize = 28;

#[derive(Clone, Debug)]
struct Sample {
    pixels: Vec<f32>,
    label: i64,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
}

/// One shape; a quarter of them are hard: heavy noise, an occluding block, or faint.
fn draw(rng: &mut Rng, label: i64) -> Sample {
    let mut px = vec![0f32; SIDE * SIDE];
    let r = rng.range(4.0, 10.0);
    let (cx, cy) = (rng.range(r + 1.0, 27.0 - r), rng.range(r + 1.0, 27.0 - r));
    let hard = rng.unit() < 0.25;
    let ink = if hard && rng.unit() < 0.3 { 0.35 } else { 1.0 };
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let on = match label {
                0 => dx.abs() <= r && dy.abs() <= r,
                1 => dx * dx + dy * dy <= r * r,
                2 => {
                    (dx.abs() <= r / 3.0 && dy.abs() <= r) || (dy.abs() <= r / 3.0 && dx.abs() <= r)
                }
                _ => dy >= -r && dy <= r && dx.abs() <= (dy + r) / 2.0,
            };
            if on {
                px[y * SIDE + x] = ink;
            }
        }
    }
    if hard {
        let noise = rng.range(0.2, 0.6);
        for p in px.iter_mut() {
            *p = (*p + noise * (rng.unit() - 0.5)).clamp(0.0, 1.0);
        }
        if rng.unit() < 0.5 {
            let (ox, oy) = (rng.range(0.0, 16.0) as usize, rng.range(0.0, 16.0) as usize);
            for y in oy..oy + 12 {
                for x in ox..ox + 12 {
                    px[y * SIDE + x] = 0.0;
                }
            }
        }
    }
    Sample { pixels: px, label }
}

fn dataset(n: usize, seed: u64) -> InMemDataset<Sample> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    InMemDataset::new((0..n).map(|i| draw(&mut rng, (i % 4) as i64)).collect())
}

#[derive(Clone, Debug)]
pub struct Batch {
    images: Tensor<4>,
    targets: Tensor<1, Int>,
}

#[derive(Clone)]
struct Batches;
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
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    #[module(skip)]
    watch: Option<Watch>,
}

impl Cnn {
    fn new(device: &Device, watch: Option<Watch>) -> Cnn {
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
pub struct VisionOutput {
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
        b.with_images(self.images.clone(), BatchLayout::Nchw)
    }
}

static WATCH_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

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
            WATCH_NANOS.fetch_add(ns, std::sync::atomic::Ordering::Relaxed);
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

fn main() -> anyhow::Result<()> {
    let quick = std::env::var_os("LABBOOK_QUICK").is_some();
    let mut cfg = TrainConfig::new();
    if quick {
        cfg = cfg
            .with_epochs(1)
            .with_train_samples(256)
            .with_valid_samples(128)
            .with_watch_every(4);
    }
    let run = labbook::init(
        lb::settings_with_config(Settings::new("labbook-burn"), &cfg)
            .name("shapes-cnn_SCORE_PLACEHOLDER")
            .score_metrics(["valid/accuracy"])
            .tags(["burn", "cnn", "synthetic"])
            .job_type("train"),
    )?;
    let cfg: TrainConfig = lb::config_as(&run)?; // sweep values merged
    let device = Device::flex().autodiff();
    let logger = RunLogger::new(&run)?;
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
    let work = tempdir()?;
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
    let started = Instant::now();
    let steps_per_epoch = cfg.train_samples.div_ceil(cfg.batch_size);
    SupervisedTraining::new(&work, train, valid)
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
            RecordedCheckpointer::new(&run, &ckpt, "model"),
            RecordedCheckpointer::new(&run, &ckpt, "optim").quiet(),
            RecordedCheckpointer::new(&run, &ckpt, "scheduler").quiet(),
        )
        .with_checkpointing_strategy(best)
        .with_application_logger(None)
        .launch(learner);
    let secs = started.elapsed().as_secs_f64();
    let steps = watch.steps().max(1);
    let caller_us =
        WATCH_NANOS.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e3 / steps as f64;
    let steps_per_s = steps as f64 / secs;
    run.set_summary("perf/caller_us_per_step", caller_us)?;
    run.set_summary("perf/steps_per_s", steps_per_s)?;
    let found = problems.last_findings();
    let report = run.finish()?;
    eprintln!(
        "trained {} epochs ({} steps, {steps_per_epoch}/epoch) in {secs:.1}s: {steps_per_s:.1} steps/s; labbook on the training thread: {caller_us:.1} us/step; last validation: {} of {} batches problematic, {} logged",
        cfg.epochs,
        steps,
        found.below_threshold,
        found.batches,
        found.logged.len()
    );
    eprintln!("{}", report.sync_command());
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn tempdir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("labbook-burn-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

// Keep `Arc` in scope for readers adapting the example to their own loaders.
#[allow(dead_code)]
type Loader = Arc<dyn burn::data::dataloader::DataLoader<Batch>>;
