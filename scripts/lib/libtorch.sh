# Sourced by scripts/test.sh and scripts/with-libtorch.sh (after lib/venv.sh, whose pip it
# uses): makes sure libtorch for tch is unpacked under the cache and exports LIBTORCH and
# LD_LIBRARY_PATH.
#
# PyPI has no CPU-only torch for Linux x86_64; the CUDA wheel works on a CPU-only machine
# once the two small CUDA libraries libtorch_cpu links (the CUDA runtime and CUPTI) are
# beside it, and `--no-deps` skips the gigabytes of other CUDA wheels. Versions are pinned
# exactly: torch-sys does not check them.
# usage: libtorch_install TORCH_VERSION
#   2.9.0  for tch 0.22 (the workspace's lock: burn's optional tch dependency pins it)
#   2.13.0 for tch 0.26 (the newest; scripts/check-tch-newest.sh)
libtorch_install() {
    local version="$1" cuda
    case "$version" in
        2.9.0) cuda=("nvidia-cuda-runtime-cu12==12.8.90" "nvidia-cuda-cupti-cu12==12.8.90") ;;
        2.13.0) cuda=("nvidia-cuda-runtime==13.0.96" "nvidia-cuda-cupti==13.0.85") ;;
        *) echo "libtorch_install: no CUDA runtime pins for torch $version" >&2; return 1 ;;
    esac
    local dir="$CACHE/libtorch-$version"
    if [ ! -f "$dir/.complete" ]; then
        rm -rf "$dir"
        "$LABBOOK_WANDB_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps \
            --target "$dir" "torch==$version" "${cuda[@]}"
        touch "$dir/.complete"
    fi
    export LIBTORCH="$dir/torch"
    local libs="$dir/torch/lib" d
    for d in "$dir"/nvidia/*/lib; do
        [ -d "$d" ] && libs="$libs:$d"
    done
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
