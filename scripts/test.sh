#!/usr/bin/env bash
# The test command: makes sure the services the tests use are up, then runs every test.
# Tests never skip a missing service; this script starts it or fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

ensure_mosquitto() {
  if port_open 127.0.0.1 1883; then
    return
  fi
  echo "Mosquitto is not answering on 127.0.0.1:1883; starting it"
  if ! command -v mosquitto >/dev/null; then
    apt-get update -qq && apt-get install -y -qq mosquitto
  fi
  local conf=/etc/mosquitto/mosquitto.conf
  if [ -f "$conf" ]; then
    mosquitto -d -c "$conf"
  else
    mosquitto -d -p 1883
  fi
  for _ in $(seq 1 50); do
    port_open 127.0.0.1 1883 && return
    sleep 0.2
  done
  echo "error: Mosquitto could not be started on 127.0.0.1:1883" >&2
  exit 1
}

ensure_mosquitto
cargo test --workspace --all-features "$@"

# The real AWS SDK for Python and the AWS CLI against a started server (installs them into a
# virtualenv under the target directory; fails, never skips, when something is missing).
scripts/compat.sh
