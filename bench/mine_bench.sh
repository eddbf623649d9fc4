#!/bin/sh
# Mining benchmark (issue 11): N x N random unit vectors of dimension D (default 100000 x
# 100000 x 384), k = 4, both directions. xling mine (the whole command: load, two blocked
# k-NN searches, margin scoring, output) against FAISS IndexFlatIP doing the same two
# searches (bench/mine_faiss.py; Debian python3-faiss), each under /usr/bin/time for wall
# time and peak RSS, RUNS times alternately (default 3). Not a test.
#   sh bench/mine_bench.sh            # BUILD=build N=100000 D=384 THREADS=2 RUNS=3
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}; N=${N:-100000}; D=${D:-384}; THREADS=${THREADS:-2}; RUNS=${RUNS:-3}
W=${MINE_BENCH_DIR:-/tmp/xling-mine-bench}
mkdir -p "$W"
if [ ! -f "$W/x-$N-$D.npy" ]; then
    /usr/bin/python3 -c "
import numpy as np
r = np.random.default_rng(7)
for name in ('x', 'y'):
    v = r.standard_normal(($N, $D), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    np.save('$W/%s-$N-$D.npy' % name, v)
"
fi
i=0
while [ "$i" -lt "$RUNS" ]; do
    /usr/bin/time -f "xling wall_s %e peak_rss_kb %M" "$BUILD/xling" mine --src-emb "$W/x-$N-$D.npy" \
        --tgt-emb "$W/y-$N-$D.npy" -k 4 -t "$THREADS" -o "$W/pairs.jsonl" 2>&1 | grep -E '^xling wall'
    /usr/bin/time -f "faiss wall_s %e peak_rss_kb %M" /usr/bin/python3 bench/mine_faiss.py "$W/x-$N-$D.npy" \
        "$W/y-$N-$D.npy" 4 "$THREADS" 2>&1 | grep -E '^faiss wall|search_s'
    i=$((i + 1))
done
echo "pairs written: $(wc -l < "$W/pairs.jsonl")"
