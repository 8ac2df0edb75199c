#!/usr/bin/env bash
# Load figures of BENCHMARKS.md: `faircash bank serve` on loopback, driven by
# examples/load.rs, in three configurations:
#
#   sqlite-1     one node on SQLite (the default store)
#   postgres-1   one node on PostgreSQL
#   postgres-2   two nodes on one PostgreSQL database
#
# PostgreSQL comes from .ci/postgres.sh (Debian's package on 127.0.0.1:55432,
# started if it is not running); every run gets a fresh database, dropped at
# the end. Prints one table. The work per run is bounded; set it with
#   CLIENTS (4) USERS (16) MERCHANTS (4) WITHDRAWALS (1024) DEPOSITS (32)
#   PAYMENTS (payments per deposit, 4) COINS (coins per payment, 8)
#   CONFIGS ("sqlite-1 postgres-1 postgres-2") PORT (18480, first port)
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS="${CLIENTS:-4}"
USERS="${USERS:-16}"
MERCHANTS="${MERCHANTS:-4}"
WITHDRAWALS="${WITHDRAWALS:-1024}"
DEPOSITS="${DEPOSITS:-32}"
PAYMENTS="${PAYMENTS:-4}"
COINS="${COINS:-8}"
CONFIGS="${CONFIGS:-sqlite-1 postgres-1 postgres-2}"
PORT="${PORT:-18480}"

cargo build --quiet --release --bin faircash --example load
FC="$PWD/target/release/faircash"
LOAD="$PWD/target/release/examples/load"

work="$(mktemp -d -t faircash-load.XXXXXX)"
pids=()
databases=()
pg_base=""

stop_nodes() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    pids=()
}

cleanup() {
    stop_nodes
    for db in "${databases[@]}"; do
        psql -q "$pg_base/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# serve DIR PORT: starts a node and waits until it answers /v1/health.
serve() {
    FAIRCASH_LOG="${FAIRCASH_LOG:-info,faircash::roles::bank=debug}" \
        "$FC" bank serve --dir "$1" --listen "127.0.0.1:$2" >"$work/serve-$2.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        if curl -sf "http://127.0.0.1:$2/v1/health" >/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "node on port $2 did not start:" >&2
    cat "$work/serve-$2.log" >&2
    exit 1
}

# run LABEL DIR URLS: one load run, appended to results.jsonl.
run() {
    echo "== $1" >&2
    "$LOAD" --bank "$3" --bank-dir "$2" --label "$1" --json \
        --clients "$CLIENTS" --users "$USERS" --merchants "$MERCHANTS" \
        --withdrawals "$WITHDRAWALS" --deposits "$DEPOSITS" \
        --payments-per-deposit "$PAYMENTS" --coins-per-payment "$COINS" \
        >"$work/run.json"
    stop_nodes
    # Transactions the nodes ran again after a serialization failure or a
    # lost uniqueness race (debug lines of Bank::run_tx).
    # Counted in all and by transaction name (the `tx` field).
    local retries by_tx
    retries="$(cat "$work"/serve-*.log | grep -c "transaction retried" || true)"
    by_tx="$(cat "$work"/serve-*.log | grep "transaction retried" | grep -o 'tx="\?[a-z_]*' | tr -d '"' \
        | sed 's/^tx=//' | sort | uniq -c | awk '{printf "%s%s %s", sep, $2, $1; sep=", "}' || true)"
    rm -f "$work"/serve-*.log
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); r["tx_retries"] = int(sys.argv[2]); r["tx_retries_by"] = sys.argv[3]; print(json.dumps(r))' \
        "$work/run.json" "$retries" "$by_tx" | tee -a "$work/results.jsonl" >&2
}

# fresh_db: creates a database; sets DB_URL to its URL.
fresh_db() {
    if [ -z "$pg_base" ]; then
        local url
        url="$(bash .ci/postgres.sh)"
        pg_base="${url%/*}"
    fi
    local db="faircash_load_$(date +%s)_$$_${#databases[@]}"
    psql -q "$pg_base/postgres" -c "CREATE DATABASE $db" >/dev/null
    databases+=("$db")
    DB_URL="$pg_base/$db"
}

"$FC" ttp keygen --dir "$work/ttp" >/dev/null

for config in $CONFIGS; do
    dir="$work/$config"
    case "$config" in
        sqlite-1)
            "$FC" bank init --dir "$dir" --ttp-key "$work/ttp/ttp.pub.json" >/dev/null
            serve "$dir" "$PORT"
            run "$config" "$dir" "http://127.0.0.1:$PORT"
            ;;
        postgres-1)
            fresh_db
            "$FC" bank init --dir "$dir" --ttp-key "$work/ttp/ttp.pub.json" --db "$DB_URL" >/dev/null
            serve "$dir" "$PORT"
            run "$config" "$dir" "http://127.0.0.1:$PORT"
            ;;
        postgres-2)
            fresh_db
            "$FC" bank init --dir "$dir" --ttp-key "$work/ttp/ttp.pub.json" --db "$DB_URL" >/dev/null
            serve "$dir" "$PORT"
            serve "$dir" "$((PORT + 1))"
            run "$config" "$dir" "http://127.0.0.1:$PORT,http://127.0.0.1:$((PORT + 1))"
            ;;
        *)
            echo "unknown configuration $config" >&2
            exit 2
            ;;
    esac
    stop_nodes
done

python3 - "$work/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if rows:
    r = rows[0]
    print(f"clients {r['clients']}, users {r['users']}, merchants {r['merchants']}; "
          f"deposit requests of {r['payments_per_deposit']} payments × {r['coins_per_payment']} coins")
print()
print("| configuration | nodes | withdrawals/s (coins) | withdrawal p50 / p90 / p99 (ms) "
      "| deposited coins/s | deposit request p50 / p90 / p99 (ms) | transactions retried |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    w, d = r["withdrawals"], r["deposits"]
    print(f"| {r['label']} | {r['nodes']} | {w['coins_per_s']:.0f} ({w['coins']} in {w['wall_s']:.1f} s) "
          f"| {w['p50_ms']:.1f} / {w['p90_ms']:.1f} / {w['p99_ms']:.1f} "
          f"| {d['coins_per_s']:.0f} ({d['coins']} in {d['wall_s']:.1f} s) "
          f"| {d['p50_ms']:.1f} / {d['p90_ms']:.1f} / {d['p99_ms']:.1f} | {r['tx_retries']} |")
print()
for r in rows:
    if r.get("tx_retries_by"):
        print(f"{r['label']}: retried transactions by name: {r['tx_retries_by']}")
PY
