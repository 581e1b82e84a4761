#!/usr/bin/env bash
# Starts parley in the foreground as the proxy under test (for run.sh --start),
# like peers/kamailio.sh does for Kamailio. run.sh exports PROXY_HOST,
# PROXY_PORT and RUN_DIR. PARLEY_BIN (default bin/parley) is the binary,
# PARLEY_ARGS extra flags (e.g. "--mode stateless"), PARLEY_STORAGE the
# storage engine (default memory, as Kamailio's usrloc runs in memory;
# sqlite measures durable registrations). Loopback is trusted: the load
# comes from one address, which per-source limits would otherwise ban.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${PARLEY_BIN:-$here/../bin/parley}
run_dir=${RUN_DIR:-$(mktemp -d)}
cfg=$run_dir/parley.yaml
cat >"$cfg" <<YAML
storage:
  engine: ${PARLEY_STORAGE:-memory}
admin:
  listen: ""
security:
  trusted: [127.0.0.0/8]   # sipp sends everything from one address
YAML
# shellcheck disable=SC2086
exec "$bin" serve --config "$cfg" --data-dir "$run_dir/data" \
  --listen "udp:$PROXY_HOST:$PROXY_PORT" --listen "tcp:$PROXY_HOST:$PROXY_PORT" \
  --log-level warn ${PARLEY_ARGS:-}
