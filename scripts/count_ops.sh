#!/usr/bin/env bash
# Counts the group operations of every benchmarked operation and writes
# benches/floor_counts.json (see BENCHMARKS.md, "The floor").
#
#   bash scripts/count_ops.sh           # recount, write benches/floor_counts.json
#   bash scripts/count_ops.sh --check   # recount, fail if the file differs (CI)
#
# Builds scripts/count_ops.rs against an instrumented copy of the locked
# curve25519-dalek (scripts/instrument_dalek.py). The crate lives in
# target/count_ops and builds into target/ with the project's lock file, so
# every dependency that does not depend on curve25519-dalek is shared with
# the project's own release build.
set -euo pipefail
check=0
case "${1:-}" in
    --check) check=1 ;;
    "") ;;
    *) echo "usage: count_ops.sh [--check]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
root="$PWD"
work="$root/target/count_ops"
version="$(awk '/^name = "curve25519-dalek"$/ {getline; print $3}' Cargo.lock | tr -d '"')"
cargo fetch --quiet
src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"curve25519-dalek-$version" | head -1)"
mkdir -p "$work/crate/src/common"
python3 scripts/instrument_dalek.py "$src" "$work/curve25519-dalek"
cp scripts/count_ops.rs "$work/crate/src/main.rs"
cp benches/common/mod.rs "$work/crate/src/common/mod.rs"
cp Cargo.lock "$work/crate/Cargo.lock"
cat > "$work/crate/Cargo.toml" <<TOML
[package]
name = "count-ops"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
faircash = { path = "$root" }
criterion = "0.8"
curve25519-dalek = "$version"
rand = "0.8"
serde_json = "1"
tikv-jemallocator = "0.6"

[patch.crates-io]
curve25519-dalek = { path = "$work/curve25519-dalek" }

[workspace]
TOML
cargo run --quiet --release --manifest-path "$work/crate/Cargo.toml" --target-dir "$root/target" \
    > "$work/floor_counts.json"
if [ "$check" = 1 ]; then
    if ! diff -u benches/floor_counts.json "$work/floor_counts.json"; then
        echo "benches/floor_counts.json does not match the code: the counted group operations changed." >&2
        echo "Run 'bash scripts/count_ops.sh', commit the file, and re-measure the floors (BENCHMARKS.md)." >&2
        exit 1
    fi
    echo "benches/floor_counts.json matches the operations the code performs"
else
    mv "$work/floor_counts.json" benches/floor_counts.json
    echo "wrote benches/floor_counts.json"
fi
