#!/usr/bin/env bash
# Fuzzes fleetward-proto with cargo-fuzz (the project in fuzz/).
#
#   scripts/fuzz.sh                  every target, 600 s each, one after another
#   scripts/fuzz.sh decode_json      one target, 600 s
#   scripts/fuzz.sh decode_cbor 60   one target, 60 s
#
# Targets: decode_json, decode_cbor, topic_match, answer_decode. Needs the nightly toolchain
# (rustup); installs cargo-fuzz if it is missing. The corpus is seeded on every run from
# ../shared/conformance (override with FLEETWARD_SHARED) and fuzz/regressions/; corpus and
# artifacts stay out of git. FUZZ_MAX_LEN (default 8192) caps the input length.
#
# A crash (or leak, timeout, out-of-memory) is copied into fuzz/regressions/<target>/, where
# crates/proto/tests/fuzz_regressions.rs replays it on every `cargo test`, and the script
# exits non-zero after the remaining targets have run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
SHARED="${FLEETWARD_SHARED:-$ROOT/../shared}"
ALL_TARGETS=(decode_json decode_cbor topic_match answer_decode)
MAX_LEN="${FUZZ_MAX_LEN:-8192}"

usage() {
    echo "usage: $0 [target] [seconds]   (targets: ${ALL_TARGETS[*]}; default: all, 600 s each)" >&2
    exit 2
}

targets=("${ALL_TARGETS[@]}")
secs=600
if [[ $# -ge 1 ]]; then
    [[ " ${ALL_TARGETS[*]} " == *" $1 "* ]] || usage
    targets=("$1")
fi
if [[ $# -ge 2 ]]; then
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || usage
    secs="$2"
fi
[[ $# -le 2 ]] || usage

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz.sh: the nightly toolchain is missing; install it with: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# Copies the seed inputs for one target into fuzz/corpus/<target>/.
seed() {
    local target="$1" corpus="$FUZZ/corpus/$1" reports="$SHARED/conformance/reports"
    mkdir -p "$corpus"
    if [[ -d "$FUZZ/regressions/$target" ]]; then
        find "$FUZZ/regressions/$target" -maxdepth 1 -type f -exec cp -f {} "$corpus/" \;
    fi
    if [[ ! -d "$SHARED/conformance" ]]; then
        echo "fuzz.sh: $SHARED/conformance not found; seeding from fuzz/regressions only" >&2
        return 0
    fi
    local n=0
    case "$target" in
        decode_json)
            for f in "$reports"/*.json; do
                [[ -e "$f" ]] && cp -f "$f" "$corpus/" && n=$((n + 1))
            done
            ;;
        decode_cbor)
            for f in "$reports"/*.cbor; do
                [[ -e "$f" ]] && cp -f "$f" "$corpus/" && n=$((n + 1))
            done
            ;;
        topic_match)
            if [[ -f "$SHARED/conformance/topics.json" ]]; then
                while IFS= read -r t; do
                    n=$((n + 1))
                    printf '%s' "$t" >"$corpus/conformance-topic-$n"
                done < <(grep -o '"topic": *"[^"]*"' "$SHARED/conformance/topics.json" |
                    sed 's/^"topic": *"//; s/"$//')
            fi
            ;;
        answer_decode)
            printf '%s' '{"thingName":"thing-1","reportId":7,"status":"ACCEPTED","timestamp":1700000000123}' \
                >"$corpus/seed-accepted.json"
            printf '%s' '{"thingName":"thing-1","reportId":7,"status":"REJECTED","statusDetails":{"ErrorCode":"InvalidPayload","ErrorMessage":"metrics.listening_udp_ports.ports[0].port: 70000 is not a port (1-65535)"},"timestamp":1}' \
                >"$corpus/seed-rejected.json"
            # {"thingName":"t","status":"REJECTED","statusDetails":{"ErrorCode":"Throttled"},"timestamp":1}
            printf '\xa4\x69thingName\x61t\x66status\x68REJECTED\x6dstatusDetails\xa1\x69ErrorCode\x69Throttled\x69timestamp\x01' \
                >"$corpus/seed-rejected.cbor"
            n=3
            ;;
    esac
    echo "fuzz.sh: seeded $target with $n input(s) from $SHARED/conformance"
}

failed=()
cd "$ROOT"
for target in "${targets[@]}"; do
    seed "$target"
    artifacts="$FUZZ/artifacts/$target"
    log="$FUZZ/artifacts/$target.log"
    mkdir -p "$artifacts"
    marker="$(mktemp)"
    echo "fuzz.sh: running $target for $secs s (log: $log)"
    status=0
    cargo +nightly fuzz run "$target" -- \
        -max_total_time="$secs" -max_len="$MAX_LEN" -print_final_stats=1 2>&1 |
        tee "$log" || status=$?

    echo "---- $target: final stats (exit status $status) ----"
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true
    grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)' "$log" || true

    found=0
    while IFS= read -r -d '' a; do
        mkdir -p "$FUZZ/regressions/$target"
        cp -f "$a" "$FUZZ/regressions/$target/"
        echo "fuzz.sh: $target: saved $(basename "$a") to fuzz/regressions/$target/"
        found=$((found + 1))
    done < <(find "$artifacts" -maxdepth 1 -type f -newer "$marker" \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) -print0)
    rm -f "$marker"

    if [[ $status -ne 0 || $found -gt 0 ]]; then
        echo "fuzz.sh: $target FAILED: exit status $status, $found input(s) saved" >&2
        failed+=("$target")
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: failing targets: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: no crashes in: ${targets[*]}"
