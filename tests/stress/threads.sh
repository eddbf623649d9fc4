#!/bin/sh
# Manual stress test for threads (issue 9): `xling embed` on a 4-text batch at the
# default thread count, RUNS times while BUSY busy loops compete for the cores, each
# output compared byte for byte with the same batch at -t 1 (same kernels, same batch
# shape: the vectors must be identical); then the in-process test for SECONDS per model.
#   sh tests/stress/threads.sh [BUILD]     (env: RUNS=300 BUSY=4 STRESS_SECONDS=30)
# Not part of `make test` (tests/test_threads.c is its short form). Takes the machine's
# cores for its duration: on a shared machine, say so when quoting its timings.
BUILD=${1:-build}
RUNS=${RUNS:-300}
BUSY=${BUSY:-4}
SECS=${STRESS_SECONDS:-30}
XLING=$BUILD/xling
MODEL=tests/fixtures/models/xlmr-tiny
# the fixture's forwards are small enough to run on one thread by default: share them
export XLING_PAR_MIN_MACS=0
[ -x "$XLING" ] || { echo "threads.sh: $XLING not built (make first)" >&2; exit 2; }
tmp=$(mktemp -d)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
printf '%s\n' "Prate jo Italiaansk?" \
    "Bonjour le monde, ceci est un test un peu plus long que le premier." \
    "Hallo Welt" "मी टोकी पोनाचा अभ्यास करतो आहे. Tom is niet heel jong." >"$tmp/in.txt"
"$XLING" embed -m "$MODEL" -i "$tmp/in.txt" -t 1 --format f32 -o "$tmp/ref.f32" || exit 1
i=0
while [ "$i" -lt "$BUSY" ]; do
    sh -c 'while :; do :; done' &
    pids="$pids $!"
    i=$((i + 1))
done
bad=0
i=0
while [ "$i" -lt "$RUNS" ]; do
    "$XLING" embed -m "$MODEL" -i "$tmp/in.txt" --format f32 -o "$tmp/out.f32" || { echo "run $i: embed failed"; bad=$((bad + 1)); }
    cmp -s "$tmp/out.f32" "$tmp/ref.f32" || { echo "run $i: vectors differ from -t 1"; bad=$((bad + 1)); }
    i=$((i + 1))
done
for p in $pids; do kill "$p" 2>/dev/null; done
pids=""
echo "cli: $bad of $RUNS default-thread runs differ from -t 1 (with $BUSY busy loops; load $(cut -d' ' -f1-3 /proc/loadavg))"
XLING_ROOT=${XLING_ROOT:-$(pwd)} XLING_STRESS_SECONDS=$SECS XLING_STRESS_BUSY=$BUSY "$BUILD/tests/test_threads"
rc=$?
[ "$bad" -eq 0 ] && [ "$rc" -eq 0 ]
