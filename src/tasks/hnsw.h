/* A C interface to hnswlib's HNSW graph (inner-product space) for the persistent index.
 * Labels are the index's row ids; scores are inner products (cosine on unit rows). */
#ifndef XL_HNSW_H
#define XL_HNSW_H
#include <stddef.h>
#include <stdint.h>
#include "xling.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xl_hnsw xl_hnsw;

/* An empty graph for `capacity` vectors of dim floats (it grows as needed). */
xl_status xl_hnsw_new(size_t dim, size_t capacity, int M, int ef_construction, xl_hnsw **out);
/* Reads a graph saved by xl_hnsw_save; an error when it is unreadable or holds
 * vectors of another dimension. */
xl_status xl_hnsw_load(const char *path, size_t dim, xl_hnsw **out);
/* Writes the graph to path (a temporary file beside it, synced, then renamed). */
xl_status xl_hnsw_save(const xl_hnsw *h, const char *path);
void xl_hnsw_free(xl_hnsw *h);
size_t xl_hnsw_count(const xl_hnsw *h);
/* Adds (or, for a label already present, updates) n vectors v[n][dim]; threads > 1
 * inserts in parallel. */
xl_status xl_hnsw_add(xl_hnsw *h, const float *v, const int64_t *labels, size_t n, int threads);
/* For each of q[nq][dim]: up to k labels and scores, best first, into labels[nq][k] and
 * sims[nq][k] (label -1 where fewer were found). ef = search breadth (>= k used). */
xl_status xl_hnsw_search(xl_hnsw *h, const float *q, size_t nq, int k, int ef, int64_t *labels, float *sims,
                         int threads);

#ifdef __cplusplus
}
#endif
#endif
