#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1 for the tests and print its SQLAlchemy URL.
# Installs Debian's postgresql when it is missing and we are root. Prints nothing (and exits 0)
# when no server can be had, so the PostgreSQL tests skip with a reason instead.
set -euo pipefail
PORT="${ZHIKU_TEST_PG_PORT:-54329}"
DIR="${ZHIKU_TEST_PG_DIR:-/tmp/zhiku-pg}"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
[ -n "$bin" ] || { echo "postgres.sh: no PostgreSQL server binaries; PostgreSQL tests will skip" >&2; exit 0; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if ! as_pg "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; then
  if [ ! -f "$DIR/PG_VERSION" ]; then
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    as_pg "$bin/initdb" -D "$DIR" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  as_pg "$bin/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k /tmp -c fsync=off" start >/dev/null
fi
as_pg "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname='zhiku_test'" | grep -q 1 ||
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U postgres zhiku_test
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/zhiku_test"
