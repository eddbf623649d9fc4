/* Reranking a list of texts against one query with a cross-encoder, best first: what
 * `xling rerank` and `xling index search --rerank` share. */
#ifndef XL_CLI_RERANK_HITS_H
#define XL_CLI_RERANK_HITS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "xling.h"

/* Loads a cross-encoder / reranker folder and checks it gives one score per pair
 * (prints "xling <cmd>: ..." on failure). Returns 0, or 1 after printing. */
int rerank_model_load(const char *cmd, const char *dir, int threads, xl_model **m);
/* order[n] = 0..n-1 sorted by scores[i], best first (ties keep the input order). */
void rerank_order(const float *scores, size_t n, size_t *order);
/* Scores the n texts against query (xl_rerank: scores[n] in input order) and fills
 * order[n] with their indices, best first (ties keep the input order). 0, or -1 with
 * cli_error() set. */
int rerank_texts(const xl_model *m, const char *query, const char *const *texts, const size_t *lens, size_t n,
                 const xl_rerank_options *o, float *scores, size_t *order);

/* `xling index search --rerank`: prints the JSON array of one query's hits reranked:
 * the n index rows (cosine scores cos[n], best first) scored by the cross-encoder m,
 * the best k of them as {"id", "score" (the reranker's), "retrieval_score" (cosine),
 * "text", "meta"}. 0, or -1 with cli_error() set. */
int rerank_print_hits(FILE *f, xl_index *ix, const xl_model *m, const xl_rerank_options *o, const char *query,
                      const int64_t *rows, const float *cos, int n, int k);

#endif
