#!/usr/bin/env bash
# The long versions of checks that scripts/test.sh runs short: 10 SIGKILLs of a run under
# media load (3 in test.sh), 50 SIGKILLs of `labbook serve` while labbook clients stream
# and an offline run it watches is written (10 in test.sh), and the memory of a sync of 5,000,000 rows and of a 1 GiB saved file
# (200,000 rows and 256 MiB in test.sh). Prints what each measured. Run it
# before resolving an issue these checks cover; paste its output in the issue's note.
#
#   scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${LABBOOK_CACHE:-$HOME/.cache/labbook}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
source scripts/lib/venv.sh

started=$(date +%s)
echo "== 10 SIGKILLs under media load (seeded; each read back by labbook and wandb-core)"
LABBOOK_CRASH_KILLS=10 cargo test --quiet --test crash_media sigkill_under_media_load \
    -- --include-ignored --nocapture 2>&1 | grep -E "seed|^kill|test result|panicked"

echo "== 50 SIGKILLs of labbook serve mid-ingest, 3 labbook clients streaming, 1 watched offline run (seeded)"
LABBOOK_KILL_ROUNDS=50 cargo test --quiet -p labbook-cli --test it serve_crash \
    -- --nocapture 2>&1 | grep -E "kill -9|test result|panicked"

echo "== sync memory: 5,000,000 rows, and a 1 GiB saved file"
LABBOOK_SYNC_ROWS=5000000 LABBOOK_SYNC_FILE_MB=1024 cargo test --quiet --test sync_memory \
    -- --include-ignored --nocapture 2>&1 | grep -E "rows:|saved file|test result|panicked"

echo "== soak done in $(( $(date +%s) - started ))s"
