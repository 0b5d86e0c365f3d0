"""The official client's half of the compatibility suite (tests/compat_suite.rs).

usage: python scenarios.py SCENARIO

Writes one offline run under $WANDB_DIR with the official `wandb` client. Each scenario
here has a twin in tests/compat_suite.rs that logs the same logical run through labbook;
both runs are then uploaded with `wandb sync` into labbook-server and compared.
"""

import sys

import numpy as np
import wandb


def scalars(n):
    run = wandb.init(project="compat")
    for i in range(n):
        run.log({"loss": 1.0 / (i + 1), "acc": i / n, "lr": 0.001 / (1 + i // 100)})
    run.finish()


def scalars_10k():
    scalars(10_000)


def rows_100k():
    scalars(100_000)


def steps():
    run = wandb.init(project="compat")
    run.log({"a": 1})
    run.log({"x": 1.5}, step=5)
    run.log({"y": 2.5}, step=5)
    run.log({"z": 3}, step=7)
    run.log({"w": 1})  # joins step 7 and commits it
    run.log({"back": 1}, step=3)  # dropped by wandb with a warning; refused by labbook
    run.log({"after": 1})
    run.finish()


def nested_keys():
    run = wandb.init(project="compat")
    for i in range(3):
        run.log({"a/b": i, "a.b": i * 2, "nested": {"x": i, "y": {"z": i + 0.5}}, "list": [1, 2, i]})
    run.finish()


def nan_inf():
    run = wandb.init(project="compat")
    run.log({"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"), "ok": 1.0})
    run.log({"nan": 1.0, "inf": 2.0, "ninf": 3.0, "ok": float("nan")})
    run.finish()


def f32_values():
    run = wandb.init(project="compat")
    for i in range(5):
        run.log({"f32": np.float32(0.41) * np.float32(i + 1), "third": np.float32(1) / np.float32(3)})
    run.finish()


def unicode():
    run = wandb.init(project="compat", config={"名前": "値", "emoji": "🚀"})
    run.log({"損失/訓練": 0.5, "ключ": 1, "text": "héllo ✓ \"quoted\" \\ back"})
    run.finish()


def big_config():
    config = {
        "lr": 0.01,
        "epochs": 30,
        "model": {
            "depth": 4,
            "activation": {"LeakyRelu": {"slope": 0.1}},
            "norm": "Batch",
            "widths": [32, 64, 128, 256],
            "heads": [{"name": "cls", "classes": 10}, {"name": "box", "classes": 4}],
        },
        "optimizer": {"Adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-08}},
        "schedule": {"Cosine": [0.0001, 1000]},
        "augment": {"flip": True, "crop": None, "scales": [0.5, 1.0, 2.0]},
        "by_layer": {str(i): 0.5 ** i for i in range(12)},
    }
    run = wandb.init(project="compat", config=config)
    run.log({"loss": 1.0})
    run.finish()


def define_metric():
    run = wandb.init(project="compat")
    run.define_metric("val/*", step_metric="epoch")
    run.define_metric("acc", summary="max")
    run.define_metric("loss", summary="min,max,mean,last")
    run.define_metric("f", summary="first")
    run.define_metric("h", summary="none")
    for i in range(6):
        row = {"acc": [0.5, 0.9, 0.7, 0.8, 0.6, 0.65][i], "loss": [3.0, 1.0, 2.0, 0.5, 4.0, 1.5][i], "f": i, "h": i}
        if i % 2 == 1:
            row["epoch"] = i // 2 + 1
        if i >= 2:
            row["val/loss"] = 1.0 / i
        run.log(row)
    run.finish()


def config_summary_midrun():
    run = wandb.init(project="compat", config={"lr": 0.1})
    run.log({"loss": 1.0})
    run.config.update({"extra": "v", "batch": 64})
    run.summary["best"] = 42
    run.log({"loss": 0.5})
    run.summary["note"] = "done"
    run.finish()


def rename():
    run = wandb.init(project="compat", name="model_SCORE_PLACEHOLDER")
    run.log({"val/acc": 0.9123})
    run.tags = ("baseline", "cnn")
    run.notes = "lr warm-up off"
    run.name = "model_acc0.912"
    run.summary["final_run_name"] = run.name
    run.finish()


def alert():
    run = wandb.init(project="compat")
    run.log({"loss": 1.0})
    run.alert(title="diverged", text="loss is NaN", level=wandb.AlertLevel.WARN)
    run.finish()


def wandb_env():
    # WANDB_PROJECT, WANDB_NAME, WANDB_TAGS, WANDB_RUN_GROUP, WANDB_JOB_TYPE and WANDB_NOTES
    # come from the environment the suite sets.
    run = wandb.init()
    run.log({"loss": 1.0})
    run.finish()


def block_edges():
    run = wandb.init(project="compat")
    for i in range(40):
        size = 32_768 - 7 * (i % 8) - 90 if i % 5 else 100_000
        run.log({"blob": "x" * size, "i": i})
    run.finish()


def media():
    run = wandb.init(project="compat")
    rgb = np.array([[[(x * 7 + y * 13 + c * 29) % 256 for c in range(3)] for x in range(16)] for y in range(8)], dtype=np.uint8)
    gray = [np.full((4, 4), v, dtype=np.uint8) for v in (0, 200)]
    values = [(i * 37 % 101) / 10.0 for i in range(1000)]
    run.log({"loss": 1.0})
    run.log({
        "img": wandb.Image(rgb, caption="c"),
        "batch": [wandb.Image(gray[0], caption="first"), wandb.Image(gray[1])],
        "hist": wandb.Histogram(values, num_bins=16),
    })
    run.finish()


def boxes_masks():
    run = wandb.init(project="compat")
    img = np.array([[[(x * 16 + c * 80) % 256 for c in range(3)] for x in range(16)] for y in range(16)], dtype=np.uint8)
    mask = np.array([[(x // 4 + y // 4) % 3 for x in range(16)] for y in range(16)], dtype=np.uint8)
    boxes = {"predictions": {
        "box_data": [
            {"position": {"minX": 0.1, "maxX": 0.4, "minY": 0.2, "maxY": 0.5}, "class_id": 1, "box_caption": "car", "scores": {"conf": 0.9}},
            {"position": {"middle": [8.0, 8.0], "width": 4.0, "height": 6.0}, "domain": "pixel", "class_id": 2},
        ],
        "class_labels": {1: "car", 2: "person"},
    }}
    masks = {"ground_truth": {"mask_data": mask, "class_labels": {0: "bg", 1: "road", 2: "car"}}}
    run.log({"det": wandb.Image(img, boxes=boxes, masks=masks)})
    run.finish()


def html():
    run = wandb.init(project="compat")
    run.log({"report": wandb.Html("<h1>Validation</h1><p>all good</p>"), "page": wandb.Html("<html><body>x</body></html>")})
    run.finish()


def table_and_charts():
    run = wandb.init(project="compat")
    rgb = np.array([[[(x * 7 + y * 13 + c * 29) % 256 for c in range(3)] for x in range(16)] for y in range(8)], dtype=np.uint8)
    run.log({"tbl": wandb.Table(columns=["a", "b", "img"], data=[[1, "x", wandb.Image(rgb)], [2.5, "y", None]])})
    run.log({"cm": wandb.plot.confusion_matrix(y_true=[0, 1, 2, 1], preds=[0, 2, 2, 1], class_names=["cat", "dog", "bird"], title="CM")})
    lt = wandb.Table(data=[[0, 1.0], [1, 0.5], [2, 0.25]], columns=["step", "loss"])
    run.log({"lp": wandb.plot.line(lt, "step", "loss", title="Loss")})
    run.finish()


def artifacts():
    import os
    base = os.path.join(os.environ["WANDB_DIR"], "artifact-src")
    os.makedirs(os.path.join(base, "data", "sub"), exist_ok=True)
    with open(os.path.join(base, "data", "data123.txt"), "w") as f:
        f.write("data123")
    with open(os.path.join(base, "data", "sub", "b.bin"), "wb") as f:
        f.write(bytes(range(256)) * 40)
    with open(os.path.join(base, "model.bin"), "wb") as f:
        f.write(b"weights" * 1000)
    run = wandb.init(project="compat")
    art = wandb.Artifact("shapes-train", type="dataset", description="synthetic shapes")
    art.add_dir(os.path.join(base, "data"))
    run.log_artifact(art, aliases=["v-test"])
    run.log_model(os.path.join(base, "model.bin"), name="shapes-cnn", aliases=["best"])
    run.log({"loss": 1.0})
    run.finish()


SCENARIOS = {name: fn for name, fn in globals().items() if callable(fn) and fn.__module__ == "__main__"}

if __name__ == "__main__":
    name = sys.argv[1]
    if name not in SCENARIOS or name in ("scalars", "main"):
        raise SystemExit(f"unknown scenario {name!r}")
    SCENARIOS[name]()
