#!/usr/bin/env bash
# Purity as a build fact: fails if fleetward-core's normal dependency tree holds an IO crate
# (an async runtime, a database driver, an HTTP, MQTT or TLS stack, a socket or file-watching
# library). The domain takes plain values; IO belongs to the store, server and api crates.
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden='^(tokio|tokio-[a-z-]+|async-std|smol|mio|sqlx|sqlx-[a-z-]+|libsqlite3-sys|rusqlite|postgres|tokio-postgres|axum|axum-[a-z-]+|hyper|hyper-[a-z-]+|reqwest|tower|tower-http|rmqtt|rmqtt-[a-z-]+|rumqttc|ntex|rustls|rustls-[a-z-]+|tokio-rustls|openssl|native-tls|ring|aws-lc-rs|aws-lc-sys|socket2|notify|tracing-subscriber|rcgen|x509-parser)$'

tree=$(cargo tree -p fleetward-core -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)
bad=$(printf '%s\n' "$tree" | grep -E "$forbidden" || true)
if [ -n "$bad" ]; then
  echo "error: fleetward-core must stay pure, but its dependency tree has IO crates:" >&2
  printf '  %s\n' $bad >&2
  echo "  (see why with: cargo tree -p fleetward-core -e normal -i <crate>)" >&2
  exit 1
fi
echo "fleetward-core is pure: $(printf '%s\n' "$tree" | wc -l) crates in its tree, none of them IO"
