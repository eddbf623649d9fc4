#!/bin/sh
# Search index benchmark (not a test): 200 000 vectors of dimension 384, exact vs HNSW
# query latency, HNSW recall@10 against exact, build time; both data sets of
# bench/index_bench.c (i.i.d. Gaussian, and low-rank like text embeddings).
#   sh bench/index_bench.sh [N=200000] [DIM=384] [QUERIES=100] [THREADS=2]
# Runs under the shared bench lock with nice: the machine is shared.
set -eu
cd "$(dirname "$0")/.."
N=${1:-200000}; DIM=${2:-384}; Q=${3:-100}; T=${4:-2}
make -s build/bench/index_bench
for data in lowrank gauss; do
    flock /tmp/xling-bench.lock nice build/bench/index_bench "$N" "$DIM" "$Q" "$T" 16 200 "$data"
done
