/* The one-call API over the sequence layer: xl_embed_texts / xl_embed_ids and their
 * per-layer variants prepare the inputs, run them on a context of their own and fail
 * as a whole at the first failed item, naming it. */
#include "embed/model_internal.h"
#include "util/error.h"
#include "util/threads.h"

#include <stdlib.h>
#include <string.h>

void xl_embed_options_init(xl_embed_options *o) {
    memset(o, 0, sizeof *o);
    o->normalize = -1;
}

int xl_embed_dim(const xl_model *m, const xl_embed_options *o) {
    return o && o->dim > 0 && o->dim < m->dim ? o->dim : m->dim;
}

int xl_model_num_layer_outputs(const xl_model *m) { return m->ainfo.num_layers + 1; }

int xl_embed_threads(const xl_model *m, const xl_embed_options *o) {
    return o && o->threads > 0 ? xl_threads_for(o->threads) : m->threads;
}

/* Runs prepared sequences and copies what was asked for into the caller's arrays. */
static xl_status run_and_copy(const xl_model *m, xl_sequence *seqs, size_t n, const xl_embed_options *o, float *emb,
                              float *mean, float *last, float *wmean, size_t *n_truncated) {
    xl_context *ctx;
    xl_status st = xl_context_new(m, &ctx);
    if (st) return st;
    unsigned want = (emb ? XL_OUT_EMBEDDING : 0u) | (mean ? XL_OUT_LAYER_MEAN : 0u) | (last ? XL_OUT_LAYER_LAST : 0u) |
                    (wmean ? XL_OUT_LAYER_WMEAN : 0u);
    xl_outputs out;
    st = xl_run(ctx, seqs, n, want, o, &out);
    xl_context_free(ctx);
    if (st) return st;
    for (size_t i = 0; i < n; i++)
        if (out.status[i]) {
            /* "input 3 has no tokens", "input 3: token id ..." (the CLI renumbers these) */
            const char *sep = strncmp(out.error[i], "has ", 4) == 0 ? " " : ": ";
            st = xl_err(out.status[i], "input %zu%s%s", i + 1, sep, out.error[i]);
            break;
        }
    if (!st) {
        size_t per = (size_t)out.n_layers * (size_t)out.hidden;
        if (emb) memcpy(emb, out.embeddings, n * (size_t)out.dim * sizeof(float));
        if (mean) memcpy(mean, out.layer_mean, n * per * sizeof(float));
        if (last) memcpy(last, out.layer_last, n * per * sizeof(float));
        if (wmean) memcpy(wmean, out.layer_wmean, n * per * sizeof(float));
        size_t cut = 0;
        for (size_t i = 0; i < n; i++) cut += seqs[i].truncated != 0;
        if (n_truncated) *n_truncated = cut;
    }
    xl_outputs_free(&out);
    return st;
}

static xl_status texts(const xl_model *m, const char *const *t, const size_t *lens, size_t n, const xl_embed_options *o,
                       float *emb, float *mean, float *last, float *wmean, size_t *n_truncated) {
    if (n_truncated) *n_truncated = 0;
    xl_sequence *seqs;
    xl_status st = xl_prepare_texts(m, t, lens, NULL, NULL, n, o, &seqs);
    if (st) return st;
    st = run_and_copy(m, seqs, n, o, emb, mean, last, wmean, n_truncated);
    xl_sequences_free(seqs, n);
    return st;
}

static xl_status ids(const xl_model *m, const int32_t *const *ids, const size_t *lens, size_t n,
                     const xl_embed_options *o, float *emb, float *mean, float *last, size_t *n_truncated) {
    if (n_truncated) *n_truncated = 0;
    xl_sequence *seqs;
    xl_status st = xl_prepare_ids(m, ids, lens, NULL, n, o, &seqs);
    if (st) return st;
    st = run_and_copy(m, seqs, n, o, emb, mean, last, NULL, n_truncated);
    xl_sequences_free(seqs, n);
    return st;
}

xl_status xl_embed_texts(const xl_model *m, const char *const *t, const size_t *lens, size_t n,
                         const xl_embed_options *o, float *out, size_t *n_truncated) {
    return texts(m, t, lens, n, o, out, NULL, NULL, NULL, n_truncated);
}

xl_status xl_embed_ids(const xl_model *m, const int32_t *const *i, const size_t *lens, size_t n,
                       const xl_embed_options *o, float *out, size_t *n_truncated) {
    return ids(m, i, lens, n, o, out, NULL, NULL, n_truncated);
}

xl_status xl_embed_texts_layers(const xl_model *m, const char *const *t, const size_t *lens, size_t n,
                                const xl_embed_options *o, float *mean, float *last, size_t *n_truncated) {
    return texts(m, t, lens, n, o, NULL, mean, last, NULL, n_truncated);
}

xl_status xl_embed_ids_layers(const xl_model *m, const int32_t *const *i, const size_t *lens, size_t n,
                              const xl_embed_options *o, float *mean, float *last, size_t *n_truncated) {
    return ids(m, i, lens, n, o, NULL, mean, last, n_truncated);
}

xl_status xl_embed_texts_layers_weighted(const xl_model *m, const char *const *t, const size_t *lens, size_t n,
                                         const xl_embed_options *o, float *mean, float *wmean, float *last,
                                         size_t *n_truncated) {
    return texts(m, t, lens, n, o, NULL, mean, last, wmean, n_truncated);
}
