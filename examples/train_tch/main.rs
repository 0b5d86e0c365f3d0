//! A small CNN trained with tch (libtorch) on the synthetic shapes task of the burn and
//! candle examples, in a hand-written loop, logged with labbook: config, per-step loss,
//! accuracy, learning rate, step time and throughput, parameter and gradient histograms,
//! the problematic validation batches with their images (scored from the model's real
//! predictions), each epoch's checkpoint as safetensors and as a version of a `model`
//! artifact (the most accurate marked `best`), and a final-score run name.
//!
//! ```console
//! $ scripts/with-libtorch.sh cargo run --release --example train_tch --features tch
//! $ LABBOOK_QUICK=1 scripts/with-libtorch.sh cargo run --example train_tch --features tch
//! ```
//!
//! Prints the caller-side cost of labbook per training step (every labbook call on the
//! training thread, timed) and its share of the step; `benches/tch_step.rs` measures the
//! same calls under criterion.

use std::time::{Duration, Instant};

use labbook::tch::tch::nn::{self, ModuleT, OptimizerConfig};
use labbook::tch::tch::{self, Device};
use labbook::tch::{EvalBatch, Layout, Tracker};
use labbook::train::{EvalSettings, ModelCheckpoints, Worse};
use labbook::{Goal, Settings};
use serde::{Deserialize, Serialize};

mod model;
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

fn main() -> anyhow::Result<()> {
    let mut cfg = TrainConfig::default();
    if std::env::var_os("LABBOOK_QUICK").is_some() {
        cfg.epochs = 1;
        cfg.train_samples = 256;
        cfg.valid_samples = 128;
        cfg.watch_every = 4;
    }
    let run = labbook::init(
        Settings::new("labbook-tch")
            .config(&cfg)
            .name("shapes-cnn-tch_SCORE_PLACEHOLDER")
            .score_metrics(["valid/accuracy"])
            .tags(["tch", "cnn", "synthetic"])
            .job_type("train")
            // A short run: sample the machine every second (W&B samples every 15 s).
            .stats_interval(Duration::from_secs(1)),
    )?;
    let cfg: TrainConfig = run.config_as()?; // sweep values merged
    tch::manual_seed(cfg.seed as i64);
    let dev = Device::Cpu;
    let vs = nn::VarStore::new(dev);
    let net = model::cnn(&vs.root());
    let mut opt = nn::Adam::default().build(&vs, cfg.lr)?;
    let mut track = Tracker::new(&run)?
        .watch(&vs, cfg.watch_every)
        .eval_settings(
            EvalSettings::default()
                .metric("recall", Worse::Lower)
                .threshold(Some(0.9))
                .worst_k(2)
                .caps(4, 8),
        )
        // Each epoch's weights become a version of a `model` artifact; the most accurate
        // one so far is `best` (`run.use_artifact("shapes-cnn-tch:best")` finds it).
        .log_models(
            ModelCheckpoints::new(&run, "shapes-cnn-tch")?
                .best_by("valid/accuracy", Goal::Maximize),
        );
    let train = model::batches(
        shapes::samples(cfg.train_samples, cfg.seed),
        cfg.batch_size,
        dev,
    );
    let valid = model::batches(
        shapes::samples(cfg.valid_samples, cfg.seed + 1),
        cfg.batch_size,
        dev,
    );
    let work = std::env::temp_dir().join(format!("labbook-tch-{}", std::process::id()));
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
            let logits = net.forward_t(x, true);
            let loss = logits.cross_entropy_for_logits(y);
            opt.backward_step(&loss);
            let accuracy = logits.accuracy_for_logits(y).double_value(&[]);
            let l = Instant::now();
            track.watch_step()?;
            track.step_with(
                &loss,
                cfg.lr,
                x.size()[0] as usize,
                [("train/accuracy", accuracy.into())],
            )?;
            labbook_time += l.elapsed();
            step_time += t.elapsed();
        }
        let v = track.validate(valid.iter().map(|(x, y)| {
            let logits = net.forward_t(x, false);
            let loss = logits.cross_entropy_for_logits(y);
            Ok(EvalBatch::new(logits, y.shallow_clone())
                .with_loss(loss)
                .with_images(x.shallow_clone(), Layout::Chw))
        }))?;
        let best = track.save_checkpoint(&vs, work.join(format!("epoch-{epoch}.safetensors")))?;
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
