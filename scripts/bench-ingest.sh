#!/usr/bin/env bash
# Runs the standard ingest benchmark set (crates/server/examples/bench_ingest.rs) and prints a
# table: saturation with 50 and 200 devices, then a paced run at 2,000 reports/s for the p99
# target. Numbers go in docs/benchmarks.md, never into test assertions.
#
#   scripts/bench-ingest.sh               # standard set, 15 s per phase
#   SECONDS_PER_PHASE=5 scripts/bench-ingest.sh
#
# The load generator runs in the same process as the server, on the same cores.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${SECONDS_PER_PHASE:-15}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -p fleetward-server --example bench_ingest >&2
bin="$CARGO_TARGET_DIR/release/examples/bench_ingest"

results=()
run() {
    echo "== bench_ingest $*" >&2
    local out
    out="$("$bin" --seconds "$secs" "$@" | tee /dev/stderr | grep '^RESULT ')" || {
        echo "bench_ingest $* failed" >&2
        exit 1
    }
    results+=("$out")
}

run --devices 50
run --devices 200
run --devices 50 --rate 2000
run --devices 200 --rate 2000

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
printf '\n| devices | mode | accepted/s | p50 ms | p99 ms | max ms | relay msg/s | relay p99 ms | ratio | stored |\n'
printf '|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n'
for r in "${results[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$(field devices "$r")" "$(field mode "$r")" "$(field accepted_per_s "$r")" \
        "$(field p50_ms "$r")" "$(field p99_ms "$r")" "$(field max_ms "$r")" \
        "$(field relay_per_s "$r")" "$(field relay_p99_ms "$r")" "$(field ratio "$r")" \
        "$(field stored_ok "$r")"
done
