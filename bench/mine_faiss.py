"""The peer of `xling mine` in bench/mine_bench.sh: FAISS exact inner-product search
(IndexFlatIP) doing the two k-NN searches of margin mining (source -> target, target ->
source), on the same .npy files. Prints one JSON line (seconds of the searches)."""
import json, sys, time

import faiss
import numpy as np

x = np.load(sys.argv[1])
y = np.load(sys.argv[2])
k = int(sys.argv[3])
faiss.omp_set_num_threads(int(sys.argv[4]))
t0 = time.time()
iy = faiss.IndexFlatIP(y.shape[1])
iy.add(y)
sim_xy, ind_xy = iy.search(x, k)
ix = faiss.IndexFlatIP(x.shape[1])
ix.add(x)
sim_yx, ind_yx = ix.search(y, k)
print(json.dumps({"impl": "faiss", "version": faiss.__version__, "search_s": round(time.time() - t0, 3),
                  "fwd_mean0": float(sim_xy[0].mean())}))
