#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for tests and benchmarks and prints its URL.
# Usage: eval "$(bash .ci/pg-start.sh)"   -> exports PG_TMP_DIR, PG_TMP_URL
# Installs postgresql with apt-get when no server binaries are found.
# initdb refuses root, so the cluster runs as the 'postgres' user in a temporary directory.
set -euo pipefail

find_bindir() {
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

BINDIR=$(find_bindir || true)
if [ -z "$BINDIR" ]; then
  echo "pg-start: no PostgreSQL server found, installing with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BINDIR=$(find_bindir)
fi

RUN_AS=()
if [ "$(id -u)" = "0" ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
  RUN_AS=(runuser -u postgres --)
fi

PORT=$(python3 - <<'PY' 2>/dev/null || echo 55432
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
)

DIR=$(mktemp -d /tmp/gpu-scaler-pg.XXXXXX)
chmod 755 "$DIR"
[ "${#RUN_AS[@]}" -gt 0 ] && chown postgres "$DIR"
"${RUN_AS[@]}" "$BINDIR/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --no-locale >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; exit 1; }
"${RUN_AS[@]}" "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on -c synchronous_commit=on" start >&2 \
  || { cat "$DIR/server.log" >&2; exit 1; }
"${RUN_AS[@]}" "$BINDIR/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qAt -c "create database gpu_scaler_test" >&2

echo "export PG_TMP_DIR='$DIR' PG_TMP_BINDIR='$BINDIR' PG_TMP_URL='postgres://postgres@127.0.0.1:$PORT/gpu_scaler_test'"
