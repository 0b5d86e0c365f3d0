#!/usr/bin/env bash
# The one test command: sets up what the tests need (the official wandb client in a
# virtualenv, for the compatibility tests; libtorch for the tch adapter; Debian's Chromium
# for the headless-browser tests), then checks
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
    echo "-- $1: $((now - phase_start))s"
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

echo "== chromium, for the headless-browser tests"
source scripts/lib/chromium.sh
"$LABBOOK_CHROMIUM" --version
phase "chromium"

echo "== cargo fmt --check"
cargo fmt --all -- --check
phase "fmt"

# Every framework, and burn's CPU backend for its tests and trainer: the one set of features
# of the lints, the tests and the trainers, so they share one build of the dependencies.
FRAMEWORKS=burn,labbook-burn/flex,candle,tch

echo "== cargo clippy (every crate and target, every feature)"
cargo clippy --workspace --all-targets --quiet --features "$FRAMEWORKS" -- -D warnings
phase "clippy"

# labbook-core without its default features is tested in check-tch-newest.sh's workspace,
# where every crate asks for none of them. Here: each of its features without the other,
# under the facade and every adapter (two builds rather than one a feature: each build
# with a new set of features compiles much of the graph again).
echo "== fewer features: the facade and every adapter with online alone, then system alone"
for feature in online system; do
    cargo check --quiet -p labbook --no-default-features --features "$feature,$FRAMEWORKS"
done
phase "feature checks"

echo "== cargo test (unit, integration, compatibility, doc tests; the README's framework blocks)"
cargo test --workspace --features "$FRAMEWORKS" -- --include-ignored
phase "tests"

echo "== docs (broken intra-doc links are errors) and packages"
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps --workspace --lib --features "$FRAMEWORKS"
cargo package --quiet --workspace --no-verify --allow-dirty
phase "docs and packages"

# The examples are built with the tests' features (every framework besides the default
# ones), so they reuse the tests' build instead of compiling the facade's dependencies a
# second time without the frameworks (over a minute cold); the README's main job is the same
# program with the default features.
echo "== the main job: cargo run --example quickstart"
job_dir=$(mktemp -d)
trap 'rm -rf "$job_dir"' EXIT
(cd "$job_dir" && cargo run --quiet --manifest-path "$OLDPWD/Cargo.toml" --features "$FRAMEWORKS" --example quickstart)
"$LABBOOK_WANDB_VENV/bin/wandb" leet inspect --summary --json "$job_dir/wandb/latest-run" \
    | "$LABBOOK_WANDB_VENV/bin/python" -c "import json,sys; s=json.load(sys.stdin); assert s['state']=='finished' and s['exit_code']==0, s; print('wandb-core reads the quickstart run:', s['state'], s['step'] + 1, 'steps')"
(cd "$job_dir" && cargo run --quiet --manifest-path "$OLDPWD/Cargo.toml" --features "$FRAMEWORKS" --example detection)
"$LABBOOK_WANDB_VENV/bin/wandb" leet inspect --summary --json "$job_dir/wandb/latest-run" \
    | "$LABBOOK_WANDB_VENV/bin/python" -c "import json,sys; s=json.load(sys.stdin); assert s['state']=='finished' and s['summary']['val/examples']['_type']=='images/separated', s; print('wandb-core reads the detection run:', s['name'])"
echo "== the burn trainer, quick (LABBOOK_QUICK=1: 1 epoch of 256 images, dev profile)"
mkdir -p "$job_dir/burn"
(cd "$job_dir/burn" && LABBOOK_QUICK=1 WANDB_SILENT=true cargo run --quiet --manifest-path "$OLDPWD/Cargo.toml" --features "$FRAMEWORKS" --example train_burn 2>&1 | tail -2)
"$LABBOOK_WANDB_VENV/bin/python" scripts/check_example_run.py "$LABBOOK_WANDB_VENV/bin/wandb" "$job_dir/burn/wandb/latest-run" shapes-cnn --burn
echo "== the candle trainer, quick (LABBOOK_QUICK=1: 1 epoch of 256 images, dev profile)"
mkdir -p "$job_dir/candle"
(cd "$job_dir/candle" && LABBOOK_QUICK=1 WANDB_SILENT=true cargo run --quiet --manifest-path "$OLDPWD/Cargo.toml" --features "$FRAMEWORKS" --example train_candle 2>&1 | tail -2)
"$LABBOOK_WANDB_VENV/bin/python" scripts/check_example_run.py "$LABBOOK_WANDB_VENV/bin/wandb" "$job_dir/candle/wandb/latest-run" shapes-cnn-candle
echo "== the tch trainer, quick (LABBOOK_QUICK=1: 1 epoch of 256 images, dev profile)"
mkdir -p "$job_dir/tch"
(cd "$job_dir/tch" && LABBOOK_QUICK=1 WANDB_SILENT=true cargo run --quiet --manifest-path "$OLDPWD/Cargo.toml" --features "$FRAMEWORKS" --example train_tch 2>&1 | tail -2)
"$LABBOOK_WANDB_VENV/bin/python" scripts/check_example_run.py "$LABBOOK_WANDB_VENV/bin/wandb" "$job_dir/tch/wandb/latest-run" shapes-cnn-tch
phase "examples"

echo "== panic = \"abort\": the panic hook closes the run"
abort_dir="$job_dir/abort"
# A package of its own that asks labbook for no default features: the panic hook is the same,
# and the panic-abort profile rebuilds every dependency it pulls in.
cargo build --quiet --profile panic-abort -p panic-abort-check
if ("$CARGO_TARGET_DIR/panic-abort/panic-abort-check" "$abort_dir") 2>/dev/null; then
    echo "panic-abort-check exited 0; it should have aborted" >&2
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
