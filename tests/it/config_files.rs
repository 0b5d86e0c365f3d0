//! `config::load`: a config from layered files, variables and overrides, with
//! interpolations, and what a run records of it.

use std::path::Path;

use labbook::config::{Loader, load};
use labbook_testkit::{only_run_dir, read_run, settings};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Model {
    arch: String,
    depth: u32,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Train {
    lr: f64,
    epochs: u32,
    out: String,
}

impl Default for Train {
    fn default() -> Train {
        Train {
            lr: 1.0,
            epochs: 1,
            out: "out".into(),
        }
    }
}

#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cfg {
    model: Model,
    train: Train,
    seed: u64,
    name: String,
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// `configs/train.yaml` over `base.yaml` and the `model` group.
fn configs(dir: &Path) -> std::path::PathBuf {
    write(
        dir,
        "configs/base.yaml",
        "seed: 1\ntrain:\n  epochs: 10\n  lr: 0.5\n",
    );
    write(
        dir,
        "configs/model/resnet.yaml",
        "arch: resnet\ndepth: 18\n",
    );
    write(
        dir,
        "configs/model/vit.toml",
        "arch = \"vit\"\ndepth = 12\n",
    );
    write(
        dir,
        "configs/train.yaml",
        "defaults:\n  - base\n  - model: resnet\n  - _self_\ntrain:\n  lr: 0.1\n  out: ${env:RUNS,/tmp/runs}/${model.arch}\nname: ${model.arch}-${train.lr}\n",
    );
    dir.join("configs/train.yaml")
}

#[test]
fn files_compose_in_order_and_each_layer_wins_over_the_one_before() {
    let tmp = tempfile::tempdir().unwrap();
    let path = configs(tmp.path());
    let sweep = tmp.path().join("sweep.yaml");
    std::fs::write(&sweep, "wandb_version: 1\ntrain.epochs:\n  value: 7\n").unwrap();
    let cfg = Loader::new(&path)
        .env_prefix("TRAIN_")
        .env_vars([
            ("TRAIN_SEED", "5"),
            ("RUNS", "/data/runs"),
            ("WANDB_SWEEP_PARAM_PATH", sweep.to_str().unwrap()),
        ])
        .load::<Cfg>(["model=vit", "train.lr=0.01", "+extra.note=hi"])
        .unwrap();
    assert_eq!(
        cfg.value,
        Cfg {
            model: Model {
                arch: "vit".into(),
                depth: 12
            },
            train: Train {
                lr: 0.01,
                epochs: 7,
                out: "/data/runs/vit".into()
            },
            seed: 5,
            name: "vit-0.01".into(),
        }
    );
    assert_eq!(cfg.tree["extra"]["note"], "hi");
    let names: Vec<String> = cfg
        .files
        .iter()
        .map(|f| f.strip_prefix(tmp.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "configs/train.yaml",
            "configs/base.yaml",
            "configs/model/vit.toml"
        ]
    );
    assert!(cfg.unresolved.is_empty());

    // `_self_` first: the defaults win over the file's own values.
    write(
        tmp.path(),
        "configs/self_first.yaml",
        "defaults:\n  - _self_\n  - base\ntrain:\n  lr: 0.1\n",
    );
    let c = load::<Cfg>(
        tmp.path().join("configs/self_first.yaml"),
        Vec::<String>::new(),
    )
    .unwrap();
    assert_eq!(c.value.train.lr, 0.5);
}

#[test]
fn mistakes_name_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let path = configs(tmp.path());
    let err = |o: &str| load::<Cfg>(&path, [o]).unwrap_err().to_string();
    let e = err("train.lf=0.1");
    assert!(
        e.contains("no key \"train.lf\"")
            && e.contains("did you mean \"train.lr\"")
            && e.contains("+train.lf"),
        "{e}"
    );
    let e = err("model=nope");
    assert!(
        e.contains("no option \"nope\"") && e.contains("resnet, vit"),
        "{e}"
    );
    let e = err("train.lr=fast");
    assert!(e.contains("config key train.lr"), "{e}");
    let e = err("not an override");
    assert!(e.contains("override"), "{e}");
    let e = Loader::new(&path)
        .env_prefix("TRAIN_")
        .env_vars([("TRAIN_EPOCH", "3")])
        .load::<Cfg>(Vec::<String>::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("TRAIN_EPOCH"), "{e}");
    let e = load::<Cfg>(
        tmp.path().join("configs/missing.yaml"),
        Vec::<String>::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("missing.yaml"), "{e}");
}

#[test]
fn an_unresolvable_interpolation_is_kept_recorded_and_the_sources_are_saved_with_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let path = configs(tmp.path());
    write(
        tmp.path(),
        "configs/hydra.yaml",
        "defaults:\n  - train\ntrain:\n  out: ${hydra:runtime.cwd}/outputs\n",
    );
    let cfg = load::<Cfg>(tmp.path().join("configs/hydra.yaml"), ["train.epochs=3"]).unwrap();
    assert_eq!(cfg.value.train.out, "${hydra:runtime.cwd}/outputs");
    assert_eq!(cfg.unresolved, ["train.out"]);
    assert!(path.exists());

    let run = labbook::init(settings(tmp.path()).config_loaded(&cfg)).unwrap();
    assert_eq!(run.config_as::<Cfg>().unwrap(), cfg.value);
    run.finish().unwrap();
    let dir = only_run_dir(tmp.path());
    let d = read_run(&dir);
    let json = |k: &str| -> serde_json::Value { serde_json::from_str(&d.config[k]).unwrap() };
    assert_eq!(json("train")["epochs"], 3);
    let labbook = &json("_wandb")["labbook"];
    assert_eq!(
        labbook["config_unresolved"],
        serde_json::json!(["train.out"])
    );
    assert!(
        labbook["config_sources"][0]
            .as_str()
            .unwrap()
            .ends_with("hydra.yaml")
    );
    let saved: Vec<String> = d.files.iter().map(|f| f.path.clone()).collect();
    for name in ["hydra.yaml", "train.yaml", "base.yaml", "resnet.yaml"] {
        assert!(
            saved.iter().any(|p| p.ends_with(name)),
            "{name} not saved: {saved:?}"
        );
        assert!(saved.iter().any(|p| dir.join("files").join(p).is_file()));
    }
}
