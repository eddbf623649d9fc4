/* Reranking texts against a query, best first (see rerank_hits.h). */
#include "rerank_hits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "outfile.h"

void rerank_cli_init(rerank_cli *r) {
    memset(r, 0, sizeof *r);
    r->ifmt = IN_AUTO;
    xl_rerank_options_init(&r->ro);
}

int rerank_cli_parse(rerank_cli *r, const char *cmd, int c, const char *arg) {
    switch (c) {
    case 'm': r->dir = arg; return 1;
    case 'i': r->in_path = arg; return 1;
    case 'o': r->out_path = arg; return 1;
    case 't': return cli_parse_int(cmd, "--threads", arg, 1, 4096, &r->threads) ? -1 : 1;
    case RO_RAW: r->ro.raw_scores = 1; return 1;
    case RO_MAXLEN: return cli_parse_int(cmd, "--max-length", arg, 1, 1 << 24, &r->ro.max_length) ? -1 : 1;
    case RO_BATCH: return cli_parse_int(cmd, "--batch", arg, 1, 1 << 16, &r->ro.batch_size) ? -1 : 1;
    case RO_INFMT:
        if (in_parse_format(arg, &r->ifmt)) {
            cli_usage(cmd, "--input-format must be text or jsonl, got \"%s\"", arg);
            return -1;
        }
        return 1;
    default: return 0;
    }
}

int rerank_check_args(const char *cmd, const char *query, size_t n_args, const char *in_path, const char *out_path) {
    if (!query) return cli_usage(cmd, "give the query with -q TEXT");
    if (!*query) return cli_usage(cmd, "-q needs a non-empty query");
    if (n_args && in_path) return cli_usage(cmd, "documents given as arguments and -i %s: choose one", in_path);
    if (!n_args && cli_refuse_output_is_input(cmd, in_path, out_path)) return 2;
    return 0;
}

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

typedef struct {
    char *id, *text, *meta;
    int id_is_int;
} hit_copy;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

int rerank_print_hits(FILE *f, xl_index *ix, const xl_model *m, const xl_rerank_options *o, const char *query,
                      const int64_t *rows, const float *cos, int n, int k) {
    size_t nn = n > 0 ? (size_t)n : 0;
    hit_copy *h = calloc(nn + 1, sizeof *h);
    const char **texts = calloc(nn + 1, sizeof *texts);
    float *scores = calloc(nn + 1, sizeof *scores);
    size_t *order = calloc(nn + 1, sizeof *order);
    int rc = h && texts && scores && order ? 0 : -1;
    if (rc) cli_set_error("out of memory");
    /* rows are valid until the next call on the index: copy them first */
    for (size_t i = 0; !rc && i < nn; i++) {
        const char *id, *text, *meta;
        if (xl_index_row(ix, rows[i], &id, &h[i].id_is_int, &text, &meta)) { cli_take_lib_error(); rc = -1; break; }
        h[i].id = strdup(id);
        h[i].text = strdup(text);
        h[i].meta = dup_or_null(meta);
        if (!h[i].id || !h[i].text || (meta && !h[i].meta)) { cli_set_error("out of memory"); rc = -1; }
        texts[i] = h[i].text;
    }
    if (!rc && nn) rc = rerank_texts(m, query, texts, NULL, nn, o, scores, order);
    for (size_t r = 0; !rc && r < nn && r < (size_t)k; r++) {
        const hit_copy *x = &h[order[r]];
        fputs(r ? ",{\"id\":" : "{\"id\":", f);
        if (x->id_is_int) fputs(x->id, f);
        else cli_put_json_string(f, x->id, strlen(x->id));
        fprintf(f, ",\"score\":%.7g,\"retrieval_score\":%.7g,\"text\":", scores[order[r]], cos[order[r]]);
        cli_put_json_string(f, x->text, strlen(x->text));
        fprintf(f, ",\"meta\":%s}", x->meta ? x->meta : "null");
    }
    for (size_t i = 0; h && i < nn; i++) { free(h[i].id); free(h[i].text); free(h[i].meta); }
    free(h); free(texts); free(scores); free(order);
    return rc;
}
