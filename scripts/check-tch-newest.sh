#!/usr/bin/env bash
# Builds and tests labbook-tch against the newest tch (0.26, PyTorch 2.13) outside the
# workspace's lock, where burn's optional tch dependency pins tch 0.22: a copy of the
# crates it needs in a workspace of their own, the rest of the lock kept, only tch and
# torch-sys moved. scripts/test.sh runs it; it needs lib/venv.sh's virtualenv.
#
# labbook-core's unit tests run here a second time without `online` and `system` (among
# them: online mode is an error naming the feature): `-p labbook-core --no-default-features`
# builds it with none, which the test list below checks.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TCH_VERSION="0.26.0"
CACHE="${LABBOOK_CACHE:-$HOME/.cache/labbook}"
source "$root/scripts/lib/venv.sh"
source "$root/scripts/lib/libtorch.sh"
libtorch_install 2.13.0

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/crates"
cp -r "$root/crates/labbook-core" "$root/crates/labbook-server" "$root/crates/labbook-tch" "$root/crates/labbook-testkit" "$root/crates/labbook-wire" "$work/crates/"
cp "$root/Cargo.lock" "$work/"
# labbook-server's own tests use the facade; only its library is needed here.
sed -i '/^labbook = { path = "..\/.." }$/d' "$work/crates/labbook-server/Cargo.toml"
python3 - "$root/Cargo.toml" "$work/Cargo.toml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
# Keep the workspace tables, drop the facade package and its targets.
workspace = text[: text.index("\n[package]\n")]
workspace = re.sub(r"(?m)^members = .*$", 'members = ["crates/labbook-core", "crates/labbook-server", "crates/labbook-tch", "crates/labbook-testkit", "crates/labbook-wire"]', workspace)
workspace = re.sub(r"(?m)^default-members = .*\n", "", workspace)
workspace = re.sub(r"(?m)^labbook-(burn|candle) = .*\n", "", workspace)
# labbook-core with its default features, as the main workspace's tests build it, so its
# dependencies are the ones already built there.
workspace = workspace.replace('labbook-core = { path = "crates/labbook-core", version = "0.1.0", default-features = false }', 'labbook-core = { path = "crates/labbook-core", version = "0.1.0" }')
# The same profiles, so every dependency whose version and features match is the one the
# main workspace built (a different profile would rebuild them all).
profiles, keep = [], False
for line in text[text.index("\n[package]\n"):].splitlines():
    if line.startswith("["):
        keep = line.startswith("[profile.")
    if keep:
        profiles.append(line)
open(sys.argv[2], "w").write(workspace + "\n" + "\n".join(profiles) + "\n")
PY
cd "$work"
# The workspace's target dir: every dependency but tch and torch-sys has the same version
# and features as there, so only those and the copied crates are compiled again.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
cargo update --quiet -p tch --precise "$TCH_VERSION"
grep -A1 '^name = "tch"$' Cargo.lock | tail -1
# Lints are the main workspace's clippy pass (the same code against tch 0.22); here it
# must build and pass.
cargo test --quiet -p labbook-tch -- --include-ignored
cargo test --quiet -p labbook-core --no-default-features --lib -- --list | grep -q '^settings::tests::online_mode_without_the_online_feature_is_an_error_naming_it: test$' \
    || { echo "labbook-core was built with its online feature here" >&2; exit 1; }
cargo test --quiet -p labbook-core --no-default-features --lib
