#!/usr/bin/env bash
# Runs the same workloads through labbook (benches/compare.rs) and through the official
# client offline (scripts/bench_wandb.py), interleaved over several rounds, keeps the raw
# JSON lines in benches/results/raw.jsonl and generates benches/RESULTS.md from them.
#
#   scripts/bench-compare.sh [ROUNDS]     (default 3; STEPS and PACED_STEPS override sizes)
#
# Run it on a quiet machine: it measures wall time and CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/venv.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
rounds="${1:-3}"
steps="${STEPS:-100000}"
paced="${PACED_STEPS:-5000}"
raw=benches/results/raw.jsonl
machine=benches/results/machine.json

cargo bench --quiet --bench compare --no-run
python3 - > "$machine" <<'PY'
import json, os, platform, subprocess
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(json.dumps({"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 2**20, 1),
                  "kernel": platform.release(), "commit": commit}))
PY
: > "$raw"
for round in $(seq 1 "$rounds"); do
    echo "round $round/$rounds: labbook" >&2
    cargo bench --quiet --bench compare -- --steps "$steps" --paced-steps "$paced" 2>/dev/null \
        | grep '^{' | sed "s/^{/{\"round\":$round,/" >> "$raw"
    echo "round $round/$rounds: wandb $("$LABBOOK_WANDB_VENV/bin/python" -c 'import wandb; print(wandb.__version__)')" >&2
    "$LABBOOK_WANDB_VENV/bin/python" scripts/bench_wandb.py --steps "$steps" --paced-steps "$paced" \
        | grep '^{' | sed "s/^{/{\"round\":$round,/" >> "$raw"
done
echo "labbook alone: cargo bench --bench log_latency" >&2
cargo bench --quiet --bench log_latency 2>/dev/null | grep -E ' p50 |blocked' > benches/results/log_latency.txt
python3 scripts/bench_report.py "$raw" "$machine" benches/results/log_latency.txt > benches/RESULTS.md
echo "wrote benches/RESULTS.md from $raw" >&2
