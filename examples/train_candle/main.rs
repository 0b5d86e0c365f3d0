//! A small CNN trained with candle on the synthetic shapes task of the burn example
//! (squares, discs, crosses and triangles in 28x28 images, with hard cases), in a
//! hand-written loop, logged with labbook: config, per-step loss, accuracy, learning rate,
//! step time and throughput, parameter and gradient histograms (`Watch`), the problematic
//! validation batches with their images (scored from the model's real predictions), the
//! checkpoint of each epoch as safetensors and as a version of a `model` artifact (the most
//! accurate marked `best`), and a final-score run name.
//!
//! ```console
//! $ cargo run --release --example train_candle --features candle
//! $ LABBOOK_QUICK=1 cargo run --example train_candle --features candle  # seconds
//! ```
//!
//! Prints the caller-side cost of labbook per training step (every labbook call on the
//! training thread, timed) and its share of the step; `benches/candle_step.rs` measures the
//! same calls under criterion.

use std::time::{Duration, Instant};

use labbook::candle::candle_core::{D, DType, Device};
use labbook::candle::candle_nn::{
    self as nn, AdamW, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap,
};
use labbook::candle::{EvalBatch, Layout, Tracker};
use labbook::train::{EvalSettings, ModelCheckpoints, Worse};
use labbook::{Goal, Settings};
use serde::{Deserialize, Serialize};

#[path = "../common/shapes.rs"]
mod shapes;

#[derive(Serialize, Deserialize, Debug)]
struct TrainConfig {
    epochs: usize,
    batch_size: usize,
    lr: f64,
    train_samples: usize,
    valid_samples: usize,
    watch_every: u64,
    seed: u64,
}

impl Default for TrainConfig {
    fn default() -> TrainConfig {
        TrainConfig {
            epochs: 6,
            batch_size: 64,
            lr: 2e-3,
            train_samples: 6000,
            valid_samples: 800,
            watch_every: 25,
            seed: 7,
        }
    }
}

mod model;

use model::{Cnn, batches};

fn main() -> anyhow::Result<()> {
    let mut cfg = TrainConfig::default();
    if std::env::var_os("LABBOOK_QUICK").is_some() {
        cfg.epochs = 1;
        cfg.train_samples = 256;
        cfg.valid_samples = 128;
        cfg.watch_every = 4;
    }
    let run = labbook::init(
        Settings::new("labbook-candle")
            .config(&cfg)
            .name("shapes-cnn-candle_SCORE_PLACEHOLDER")
            .score_metrics(["valid/accuracy"])
            .tags(["candle", "cnn", "synthetic"])
            .job_type("train")
            // A short run: sample the machine every second (W&B samples every 15 s).
            .stats_interval(Duration::from_secs(1)),
    )?;
    let cfg: TrainConfig = run.config_as()?; // sweep values merged
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let model = Cnn::new(VarBuilder::from_varmap(&varmap, DType::F32, &dev))?;
    let params = ParamsAdamW {
        lr: cfg.lr,
        ..Default::default()
    };
    let mut opt = AdamW::new(varmap.all_vars(), params)?;
    let mut track = Tracker::new(&run)?
        .watch(&varmap, cfg.watch_every)
        .eval_settings(
            EvalSettings::default()
                .metric("recall", Worse::Lower)
                .threshold(Some(0.9))
                .worst_k(2)
                .caps(4, 8),
        )
        // Each epoch's weights become a version of a `model` artifact; the most accurate
        // one so far is `best` (`run.use_artifact("shapes-cnn-candle:best")` finds it).
        .log_models(
            ModelCheckpoints::new(&run, "shapes-cnn-candle")?
                .best_by("valid/accuracy", Goal::Maximize),
        );
    let train = batches(
        shapes::samples(cfg.train_samples, cfg.seed),
        cfg.batch_size,
        &dev,
    )?;
    let valid = batches(
        shapes::samples(cfg.valid_samples, cfg.seed + 1),
        cfg.batch_size,
        &dev,
    )?;
    let work = std::env::temp_dir().join(format!("labbook-candle-{}", std::process::id()));
    let mut rng = shapes::Rng(cfg.seed | 1);
    let (mut labbook_time, mut step_time) = (Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    let mut last = None;
    for epoch in 0..cfg.epochs {
        track.start_epoch(epoch);
        let mut order: Vec<usize> = (0..train.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        for &b in &order {
            let t = Instant::now();
            let (x, y) = &train[b];
            let logits = model.forward(x)?;
            let loss = nn::loss::cross_entropy(&logits, y)?;
            let grads = loss.backward()?;
            let l0 = Instant::now();
            track.watch_grads(&grads)?;
            let watch = l0.elapsed();
            opt.step(&grads)?;
            let hits = logits
                .argmax(D::Minus1)?
                .eq(y)?
                .to_dtype(DType::F32)?
                .sum_all()?;
            let accuracy = f64::from(hits.to_scalar::<f32>()?) / x.dim(0)? as f64;
            let l1 = Instant::now();
            track.step_with(
                &loss,
                &opt,
                x.dim(0)?,
                [("train/accuracy", accuracy.into())],
            )?;
            labbook_time += watch + l1.elapsed();
            step_time += t.elapsed();
        }
        let v = track.validate(valid.iter().map(|(x, y)| {
            let logits = model.forward(x)?;
            let loss = nn::loss::cross_entropy(&logits, y)?;
            Ok(EvalBatch::new(logits, y.clone())
                .with_loss(loss)
                .with_images(x.clone(), Layout::Chw))
        }))?;
        let best =
            track.save_checkpoint(&varmap, work.join(format!("epoch-{epoch}.safetensors")))?;
        eprintln!(
            "epoch {epoch}: valid accuracy {:.3}{}, loss {:.3}; {} of {} batches problematic, {} logged",
            v.accuracy,
            if best { " (best so far)" } else { "" },
            v.loss,
            v.findings.below_threshold,
            v.findings.batches,
            v.findings.logged.len()
        );
        last = Some(v);
    }
    let secs = started.elapsed().as_secs_f64();
    let steps = track.global_step().max(1);
    let caller_us = labbook_time.as_secs_f64() * 1e6 / steps as f64;
    let share = labbook_time.as_secs_f64() / step_time.as_secs_f64().max(f64::MIN_POSITIVE);
    run.set_summary("perf/caller_us_per_step", caller_us)?;
    run.set_summary("perf/caller_share", share)?;
    run.set_summary("perf/steps_per_s", steps as f64 / secs)?;
    run.finish()?;
    eprintln!(
        "trained {} epochs ({steps} steps) in {secs:.1}s: {:.1} steps/s; labbook on the training thread: {caller_us:.1} us/step, {:.3}% of the step; final valid accuracy {:.3}",
        cfg.epochs,
        steps as f64 / secs,
        share * 100.0,
        last.map_or(f64::NAN, |v| v.accuracy)
    );
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
