/* `xling embed --chunk-size`: long documents embedded window by window (embed_chunks.h). */
#include "embed_chunks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Texts per library call: bounded so that the windows held at once stay small. */
#define GROUP_TEXTS 64
#define GROUP_BYTES (1u << 20)

void chunk_cli_init(chunk_cli *c) {
    memset(c, 0, sizeof *c);
    xl_chunk_options_init(&c->co);
}

static void clear_rows(chunk_cli *c) {
    for (size_t i = 0; i < c->n_rows; i++) free(c->extras[i]);
    c->n_rows = 0;
}

void chunk_cli_free(chunk_cli *c) {
    clear_rows(c);
    free(c->rows);
    free(c->extras);
    xl_context_free(c->ctx);
    memset(c, 0, sizeof *c);
}

int chunk_cli_parse(chunk_cli *c, const char *cmd, int opt, const char *arg) {
    switch (opt) {
    case CK_SIZE:
        if (cli_parse_int(cmd, "--chunk-size", arg, 1, 1 << 30, &c->co.size)) return -1;
        c->on = 1;
        return 1;
    case CK_OVERLAP:
        if (cli_parse_int(cmd, "--chunk-overlap", arg, 0, 1 << 30, &c->co.overlap)) return -1;
        c->overlap_set = 1;
        return 1;
    case CK_POOLING:
        if (!strcmp(arg, "mean")) c->co.pooling = XL_CHUNK_POOL_MEAN;
        else if (!strcmp(arg, "max")) c->co.pooling = XL_CHUNK_POOL_MAX;
        else if (!strcmp(arg, "first")) c->co.pooling = XL_CHUNK_POOL_FIRST;
        else {
            cli_usage(cmd, "--chunk-pooling must be mean, max or first, got \"%s\"", arg);
            return -1;
        }
        c->pooling_set = 1;
        return 1;
    case CK_CHUNKS: c->chunks_set = c->per_chunk = 1; return 1;
    case CK_LATE: c->co.late = c->per_chunk = 1; return 1;
    default: return 0;
    }
}

int chunk_cli_check(const chunk_cli *c, const char *cmd, int layers, out_format fmt) {
    const char *given = c->overlap_set ? "--chunk-overlap" : c->pooling_set ? "--chunk-pooling"
                      : c->chunks_set ? "--chunks" : c->co.late ? "--late-chunking" : NULL;
    if (!c->on) return given ? cli_usage(cmd, "%s needs --chunk-size", given) : 0;
    if (c->co.overlap >= c->co.size)
        return cli_usage(cmd, "--chunk-overlap %d must be below --chunk-size %d", c->co.overlap, c->co.size);
    /* Jina's late chunking tiles the text: the context comes from the one forward. */
    if (c->co.late && c->overlap_set) return cli_usage(cmd, "--late-chunking windows do not overlap; drop --chunk-overlap");
    if (c->pooling_set && c->per_chunk)
        return cli_usage(cmd, "--chunk-pooling combines windows; %s outputs each window", c->co.late ? "--late-chunking" : "--chunks");
    if (layers) return cli_usage(cmd, "--layers and --chunk-size cannot be used together");
    if (c->per_chunk && fmt != OUT_JSONL)
        return cli_usage(cmd, "%s writes JSONL (each line carries its window's span)", c->co.late ? "--late-chunking" : "--chunks");
    return 0;
}

const char *const *chunk_cli_keys(const chunk_cli *c) {
    static const char *const per_chunk[] = {"embedding", "input", "chunk", "start", "end", "token_start", "token_end", NULL};
    static const char *const combined[] = {"embedding", NULL};
    return c->per_chunk ? per_chunk : combined;
}

static int reserve(chunk_cli *c, size_t rows, size_t dim) {
    if (rows <= c->cap) return 0;
    size_t cap = rows * 2;
    float *r = realloc(c->rows, cap * dim * sizeof *r);
    if (r) c->rows = r;
    char **e = r ? realloc(c->extras, cap * sizeof *e) : NULL;
    if (!e) { cli_set_error("out of memory for %zu output rows", rows); return -1; }
    c->extras = e;
    c->cap = cap;
    return 0;
}

/* The JSONL members of one output row: the input's own, then the window's. */
static char *row_members(const chunk_cli *c, const char *extra, const xl_chunk_span *sp, size_t input) {
    if (!c->per_chunk) return extra ? strdup(extra) : NULL;
    char *s = NULL;
    if (asprintf(&s, "%s\"input\":%zu,\"chunk\":%zu,\"start\":%zu,\"end\":%zu,\"token_start\":%zu,\"token_end\":%zu,",
                 extra ? extra : "", input, sp->index, sp->byte_start, sp->byte_end, sp->token_start, sp->token_end) < 0)
        return NULL;
    return s;
}

/* One library call over recs[0..n): its rows appended to c->rows. */
static int embed_group(chunk_cli *c, const xl_embed_options *eo, const in_reader *in, const in_record *recs, size_t n,
                       size_t first_input, size_t dim) {
    const char **texts = malloc(n * sizeof *texts);
    size_t *lens = malloc(n * sizeof *lens);
    if (!texts || !lens) { free(texts); free(lens); cli_set_error("out of memory"); return -1; }
    for (size_t i = 0; i < n; i++) { texts[i] = recs[i].text; lens[i] = recs[i].len; }
    xl_chunk_outputs out;
    xl_status st = xl_embed_chunked(c->ctx, texts, lens, n, eo, &c->co, &out);
    free(texts);
    free(lens);
    if (st) { cli_take_lib_error(); return -1; }
    int rc = 0;
    char w[512];
    for (size_t i = 0; i < n; i++)
        if (out.status[i]) {
            cli_set_error("%s: %s", in_where(in, recs[i].line, w, sizeof w), out.error[i]);
            rc = -1;
            break;
        }
    size_t rows = c->per_chunk ? out.n_chunks : n;
    if (!rc) rc = reserve(c, c->n_rows + rows, dim);
    for (size_t r = 0; !rc && r < rows; r++) {
        const xl_chunk_span *sp = c->per_chunk ? &out.chunks[r] : NULL;
        size_t i = sp ? sp->input : r;
        const float *v = sp ? out.chunk_embeddings + r * dim : out.embeddings + r * dim;
        memcpy(c->rows + c->n_rows * dim, v, dim * sizeof *v);
        c->extras[c->n_rows] = row_members(c, recs[i].extra, sp, first_input + i);
        if (!c->extras[c->n_rows] && (c->per_chunk || recs[i].extra)) { cli_set_error("out of memory"); rc = -1; break; }
        c->n_rows++;
    }
    xl_chunk_outputs_free(&out);
    return rc;
}

int chunk_cli_embed(chunk_cli *c, xl_model *m, const xl_embed_options *eo, const in_reader *in, const in_record *recs,
                    size_t n, size_t first_input, size_t dim) {
    clear_rows(c);
    if (in_refuse_ids(in, recs, n, "--chunk-size needs text (\"input_ids\" are embedded as given, without windows)")) return -1;
    if (!c->ctx && xl_context_new(m, &c->ctx)) { cli_take_lib_error(); return -1; }
    /* Progress counts inputs, reported per group (the library's counts windows). */
    xl_embed_options o = *eo;
    o.progress = NULL;
    for (size_t start = 0; start < n;) {
        size_t end = start, bytes = 0;
        while (end < n && end - start < GROUP_TEXTS && (end == start || bytes + recs[end].len <= GROUP_BYTES))
            bytes += recs[end++].len;
        if (embed_group(c, &o, in, recs + start, end - start, first_input + start, dim)) return -1;
        start = end;
        if (eo->progress) eo->progress(eo->progress_ctx, start, n);
    }
    return 0;
}
