#!/bin/sh
# Thread counts at the command line: the default never exceeds the CPUs the process may
# use (taskset), OMP_NUM_THREADS lowers it, and -t above the usable CPUs is capped with
# one warning line. The count used is read from bench-embed's JSON ("threads"). Then the
# OpenMP wait policy the CLI sets for itself (cli/wait_policy.c).
# Prints "test_threads_cli: N passed, N failed, N skipped" last.
ROOT=${XLING_ROOT:-$(pwd)}
XLING=${XLING_BIN:-$ROOT/build/xling}
M=$ROOT/tests/fixtures/models/xlmr-tiny
pass=0 fail=0 skip=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { if [ "$1" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $2"; fi; }
threads_of() { sed -n 's/.*"threads":\([0-9]*\).*/\1/p' "$1"; }
# bench "PREFIX COMMAND" [options]: bench-embed run under PREFIX (taskset, env)
bench() { pre=$1; shift; $pre "$XLING" bench-embed -m "$M" --batch 1 --seq 4 --reps 1 --json "$@"; }
cpus=$(taskset -pc $$ 2>/dev/null | sed 's/.*: //' | tr ',' '\n' |
    awk -F- '{ n += ($2 == "" ? 1 : $2 - $1 + 1) } END { print n + 0 }')
first=$(taskset -pc $$ | sed 's/.*: //; s/[-,].*//')

# pinned to one CPU: the default is 1 thread, -t 8 is capped to 1 with one warning line
bench "taskset -c $first" >"$tmp/o" 2>"$tmp/e"
ok $? "bench-embed under taskset failed: $(cat "$tmp/e")"
ok "$([ "$(threads_of "$tmp/o")" = 1 ] && echo 0 || echo 1)" "default threads under taskset -c $first: $(threads_of "$tmp/o") (want 1)"
ok "$([ ! -s "$tmp/e" ] && echo 0 || echo 1)" "no warning without -t: $(cat "$tmp/e")"
bench "taskset -c $first" -t 8 >"$tmp/o" 2>"$tmp/e"
ok $? "bench-embed -t 8 under taskset failed"
ok "$([ "$(threads_of "$tmp/o")" = 1 ] && echo 0 || echo 1)" "-t 8 under taskset: $(threads_of "$tmp/o") threads (want 1)"
ok "$([ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -q "warning: 8 threads requested, but this process may use 1 CPU; using 1" "$tmp/e" && echo 0 || echo 1)" \
    "-t 8 under taskset: one warning line, got: $(cat "$tmp/e")"

# embed under taskset with -t 8: the same vectors as -t 1 (both run on one thread)
printf 'Hallo Welt\nTengo de subir al árbol.\nShe is wearing red.\n' >"$tmp/in.txt"
taskset -c "$first" "$XLING" embed -m "$M" -i "$tmp/in.txt" -t 8 --format f32 -o "$tmp/a.f32" 2>"$tmp/e"
ok $? "embed -t 8 under taskset failed: $(cat "$tmp/e")"
ok "$([ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -q "^xling embed: warning: 8 threads requested" "$tmp/e" && echo 0 || echo 1)" \
    "embed -t 8 under taskset: one warning line, got: $(cat "$tmp/e")"
"$XLING" embed -m "$M" -i "$tmp/in.txt" -t 1 --format f32 -o "$tmp/b.f32" 2>"$tmp/e"
ok $? "embed -t 1 failed"
ok "$(cmp -s "$tmp/a.f32" "$tmp/b.f32" && echo 0 || echo 1)" "embed -t 8 under taskset differs from -t 1"

if [ "$cpus" -ge 2 ]; then
    bench "" >"$tmp/o" 2>"$tmp/e"
    ok "$([ "$(threads_of "$tmp/o")" = "$cpus" ] && echo 0 || echo 1)" "default threads: $(threads_of "$tmp/o") (want the $cpus usable CPUs)"
    bench "env OMP_NUM_THREADS=1" >"$tmp/o" 2>"$tmp/e"
    ok "$([ "$(threads_of "$tmp/o")" = 1 ] && echo 0 || echo 1)" "OMP_NUM_THREADS=1: $(threads_of "$tmp/o") threads (want 1)"
    bench "env OMP_NUM_THREADS=4096" >"$tmp/o" 2>"$tmp/e"
    ok "$([ "$(threads_of "$tmp/o")" = "$cpus" ] && echo 0 || echo 1)" "OMP_NUM_THREADS=4096: $(threads_of "$tmp/o") threads (want $cpus)"
    bench "" -t "$cpus" >"$tmp/o" 2>"$tmp/e"
    ok "$([ "$(threads_of "$tmp/o")" = "$cpus" ] && [ ! -s "$tmp/e" ] && echo 0 || echo 1)" "-t $cpus: no warning, $cpus threads"
else
    skip=$((skip + 4))
    echo "SKIP default and OMP_NUM_THREADS checks: only $cpus usable CPU"
fi
# wait policy, unless the user chose one: a short spin (GOMP_SPINCOUNT 30000) on a machine
# with a free core, passive (spin 0) when other runnable tasks hold all but one CPU.
# libgomp prints its settings at start-up (OMP_DISPLAY_ENV=verbose; the last print is the
# re-executed process's).
spin_of() { grep "GOMP_SPINCOUNT" "$1" | tail -n 1 | sed "s/.*= *'\([0-9]*\)'.*/\1/"; }
if [ -n "${OMP_WAIT_POLICY}${GOMP_SPINCOUNT}${KMP_BLOCKTIME}" ]; then
    skip=$((skip + 3))
    echo "SKIP wait policy: the caller set OMP_WAIT_POLICY, GOMP_SPINCOUNT or KMP_BLOCKTIME"
elif ! OMP_DISPLAY_ENV=verbose "$XLING" info -m "$M" 2>&1 >/dev/null | grep -q GOMP_SPINCOUNT; then
    skip=$((skip + 3))
    echo "SKIP wait policy: the OpenMP runtime is not libgomp"
else
    OMP_DISPLAY_ENV=verbose "$XLING" info -m "$M" >/dev/null 2>"$tmp/e"
    s=$(spin_of "$tmp/e")
    ok "$([ "$s" = 30000 ] || [ "$s" = 0 ] && echo 0 || echo 1)" "default wait policy: spin count $s (want 30000, or 0 on a busy machine)"
    # every CPU busy: passive
    n=$(nproc); pids=""
    i=0; while [ "$i" -lt "$n" ]; do sh -c 'while :; do :; done' & pids="$pids $!"; i=$((i + 1)); done
    sleep 0.3
    OMP_DISPLAY_ENV=verbose "$XLING" info -m "$M" >/dev/null 2>"$tmp/e"
    kill $pids 2>/dev/null; wait 2>/dev/null
    ok "$([ "$(spin_of "$tmp/e")" = 0 ] && echo 0 || echo 1)" "busy machine: spin count $(spin_of "$tmp/e") (want 0, passive)"
    OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose "$XLING" info -m "$M" >/dev/null 2>"$tmp/e"
    ok "$([ "$(spin_of "$tmp/e")" -gt 0 ] && echo 0 || echo 1)" "user's OMP_WAIT_POLICY=active kept: spin count $(spin_of "$tmp/e")"
fi
echo "test_threads_cli: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
