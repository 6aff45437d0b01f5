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

# The store's contract runs on PostgreSQL too: each test makes and drops its own database on
# this server (FLEETWARD_TEST_POSTGRES overrides where; trust auth as the postgres user).
ensure_postgres() {
  if port_open 127.0.0.1 5432; then
    return
  fi
  echo "PostgreSQL is not answering on 127.0.0.1:5432; starting it"
  if ! command -v pg_ctlcluster >/dev/null; then
    apt-get update -qq && apt-get install -y -qq postgresql
  fi
  local cluster
  cluster=$(pg_lsclusters --no-header 2>/dev/null | awk 'NR == 1 { print $1 " " $2 }')
  if [ -n "$cluster" ]; then
    # shellcheck disable=SC2086 # "version name", two arguments
    pg_ctlcluster $cluster start || service postgresql start
  else
    service postgresql start
  fi
  for _ in $(seq 1 100); do
    port_open 127.0.0.1 5432 && return
    sleep 0.2
  done
  echo "error: PostgreSQL could not be started on 127.0.0.1:5432" >&2
  exit 1
}

ensure_mosquitto
ensure_postgres
cargo test --workspace --all-features "$@"

# The real AWS SDK for Python and the AWS CLI against a started server (installs them into a
# virtualenv under the target directory; fails, never skips, when something is missing).
scripts/compat.sh
