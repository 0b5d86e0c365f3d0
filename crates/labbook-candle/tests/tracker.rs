//! The tracker on a tiny model: the rows a hand-written loop logs (steps, watch,
//! validation with problematic batches and their images, checkpoint), errors for wrong
//! inputs, and the run uploaded by the official `wandb sync`.

extern crate labbook_core as labbook;

#[path = "../../../tests/common/mod.rs"]
mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Module, Optimizer, SGD, VarBuilder, VarMap};
use labbook_candle::{Error, EvalBatch, Layout, Tracker};
use labbook_core::{EvalSettings, Worse};

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

/// Two epochs of three steps, watch every 4 steps, validation of 3 batches where the
/// untrained-ish model gets some wrong; returns the run directory.
fn train(dir: &std::path::Path) -> std::path::PathBuf {
    let run = labbook::init(common::settings(dir)).unwrap();
    let m = tiny();
    let mut opt = SGD::new(m.varmap.all_vars(), 0.05).unwrap();
    let mut track = Tracker::new(&run)
        .unwrap()
        .watch(&m.varmap, 4)
        .eval_settings(
            EvalSettings::default()
                .metric("accuracy", Worse::Lower)
                .threshold(Some(1.01)) // every batch is "problematic"
                .caps(2, 3),
        );
    let (x, y) = data(8, &Device::Cpu);
    for epoch in 0..2 {
        track.start_epoch(epoch);
        for _ in 0..3 {
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
    }
    track
        .save_checkpoint(&m.varmap, dir.join("ckpt/best.safetensors"))
        .unwrap();
    let run_dir = run.dir().unwrap().to_owned();
    run.finish().unwrap();
    run_dir
}

#[test]
fn a_loop_logs_steps_watch_validation_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::read_run(&train(dir.path()));

    assert_eq!(data.column("train/loss").len(), 6);
    assert_eq!(
        data.column("train/global_step"),
        ["0", "1", "2", "3", "4", "5"]
    );
    assert_eq!(data.column("train/lr"), ["0.05"; 6]);
    assert_eq!(data.column("epoch").len(), 6 + 2, "steps and validations");
    // The step timer restarts each epoch, so every step has a time.
    assert_eq!(data.column("train/step_time_ms").len(), 6);
    assert_eq!(data.column("train/samples_per_s").len(), 6);
    // Watch fires at steps 0 and 4, in the same row as the step's loss.
    let watched: Vec<&std::collections::BTreeMap<String, String>> = data
        .rows
        .iter()
        .filter(|r| r.contains_key("gradients/norm"))
        .collect();
    assert_eq!(watched.len(), 2);
    for r in &watched {
        assert!(r.contains_key("train/loss"), "{r:?}");
        assert!(
            r["parameters/fc.weight"].contains("\"_type\":\"histogram\""),
            "{r:?}"
        );
        assert!(r.contains_key("gradients/fc.bias.norm"));
    }
    assert_eq!(watched[0]["train/global_step"], "0");
    assert_eq!(watched[1]["train/global_step"], "4");

    assert_eq!(data.column("valid/accuracy").len(), 2);
    assert_eq!(data.column("valid/loss").len(), 2);
    let images = data.column("problematic_batch_0_images");
    assert_eq!(images.len(), 2, "batch 0 of each epoch");
    assert!(
        images[0].contains("\"_type\":\"images/separated\""),
        "{}",
        images[0]
    );
    assert!(
        images[0].contains("\"count\":3"),
        "capped at 3 images: {}",
        images[0]
    );
    assert_eq!(data.column("problematic_batch_1_count").len(), 2);
    assert!(
        data.column("problematic_batch_2_count").is_empty(),
        "capped"
    );

    assert_eq!(data.summary["checkpoint/epoch"], "1");
    assert_eq!(data.summary["checkpoint/step"], "6");
    assert!(data.summary["checkpoint/file"].ends_with("best.safetensors\""));
    assert!(
        data.files
            .iter()
            .any(|f| f.path.ends_with("best.safetensors")),
        "{:?}",
        data.files
    );
    assert!(dir.path().join("ckpt/best.safetensors").exists());
    let defined: Vec<&str> = data.metrics.iter().map(|m| m.glob_name.as_str()).collect();
    assert!(
        defined.contains(&"train/*") && defined.contains(&"valid/*"),
        "{defined:?}"
    );
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
    let venv = std::path::PathBuf::from(
        std::env::var("LABBOOK_WANDB_VENV").expect("LABBOOK_WANDB_VENV (scripts/test.sh sets it)"),
    );
    let dir = tempfile::tempdir().unwrap();
    let run_dir = train(dir.path());
    let key = "cndl0123456789abcdefghijklmnopqrstuvwxyz01";
    let server = labbook_server::Server::start(labbook_server::ServerConfig::new(key)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(venv.join("bin/wandb"))
        .arg("sync")
        .arg(&run_dir)
        .env("WANDB_BASE_URL", server.base_url())
        .env("WANDB_API_KEY", key)
        .env("HOME", home.path())
        .env_remove("WANDB_MODE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let storage = server.storage();
    assert!(
        storage.violations().is_empty(),
        "{:?}",
        storage.violations()
    );
    let runs = storage.runs();
    assert_eq!(runs.len(), 1);
    let state = &runs[0];
    let local = common::read_run(&run_dir);
    assert_eq!(state.history.len(), local.rows.len());
    assert_eq!(state.history_values("train/loss").len(), 6);
    assert_eq!(state.history_values("valid/accuracy").len(), 2);
    assert_eq!(state.history_values("parameters/fc.weight").len(), 2);
    assert_eq!(state.history_values("problematic_batch_0_images").len(), 2);
    let summary = state.summary_json().unwrap();
    assert!(summary["valid/accuracy"]["max"].is_number(), "{summary}");
    assert_eq!(summary["checkpoint/epoch"], 1);
    assert!(
        state.files.keys().any(|f| f.ends_with("best.safetensors")),
        "{:?}",
        state.files.keys().collect::<Vec<_>>()
    );
    assert_eq!(state.exit_code, Some(0));
}
