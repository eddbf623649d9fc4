#!/bin/sh
# Runs every test binary in $BUILD/tests and every tests/cli/*.sh script, then prints
# one summary line: "N passed, N failed" (counts of checks; skipped ones listed too).
BUILD=${BUILD:-build}
export XLING_ROOT=${XLING_ROOT:-$(pwd)}
export XLING_BIN=${XLING_BIN:-$XLING_ROOT/$BUILD/xling}
pass=0; fail=0; skip=0; broken=""
log=$(mktemp)
# Tokenizer caches of this run go to a temporary folder, not next to the fixtures or
# into $HOME (the suite tests the cache itself in test_tok_cache).
XLING_TOKENIZER_CACHE=$(mktemp -d); export XLING_TOKENIZER_CACHE
# No test reaches the Hugging Face Hub: a Hub id is never pulled (tests/cli/hub_test.py
# sets its own environment and a local Hub on 127.0.0.1).
export HF_HUB_OFFLINE=1
trap 'rm -rf "$log" "$XLING_TOKENIZER_CACHE"' EXIT
run_one() {
    name=$1; shift
    start=$(date +%s)
    "$@" >"$log" 2>&1
    rc=$?
    line=$(grep -E '^[^ ]+: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "CRASH $name (exit $rc, no summary)"; tail -n 20 "$log"
        fail=$((fail + 1)); broken="$broken $name"; return
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -E 's/.* ([0-9]+) skipped$/\1/')
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
        grep -E '^(FAIL|SKIP)|ERROR|Sanitizer|runtime error' "$log" | head -n 40
        [ "$f" -eq 0 ] && { fail=$((fail + 1)); echo "  (exit $rc)"; }
        broken="$broken $name"
    fi
    case "$name" in *\[*) line="$line [${name#*\[}";; esac
    echo "$line ($(( $(date +%s) - start ))s)"
}
# XLING_TESTS (names) and XLING_TEST_RUNNER (e.g. qemu-aarch64) run a subset of the
# test binaries through an emulator: make aarch64-test. No CLI tests then.
if [ -n "${XLING_TESTS:-}" ]; then
    for t in $XLING_TESTS; do run_one "$t" ${XLING_TEST_RUNNER:-} "$BUILD/tests/$t"; done
    [ -n "$broken" ] && echo "failing:$broken"
    echo "$pass passed, $fail failed, $skip skipped"
    [ "$fail" -eq 0 ]
    exit
fi
# Everything once with the kernel set the CPU picks (or the caller's XLING_ISA)...
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.d) continue;; esac
    run_one "$(basename "$t")" "$t"
done
for s in tests/cli/*.sh; do
    [ -f "$s" ] || continue
    run_one "$(basename "$s")" sh "$s"
done
# ...then the tests that run kernels once more per other kernel set this CPU runs,
# forced with XLING_ISA (each against its float64 references; test_kernels also
# compares every set with generic in one process). XLING_TEST_ISAS overrides the list.
in_use=$(XLING_ISA= "$XLING_BIN" info --kernels | sed -n 's/^kernels *//p')
isas=${XLING_TEST_ISAS:-$(XLING_ISA= "$XLING_BIN" info --kernels | sed -n 's/^available *//p')}
for isa in $isas; do
    [ "$isa" = "${XLING_ISA:-$in_use}" ] && continue
    for t in test_kernels test_bert test_llama test_gemma3 test_embed test_rerank test_m3 test_chunk; do
        [ -x "$BUILD/tests/$t" ] && run_one "$t[$isa]" env XLING_ISA="$isa" "$BUILD/tests/$t"
    done
    run_one "test_cli.sh[$isa]" env XLING_ISA="$isa" sh tests/cli/test_cli.sh
done
[ -n "$broken" ] && echo "failing:$broken"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
