#!/usr/bin/env bash
# Instructions per `log` call on the calling thread, counted by callgrind: the same binary
# and input give the same count, so a slowdown shows without trusting a noisy clock.
# Appends one line per case to benches/results/callgrind.tsv (commit, case, instructions).
#
#   scripts/bench-callgrind.sh [CALLS]    (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${LABBOOK_CACHE:-$HOME/.cache/labbook}/target}"
calls="${1:-20000}"
bin=$(cargo bench --quiet --bench hot_path --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "hot_path":
        print(m["executable"])')
commit=$(git rev-parse --short HEAD)
out=benches/results/callgrind.tsv
mkdir -p benches/results
[ -f "$out" ] || printf 'commit\tcase\tcalls\tinstructions_per_call\n' > "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Instructions of the main thread (callgrind's thread 1) for one invocation.
main_thread_ir() {
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/cg.%p" \
        "$bin" "$1" "$2" >/dev/null 2>&1
    local f
    f=$(ls "$work"/cg.*-01 | head -n 1)
    awk '/^summary:/ {print $2}' "$f"
    rm -f "$work"/cg.*
}

for case in disabled_10 offline_1 offline_10 offline_100; do
    n=$calls
    [ "$case" = offline_100 ] && n=$((calls / 10))
    base=$(main_thread_ir "$case" 0)
    full=$(main_thread_ir "$case" "$n")
    per=$(python3 -c "print(f'{($full - $base) / $n:.1f}')")
    printf '%s\t%s\t%s\t%s\n' "$commit" "$case" "$n" "$per" | tee -a "$out"
done
