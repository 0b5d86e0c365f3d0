"""One online run of the official wandb client against labbook-server.

Usage: python online_run.py PROJECT
Environment: WANDB_BASE_URL, WANDB_API_KEY, WANDB_MODE=online, HOME, WANDB_DIR.
Prints the run id on the last line of stdout.
"""

import sys

import numpy as np
import wandb

project = sys.argv[1]
run = wandb.init(project=project, config={"lr": 0.01, "layers": [1, 2], "model": {"depth": 3}})
for step in range(5):
    run.log({"loss": 1.0 / (step + 1), "acc": step / 10.0, "epoch": step})
image = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
run.log({"sample": wandb.Image(image, caption="gradient")})
table = wandb.Table(columns=["a", "b"], data=[[1, "x"], [2, "y"]])
run.log({"preds": table})
run.summary["best_acc"] = 0.9
run.config.update({"batch_size": 32})
run.alert(title="T", text="done soon", level=wandb.AlertLevel.WARN)
run_id = run.id
run.finish()
print(run_id)
