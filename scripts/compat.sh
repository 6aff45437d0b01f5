#!/usr/bin/env bash
# AWS SDK compatibility test: builds fleetward, installs boto3, the AWS CLI and paho-mqtt (pinned
# in scripts/compat/requirements.txt) into a virtualenv under the target directory, and runs
# scripts/compat/compat_test.py against a real `fleetward serve`. Anything missing is an
# error: this script never skips.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
venv="$target/compat-venv"
req=scripts/compat/requirements.txt

if ! command -v python3 >/dev/null; then
  echo "error: python3 is required for the AWS SDK compatibility test" >&2
  exit 1
fi

# Same package selection and features as scripts/test.sh, so its build is reused.
cargo build --workspace --all-features --bin fleetward
bin="$(cd "$target/debug" && pwd)/fleetward"

# Reinstall when the pins change; a stamp keeps repeated runs offline and fast.
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv"; then
    # Debian splits venv out of python3; install it like scripts/test.sh installs Mosquitto.
    if command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv
      rm -rf "$venv"
    fi
    if ! python3 -m venv "$venv"; then
      echo "error: python3 -m venv failed; install python3-venv" >&2
      exit 1
    fi
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
fi

export FLEETWARD_BIN="$bin"
export PATH="$(cd "$venv/bin" && pwd):$PATH"
exec "$venv/bin/python" scripts/compat/compat_test.py "$@"
