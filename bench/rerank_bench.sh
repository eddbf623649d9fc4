#!/bin/sh
# Reranking benchmark (not a test): 1 query x N documents (default 100) of 128 tokens with
# an XLM-R base-shape cross-encoder (the shared harness's random-weight base encoder plus a
# random classification head, made by bench/rerank_setup.py), xling (bench/rerank_speed:
# xl_rerank, tokenizing included) against ONNX Runtime (the harness's bench_ort.js on the
# ONNX export of the same weights, one batched run() of all pairs, ids given). Both get
# the same pair length; pair 0's raw score is compared between the two (same weights).
# Prints pairs/s of each, ROUNDS times interleaved.
#
#   flock /tmp/xling-bench.lock bench/rerank_bench.sh     # DOCS=100 REPS=3 ROUNDS=1 THREADS=2
#
# Once per machine: bash ../shared/bench/setup.sh && /usr/bin/python3 ../shared/bench/gen_models.py --shapes base
# (rerank_setup.py runs by itself when its model is missing). OPENBLAS_CORETYPE /
# OPENBLAS_L2_SIZE are unset for xling (its own AVX-512 / AVX2 GEMM; OpenBLAS only on the
# generic kernel set).
set -eu
cd "$(dirname "$0")/.."
SHARED=${XLING_SHARED:-../shared}
HOME_B=${XLING_BENCH_HOME:-$HOME/.cache/xling-bench}
M=$HOME_B/models/base-rerank
DOCS=${DOCS:-100} REPS=${REPS:-3} ROUNDS=${ROUNDS:-1} THREADS=${THREADS:-2}
# rerank_speed is a program on the library, which leaves the OpenMP wait policy to the
# program: on a shared machine libgomp's default spinning collapses (README, "Threads"),
# so passive unless the caller sets one (the xling CLI picks its policy itself).
WAIT=${OMP_WAIT_POLICY:-passive}
[ -x build/bench/rerank_speed ] || make build/bench/rerank_speed
[ -f "$M/onnx/model.onnx" ] || /usr/bin/python3 bench/rerank_setup.py
r=1
while [ "$r" -le "$ROUNDS" ]; do
    X=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY="$WAIT" build/bench/rerank_speed --model "$M/hf" --docs "$DOCS" \
        --doc-tokens 128 --reps "$REPS" --threads "$THREADS")
    T=$(printf '%s' "$X" | sed 's/.*"pair_tokens":\([0-9]*\).*/\1/')
    IDS=$(printf '%s' "$X" | sed 's/.*"ids0":"\([0-9,]*\)".*/\1/')
    O=$(cd "$HOME_B" && node "$OLDPWD/$SHARED/bench/bench_ort.js" "$M/onnx/model.onnx" "$DOCS" "$T" "$REPS" "$THREADS")
    C=$(cd "$HOME_B" && BENCH_IDS=$IDS node "$OLDPWD/$SHARED/bench/bench_ort.js" "$M/onnx/model.onnx" 1 1 1 "$THREADS")
    printf '%s\n' "$X" | sed 's/,"ids0":"[0-9,]*"//'
    printf '%s\n' "$O"
    /usr/bin/python3 - "$X" "$O" "$C" "$DOCS" <<'PY'
import json, sys
x, o, c, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
ort = n / (o["median_ms"] / 1e3)
print("round: %d pairs x %d tokens: xling %.2f pairs/s (%s), ONNX Runtime %.2f pairs/s: xling/ORT %.2fx; "
      "pair 0 raw score xling %.6f, ORT %.6f" % (n, x["pair_tokens"], x["pairs_per_s"], x["isa"], ort,
                                                   x["pairs_per_s"] / ort, x["raw0"], c["emb_head"][0]))
PY
    r=$((r + 1))
done
