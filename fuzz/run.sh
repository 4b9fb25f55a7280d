#!/usr/bin/env bash
# Run the cargo-fuzz targets on their committed corpus.
#
#   bash fuzz/run.sh [TARGET] [SECONDS]
#
# TARGET empty (or absent) runs every target in fuzz/fuzz_targets/, one after the other, each for
# SECONDS (default 60). New corpus entries land next to the committed seed-* files and are ignored
# by git; crashes go to fuzz/artifacts/<target>/. Exits non-zero if any target crashed or failed.
# Needs the nightly toolchain and cargo-fuzz (`make fuzz-deps`).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
target="${1:-}"
secs="${2:-}"
secs="${secs:-60}"

if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -eq 0 ]; then
    echo "run.sh: SECONDS must be a positive integer, got '$secs'" >&2
    exit 2
fi

targets=()
if [ -n "$target" ]; then
    if [ ! -f "$here/fuzz_targets/$target.rs" ]; then
        echo "run.sh: no fuzz target '$target' (have: $(cd "$here/fuzz_targets" && ls *.rs | sed 's/\.rs$//' | tr '\n' ' '))" >&2
        exit 2
    fi
    targets=("$target")
else
    for f in "$here"/fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

# -a: debug assertions and overflow checks on, as in `cargo test`. The same flags for build and
# run, so the run does not rebuild.
fuzz_flags=(-a)
cd "$root" || exit 2

start=$(date +%s)
logdir="$here/target/fuzz-logs"
mkdir -p "$logdir"
echo "== building fuzz targets: ${targets[*]}"
build_target=()
if [ "${#targets[@]}" -eq 1 ]; then
    build_target=("${targets[0]}")
fi
if ! cargo +nightly fuzz build "${fuzz_flags[@]}" "${build_target[@]}" >"$logdir/build.log" 2>&1; then
    tail -60 "$logdir/build.log" >&2
    echo "run.sh: build failed (full log: ${logdir#"$root"/}/build.log)" >&2
    exit 1
fi
built=$(date +%s)
echo "   built in $((built - start))s"

summary=()
failed=0
for t in "${targets[@]}"; do
    corpus="$here/corpus/$t"
    mkdir -p "$corpus" "$here/artifacts/$t"
    args=(
        -max_total_time="$secs"
        -max_len=4096
        -rss_limit_mb=2048
        -timeout=10
        -print_final_stats=1
        -artifact_prefix="$here/artifacts/$t/"
    )
    # FUZZ_SEED: libFuzzer's random seed. CI fixes it (`make fuzz-ci`), so a run on a given
    # commit tries the same inputs in the same order and its verdict does not depend on luck;
    # `make fuzz` leaves it random, to explore.
    if [ -n "${FUZZ_SEED:-}" ]; then
        args+=(-seed="$FUZZ_SEED")
    fi
    if [ -f "$here/$t.dict" ]; then
        args+=(-dict="$here/$t.dict")
    fi
    log="$logdir/$t.log"
    seeds=$(find "$corpus" -maxdepth 1 -type f -name 'seed-*' | wc -l)
    echo "== fuzzing $t for ${secs}s ($seeds seeds, log: ${log#"$root"/})"
    t0=$(date +%s)
    cargo +nightly fuzz run "${fuzz_flags[@]}" "$t" "$corpus" -- "${args[@]}" >"$log" 2>&1
    rc=$?
    t1=$(date +%s)
    # libFuzzer's closing lines: "#N DONE cov: C ft: F corp: K/..." and the final stats.
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        status=ok
    else
        status="FAILED (exit $rc)"
        failed=1
        if grep -q 'panicked at' "$log"; then
            echo "---- $t: the failed assertion ----"
            sed -n '/panicked at/,/^stack backtrace:/p' "$log" | grep -v '^stack backtrace:' | head -60
        else
            echo "---- $t: last lines of the log ----"
            grep -v '^#[0-9]' "$log" | grep -v '^ *[0-9]*: \|^ *at ' | tail -40
        fi
        crash=$(grep -Eo "$here/artifacts/$t/[a-z-]+-[0-9a-f]+" "$log" | tail -1)
        if [ -n "$crash" ]; then
            echo "---- reproduce: cargo +nightly fuzz run ${fuzz_flags[*]} $t fuzz/artifacts/$t/$(basename "$crash")"
            echo "---- minimise: cargo +nightly fuzz tmin ${fuzz_flags[*]} $t fuzz/artifacts/$t/$(basename "$crash")"
        fi
    fi
    summary+=("$(printf '%-14s %-18s %5ss  runs=%-10s exec/s=%-8s %s' "$t" "$status" "$((t1 - t0))" "${runs:-?}" "${speed:-?}" "${cov:-}")")
done

echo "== summary (build $((built - start))s, total $(($(date +%s) - start))s)"
printf '%s\n' "${summary[@]}"
exit "$failed"
