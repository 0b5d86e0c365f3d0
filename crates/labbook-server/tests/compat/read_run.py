"""Reads one run back through the official client's public API (wandb.Api()) and prints
what it got as one JSON object, for the Rust test to compare with what was logged.

  read_run.py ENTITY/PROJECT/RUN_ID KEY
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
print("READ " + json.dumps(out), flush=True)
