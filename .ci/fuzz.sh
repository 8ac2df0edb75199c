#!/usr/bin/env bash
# The fuzz targets in CI: builds the fuzz crate (a workspace member, so it
# reuses the release build's dependencies) and runs every target's body on
# mutations of its seeds (the test vectors) for FUZZ_SECONDS seconds each
# (default 15), two targets at a time. A crash fails CI and leaves its input
# in fuzz/artifacts/<target>/. Coverage-guided runs with libFuzzer are
# `cargo fuzz run` (fuzz/README.md): their instrumented build of every
# dependency would cost CI several minutes more.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-15}"

cargo build --quiet --release -p faircash-fuzz --no-default-features --examples
runner=target/release/examples/mutate

# Every libFuzzer target (fuzz_targets/NAME.rs) runs the body of the same
# name, and the runner knows every one.
targets="$("$runner" --list)"
for f in fuzz/fuzz_targets/*.rs; do
    name="$(basename "$f" .rs)"
    grep -qx "$name" <<<"$targets" || { echo "fuzz target $name: the runner does not know it" >&2; exit 1; }
    grep -q "faircash_fuzz::$name" "$f" || { echo "$f does not run faircash_fuzz::$name" >&2; exit 1; }
done

failed=0
set -- $targets
while [ $# -gt 0 ]; do
    pids=()
    for t in "$1" "${2:-}"; do
        [ -n "$t" ] || continue
        "$runner" "$t" "$seconds" & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    shift $(( $# >= 2 ? 2 : $# ))
done
exit "$failed"
