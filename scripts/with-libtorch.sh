#!/usr/bin/env bash
# Runs a command with libtorch for tch (PyTorch 2.9.0, what the workspace's tch 0.22 needs)
# installed under $HOME/.cache/labbook and LIBTORCH / LD_LIBRARY_PATH set:
#   scripts/with-libtorch.sh cargo run --release --example train_tch --features tch
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib/venv.sh"
source "$here/lib/libtorch.sh"
libtorch_install "${LABBOOK_TORCH_VERSION:-2.9.0}"
exec "$@"
