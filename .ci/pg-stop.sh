#!/usr/bin/env bash
# Stops the server started by pg-start.sh and removes its directory.
set -u
[ -n "${PG_TMP_DIR:-}" ] || exit 0
if [ "$(id -u)" = "0" ]; then
  runuser -u postgres -- "$PG_TMP_BINDIR/pg_ctl" -D "$PG_TMP_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
else
  "$PG_TMP_BINDIR/pg_ctl" -D "$PG_TMP_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
fi
rm -rf "$PG_TMP_DIR"
