#!/usr/bin/env bash
# Counts the group operations of every benchmarked operation and writes
# benches/floor_counts.json (see BENCHMARKS.md, "The floor").
#
# Builds scripts/count_ops.rs against an instrumented copy of the locked
# curve25519-dalek (scripts/instrument_dalek.py), in target/count_ops.
set -euo pipefail
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
cargo run --quiet --release --manifest-path "$work/crate/Cargo.toml" --target-dir "$work/target" \
    > "$work/floor_counts.json"
mv "$work/floor_counts.json" benches/floor_counts.json
echo "wrote benches/floor_counts.json"
