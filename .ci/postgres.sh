#!/usr/bin/env bash
# Installs PostgreSQL from Debian's packages (if missing) and starts a
# throw-away cluster on 127.0.0.1:${PGPORT:-55432} with trust authentication.
# Prints the URL to use as FAIRCASH_TEST_POSTGRES. Idempotent.
set -euo pipefail
PGPORT="${PGPORT:-55432}"
PGDATA="${PGDATA:-/tmp/faircash-pg}"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    (apt-get install -y --no-install-recommends postgresql >/dev/null 2>&1) || {
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends postgresql >/dev/null
    }
fi
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"

run_as_pg() {
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

if ! run_as_pg "$BIN/pg_isready -h 127.0.0.1 -p $PGPORT -q"; then
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        mkdir -p "$PGDATA"
        [ "$(id -u)" = 0 ] && chown postgres "$PGDATA"
        run_as_pg "$BIN/initdb -D $PGDATA -A trust -U postgres >/dev/null"
    fi
    run_as_pg "$BIN/pg_ctl -D $PGDATA -l $PGDATA/server.log -w -o '-c listen_addresses=127.0.0.1 -p $PGPORT -c max_connections=200 -c fsync=on' start >/dev/null"
fi
for db in faircash_test faircash; do
    run_as_pg "$BIN/psql -h 127.0.0.1 -p $PGPORT -U postgres -tAc \"SELECT 1 FROM pg_database WHERE datname='$db'\"" | grep -q 1 \
        || run_as_pg "$BIN/createdb -h 127.0.0.1 -p $PGPORT -U postgres $db"
done
echo "postgres://postgres@127.0.0.1:$PGPORT/faircash_test"
