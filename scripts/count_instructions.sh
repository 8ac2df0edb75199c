#!/usr/bin/env bash
# Instruction counts of the deposit verification paths (BENCHMARKS.md,
# "Instruction counts"): benches/deposit_instructions.rs under callgrind,
# counting only its run_* functions. A loaded machine changes timings, not
# these counts. Usage: bash scripts/count_instructions.sh [n]   (n = 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1024}"
bin="$(cargo bench --bench deposit_instructions --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "deposit_instructions" and m.get("executable"):
        print(m["executable"])')"
out="$(mktemp -d)"
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" --collect-atstart=no \
    --toggle-collect='deposit_instructions::run_*' "$bin" "$n" >/dev/null 2>"$out/valgrind.log"
callgrind_annotate --inclusive=yes "$out/callgrind.out" 2>/dev/null \
    | awk -v n="$n" '/deposit_instructions::run_/ {
        gsub(",", "", $1); name = $0; sub(/.*deposit_instructions::run_/, "", name); sub(/ .*/, "", name)
        printf "%-22s %15.0f instructions  %10.0f per coin\n", name, $1, $1 / n }'
rm -rf "$out"
