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
# the end. Prints one table: throughput, latency, retried transactions, and
# where the CPU time of each timed phase went: the load generator (client),
# the bank nodes, and the PostgreSQL backends serving the run's database
# (read from /proc before and after the phase, outside its wall time), with
# the server's (nodes + database) CPU per withdrawn and per deposited coin.
# Everything runs on one machine: the client's share is CPU the server would
# have on a machine of its own. The work per run is bounded; set it with
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
run_db=""
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

# The CPU probe the generator runs before and after each timed phase:
# appends "mark role pid ticks" lines (utime + stime of the process and all
# its threads, in clock ticks) for the generator, each node and each
# PostgreSQL backend connected to the run's database.
cat >"$work/probe.sh" <<'PROBE'
set -eu
work="$(dirname "$0")"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || true; }
{
    echo "$1 client $FAIRCASH_LOAD_PID $(ticks "$FAIRCASH_LOAD_PID")"
    for p in $(cat "$work/nodes.pids"); do echo "$1 node $p $(ticks "$p")"; done
    if [ -s "$work/db.url" ]; then
        for p in $(psql -tA "$(cat "$work/db.url")" \
            -c "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"); do
            echo "$1 database $p $(ticks "$p")"
        done
    fi
} >>"$work/cpu.log"
PROBE

# run LABEL DIR URLS: one load run, appended to results.jsonl.
run() {
    echo "== $1" >&2
    printf '%s\n' "${pids[@]}" >"$work/nodes.pids"
    printf '%s' "$run_db" >"$work/db.url"
    rm -f "$work/cpu.log"
    "$LOAD" --bank "$3" --bank-dir "$2" --label "$1" --json --cpu-probe "bash $work/probe.sh" \
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
    python3 - "$work/run.json" "$retries" "$by_tx" "$work/cpu.log" "$(getconf CLK_TCK)" <<'PY' | tee -a "$work/results.jsonl" >&2
import json, sys
r = json.load(open(sys.argv[1]))
r["tx_retries"] = int(sys.argv[2])
r["tx_retries_by"] = sys.argv[3]
# CPU seconds per phase and role: each process's ticks at the phase's end
# minus those at its start (0 for a process that started during it).
marks = {}
for line in open(sys.argv[4]):
    f = line.split()
    if len(f) == 4:
        marks.setdefault(f[0], {})[(f[1], f[2])] = int(f[3])
hz = float(sys.argv[5])
for phase in ("withdrawals", "deposits"):
    start, end = marks.get(phase + "-start", {}), marks.get(phase + "-end", {})
    cpu = {"client": 0.0, "node": 0.0, "database": 0.0}
    for (role, pid), t in end.items():
        cpu[role] += (t - start.get((role, pid), 0)) / hz
    r[phase]["cpu_s"] = cpu
print(json.dumps(r))
PY
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
    run_db="$DB_URL"
}

"$FC" ttp keygen --dir "$work/ttp" >/dev/null

for config in $CONFIGS; do
    dir="$work/$config"
    case "$config" in
        sqlite-1)
            run_db=""
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
      "| deposited coins/s | deposit request p50 / p90 / p99 (ms) | transactions retried (per request) |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    w, d = r["withdrawals"], r["deposits"]
    # A withdrawn coin is two requests (open, answer), a deposit one; each
    # request runs at least one transaction, so this bounds the retried
    # share of transactions from above.
    requests = 2 * w["coins"] + d["ops"]
    print(f"| {r['label']} | {r['nodes']} | {w['coins_per_s']:.0f} ({w['coins']} in {w['wall_s']:.1f} s) "
          f"| {w['p50_ms']:.1f} / {w['p90_ms']:.1f} / {w['p99_ms']:.1f} "
          f"| {d['coins_per_s']:.0f} ({d['coins']} in {d['wall_s']:.1f} s) "
          f"| {d['p50_ms']:.1f} / {d['p90_ms']:.1f} / {d['p99_ms']:.1f} "
          f"| {r['tx_retries']} ({100.0 * r['tx_retries'] / max(requests, 1):.2f} %) |")
print()
print("| configuration | phase | CPU s: client / nodes / database | client share | server CPU per coin (ms) |")
print("|---|---|---|---|---|")
for r in rows:
    for phase in ("withdrawals", "deposits"):
        p = r[phase]
        c = p.get("cpu_s")
        if not c:
            continue
        server = c["node"] + c["database"]
        total = server + c["client"]
        share = 100.0 * c["client"] / total if total else 0.0
        print(f"| {r['label']} | {phase} | {c['client']:.2f} / {c['node']:.2f} / {c['database']:.2f} "
              f"| {share:.0f} % | {1e3 * server / max(p['coins'], 1):.3f} |")
print()
for r in rows:
    if r.get("tx_retries_by"):
        print(f"{r['label']}: retried transactions by name: {r['tx_retries_by']}")
PY
