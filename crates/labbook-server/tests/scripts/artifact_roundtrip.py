"""The official client (wandb 0.31.0) reads back an artifact another client uploaded.

Downloads NAME:latest through the public API, then in a run uses it (lineage), downloads
it again and links it into a registry collection. Prints one JSON line: the files each
download produced (path -> text), the version and the linked name.

Usage: python artifact_roundtrip.py ENTITY PROJECT NAME OUT_DIR
"""

import json
import os
import sys

import wandb

entity, project, name, out = sys.argv[1:5]


def files(root):
    found = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            path = os.path.join(dirpath, n)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read().hex()
    return found


api = wandb.Api()
art = api.artifact(f"{entity}/{project}/{name}:latest")
by_api = art.download(root=os.path.join(out, "api"))

run = wandb.init(entity=entity, project=project, settings=wandb.Settings(console="off"))
used = run.use_artifact(f"{name}:latest")
by_run = used.download(root=os.path.join(out, "run"))
linked = run.link_artifact(used, f"{entity}/model-registry/shapes-registry", aliases=["prod"])
run_id = run.id
run.finish()

print(
    json.dumps(
        {
            "version": art.version,
            "type": art.type,
            "digest": art.digest,
            "api": files(by_api),
            "run": files(by_run),
            "run_id": run_id,
            "linked": linked.qualified_name if linked is not None else None,
        }
    )
)
