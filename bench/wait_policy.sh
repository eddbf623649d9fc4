#!/bin/sh
# 1x16 latency idle vs with a busy loop pinned to one core, per OpenMP wait setting
# (issue 9, threads). Medians over REPS calls of `xling bench-embed` on MODEL (default:
# the xlmr-tiny fixture) and of bench/encoder_speed on an e5-small-shaped random model.
#   sh bench/wait_policy.sh [BUILD]   env: REPS=25, POLICIES="default passive spin10k ..."
# passive is what the xling CLI runs with unless told otherwise (cli/wait_policy.c);
# libgomp-default is the runtime's own (spin ~300000 pauses); spinN sets GOMP_SPINCOUNT=N;
# "none" leaves the environment alone. On a shared machine the figures move with other
# people's load: repeat, and say so.
BUILD=${1:-build}
REPS=${REPS:-25}
MODEL=${MODEL:-tests/fixtures/models/xlmr-tiny}
POLICIES=${POLICIES:-"passive libgomp-default"}
BUSY_CPU=${BUSY_CPU:-1}
busy=""
trap '[ -n "$busy" ] && kill $busy 2>/dev/null' EXIT INT TERM
env_for() {
    case $1 in
    none) echo "" ;;
    libgomp-default) echo "-u OMP_WAIT_POLICY GOMP_SPINCOUNT=300000" ;; # libgomp's own default spin
    passive) echo "OMP_WAIT_POLICY=passive" ;;
    active) echo "OMP_WAIT_POLICY=active" ;;
    spin*) n=${1#spin}; n=$(echo "$n" | sed 's/k$/000/'); echo "GOMP_SPINCOUNT=$n" ;;
    esac
}
median_of() { sed -n 's/.*"median_ms": *\([0-9.]*\).*/\1/p'; }
for load in idle busy; do
    if [ "$load" = busy ]; then
        taskset -c "$BUSY_CPU" sh -c 'while :; do :; done' &
        busy=$!
        sleep 0.5
    fi
    for pol in $POLICIES; do
        e=$(env_for "$pol")
        for t in 1 2; do
            a=$(env $e "$BUILD/xling" bench-embed -m "$MODEL" --batch 1 --seq 16 --reps "$REPS" -t $t --json | median_of)
            b=$(env $e "$BUILD/bench/encoder_speed" --batch 1 --seq 16 --reps "$REPS" --threads $t | median_of)
            echo "$load policy=$pol threads=$t tiny_1x16_ms=$a e5small_1x16_ms=$b load=$(cut -d' ' -f1 /proc/loadavg)"
        done
    done
    [ -n "$busy" ] && kill $busy && busy=""
done
