//! What labbook costs a hand-written tch training loop: the calls of the tch example
//! (`examples/train_tch`, whose model and batches are shared here by path), each timed
//! alone, beside the training step they ride on.
//!
//! ```console
//! $ scripts/with-libtorch.sh cargo bench --bench tch_step --features tch
//! ```
//!
//! - `tch_step/train_step`: forward, backward and Adam step of one batch of 64 (scale).
//! - `tch_caller/watch_idle`: `Tracker::watch_step` in a step where watch does not fire.
//! - `tch_caller/step_log`: `Tracker::step_with` (loss read back, lr, step time,
//!   throughput, accuracy, epoch, global step: one row).
//! - `tch_caller/watch_fire`: a step where watch fires: every variable and gradient to
//!   host, histograms and norms into the row.
//! - `tch_caller/validate_batch`: per validation batch of 64 with images, the tracker's
//!   share of `validate` (scoring from the logits, the evaluation hook).
//!
//! The caller benches pace their calls (50 µs untimed between them, as a training loop
//! would) so the numbers are the call's cost, not a full queue's back-pressure.

use std::hint::black_box;
use std::time::Duration;

use pacing::paced;

use criterion::{Criterion, criterion_group, criterion_main};
use labbook::tch::tch::nn::{self, ModuleT, OptimizerConfig};
use labbook::tch::tch::{self, Device};
use labbook::tch::{EvalBatch, Layout, Tracker};
use labbook::train::{EvalSettings, Worse};
use labbook::{Mode, Settings};

#[path = "../examples/train_tch/model.rs"]
mod model;
#[path = "common/paced.rs"]
mod pacing;
#[allow(dead_code)]
#[path = "../examples/common/shapes.rs"]
mod shapes;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = labbook::init(
        Settings::new("bench-tch")
            .dir(dir.path())
            .mode(Mode::Offline)
            .console(labbook::Console::Off)
            .quiet(true),
    )
    .expect("init");
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = model::cnn(&vs.root());
    let mut opt = nn::Adam::default().build(&vs, 1e-3).expect("optimizer");
    let batches = model::batches(shapes::samples(64, 3), 64, Device::Cpu);
    let (x, y) = &batches[0];

    let mut group = c.benchmark_group("tch_step");
    group.bench_function("train_step", |b| {
        b.iter(|| {
            let loss = net.forward_t(x, true).cross_entropy_for_logits(y);
            opt.backward_step(&loss);
            black_box(loss)
        })
    });
    group.finish();

    let loss = net.forward_t(x, true).cross_entropy_for_logits(y);
    opt.backward_step(&loss);
    let pause = Duration::from_micros(50);
    let mut group = c.benchmark_group("tch_caller");
    let mut idle = Tracker::new(&run).expect("tracker").watch(&vs, u64::MAX);
    idle.watch_step().expect("first step fires");
    group.bench_function("watch_idle", |b| {
        b.iter(|| black_box(idle.watch_step().expect("watch")))
    });
    let mut track = Tracker::new(&run).expect("tracker");
    track.start_epoch(0);
    group.bench_function("step_log", |b| {
        b.iter_custom(|iters| {
            paced(iters, pause, || {
                track
                    .step_with(&loss, 1e-3, 64, [("train/accuracy", 0.5.into())])
                    .expect("step")
            })
        })
    });
    let mut firing = Tracker::new(&run).expect("tracker").watch(&vs, 1);
    group.bench_function("watch_fire", |b| {
        b.iter_custom(|iters| {
            paced(iters, pause, || {
                firing.watch_step().expect("watch");
                firing.step(&loss, 1e-3, 64).expect("step");
            })
        })
    });
    let logits = net.forward_t(x, false).detach();
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
                let batches = (0..PER_PASS).map(|_| {
                    Ok(EvalBatch::new(logits.shallow_clone(), y.shallow_clone())
                        .with_loss(loss.detach())
                        .with_images(x.shallow_clone(), Layout::Chw))
                });
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
