# Sourced by scripts/test.sh (after lib/venv.sh, whose pip it uses): makes sure libtorch
# for tch is unpacked under the cache and exports LIBTORCH and LD_LIBRARY_PATH.
#
# PyPI has no CPU-only torch for Linux x86_64; the CUDA wheel works on a CPU-only machine
# once the two small CUDA runtime libraries it links are beside it, and `--no-deps` skips
# the 2.6 GB of other CUDA wheels. Versions are pinned exactly: torch-sys does not check.
# usage: libtorch_install TORCH_VERSION  (2.9.0 for tch 0.22, the workspace's lock)
libtorch_install() {
    local version="$1"
    local dir="$CACHE/libtorch-$version"
    if [ ! -f "$dir/.complete" ]; then
        rm -rf "$dir"
        "$LABBOOK_WANDB_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps \
            --target "$dir" "torch==$version" \
            "nvidia-cuda-runtime-cu12==12.8.90" "nvidia-cuda-cupti-cu12==12.8.90"
        touch "$dir/.complete"
    fi
    export LIBTORCH="$dir/torch"
    export LD_LIBRARY_PATH="$dir/torch/lib:$dir/nvidia/cuda_runtime/lib:$dir/nvidia/cuda_cupti/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
