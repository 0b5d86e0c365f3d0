#!/usr/bin/env bash
# Fuzzes the transaction-log reader, the CLI's history-row scanner and labbook serve's
# request bodies (GraphQL, file_stream plain and gzipped, through the whole server
# in-process) with cargo fuzz (libFuzzer), each for SECONDS (default 600), starting from
# the committed seeds in fuzz/seeds/; prints each target's executions and coverage. Not
# part of scripts/test.sh.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# The stable toolchain has no AddressSanitizer, so the targets run with `--sanitizer none`:
# a panic, an overflow (debug assertions are on), a stack overflow or a hang is a finding.
# A crash is saved under fuzz/artifacts/<target>/; it becomes a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
CACHE="${LABBOOK_CACHE:-$HOME/.cache/labbook}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
export CARGO_TARGET_DIR="$CACHE/fuzz-target"
cd fuzz
targets=("${@:2}")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(log_reader history_scanner server_graphql server_file_stream server_gzip)
fi
for target in "${targets[@]}"; do
    corpus="$CACHE/fuzz-corpus/$target"
    mkdir -p "$corpus"
    echo "== $target, ${seconds}s"
    cargo fuzz run --sanitizer none "$target" "$corpus" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
        | grep -E "^(#[0-9]+ +(INITED|DONE)|Done|stat::|==|SUMMARY|.*panicked)" || true
    if compgen -G "artifacts/$target/*" >/dev/null; then
        echo "$target: crashes saved in fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
