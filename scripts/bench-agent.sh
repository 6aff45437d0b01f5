#!/usr/bin/env bash
# Benchmarks fleetward-agent against AWS's Python Device Defender agent, in one run:
#   * stripped release binary size
#   * peak RSS (/usr/bin/time -v) of --once --dry-run, a looping dry run, and a looping run
#     publishing to the local Mosquitto (127.0.0.1:1883, plain MQTT)
#   * CPU time of one collection against a generated proc root with 1,000 TCP sockets
#   * the same for AWSIoTDeviceDefenderAgentSDK (PyPI) in a throwaway venv, in dry-run mode
# Prints a Markdown table on stdout; progress on stderr.
# Usage: scripts/bench-agent.sh [seconds-per-loop-run]   (default 10)
set -euo pipefail

cd "$(dirname "$0")/.."
SECS="${1:-10}"
SOCKETS=1000
ROUNDS=2000
WORK="$(mktemp -d /tmp/fleetward-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
log() { echo "bench: $*" >&2; }

if [ ! -x /usr/bin/time ]; then
    log "installing GNU time"
    apt-get install -y time >/dev/null
fi

# Peak RSS in KiB of a command (max over it and its waited-for children).
peak_rss() {
    /usr/bin/time -v "$@" 2>"$WORK/time.txt" >/dev/null || true
    awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

log "building release"
cargo build --release -q -p fleetward-agent --bin fleetward-agent --example bench_collect
BIN=target/release/fleetward-agent
cp "$BIN" "$WORK/fleetward-agent"
strip "$WORK/fleetward-agent"
SIZE=$(stat -c %s "$WORK/fleetward-agent")
UNSTRIPPED=$(stat -c %s "$BIN")

log "fleetward-agent: peak RSS"
RSS_ONCE=$(peak_rss "$WORK/fleetward-agent" --once --dry-run)
RSS_DRY=$(peak_rss timeout -s TERM "$SECS" "$WORK/fleetward-agent" --dry-run \
    --set allow_short_interval=true --interval-secs 1)
RSS_MQTT=$(peak_rss timeout -s TERM "$SECS" "$WORK/fleetward-agent" \
    --thing-name "bench-$$" --host 127.0.0.1 --port 1883 --set mqtt.tls=false \
    --set allow_short_interval=true --interval-secs 1 --log-level warn)

log "fleetward-agent: CPU per collection ($SOCKETS sockets, $ROUNDS rounds)"
mkdir -p "$WORK/proc"
target/release/examples/bench_collect "$SOCKETS" "$ROUNDS" "$WORK/proc" >"$WORK/rust.txt"
RUST_US=$(awk -F= '/^collect_cpu_us=/ {print $2}' "$WORK/rust.txt")
RUST_ENC_US=$(awk -F= '/^collect_and_encode_cpu_us=/ {print $2}' "$WORK/rust.txt")

log "AWS Python agent: venv + pip install AWSIoTDeviceDefenderAgentSDK"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q AWSIoTDeviceDefenderAgentSDK >&2
PY="$WORK/venv/bin/python"
PYVER=$("$WORK/venv/bin/pip" show AWSIoTDeviceDefenderAgentSDK | awk '/^Version/ {print $2}')
VENV_KB=$(du -sk "$WORK/venv" | cut -f1)

log "AWS Python agent: peak RSS (dry run, interval 1 s, $SECS s)"
PY_ARGS=(-m AWSIoTDeviceDefenderAgentSDK.agent -e unused.example.com -r none -c none -k none
    -id bench -d -f json -i 1)
PY_RSS=$(peak_rss timeout -s TERM "$SECS" "$PY" "${PY_ARGS[@]}")
PY_RSS_CM=$(peak_rss timeout -s TERM "$SECS" "$PY" "${PY_ARGS[@]}" -cm)

log "AWS Python agent: CPU per collection on the same proc root"
cat >"$WORK/pybench.py" <<'PYEOF'
import sys, time, psutil
psutil.PROCFS_PATH = sys.argv[1]
from AWSIoTDeviceDefenderAgentSDK import collector
c = collector.Collector(short_metrics_names=False, use_custom_metrics=False)
for _ in range(5):
    m = c.collect_metrics()
n = int(sys.argv[2])
t = time.process_time()
for _ in range(n):
    m = c.collect_metrics()
    m.to_json_string()
print("collect_and_encode_cpu_us=%.1f" % ((time.process_time() - t) / n * 1e6))
t = time.process_time()
for _ in range(n):
    c.collect_metrics()
print("collect_cpu_us=%.1f" % ((time.process_time() - t) / n * 1e6))
PYEOF
"$PY" "$WORK/pybench.py" "$WORK/proc" 200 >"$WORK/py.txt"
PY_US=$(awk -F= '/^collect_cpu_us=/ {print $2}' "$WORK/py.txt")
PY_ENC_US=$(awk -F= '/^collect_and_encode_cpu_us=/ {print $2}' "$WORK/py.txt")

cat <<TABLE
Machine: $(uname -srmv), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs
Date: $(date -u +%Y-%m-%dT%H:%MZ)

| measure | fleetward-agent | AWS Python agent $PYVER | target |
|---|---|---|---|
| stripped binary / install size | $(mib $((SIZE / 1024))) MiB (unstripped $(mib $((UNSTRIPPED / 1024))) MiB) | venv $(mib "$VENV_KB") MiB | <= 6 MiB |
| peak RSS, one dry-run report | $(mib "$RSS_ONCE") MiB | - | |
| peak RSS, dry run every 1 s for $SECS s | $(mib "$RSS_DRY") MiB | $(mib "$PY_RSS") MiB ($(mib "$PY_RSS_CM") MiB with -cm) | <= 8 MiB |
| peak RSS, publishing every 1 s to Mosquitto for $SECS s | $(mib "$RSS_MQTT") MiB | - | <= 8 MiB |
| CPU per collection, $SOCKETS sockets | $RUST_US us | $PY_US us | <= 2000 us |
| CPU per collection + JSON encoding, $SOCKETS sockets | $RUST_ENC_US us | $PY_ENC_US us | |
TABLE
