//! The tracker on a tiny model: the rows a hand-written loop logs (steps, watch,
//! validation with problematic batches and their images, checkpoint), errors for wrong
//! inputs, and the run uploaded by the official `wandb sync`.

extern crate labbook_core as labbook;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Module, Optimizer, SGD, VarBuilder, VarMap};
use labbook_candle::{Error, EvalBatch, Layout, Tracker};
use labbook_core::train::{EvalSettings, Worse};

/// 2x2 "images" of two classes: class 0 dark, class 1 bright.
fn data(n: usize, dev: &Device) -> (Tensor, Tensor) {
    let mut px = Vec::with_capacity(n * 4);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = (i % 2) as u32;
        let v = if c == 0 { 0.1 } else { 0.9 } + (i % 5) as f32 * 0.01;
        px.extend([v; 4]);
        labels.push(c);
    }
    (
        Tensor::from_vec(px, (n, 1, 2, 2), dev).unwrap(),
        Tensor::from_vec(labels, n, dev).unwrap(),
    )
}

struct Tiny {
    varmap: VarMap,
    fc: candle_nn::Linear,
}

fn tiny() -> Tiny {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let fc = candle_nn::linear(4, 2, vb.pp("fc")).unwrap();
    Tiny { varmap, fc }
}

impl Tiny {
    fn logits(&self, x: &Tensor) -> Tensor {
        self.fc.forward(&x.flatten_from(1).unwrap()).unwrap()
    }
}

/// The loop `labbook_testkit::loop_run` checks: two epochs of three steps, watch every 4 steps,
/// validation of 3 batches all below the threshold; returns the run directory.
fn train(dir: &std::path::Path) -> std::path::PathBuf {
    let run = labbook::init(labbook_testkit::settings(dir)).unwrap();
    let m = tiny();
    let mut opt = SGD::new(m.varmap.all_vars(), 0.05).unwrap();
    let mut track = Tracker::new(&run)
        .unwrap()
        .watch(&m.varmap, labbook_testkit::loop_run::WATCH_EVERY)
        .eval_settings(
            EvalSettings::default()
                .metric("accuracy", Worse::Lower)
                .threshold(Some(1.01)) // every batch is "problematic"
                .caps(2, 3),
        )
        .log_models(
            labbook::train::ModelCheckpoints::new(&run, "tiny")
                .unwrap()
                .best_by("valid/accuracy", labbook::Goal::Maximize),
        );
    let (x, y) = data(8, &Device::Cpu);
    for epoch in 0..labbook_testkit::loop_run::EPOCHS {
        track.start_epoch(epoch);
        for _ in 0..labbook_testkit::loop_run::STEPS_PER_EPOCH {
            let loss = candle_nn::loss::cross_entropy(&m.logits(&x), &y).unwrap();
            let grads = loss.backward().unwrap();
            track.watch_grads(&grads).unwrap();
            opt.step(&grads).unwrap();
            track.step(&loss, &opt, 8).unwrap();
        }
        let v = track
            .validate((0..3).map(|_| {
                let logits = m.logits(&x);
                let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
                Ok(EvalBatch::new(logits, y.clone())
                    .with_loss(loss)
                    .with_images(x.clone(), Layout::Chw))
            }))
            .unwrap();
        assert_eq!(v.samples, 24);
        assert_eq!(v.findings.batches, 3);
        assert_eq!(v.findings.logged, [0, 1], "capped at 2 batches");
        assert_eq!(v.findings.capped, 1);
        assert!(
            (0.0..=1.0).contains(&v.accuracy) && v.loss.is_finite(),
            "{v:?}"
        );
        // Every epoch: the file, and a model version.
        track
            .save_checkpoint(&m.varmap, dir.join("ckpt/best.safetensors"))
            .unwrap();
    }
    let run_dir = run.dir().unwrap().to_owned();
    run.finish().unwrap();
    run_dir
}

#[test]
fn a_loop_logs_steps_watch_validation_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = labbook_testkit::read_run(&train(dir.path()));
    labbook_testkit::loop_run::assert_loop_run(&data, "0.05");
    assert!(dir.path().join("ckpt/best.safetensors").exists());
}

#[test]
fn wrong_inputs_are_errors_that_name_the_tensor() {
    let run = labbook::Run::disabled();
    let mut track = Tracker::new(&run).unwrap();
    let dev = Device::Cpu;
    let flat = Tensor::zeros(4, DType::F32, &dev).unwrap();
    let targets = Tensor::zeros(4, DType::U32, &dev).unwrap();
    let err = track
        .validate([Ok(EvalBatch::new(flat.clone(), targets.clone()))])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "evaluation logits needs a tensor of rank 2 ([batch, classes]); this one has shape [4]"
    );
    let logits = Tensor::zeros((4, 2), DType::F32, &dev).unwrap();
    let err = track
        .validate([Ok(EvalBatch::new(logits, flat.clone()))])
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::DType {
                dtype: DType::F32,
                ..
            }
        ),
        "{err}"
    );
    let opt = SGD::new(vec![], 0.1).unwrap();
    let err = track.step(&flat, &opt, 4).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("a scalar needs a tensor of exactly one element"),
        "{err}"
    );
    // A failing batch of the user's own stops the pass with the user's error.
    let err = track
        .validate([Err(Error::Candle(candle_core::Error::Msg(
            "loader broke".into(),
        )))])
        .unwrap_err();
    assert!(err.to_string().contains("loader broke"), "{err}");
}

/// A candle run, logged by labbook, uploaded by the official `wandb sync` into
/// labbook-server: every row arrives, with histograms and images, and the run finishes.
#[test]
#[ignore = "needs the wandb 0.31.0 virtualenv; scripts/test.sh runs it"]
fn a_candle_run_arrives_through_wandb_sync() {
    let dir = tempfile::tempdir().unwrap();
    labbook_testkit::loop_run::assert_arrives_through_wandb_sync(&train(dir.path()));
}
