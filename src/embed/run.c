/* Running sequences: per-item checks → length-sorted, token-budgeted batches → the
 * architecture's forward through the compute gate (gate.h) with the context's run state →
 * the outputs asked for, in input order, with a status per item. A batch that fails is
 * run again one sequence at a time, so one bad item fails alone. */
#include "embed/model_internal.h"
#include "embed/gate.h"
#include "embed/pooling.h"
#include "util/error.h"
#include "util/threads.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_BATCH_TOKENS 8192
#define DEFAULT_BATCH_SIZE 32

static xl_pooling effective_pooling(const xl_model *m, const xl_embed_options *o) {
    return o && o->pooling != XL_POOL_DEFAULT ? o->pooling : m->st.pooling;
}

/* Longest first, then input order: stable and deterministic. */
static int by_length_desc(const void *a, const void *b, void *ctx) {
    const xl_sequence *s = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (s[i].n != s[j].n) return s[i].n > s[j].n ? -1 : 1;
    return i < j ? -1 : (i > j);
}

void xl_outputs_free(xl_outputs *o) {
    if (!o) return;
    for (size_t i = 0; i < o->n; i++) {
        if (o->error) free(o->error[i]);
        if (o->tokens) free(o->tokens[i]);
    }
    free(o->status); free(o->error); free(o->embeddings); free(o->tokens); free(o->n_tokens);
    free(o->layer_mean); free(o->layer_last); free(o->layer_wmean); free(o->scores);
    memset(o, 0, sizeof *o);
}

/* One batch: rows [B][T] of the sorted inputs order[0..B). */
typedef struct {
    const xl_model *m;
    xl_context *ctx;
    const xl_sequence *seqs;
    const size_t *order;
    int B, T, threads;
    int32_t *ids, *types;
    uint8_t *mask;
    int *lens, *skip;
    xl_outputs *out;
    unsigned want;
} batch_job;

/* The per-layer pooled states of the batch rows (called by the forward). */
static void on_layer(void *cbctx, int layer, const float *hidden, int B, int T, int H) {
    batch_job *j = cbctx;
    int L1 = j->out->n_layers, L = L1 - 1;
    /* transformers' convention: the last entry is after the final norm when there is one
     * (that callback comes as layer L + 1 and replaces block L's output). */
    int entry = layer > L ? L : layer;
    for (int b = 0; b < B; b++) {
        const float *h = hidden + (size_t)b * T * H;
        size_t at = (j->order[b] * (size_t)L1 + (size_t)entry) * H;
        if (j->out->layer_mean) xl_pool(XL_POOL_MEAN, h, j->lens[b], H, j->skip[b], j->out->layer_mean + at);
        if (j->out->layer_wmean) xl_pool_weighted_mean(h, j->lens[b], H, j->skip[b], j->out->layer_wmean + at);
        if (j->out->layer_last) xl_pool(XL_POOL_LAST, h, j->lens[b], H, 0, j->out->layer_last + at);
    }
}

static xl_status forward_job(void *arg) {
    batch_job *j = arg;
    const xl_model *m = j->m;
    xl_batch bt = {.B = j->B, .T = j->T, .ids = j->ids, .type_ids = j->types, .mask = j->mask, .lens = j->lens};
    int layers = (j->want & (XL_OUT_LAYER_MEAN | XL_OUT_LAYER_LAST | XL_OUT_LAYER_WMEAN)) != 0;
    return m->arch->forward(m->impl, j->ctx->state, &bt, j->ctx->hidden, layers ? on_layer : NULL, j, j->threads);
}

/* Fills the batch arrays for B sorted inputs of width T. */
static void fill_batch(batch_job *j, size_t B, size_t T, int any_types) {
    const xl_model *m = j->m;
    j->B = (int)B;
    j->T = (int)T;
    memset(j->mask, 0, B * T);
    for (size_t b = 0; b < B; b++) {
        const xl_sequence *s = &j->seqs[j->order[b]];
        memcpy(j->ids + b * T, s->ids, s->n * sizeof *j->ids);
        for (size_t t = s->n; t < T; t++) j->ids[b * T + t] = 0;
        if (any_types) {
            if (s->type_ids) memcpy(j->types + b * T, s->type_ids, s->n * sizeof *j->types);
            else memset(j->types + b * T, 0, s->n * sizeof *j->types);
            for (size_t t = s->n; t < T; t++) j->types[b * T + t] = 0;
        }
        memset(j->mask + b * T, 1, s->n);
        j->lens[b] = (int)s->n;
        size_t skip = m->st.include_prompt ? 0 : s->prompt_len;
        j->skip[b] = skip < s->n ? (int)skip : 0;
    }
    j->types = any_types ? j->types : NULL;
}

/* Pools, applies the head, truncates (Matryoshka) and normalizes one sequence's hidden
 * states into dst[out_dim]. */
static void finish_embedding(const xl_model *m, const xl_embed_options *o, const float *hidden, int len, int skip,
                             float *pooled, float *scratch, float *full, float *dst, int out_dim) {
    int H = m->ainfo.hidden_size;
    xl_pool(effective_pooling(m, o), hidden, len, H, skip, pooled);
    if (m->st.n_dense) xl_dense_apply(m->st.dense, m->st.n_dense, pooled, full, scratch);
    else memcpy(full, pooled, (size_t)H * sizeof *full);
    int normalize = o && o->normalize >= 0 ? o->normalize : m->st.normalize;
    /* sentence-transformers' truncate_dim: cut the final vector, then normalize it. */
    memcpy(dst, full, (size_t)out_dim * sizeof *dst);
    if (normalize) xl_l2_normalize(dst, out_dim);
}

static void set_item(xl_outputs *out, size_t i, xl_status st, const char *msg) {
    out->status[i] = st;
    free(out->error[i]);
    out->error[i] = strdup(msg && *msg ? msg : xl_status_name(st));
}

/* Why sequence s cannot run on m, or XL_OK (message left in xl_last_error). */
static xl_status check_item(const xl_model *m, const xl_sequence *s) {
    if (s->status) return xl_err(s->status, "%s", s->error ? s->error : xl_status_name(s->status));
    if (s->n == 0)
        return xl_err(XL_ERR_INPUT, "has no tokens (the tokenizer adds no special tokens to an empty text)");
    if (!s->ids) return xl_err(XL_ERR_ARG, "ids are NULL");
    if (m->ainfo.max_tokens > 0 && s->n > (size_t)m->ainfo.max_tokens)
        return xl_err(XL_ERR_INPUT, "%zu tokens; the model's position table allows at most %d", s->n, m->ainfo.max_tokens);
    if (s->n > (size_t)1 << 30) return xl_err(XL_ERR_INPUT, "too long (%zu tokens)", s->n);
    for (size_t t = 0; t < s->n; t++)
        if (s->ids[t] < 0 || s->ids[t] >= m->ainfo.vocab_size)
            return xl_err(XL_ERR_INPUT, "token id %d at position %zu is outside the vocabulary [0, %d)", s->ids[t], t,
                          m->ainfo.vocab_size);
    return XL_OK;
}

/* Allocates every output asked for (zeroed). */
static xl_status alloc_outputs(const xl_model *m, size_t n, unsigned want, const xl_embed_options *o,
                               xl_outputs *out) {
    size_t n1 = n ? n : 1;
    out->n = n;
    out->dim = xl_embed_dim(m, o);
    out->hidden = m->ainfo.hidden_size;
    out->n_layers = xl_model_num_layer_outputs(m);
    out->status = calloc(n1, sizeof *out->status);
    out->error = calloc(n1, sizeof *out->error);
    int ok = out->status && out->error;
    if (want & XL_OUT_EMBEDDING) ok = ok && (out->embeddings = calloc(n1 * (size_t)out->dim, sizeof(float)));
    if (want & XL_OUT_TOKENS)
        ok = ok && (out->tokens = calloc(n1, sizeof *out->tokens)) && (out->n_tokens = calloc(n1, sizeof *out->n_tokens));
    size_t per = (size_t)out->n_layers * (size_t)out->hidden;
    if (want & XL_OUT_LAYER_MEAN) ok = ok && (out->layer_mean = calloc(n1 * per, sizeof(float)));
    if (want & XL_OUT_LAYER_WMEAN) ok = ok && (out->layer_wmean = calloc(n1 * per, sizeof(float)));
    if (want & XL_OUT_LAYER_LAST) ok = ok && (out->layer_last = calloc(n1 * per, sizeof(float)));
    if (want & XL_OUT_SCORES) {
        out->n_scores = m->arch->num_scores(m->impl);
        ok = ok && (out->scores = calloc(n1 * (size_t)out->n_scores, sizeof(float)));
    }
    if (!ok) return xl_err(XL_ERR_NOMEM, "out of memory for the outputs of %zu inputs", n);
    return XL_OK;
}

/* Zeroes the rows of a failed item (a failed batch may have written some). */
static void clear_item(xl_outputs *out, size_t i) {
    size_t per = (size_t)out->n_layers * (size_t)out->hidden;
    if (out->embeddings) memset(out->embeddings + i * (size_t)out->dim, 0, (size_t)out->dim * sizeof(float));
    if (out->layer_mean) memset(out->layer_mean + i * per, 0, per * sizeof(float));
    if (out->layer_wmean) memset(out->layer_wmean + i * per, 0, per * sizeof(float));
    if (out->layer_last) memset(out->layer_last + i * per, 0, per * sizeof(float));
    if (out->scores) memset(out->scores + i * (size_t)out->n_scores, 0, (size_t)out->n_scores * sizeof(float));
    if (out->tokens) { free(out->tokens[i]); out->tokens[i] = NULL; out->n_tokens[i] = 0; }
}

/* The outputs of a batch that ran: embeddings and token states per row. */
static xl_status collect(const batch_job *j, const xl_embed_options *o, float *pooled, float *scratch, float *full) {
    const xl_model *m = j->m;
    const int H = m->ainfo.hidden_size;
    for (int b = 0; b < j->B; b++) {
        size_t i = j->order[b];
        const float *h = j->ctx->hidden + (size_t)b * j->T * H;
        if (j->out->embeddings)
            finish_embedding(m, o, h, j->lens[b], j->skip[b], pooled, scratch, full,
                             j->out->embeddings + i * (size_t)j->out->dim, j->out->dim);
        if (j->out->scores)
            m->arch->head_scores(m->impl, h, j->lens[b], j->out->scores + i * (size_t)j->out->n_scores);
        if (j->out->tokens) {
            size_t bytes = (size_t)j->lens[b] * H * sizeof(float);
            float *t = malloc(bytes);
            if (!t) return xl_err(XL_ERR_NOMEM, "out of memory for the token states of %d tokens", j->lens[b]);
            memcpy(t, h, bytes);
            j->out->tokens[i] = t;
            j->out->n_tokens[i] = (size_t)j->lens[b];
        }
    }
    return XL_OK;
}

static int cancelled(xl_context *ctx) {
    /* consumed by the run it stops */
    return __atomic_exchange_n(&ctx->cancel, 0, __ATOMIC_ACQ_REL) != 0;
}

xl_status xl_run(xl_context *ctx, const xl_sequence *seqs, size_t n, unsigned want, const xl_embed_options *o,
                 xl_outputs *out) {
    if (!out) return xl_err(XL_ERR_ARG, "xl_run: out is NULL");
    memset(out, 0, sizeof *out);
    if (!ctx) return xl_err(XL_ERR_ARG, "xl_run: context is NULL");
    if (n && !seqs) return xl_err(XL_ERR_ARG, "xl_run: sequences are NULL");
    const xl_model *m = ctx->m;
    if (want & ~(unsigned)(XL_OUT_EMBEDDING | XL_OUT_TOKENS | XL_OUT_LAYER_MEAN | XL_OUT_LAYER_LAST | XL_OUT_LAYER_WMEAN |
                           XL_OUT_SCORES))
        return xl_err(XL_ERR_ARG, "xl_run: unknown output bits 0x%x", want);
    if ((want & XL_OUT_SCORES) && (!m->arch->num_scores || m->arch->num_scores(m->impl) <= 0))
        return xl_err(XL_ERR_UNSUPPORTED, "%s: the model has no classification head (XL_OUT_SCORES)", m->dir);
    xl_status st = alloc_outputs(m, n, want, o, out);
    if (st) { xl_outputs_free(out); return st; }
    const int H = m->ainfo.hidden_size;
    int threads = xl_gate_forked() ? 1 : xl_embed_threads(m, o);
    size_t budget = o && o->batch_tokens > 0 ? (size_t)o->batch_tokens : DEFAULT_BATCH_TOKENS;
    size_t batch_size = o && o->batch_size > 0 ? (size_t)o->batch_size : DEFAULT_BATCH_SIZE;

    /* Items that cannot run fail here, alone; the rest are sorted longest first. */
    size_t *order = malloc((n ? n : 1) * sizeof *order), k = 0;
    if (!order) { xl_outputs_free(out); return xl_err(XL_ERR_NOMEM, "out of memory"); }
    int any_types = 0;
    for (size_t i = 0; i < n; i++) {
        xl_status ist = check_item(m, &seqs[i]);
        if (ist) {
            set_item(out, i, ist, xl_last_error());
            out->n_failed++;
            continue;
        }
        order[k++] = i;
        any_types |= seqs[i].type_ids != NULL;
    }
    qsort_r(order, k, sizeof *order, by_length_desc, (void *)seqs);

    int max_dense = H > m->dim ? H : m->dim;
    for (int d = 0; d < m->st.n_dense; d++)
        if (m->st.dense[d].out_features > max_dense) max_dense = m->st.dense[d].out_features;
    size_t longest = k ? seqs[order[0]].n : 1, max_b = batch_size < k ? batch_size : (k ? k : 1);
    /* Every batch holds B <= max_b sequences of T <= longest tokens with B*T within the
     * budget (a single sequence longer than the budget runs alone). */
    size_t cap = max_b * longest < budget ? max_b * longest : budget;
    if (cap < longest) cap = longest;
    batch_job j = {.m = m, .ctx = ctx, .seqs = seqs, .out = out, .want = want};
    /* multiply-adds per real token and layer (~4H² + 2HI): small batches run on one thread */
    const double macs_per_token = (4.0 * H * H + 2.0 * H * m->ainfo.intermediate_size) * m->ainfo.num_layers;
    j.ids = malloc(cap * sizeof *j.ids);
    int32_t *types = any_types ? malloc(cap * sizeof *types) : NULL;
    j.mask = malloc(cap);
    j.lens = malloc(max_b * sizeof *j.lens);
    j.skip = malloc(max_b * sizeof *j.skip);
    float *pooled = malloc((size_t)H * sizeof *pooled), *full = malloc((size_t)max_dense * sizeof *full);
    float *scratch = malloc(2 * (size_t)max_dense * sizeof *scratch);
    if (!j.ids || (any_types && !types) || !j.mask || !j.lens || !j.skip || !pooled || !full || !scratch) {
        st = xl_err(XL_ERR_NOMEM, "out of memory for a batch of %zu tokens", cap);
        goto done;
    }
    if (ctx->cap_rows < cap) {
        free(ctx->hidden);
        ctx->cap_rows = 0;
        ctx->hidden = malloc(cap * (size_t)H * sizeof(float));
        if (!ctx->hidden) { st = xl_err(XL_ERR_NOMEM, "out of memory for a batch of %zu tokens", cap); goto done; }
        ctx->cap_rows = cap;
    }
    size_t done_items = n - k;
    for (size_t start = 0; start < k;) {
        if (cancelled(ctx)) {
            for (size_t r = start; r < k; r++) set_item(out, order[r], XL_ERR_CANCELLED, "cancelled");
            out->n_failed += k - start;
            st = xl_err(XL_ERR_CANCELLED, "cancelled after %zu of %zu inputs", start, k);
            break;
        }
        /* Sorted longest first, so the first one fixes the padded width. */
        size_t T = seqs[order[start]].n;
        size_t B = budget / T ? budget / T : 1;
        if (B > max_b) B = max_b;
        if (B > k - start) B = k - start;
        j.order = order + start;
        j.types = types;
        fill_batch(&j, B, T, any_types);
        double tokens = 0;
        for (size_t b = 0; b < B; b++) tokens += j.lens[b];
        j.threads = xl_threads_for_work(threads, tokens * macs_per_token);
        xl_status bst = xl_gate_run(forward_job, &j);
        if (bst && B > 1) {
            /* Rerun the batch one by one so the failure stays with its item. */
            for (size_t b = 0; b < B; b++) {
                j.order = order + start + b;
                j.types = types;
                fill_batch(&j, 1, seqs[order[start + b]].n, any_types);
                j.threads = xl_threads_for_work(threads, (double)j.lens[0] * macs_per_token);
                xl_status one = xl_gate_run(forward_job, &j);
                if (!one) one = collect(&j, o, pooled, scratch, full);
                if (one) {
                    clear_item(out, order[start + b]);
                    set_item(out, order[start + b], one, xl_last_error());
                    out->n_failed++;
                }
            }
        } else {
            if (!bst) bst = collect(&j, o, pooled, scratch, full);
            if (bst) {
                clear_item(out, order[start]);
                set_item(out, order[start], bst, xl_last_error());
                out->n_failed++;
            }
        }
        start += B;
        done_items += B;
        if (o && o->progress) o->progress(o->progress_ctx, done_items, n);
    }
done:
    free(order); free(j.ids); free(types); free(j.mask); free(j.lens); free(j.skip);
    free(pooled); free(full); free(scratch);
    if (st && st != XL_ERR_CANCELLED) xl_outputs_free(out);
    return st;
}
