"""Checks an example trainer's run as the official client reads it (`wandb leet inspect`):
finished, system metrics sampled, the final-score name, and (for the burn trainer) the
problematic-batch keys and the parameter and gradient histograms.

usage: check_example_run.py WANDB RUN_DIR NAME_PREFIX [--burn]
"""

import json
import re
import subprocess
import sys


def main() -> None:
    wandb, run_dir, prefix = sys.argv[1:4]
    burn = "--burn" in sys.argv[4:]
    records = subprocess.run(
        [wandb, "leet", "inspect", "--json", run_dir], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    kinds = [json.loads(line).get("type") for line in records if line.strip()]
    summary = json.loads(
        subprocess.run(
            [wandb, "leet", "inspect", "--summary", "--json", run_dir],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    s = summary["summary"]
    problems = []
    if summary["state"] != "finished":
        problems.append(f"state {summary['state']}")
    stats = kinds.count("stats")
    if stats < 1:
        problems.append("no system metrics (stats records)")
    name = s.get("final_run_name", "")
    # A fraction for every framework: accuracy0.336, never burn's percent accuracy33.6.
    if not re.fullmatch(re.escape(prefix) + r"_accuracy0\.\d{3}", name):
        problems.append(f"final name {name!r}")
    if burn:
        for metric in ["recall", "precision", "hmean", "accuracy", "loss", "images"]:
            if not any(re.fullmatch(rf"problematic_batch_\d+_{metric}", k) for k in s):
                problems.append(f"no problematic_batch_<i>_{metric}")
        for kind in ["parameters", "gradients"]:
            hists = [k for k, v in s.items() if k.startswith(kind + "/") and isinstance(v, dict) and v.get("_type") == "histogram"]
            if not hists:
                problems.append(f"no {kind} histograms")
    else:
        acc = s.get("valid/accuracy")
        if not (isinstance(acc, dict) and acc.get("max", 0) > 0):
            problems.append(f"valid/accuracy {acc!r}")
        if "checkpoint/file" not in s:
            problems.append("no checkpoint/file")
    if problems:
        sys.exit(f"{run_dir}: " + "; ".join(problems))
    print(f"wandb-core reads the run {name}: {stats} system-metric samples, {len(kinds)} records")


main()
