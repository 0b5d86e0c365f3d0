"""The official client (wandb 0.31.0) down every path it has into one server, for the test
that restarts that server and reads everything back.

  online PROJECT   a run logs rows and an artifact (aliases "latest", "best"), finishes;
                   resumes (resume="must"), logs more rows, uses and downloads the
                   artifact, finishes. Prints `ONLINE <run id> <downloaded file text>`.
  offline PROJECT  an offline run logs rows and finishes (then the test runs `wandb sync`).
                   Prints `OFFLINE <run id> <run dir>`.
"""

import os
import sys

import wandb

mode, project = sys.argv[1], sys.argv[2]
quiet = wandb.Settings(console="off", silent=True)

if mode == "online":
    run = wandb.init(project=project, settings=quiet)
    run_id = run.id
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1)})
    with open("weights.txt", "w") as f:
        f.write("weights v1")
    art = wandb.Artifact("paths-model", type="model")
    art.add_file("weights.txt")
    run.log_artifact(art, aliases=["best"])
    run.finish()

    run = wandb.init(project=project, id=run_id, resume="must", settings=quiet)
    for step in range(5, 8):
        run.log({"loss": 1.0 / (step + 1)})
    used = run.use_artifact("paths-model:best")
    path = used.download(root=os.path.join(os.getcwd(), "downloaded"))
    with open(os.path.join(path, "weights.txt")) as f:
        text = f.read()
    run.finish()
    print("ONLINE", run_id, text.replace(" ", "_"), flush=True)
else:
    run = wandb.init(project=project, mode="offline", settings=quiet)
    for step in range(4):
        run.log({"acc": step / 4})
    run.summary["final"] = "done"
    run_dir = os.path.dirname(run.dir)
    run_id = run.id
    run.finish()
    print("OFFLINE", run_id, run_dir, flush=True)
