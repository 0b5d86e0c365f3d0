//! What labbook costs a burn training loop: the README's example trainer
//! (`examples/train_burn`, its model, data and `SupervisedTraining` setup, shared here by
//! path) with labbook on versus `Mode::Disabled`, and each labbook call it makes, alone.
//!
//! ```console
//! $ cargo bench --bench burn_step --features burn,labbook-burn/flex
//! ```
//!
//! - `burn_fit/{labbook,disabled}`: one epoch of the example (1600 training samples in
//!   batches of 64 = 25 steps, 256 validation samples), everything on: per-iteration and
//!   epoch metrics, watch histograms every 25 steps (the example's rate), the evaluation
//!   metric with images,
//!   checkpoints, system metrics. Criterion's throughput is training steps/s.
//! - `burn_caller/*`: each labbook call of the loop, with the training step it rides on
//!   (`train_step`: forward and backward of one batch) for scale. `watch_idle` is the only
//!   call on the training thread in a step where watch does not fire; the logger and the
//!   evaluation metric run on burn's event-processing thread.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burn::data::dataloader::{Progress, batcher::Batcher};
use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use burn::train::logger::MetricLogger;
use burn::train::metric::store::{MetricsUpdate, NumericMetricUpdate, Split};
use burn::train::metric::{
    Adaptor, Metric, MetricAttributes, MetricDefinition, MetricEntry, MetricId, MetricMetadata,
    NumericAttributes, NumericEntry, SerializedEntry,
};
use burn::train::{InferenceStep, TrainStep};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use labbook::burn::{EvalBatch, RunLogger, burn};
use labbook::train::{EvalSettings, Worse};
use labbook::{Mode, Run, Settings};

#[allow(dead_code)] // the example's report helpers are not used here
#[path = "../examples/train_burn/shapes.rs"]
mod shapes;

use shapes::{Batches, Cnn, TrainConfig};

fn settings(dir: &std::path::Path, mode: Mode) -> Settings {
    Settings::new("bench-burn")
        .dir(dir)
        .mode(mode)
        .console(labbook::Console::Off)
        .quiet(true)
}

fn epoch_config() -> TrainConfig {
    TrainConfig::new()
        .with_epochs(1)
        .with_train_samples(1600)
        .with_valid_samples(256)
}

fn fit(c: &mut Criterion) {
    let cfg = epoch_config();
    let steps = cfg.train_samples.div_ceil(cfg.batch_size) as u64;
    let mut group = c.benchmark_group("burn_fit");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(steps));
    for (name, mode) in [("labbook", Mode::Offline), ("disabled", Mode::Disabled)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let run = labbook::init(settings(dir.path(), mode)).expect("init");
                    let work = dir.path().join("work");
                    std::fs::create_dir_all(&work).expect("work dir");
                    let started = Instant::now();
                    black_box(shapes::fit(&run, &cfg, &work).expect("fit"));
                    spent += started.elapsed();
                    run.finish().expect("finish");
                }
                spent
            })
        });
    }
    group.finish();
}

fn numeric(id: &MetricId, v: f64) -> NumericMetricUpdate {
    NumericMetricUpdate::new(
        MetricEntry::new(
            id.clone(),
            SerializedEntry::new(v.to_string(), v.to_string()),
        ),
        Some(NumericEntry::Value(v)),
        Some(NumericEntry::Value(v)),
    )
}

fn caller(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let run: Run = labbook::init(settings(dir.path(), Mode::Offline)).expect("init");
    let device = Device::flex().autodiff();
    let cfg = TrainConfig::new();
    let data = shapes::dataset(cfg.batch_size, 1);
    let batch = Batches.batch(
        data.iter().collect::<Result<_, _>>().expect("samples"),
        &device,
    );
    let model = Cnn::new(&device, None);
    let out = TrainStep::step(&model, batch.clone());
    let grads: GradientsParams = out.grads;

    let mut logger = RunLogger::new(&run).expect("logger");
    let names = ["Loss", "Accuracy", "Learning Rate", "Iteration Speed"];
    let ids: Vec<MetricId> = names
        .iter()
        .map(|n| MetricId::new(Arc::new((*n).to_owned())))
        .collect();
    for (id, name) in ids.iter().zip(names) {
        logger.log_metric_definition(MetricDefinition {
            metric_id: id.clone(),
            name: Arc::new(name.to_owned()),
            description: None,
            attributes: MetricAttributes::Numeric(NumericAttributes::default()),
        });
    }
    let update =
        || MetricsUpdate::new(Vec::new(), ids.iter().map(|id| numeric(id, 0.25)).collect());

    let mut group = c.benchmark_group("burn_caller");
    group.bench_function("train_step", |b| {
        b.iter(|| black_box(TrainStep::step(&model, black_box(batch.clone()))))
    });
    let idle = logger.watch(u64::MAX);
    idle.observe(&model, &grads); // the first call fires
    group.bench_function("watch_idle", |b| {
        b.iter(|| black_box(idle.observe(black_box(&model), &grads)))
    });
    group.bench_function("logger_iteration", |b| {
        b.iter_batched(
            update,
            |u| logger.log(u, 1, &Split::Train),
            criterion::BatchSize::SmallInput,
        )
    });
    let every = logger.watch(1);
    group.bench_function("watch_fire_and_row", |b| {
        b.iter_batched(
            update,
            |u| {
                every.observe(&model, &grads);
                logger.log(u, 1, &Split::Train);
            },
            criterion::BatchSize::SmallInput,
        )
    });
    let mut problems = logger.eval_metric(
        EvalSettings::default()
            .metric("recall", Worse::Lower)
            .threshold(Some(0.9))
            .worst_k(2)
            .caps(4, 8),
    );
    let valid = InferenceStep::step(&model.valid(), batch.clone());
    let eval: EvalBatch = valid.adapt();
    let meta = MetricMetadata {
        progress: Progress {
            items_processed: 1,
            items_total: 4,
            unit: None,
        },
        iteration: Some(1),
        lr: None,
    };
    group.bench_function("eval_batch_with_images", |b| {
        b.iter(|| black_box(problems.update(&eval, &meta)))
    });
    group.finish();
    drop(logger);
    run.finish().expect("finish");
}

criterion_group!(benches, fit, caller);
criterion_main!(benches);
