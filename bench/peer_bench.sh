#!/bin/sh
# Runs the shared peer benchmark (../shared/bench: ONNX Runtime, llama.cpp, PyTorch on the
# same random-weight models) with xling plugged in through its XLING_CMD contract
# (`xling bench-embed`). Not a test. Figures: tokens/s for the throughput case, ms for
# the latency case, peak RSS, ratio to ONNX Runtime, % of the fp32 FMA peak.
#
#   bench/peer_bench.sh e5-small,base            # encoders: ort, llama-f32, torch
#   PEERS=ort,llama-f32,llama-q8_0 bench/peer_bench.sh qwen3-0.6b
#   XLING_EXTRA="--quantize q8" bench/peer_bench.sh qwen3-0.6b
#
# Once per machine: bash ../shared/bench/setup.sh && /usr/bin/python3 ../shared/bench/gen_models.py --shapes SHAPES
# OpenBLAS's environment knobs (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE) are unset for the
# xling row: xling uses its own AVX-512 GEMM kernels where the CPU has them, and
# OpenBLAS's (OpenMP build) elsewhere; the peers run as the harness sets them up.
set -eu
cd "$(dirname "$0")/.."
SHAPES=${1:-e5-small,base}
PEERS=${PEERS:-ort,llama-f32,torch}
ROUNDS=${ROUNDS:-3}
SHARED=${XLING_SHARED:-../shared}
[ -x build/xling ] || make -j"$(nproc)" build/xling
XLING_CMD="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(pwd)/build/xling bench-embed -m {hf} --batch {batch} --seq {seq} --reps {reps} --threads {threads} --json ${XLING_EXTRA:-}"
export XLING_CMD
# CASES=b32xT128,b1xT16 keeps only those cases (default: the harness's, long ones included).
exec /usr/bin/python3 "$SHARED/bench/bench.py" --shapes "$SHAPES" --peers "$PEERS" --rounds "$ROUNDS" \
    ${CASES:+--cases "$CASES"} --out "${OUT:-/tmp/xling-bench-$(date +%Y%m%d-%H%M)}"
