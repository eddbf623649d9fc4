/* Reranking a list of texts against one query with a cross-encoder, best first: what
 * `xling rerank` and `xling index search --rerank` share; and the options `xling rerank`
 * and `xling score` share. */
#ifndef XL_CLI_RERANK_HITS_H
#define XL_CLI_RERANK_HITS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "input.h"
#include "xling.h"

/* getopt_long entries and values of the cross-encoder options of rerank and score. */
enum { RO_RAW = 256, RO_MAXLEN, RO_BATCH, RO_INFMT, RO_LAST };
#define RERANK_LONG_OPTIONS                                                                           \
    {"model", required_argument, 0, 'm'}, {"input", required_argument, 0, 'i'},                      \
    {"output", required_argument, 0, 'o'}, {"threads", required_argument, 0, 't'},                   \
    {"raw-scores", no_argument, 0, RO_RAW}, {"max-length", required_argument, 0, RO_MAXLEN},         \
    {"batch", required_argument, 0, RO_BATCH}, {"input-format", required_argument, 0, RO_INFMT}

typedef struct {
    const char *dir, *in_path, *out_path; /* -m, -i, -o */
    in_format ifmt;
    int threads;           /* -t as given; 0 = not given */
    xl_rerank_options ro;  /* raw_scores, max_length, batch_size */
} rerank_cli;

void rerank_cli_init(rerank_cli *r);
/* Takes one of RERANK_LONG_OPTIONS: 1 if c was one, 0 if not, -1 after printing the
 * usage error (exit 2). */
int rerank_cli_parse(rerank_cli *r, const char *cmd, int c, const char *arg);
/* rerank's (and rerank --m3's) checks of the query and of the documents' source (the
 * n_args DOC arguments or -i in_path) against the output: 0, or 2 after the usage error. */
int rerank_check_args(const char *cmd, const char *query, size_t n_args, const char *in_path, const char *out_path);

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
