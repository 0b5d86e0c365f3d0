# Sourced by scripts/test.sh and scripts/bench-compare.sh: makes sure the official wandb
# client (and numpy and Pillow, which its media types need) is installed in a virtualenv
# under the cache, and exports LABBOOK_WANDB_VENV.
CACHE="${LABBOOK_CACHE:-$HOME/.cache/labbook}"
WANDB_VERSION="0.31.0"
PY_PACKAGES=("wandb==$WANDB_VERSION" "numpy==2.4.6" "pillow==13.0.0")
export LABBOOK_WANDB_VENV="${LABBOOK_WANDB_VENV:-$CACHE/venv-wandb-$WANDB_VERSION}"
mkdir -p "$CACHE"
if ! "$LABBOOK_WANDB_VENV/bin/python" -c "import wandb, numpy, PIL, sys; sys.exit(wandb.__version__ != '$WANDB_VERSION')" 2>/dev/null; then
    rm -rf "$LABBOOK_WANDB_VENV"
    python3 -m venv "$LABBOOK_WANDB_VENV"
    "$LABBOOK_WANDB_VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
fi
