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
//! it with `WANDB_MODE=disabled` to compare, or see `benches/burn_step.rs`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use labbook::Settings;
use labbook::burn as lb;

mod shapes;

use shapes::{TrainConfig, WATCH_NANOS};

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
            .job_type("train")
            // A short run: sample the machine every second (W&B samples every 15 s).
            .stats_interval(Duration::from_secs(1)),
    )?;
    let cfg: TrainConfig = lb::config_as(&run)?; // sweep values merged
    let work = tempdir()?;
    let started = Instant::now();
    let fitted = shapes::fit(&run, &cfg, &work)?;
    let secs = started.elapsed().as_secs_f64();
    let steps = fitted.watch.steps().max(1);
    let caller_us = WATCH_NANOS.load(Ordering::Relaxed) as f64 / 1e3 / steps as f64;
    let steps_per_s = steps as f64 / secs;
    run.set_summary("perf/caller_us_per_step", caller_us)?;
    run.set_summary("perf/steps_per_s", steps_per_s)?;
    let found = fitted.problems.last_findings();
    run.finish()?;
    eprintln!(
        "trained {} epochs ({} steps, {}/epoch) in {secs:.1}s: {steps_per_s:.1} steps/s; labbook on the training thread: {caller_us:.1} us/step; last validation: {} of {} batches problematic, {} logged",
        cfg.epochs,
        steps,
        cfg.train_samples.div_ceil(cfg.batch_size),
        found.below_threshold,
        found.batches,
        found.logged.len()
    );
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn tempdir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("labbook-burn-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
