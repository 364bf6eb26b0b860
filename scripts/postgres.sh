#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests and the bench, on a unix socket only (no TCP
# port to collide with), owned by the `postgres` user (PostgreSQL refuses to run as root).
#
#   scripts/postgres.sh start [DIR]   initialise (once) and start; prints the database URL
#   scripts/postgres.sh stop [DIR]    stop it (the data stays until DIR is removed)
#   scripts/postgres.sh url [DIR]     print the URL of a running cluster
#   scripts/postgres.sh destroy [DIR] stop it and remove DIR
#
# DIR defaults to /tmp/sloth-runner-pg. Idempotent: starting a running cluster prints its URL.
# The server is PostgreSQL from Debian (scripts/install-system-deps.sh --test installs it);
# synchronous_commit stays on, as in production.
set -euo pipefail
cmd="${1:-start}"
dir="${2:-/tmp/sloth-runner-pg}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [ -z "$bin" ] || [ ! -x "$bin/pg_ctl" ]; then
  echo "PostgreSQL server binaries not found under /usr/lib/postgresql; run scripts/install-system-deps.sh --test" >&2
  exit 1
fi
as_postgres() {
  if [ "$(id -un)" = "postgres" ]; then "$@"; else runuser -u postgres -- "$@"; fi
}
url() { echo "postgres://postgres@/postgres?host=$dir/socket"; }
running() { as_postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

case "$cmd" in
  start)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      mkdir -p "$dir/socket"
      chown -R postgres:postgres "$dir"
      chmod 700 "$dir"
      as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2; exit 1; }
      cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir/socket'
max_connections = 300
shared_buffers = 256MB
synchronous_commit = on
fsync = on
log_min_messages = warning
CONF
    fi
    if ! running; then
      as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
    fi
    url
    ;;
  stop)
    if running; then as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null; fi
    ;;
  url)
    running || { echo "no PostgreSQL cluster runs in $dir (scripts/postgres.sh start $dir)" >&2; exit 1; }
    url
    ;;
  destroy)
    if [ -d "$dir/data" ] && running; then as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true; fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: scripts/postgres.sh start|stop|url|destroy [DIR]" >&2
    exit 2
    ;;
esac
