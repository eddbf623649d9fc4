/* Reranking throughput: one query against N documents with a cross-encoder through the
 * public API (xl_rerank: tokenizing the pairs, the forward, the head, the activation).
 *
 *   rerank_speed --model DIR [--docs 100] [--doc-tokens 128] [--reps 3] [--threads 2] [--batch 32]
 *
 * The documents are random English words, cut by truncation (longest first) so that
 * every pair holds exactly the query, doc-tokens document tokens and the special tokens:
 * the same pair length a peer fed with ids of that length computes. Prints one JSON
 * line: per-repetition ms, the median, pairs/s, and the ids and raw score of pair 0
 * (for checking a peer on the same weights: BENCH_IDS=... of the shared harness).
 * Not a test. Measure with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "xling.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    int n = 100, doc_tokens = 128, reps = 3, threads = 2, batch = 32;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--docs")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--doc-tokens")) doc_tokens = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else { fprintf(stderr, "rerank_speed: unknown option %s\n", argv[i]); return 2; }
    }
    if (!dir || n < 1 || doc_tokens < 1 || reps < 1 || reps > 1000) {
        fprintf(stderr, "usage: rerank_speed --model DIR [--docs 100] [--doc-tokens 128] [--reps 3] [--threads 2] [--batch 32]\n");
        return 2;
    }
    xl_model_options mo = {.threads = threads};
    xl_model *m;
    double t0 = now_ms();
    if (xl_model_load(dir, &mo, &m)) { fprintf(stderr, "rerank_speed: %s\n", xl_last_error()); return 1; }
    double load_ms = now_ms() - t0;
    const xl_tokenizer *tok = xl_model_tokenizer(m);
    if (!tok) { fprintf(stderr, "rerank_speed: %s has no tokenizer\n", dir); return 1; }
    static const char *const words[] = {
        "the", "river", "city", "market", "school", "bridge", "train", "morning", "garden", "window", "people",
        "music", "water", "road", "house", "winter", "summer", "light", "history", "language", "paper", "table",
        "street", "friend", "museum", "island", "forest", "station", "letter", "mountain", "coffee", "evening"};
    const size_t nw = sizeof words / sizeof words[0];
    const char *query = "Which bridges in the old city were built before the railway station opened?";
    xl_encoding qe;
    if (xl_tokenize(tok, query, strlen(query), 0, &qe)) { fprintf(stderr, "rerank_speed: %s\n", xl_last_error()); return 1; }
    size_t max_len = qe.n + (size_t)doc_tokens + xl_tokenizer_num_special(tok, 1);
    xl_encoding_free(&qe);
    char **docs = calloc((size_t)n, sizeof *docs);
    unsigned long long s = 88172645463325252ull;
    for (int i = 0; i < n; i++) {
        size_t cap = (size_t)doc_tokens * 2 * 12 + 16, at = 0;
        docs[i] = malloc(cap);
        for (int w = 0; w < doc_tokens * 2; w++) { /* twice the words: truncation cuts to the length */
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            at += (size_t)sprintf(docs[i] + at, "%s%s", w ? " " : "", words[s % nw]);
        }
    }
    xl_rerank_options o;
    xl_rerank_options_init(&o);
    o.max_length = (int)max_len;
    o.threads = threads;
    o.batch_size = batch;
    float *scores = malloc((size_t)n * sizeof *scores);
    double *ms = malloc((size_t)(reps + 1) * sizeof *ms);
    for (int r = 0; r <= reps; r++) { /* r = 0: warm-up */
        double t = now_ms();
        if (xl_rerank(m, query, (size_t)-1, (const char *const *)docs, NULL, (size_t)n, &o, scores)) {
            fprintf(stderr, "rerank_speed: %s\n", xl_last_error());
            return 1;
        }
        ms[r] = now_ms() - t;
    }
    /* pair 0 for a peer: its ids and raw score */
    xl_encoding pe;
    float raw0;
    o.raw_scores = 1;
    if (xl_tokenize_pair(tok, query, strlen(query), docs[0], strlen(docs[0]), 1, max_len, &pe) ||
        xl_rerank(m, query, (size_t)-1, (const char *const *)docs, NULL, 1, &o, &raw0)) {
        fprintf(stderr, "rerank_speed: %s\n", xl_last_error());
        return 1;
    }
    double warm = ms[0];
    qsort(ms + 1, (size_t)reps, sizeof *ms, cmp_double);
    double med = ms[1 + reps / 2];
    printf("{\"runner\":\"xling\",\"isa\":\"%s\",\"pairs\":%d,\"pair_tokens\":%zu,\"threads\":%d,\"batch\":%d,"
           "\"load_ms\":%.1f,\"warmup_ms\":%.1f,\"median_ms\":%.1f,\"pairs_per_s\":%.2f,\"tokens_per_s\":%.1f,"
           "\"score0\":%.7g,\"raw0\":%.7g,\"ids0\":\"",
           xl_kernel_isa(), n, pe.n, threads, batch, load_ms, warm, med, n / (med / 1e3), n * (double)pe.n / (med / 1e3),
           scores[0], raw0);
    for (size_t k = 0; k < pe.n; k++) printf("%s%d", k ? "," : "", pe.ids[k]);
    printf("\"}\n");
    xl_encoding_free(&pe);
    for (int i = 0; i < n; i++) free(docs[i]);
    free(docs); free(scores); free(ms);
    xl_model_free(m);
    return 0;
}
