/* Reranking texts against a query, best first (see rerank_hits.h). */
#include "rerank_hits.h"

#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int rerank_model_load(const char *cmd, const char *dir, int threads, xl_model **m) {
    xl_model_options mo = {.threads = threads};
    *m = NULL;
    if (xl_model_load(dir, &mo, m)) return cli_fail(cmd);
    xl_reranker_info info;
    if (xl_reranker_info_get(*m, &info)) {
        xl_model_free(*m);
        *m = NULL;
        return cli_fail(cmd);
    }
    if (info.n_labels != 1) {
        fprintf(stderr, "xling %s: %s has %d labels; reranking needs a one-label cross-encoder (score pairs with `xling score`)\n",
                cmd, dir, info.n_labels);
        xl_model_free(*m);
        *m = NULL;
        return 1;
    }
    return 0;
}

static int by_score(const void *a, const void *b, void *ctx) {
    const float *s = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (s[i] != s[j]) return s[i] > s[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

void rerank_order(const float *scores, size_t n, size_t *order) {
    for (size_t i = 0; i < n; i++) order[i] = i;
    qsort_r(order, n, sizeof *order, by_score, (void *)scores);
}

int rerank_texts(const xl_model *m, const char *query, const char *const *texts, const size_t *lens, size_t n,
                 const xl_rerank_options *o, float *scores, size_t *order) {
    if (xl_rerank(m, query, (size_t)-1, texts, lens, n, o, scores)) {
        cli_take_lib_error();
        return -1;
    }
    rerank_order(scores, n, order);
    return 0;
}
