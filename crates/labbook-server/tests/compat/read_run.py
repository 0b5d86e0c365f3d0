"""Reads one run back through the official client's public API (wandb.Api()) and prints
what it got as one JSON object, for the Rust test to compare with what was logged.

  read_run.py ENTITY/PROJECT/RUN_ID KEY USER_RUN_ID LONG_RUN_ID
"""

import json
import math
import sys

import wandb

path, key = sys.argv[1], sys.argv[2]
api = wandb.Api(timeout=60)
run = api.run(path)


def clean(v):
    # NaN and infinities are not JSON: say which they were.
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [clean(x) for x in v]
    return v


out = {
    "id": run.id,
    "name": run.name,
    "state": run.state,
    "tags": run.tags,
    "group": run.group,
    "job_type": run.job_type,
    "notes": run.notes,
    "created_at": run.created_at,
    "config": clean(dict(run.config)),
    "summary": clean({k: v for k, v in run.summary.items() if not k.startswith("_")}),
    "last_step": run.lastHistoryStep,
    "history": clean(run.history(samples=100000, pandas=False)),
    "history_sampled": clean(run.history(samples=10, pandas=False)),
    "history_keys": clean(run.history(keys=[key], samples=100000, pandas=False)),
    "history_keys_sampled": clean(run.history(keys=[key], samples=12, pandas=False)),
    "system": clean(run.history(stream="system", samples=100000, pandas=False)),
    "scan": clean(list(run.scan_history(page_size=7))),
    "scan_keys": clean(list(run.scan_history(keys=[key], page_size=7))),
    "scan_range": clean([row["_step"] for row in run.scan_history(min_step=5, max_step=9)]),
}

# A long run scanned whole: every step once, in order, with its value.
long = api.run(path.rsplit("/", 1)[0] + "/" + sys.argv[4])
steps, bad = 0, 0
for row in long.scan_history():
    if row["_step"] != steps or row["x"] != steps * 0.5:
        bad += 1
    steps += 1
out["long"] = {"rows": steps, "bad": bad, "last_step": long.lastHistoryStep}

# Files: listed in pages, by pattern, and downloaded.
out["files"] = sorted(f.name for f in run.files(per_page=2))
out["files_len"] = len(run.files())
out["files_pattern"] = sorted(f.name for f in run.files(pattern="wandb-%"))
downloaded = run.file("wandb-summary.json").download(root="downloads", replace=True)
out["summary_file"] = json.loads(downloaded.read())
out["summary_file_size"] = run.file("wandb-summary.json").size

# Artifacts this run logged, and the ones the second run used; the project list.
out["logged"] = [(a.name, a.type, a.aliases) for a in run.logged_artifacts()]
user_path = path.rsplit("/", 1)[0] + "/" + sys.argv[3]
out["used"] = [a.name for a in api.run(user_path).used_artifacts()]
model = api.artifact(path.rsplit("/", 1)[0] + "/read-model:best")
out["artifact"] = {
    "name": model.name,
    "version": model.version,
    "digest": model.digest,
    "files": sorted(f for f in model.manifest.entries),
    "downloaded": open(model.download(root="art") + "/weights.bin").read(),
}
out["projects"] = sorted(p.name for p in api.projects(path.split("/")[0]))

# Changed through the public API: tags, notes, a summary key added and one removed.
run.tags = run.tags + ["changed"]
run.notes = "new notes"
run.summary["extra"] = 5
del run.summary["best"]
run.update()
again = wandb.Api(timeout=60).run(path)
out["updated"] = {
    "tags": again.tags,
    "notes": again.notes,
    "summary": clean({k: v for k, v in again.summary.items() if not k.startswith("_")}),
    "config": clean(dict(again.config)),
    "history_rows": len(again.history(samples=100000, pandas=False)),
}

# Deleted: the run is gone.
again.delete()
try:
    wandb.Api(timeout=60).run(path)
    out["deleted"] = False
except Exception as e:  # the client's CommError for a run the server does not have
    out["deleted"] = type(e).__name__
print("READ " + json.dumps(out), flush=True)
