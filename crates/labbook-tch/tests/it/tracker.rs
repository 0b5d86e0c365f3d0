//! The tch tracker on a tiny model: the rows a hand-written loop logs (steps, watch,
//! validation with problematic batches and their images, checkpoint), errors for wrong
//! inputs, and the run uploaded by the official `wandb sync`. The expectations are shared
//! with labbook-candle's (`labbook_testkit::loop_run`).

extern crate labbook_core as labbook;

use labbook_core::train::{EvalSettings, Worse};
use labbook_tch::{Error, EvalBatch, Layout, Tracker};
use labbook_testkit::loop_run::{EPOCHS, STEPS_PER_EPOCH, WATCH_EVERY};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// 2x2 "images" of two classes: class 0 dark, class 1 bright.
fn data(n: i64) -> (Tensor, Tensor) {
    let mut px = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let c = i % 2;
        let v = if c == 0 { 0.1f32 } else { 0.9 } + (i % 5) as f32 * 0.01;
        px.extend([v; 4]);
        labels.push(c);
    }
    (
        Tensor::from_slice(&px).view([n, 1, 2, 2]),
        Tensor::from_slice(&labels),
    )
}

fn train(dir: &std::path::Path) -> std::path::PathBuf {
    let run = labbook::init(labbook_testkit::settings(dir)).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let fc = nn::linear(vs.root() / "fc", 4, 2, Default::default());
    let lr = 0.05;
    let mut opt = nn::Sgd::default().build(&vs, lr).unwrap();
    let mut track = Tracker::new(&run)
        .unwrap()
        .watch(&vs, WATCH_EVERY)
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
    let (x, y) = data(8);
    let logits = |x: &Tensor| fc.forward(&x.flatten(1, -1));
    for epoch in 0..EPOCHS {
        track.start_epoch(epoch);
        for _ in 0..STEPS_PER_EPOCH {
            let loss = logits(&x).cross_entropy_for_logits(&y);
            opt.backward_step(&loss);
            track.watch_step().unwrap();
            track.step(&loss, lr, 8).unwrap();
        }
        let v = track
            .validate((0..3).map(|_| {
                let out = logits(&x);
                let loss = out.cross_entropy_for_logits(&y);
                Ok(EvalBatch::new(out, y.shallow_clone())
                    .with_loss(loss)
                    .with_images(x.shallow_clone(), Layout::Chw))
            }))
            .unwrap();
        assert_eq!(v.samples, 24);
        assert_eq!(v.findings.logged, [0, 1], "capped at 2 batches");
        assert!(
            (0.0..=1.0).contains(&v.accuracy) && v.loss.is_finite(),
            "{v:?}"
        );
        // Every epoch: the file, and a model version.
        track
            .save_checkpoint(&vs, dir.join("ckpt/best.safetensors"))
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
    let saved = tch::Tensor::read_safetensors(dir.path().join("ckpt/best.safetensors")).unwrap();
    let names: Vec<&str> = saved.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"fc.weight") && names.contains(&"fc.bias"),
        "{names:?}"
    );
}

#[test]
fn wrong_inputs_are_errors_that_name_the_tensor() {
    let run = labbook::Run::disabled();
    let mut track = Tracker::new(&run).unwrap();
    let flat = Tensor::zeros([4], (Kind::Float, Device::Cpu));
    let targets = Tensor::zeros([4], (Kind::Int64, Device::Cpu));
    let err = track
        .validate([Ok(EvalBatch::new(flat.shallow_clone(), targets))])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "evaluation logits needs a tensor of rank 2 ([batch, classes]); this one has shape [4]"
    );
    let logits = Tensor::zeros([4, 2], (Kind::Float, Device::Cpu));
    let err = track
        .validate([Ok(EvalBatch::new(logits, flat.shallow_clone()))])
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Kind {
                kind: Kind::Float,
                ..
            }
        ),
        "{err}"
    );
    let err = track.step(&flat, 0.1, 4).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("a scalar needs a tensor of exactly one element"),
        "{err}"
    );
    let err = track
        .validate([Err(Error::Tch(tch::TchError::Convert(
            "loader broke".into(),
        )))])
        .unwrap_err();
    assert!(err.to_string().contains("loader broke"), "{err}");
}

/// CUDA tensors: conversions copy only what they log and the tracker works on GPU outputs.
#[cfg(feature = "cuda-tests")]
#[test]
fn cuda_tensors_convert_and_track() {
    assert!(
        tch::Cuda::is_available(),
        "cuda-tests needs a GPU and a CUDA libtorch"
    );
    let dev = Device::Cuda(0);
    let batch = Tensor::rand([256, 3, 8, 8], (Kind::Float, dev));
    assert_eq!(
        labbook_tch::images(&batch, Layout::Chw, 4).unwrap().len(),
        4
    );
    labbook_tch::histogram(&batch).unwrap();
    let loss = batch.mean(Kind::Float);
    assert!(matches!(
        labbook_tch::scalar(&loss).unwrap(),
        labbook_core::Value::F64(_)
    ));
    let mut track = Tracker::new(&labbook::Run::disabled()).unwrap();
    let logits = Tensor::rand([16, 4], (Kind::Float, dev));
    let y = Tensor::zeros([16], (Kind::Int64, dev));
    let v = track
        .validate([Ok(
            EvalBatch::new(logits, y).with_images(batch.narrow(0, 0, 16), Layout::Chw)
        )])
        .unwrap();
    assert_eq!(v.samples, 16);
}

/// A tch run, logged by labbook, uploaded by the official `wandb sync` into labbook-server.
#[test]
#[ignore = "needs the wandb 0.31.0 virtualenv; scripts/test.sh runs it"]
fn a_tch_run_arrives_through_wandb_sync() {
    let dir = tempfile::tempdir().unwrap();
    labbook_testkit::loop_run::assert_arrives_through_wandb_sync(&train(dir.path()));
}
