#!/usr/bin/env bash
# The one test command: sets up what the tests need (the official wandb client in a
# virtualenv, for the compatibility tests; libtorch for the tch adapter), then checks
# formatting and lints, runs every test, runs the examples (the README's main job among
# them), and builds and tests the tch adapter against the newest tch too. Prints each
# phase's time.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${LABBOOK_CACHE:-$HOME/.cache/labbook}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

phase_start=$(date +%s)
suite_start=$phase_start
timings=()
phase() {
    local now
    now=$(date +%s)
    timings+=("$(printf '%-28s %4ss' "$1" "$((now - phase_start))")")
    phase_start=$now
}

echo "== python: the official wandb client in a virtualenv"
source scripts/lib/venv.sh
"$LABBOOK_WANDB_VENV/bin/wandb" --version
phase "python venv"

echo "== libtorch (PyTorch 2.9.0) for tch 0.22, the workspace's lock"
source scripts/lib/libtorch.sh
libtorch_install 2.9.0
phase "libtorch"

echo "== cargo fmt --check"
cargo fmt --all -- --check
phase "fmt"

echo "== cargo clippy (every crate and target, every feature)"
cargo clippy --workspace --all-targets --quiet --features burn,labbook-burn/flex,candle,tch -- -D warnings
phase "clippy"

# labbook-core without its default features is tested in check-tch-newest.sh's workspace,
# where every crate asks for none of them.
echo "== fewer features: the facade with each feature alone"
for feature in online system burn candle tch; do
    cargo check --quiet -p labbook --no-default-features --features "$feature"
done
phase "feature checks"

echo "== cargo test (unit, integration, compatibility, doc tests; the README's framework blocks)"
cargo test --workspace -- --include-ignored
cargo test --quiet --doc -p labbook --features burn,labbook-burn/flex,candle,tch
phase "tests"

echo "== docs (broken intra-doc links are errors) and packages"
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps --workspace --lib --features burn,candle,tch
cargo package --quiet --workspace --no-verify --allow-dirty
phase "docs and packages"

echo "== the main job: cargo run --example quickstart"
job_dir=$(mktemp -d)
trap 'rm -rf "$job_dir"' EXIT
(cd "$job_dir" && cargo run --quiet --manifest-path "$OLDPWD/Cargo.toml" --example quickstart)
"$LABBOOK_WANDB_VENV/bin/wandb" leet inspect --summary --json "$job_dir/wandb/latest-run" \
    | "$LABBOOK_WANDB_VENV/bin/python" -c "import json,sys; s=json.load(sys.stdin); assert s['state']=='finished' and s['exit_code']==0, s; print('wandb-core reads the quickstart run:', s['state'], s['step'] + 1, 'steps')"
(cd "$job_dir" && cargo run --quiet --manifest-path "$OLDPWD/Cargo.toml" --example detection)
"$LABBOOK_WANDB_VENV/bin/wandb" leet inspect --summary --json "$job_dir/wandb/latest-run" \
    | "$LABBOOK_WANDB_VENV/bin/python" -c "import json,sys; s=json.load(sys.stdin); assert s['state']=='finished' and s['summary']['val/examples']['_type']=='images/separated', s; print('wandb-core reads the detection run:', s['name'])"
echo "== the burn trainer, quick (LABBOOK_QUICK=1: 1 epoch of 256 images, dev profile)"
mkdir -p "$job_dir/burn"
(cd "$job_dir/burn" && LABBOOK_QUICK=1 WANDB_SILENT=true cargo run --quiet --manifest-path "$OLDPWD/Cargo.toml" --features burn,labbook-burn/flex --example train_burn 2>&1 | tail -2)
"$LABBOOK_WANDB_VENV/bin/wandb" leet inspect --summary --json "$job_dir/burn/wandb/latest-run" \
    | "$LABBOOK_WANDB_VENV/bin/python" -c "import json,sys; s=json.load(sys.stdin); assert s['state']=='finished' and 'epoch/valid/accuracy' in s['summary'], s; print('wandb-core reads the burn run:', s['name'])"
echo "== the candle trainer, quick (LABBOOK_QUICK=1: 1 epoch of 256 images, dev profile)"
mkdir -p "$job_dir/candle"
(cd "$job_dir/candle" && LABBOOK_QUICK=1 WANDB_SILENT=true cargo run --quiet --manifest-path "$OLDPWD/Cargo.toml" --features candle --example train_candle 2>&1 | tail -2)
"$LABBOOK_WANDB_VENV/bin/wandb" leet inspect --summary --json "$job_dir/candle/wandb/latest-run" \
    | "$LABBOOK_WANDB_VENV/bin/python" -c "import json,sys; s=json.load(sys.stdin); assert s['state']=='finished' and s['summary']['valid/accuracy']['max'] > 0 and 'checkpoint/file' in s['summary'], s; print('wandb-core reads the candle run:', s['name'])"
echo "== the tch trainer, quick (LABBOOK_QUICK=1: 1 epoch of 256 images, dev profile)"
mkdir -p "$job_dir/tch"
(cd "$job_dir/tch" && LABBOOK_QUICK=1 WANDB_SILENT=true cargo run --quiet --manifest-path "$OLDPWD/Cargo.toml" --features tch --example train_tch 2>&1 | tail -2)
"$LABBOOK_WANDB_VENV/bin/wandb" leet inspect --summary --json "$job_dir/tch/wandb/latest-run" \
    | "$LABBOOK_WANDB_VENV/bin/python" -c "import json,sys; s=json.load(sys.stdin); assert s['state']=='finished' and s['summary']['valid/accuracy']['max'] > 0 and 'checkpoint/file' in s['summary'], s; print('wandb-core reads the tch run:', s['name'])"
phase "examples"

echo "== panic = \"abort\": the panic hook closes the run"
abort_dir="$job_dir/abort"
# Without default features: the panic hook is the same, and the panic-abort profile rebuilds
# every dependency it pulls in (the HTTP stack is most of them).
cargo build --quiet --profile panic-abort --example panic_abort --no-default-features
if ("$CARGO_TARGET_DIR/panic-abort/examples/panic_abort" "$abort_dir") 2>/dev/null; then
    echo "panic_abort exited 0; it should have aborted" >&2
    exit 1
fi
"$LABBOOK_WANDB_VENV/bin/wandb" leet inspect --summary --json "$abort_dir/wandb/latest-run" \
    | "$LABBOOK_WANDB_VENV/bin/python" -c "import json,sys; s=json.load(sys.stdin); assert s['exit_code']==1 and s['step']==99, s; print('aborted run closed with exit code', s['exit_code'], 'after', s['step'] + 1, 'steps')"
phase "panic=abort check"

echo "== labbook-tch against the newest tch (0.26, PyTorch 2.13), and labbook-core without its default features"
scripts/check-tch-newest.sh
phase "tch 0.26 check"

echo
echo "== phase times"
printf '%s\n' "${timings[@]}"
echo "total                        $(( $(date +%s) - suite_start ))s"
