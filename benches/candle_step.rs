//! What labbook costs a hand-written candle training loop: the calls of the candle example
//! (`examples/train_candle`, whose model and batches are shared here by path), each timed
//! alone, beside the training step they ride on.
//!
//! ```console
//! $ cargo bench --bench candle_step --features candle
//! ```
//!
//! - `candle_step/train_step`: forward, backward and AdamW step of one batch of 64 (scale).
//! - `candle_caller/watch_idle`: `Tracker::watch_grads` in a step where watch does not fire.
//! - `candle_caller/step_log`: `Tracker::step_with` (loss read back, lr, step time,
//!   throughput, accuracy, epoch, global step: one row).
//! - `candle_caller/watch_fire`: a step where watch fires: every variable and gradient to
//!   host, 16 histograms and norms into the row.
//! - `candle_caller/validate_batch`: per validation batch of 64 with images, the tracker's
//!   share of `validate` (scoring from the logits, the evaluation hook).
//!
//! The caller benches pace their calls (a short untimed pause between them, as a training
//! loop would) so the numbers are the call's cost, not a full queue's back-pressure.

use std::hint::black_box;
use std::time::Duration;

use pacing::paced;

use criterion::{Criterion, criterion_group, criterion_main};
use labbook::candle::candle_core::{DType, Device};
use labbook::candle::candle_nn::{
    self as nn, AdamW, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap,
};
use labbook::candle::{EvalBatch, Layout, Tracker};
use labbook::train::{EvalSettings, Worse};
use labbook::{Mode, Settings};

#[path = "../examples/train_candle/model.rs"]
mod model;
#[path = "common/paced.rs"]
mod pacing;
#[allow(dead_code)]
#[path = "../examples/common/shapes.rs"]
mod shapes;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = labbook::init(
        Settings::new("bench-candle")
            .dir(dir.path())
            .mode(Mode::Offline)
            .console(labbook::Console::Off)
            .quiet(true),
    )
    .expect("init");
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let net = model::Cnn::new(VarBuilder::from_varmap(&varmap, DType::F32, &dev)).expect("model");
    let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW::default()).expect("optimizer");
    let batches = model::batches(shapes::samples(64, 3), 64, &dev).expect("batch");
    let (x, y) = &batches[0];

    let mut group = c.benchmark_group("candle_step");
    group.bench_function("train_step", |b| {
        b.iter(|| {
            let loss = nn::loss::cross_entropy(&net.forward(x).expect("forward"), y).expect("loss");
            let grads = loss.backward().expect("backward");
            opt.step(&grads).expect("step");
            black_box(loss)
        })
    });
    group.finish();

    let loss = nn::loss::cross_entropy(&net.forward(x).expect("forward"), y).expect("loss");
    let grads = loss.backward().expect("backward");
    let pause = Duration::from_micros(50);
    let mut group = c.benchmark_group("candle_caller");
    let mut idle = Tracker::new(&run)
        .expect("tracker")
        .watch(&varmap, u64::MAX);
    idle.watch_grads(&grads).expect("first step fires");
    group.bench_function("watch_idle", |b| {
        b.iter(|| black_box(idle.watch_grads(black_box(&grads)).expect("watch")))
    });
    let mut track = Tracker::new(&run).expect("tracker");
    track.start_epoch(0);
    group.bench_function("step_log", |b| {
        b.iter_custom(|iters| {
            paced(iters, pause, || {
                track
                    .step_with(&loss, &opt, 64, [("train/accuracy", 0.5.into())])
                    .expect("step")
            })
        })
    });
    let mut firing = Tracker::new(&run).expect("tracker").watch(&varmap, 1);
    group.bench_function("watch_fire", |b| {
        b.iter_custom(|iters| {
            paced(iters, pause, || {
                firing.watch_grads(&grads).expect("watch");
                firing.step(&loss, &opt, 64).expect("step");
            })
        })
    });
    let logits = net.forward(x).expect("forward");
    let eval = EvalBatch::new(logits, y.clone())
        .with_loss(loss.clone())
        .with_images(x.clone(), Layout::Chw);
    let mut valid = Tracker::new(&run).expect("tracker").eval_settings(
        EvalSettings::default()
            .metric("recall", Worse::Lower)
            .threshold(Some(0.9))
            .worst_k(2)
            .caps(4, 8),
    );
    const PER_PASS: u64 = 13; // the example's 800 validation samples in batches of 64
    group.bench_function("validate_batch", |b| {
        b.iter_custom(|iters| {
            let passes = iters.div_ceil(PER_PASS);
            paced(passes, pause, || {
                let batches = (0..PER_PASS).map(|_| Ok(eval.clone()));
                black_box(valid.validate(batches).expect("validate"));
            }) * iters as u32
                / (passes * PER_PASS) as u32
        })
    });
    group.finish();
    drop((idle, track, firing, valid));
    run.finish().expect("finish");
}

criterion_group!(benches, bench);
criterion_main!(benches);
