"""Lists runs through the official client's public API (wandb.Api().runs) with the
filters, orders and page sizes the test asks for, and prints the run ids each gave.

  read_runs.py ENTITY/PROJECT QUERIES.json
QUERIES.json: [{"filters": {...}, "order": "+created_at", "per_page": 50}, ...]
"""

import json
import sys

import wandb

path, queries_file = sys.argv[1], sys.argv[2]
with open(queries_file) as f:
    queries = json.load(f)
api = wandb.Api(timeout=60)
out = []
for q in queries:
    runs = api.runs(
        path,
        filters=q.get("filters"),
        order=q.get("order", "+created_at"),
        per_page=q.get("per_page", 50),
    )
    ids = [run.id for run in runs]
    out.append({"ids": ids, "len": len(runs)})
print("RUNS " + json.dumps(out), flush=True)
