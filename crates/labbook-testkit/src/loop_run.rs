//! What a hand-written training loop tracked with `LoopTracker` (through labbook-candle or
//! labbook-tch) must leave in its run, checked the same way for both adapters: two epochs
//! of three steps, watch every 4 steps, three validation batches per epoch all below the
//! threshold with caps of 2 batches and 3 images, and a final checkpoint.

use std::collections::BTreeMap;
use std::path::Path;

use crate::RunData;

pub const STEPS_PER_EPOCH: usize = 3;
pub const EPOCHS: usize = 2;
pub const WATCH_EVERY: u64 = 4;

/// Checks the rows, watch values, problematic batches, summary and files of the run.
pub fn assert_loop_run(data: &RunData, lr: &str) {
    let steps = STEPS_PER_EPOCH * EPOCHS;
    assert_eq!(data.column("train/loss").len(), steps);
    let global: Vec<String> = (0..steps).map(|s| s.to_string()).collect();
    assert_eq!(data.column("train/global_step"), global);
    assert_eq!(data.column("train/lr"), vec![lr; steps]);
    assert_eq!(
        data.column("epoch").len(),
        steps + EPOCHS,
        "steps and validations"
    );
    // The step timer restarts each epoch, so every step has a time.
    assert_eq!(data.column("train/step_time_ms").len(), steps);
    assert_eq!(data.column("train/samples_per_s").len(), steps);
    // Watch fires at steps 0 and 4, in the same row as the step's loss.
    let watched: Vec<&BTreeMap<String, String>> = data
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
    assert_eq!(watched[1]["train/global_step"], WATCH_EVERY.to_string());

    assert_eq!(data.column("valid/accuracy").len(), EPOCHS);
    assert_eq!(data.column("valid/loss").len(), EPOCHS);
    let images = data.column("problematic_batch_0_images");
    assert_eq!(images.len(), EPOCHS, "batch 0 of each epoch");
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
    assert_eq!(data.column("problematic_batch_1_count").len(), EPOCHS);
    assert!(
        data.column("problematic_batch_2_count").is_empty(),
        "capped"
    );

    assert_eq!(data.summary["checkpoint/epoch"], (EPOCHS - 1).to_string());
    assert_eq!(data.summary["checkpoint/step"], steps.to_string());
    assert!(data.summary["checkpoint/file"].ends_with("best.safetensors\""));
    assert!(
        data.files
            .iter()
            .any(|f| f.path.ends_with("best.safetensors")),
        "{:?}",
        data.files
    );
    // Each epoch's checkpoint is a version of the `tiny` model artifact; the first is best
    // (the only score yet), and a later one only if its accuracy is higher.
    let versions: Vec<&labbook_wire::proto::ArtifactRecord> = data
        .artifacts()
        .into_iter()
        .filter(|a| a.name == "tiny")
        .collect();
    assert_eq!(versions.len(), EPOCHS);
    let accuracy: Vec<f64> = data
        .column("valid/accuracy")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    for (epoch, v) in versions.iter().enumerate() {
        assert_eq!(v.r#type, "model");
        assert!(v.aliases.contains(&"latest".to_owned()), "{:?}", v.aliases);
        assert!(
            v.aliases.contains(&format!("epoch-{epoch}")),
            "{:?}",
            v.aliases
        );
        let best = epoch == 0
            || accuracy[epoch] > accuracy[..epoch].iter().cloned().fold(f64::MIN, f64::max);
        assert_eq!(
            v.aliases.contains(&"best".to_owned()),
            best,
            "{epoch}: {:?}",
            v.aliases
        );
        assert!(v.metadata.contains("\"valid/accuracy\""), "{}", v.metadata);
        let entry = &v.manifest.as_ref().unwrap().contents[0];
        assert_eq!(entry.path, "best.safetensors");
    }
    let defined: Vec<&str> = data.metrics.iter().map(|m| m.glob_name.as_str()).collect();
    assert!(
        defined.contains(&"train/*") && defined.contains(&"valid/*"),
        "{defined:?}"
    );
}

/// Uploads the run with the official `wandb sync` (from `LABBOOK_WANDB_VENV`) into
/// labbook-server and checks what arrived matches what is on disk.
pub fn assert_arrives_through_wandb_sync(run_dir: &Path) {
    let server = crate::wandb::wandb_sync(run_dir);
    let runs = server.storage().runs();
    let state = &runs[0];
    let local = crate::read_run(run_dir);
    assert_eq!(state.history.len(), local.rows.len());
    assert_eq!(
        state.history_values("train/loss").len(),
        STEPS_PER_EPOCH * EPOCHS
    );
    assert_eq!(state.history_values("valid/accuracy").len(), EPOCHS);
    assert_eq!(state.history_values("parameters/fc.weight").len(), 2);
    assert_eq!(
        state.history_values("problematic_batch_0_images").len(),
        EPOCHS
    );
    let summary = state.summary_json().unwrap();
    assert!(summary["valid/accuracy"]["max"].is_number(), "{summary}");
    assert_eq!(summary["checkpoint/epoch"], EPOCHS - 1);
    assert!(
        state.files.keys().any(|f| f.ends_with("best.safetensors")),
        "{:?}",
        state.files.keys().collect::<Vec<_>>()
    );
    assert_eq!(state.exit_code, Some(0));
}
