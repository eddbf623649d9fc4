#!/bin/sh
# Decoder speed against the peers (../shared/bench): Qwen3-Embedding-0.6B shape, BF16
# checkpoint, 2 threads; one bench.py run with xling as stored (BF16 weights, float32
# arithmetic) and one with --quantize q8, each next to ONNX Runtime and llama.cpp
# f32 / q8_0, then the embedding check against PyTorch for both.
#
#   sh bench/decoder_bench.sh [-x XLING] [-r ROUNDS] [-o PREFIX]
#     -x XLING   the xling binary (default build/xling, made absolute)
#     -r ROUNDS  bench.py --rounds (default 3: medians for claims)
#     -o PREFIX  results prefix (default /tmp/bench-qwen3): PREFIX-bf16.{md,json},
#                PREFIX-q8.{md,json}
#
# Prerequisites: bash ../shared/bench/setup.sh and
# /usr/bin/python3 ../shared/bench/gen_models.py --shapes qwen3-0.6b (see its README).
# The whole run holds /tmp/xling-bench.lock so no other timed run overlaps it.
set -eu
XLING=build/xling
ROUNDS=3
PREFIX=/tmp/bench-qwen3
while [ $# -gt 0 ]; do
    case "$1" in
    -x) XLING=$2; shift 2 ;;
    -r) ROUNDS=$2; shift 2 ;;
    -o) PREFIX=$2; shift 2 ;;
    *) echo "usage: $0 [-x XLING] [-r ROUNDS] [-o PREFIX]" >&2; exit 2 ;;
    esac
done
case "$XLING" in /*) ;; *) XLING=$(pwd)/$XLING ;; esac
[ -x "$XLING" ] || { echo "$0: $XLING is not an executable (build first: make)" >&2; exit 2; }
BENCH=$(cd "$(dirname "$0")/../../shared/bench" 2>/dev/null && pwd) || BENCH=/work/shared/bench
# The environment may pin OpenBLAS to Haswell kernels: unset for the measurement (the
# decoder path does not use OpenBLAS, but keep the rows comparable with the encoders').
BASE="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $XLING bench-embed -m {hf} --batch {batch} --seq {seq} --reps {reps} --threads {threads} --json"

for mode in bf16 q8; do
    cmd=$BASE
    [ "$mode" = q8 ] && cmd="$BASE --quantize q8"
    echo "== $mode: $cmd"
    XLING_CMD=$cmd flock /tmp/xling-bench.lock /usr/bin/python3 "$BENCH/bench.py" --shapes qwen3-0.6b \
        --peers ort,llama-f32,llama-q8_0 --rounds "$ROUNDS" --out "$PREFIX-$mode"
    XLING_CMD=$cmd flock /tmp/xling-bench.lock /usr/bin/python3 "$BENCH/bench.py" --shapes qwen3-0.6b --check \
        --peers torch,ort,llama-f32,llama-q8_0
done
