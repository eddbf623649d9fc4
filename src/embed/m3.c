/* bge-m3's three outputs (xling.h, "bge-m3 heads"): the heads read from the folder's
 * torch.save files, applied to the encoder's last hidden states, and their scores, as
 * FlagEmbedding's BGEM3 model computes them. */
#include "embed/model_internal.h"
#include "embed/pooling.h"
#include "io/torch_pt.h"
#include "kernels/kernels.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define M3_UNUSED_MAX 4

struct xl_m3 {
    const xl_model *m;
    int hidden;
    unsigned heads;
    float *colbert_w, *colbert_b;   /* [colbert_dim][hidden], [colbert_dim] */
    int colbert_dim;
    float *sparse_w;                /* [hidden] */
    float sparse_b;
    int32_t unused[M3_UNUSED_MAX];  /* cls, eos, pad, unk: never sparse keys */
    int n_unused;
};

/* Takes weight (and bias, which may be absent: zeros) of a Linear(hidden -> out) state_dict. */
static xl_status take_linear(const char *path, int hidden, int want_out, float **w, float **b, int *out_dim) {
    xl_pt_file f;
    xl_status st = xl_pt_load(path, &f);
    if (st) return st;
    const xl_pt_tensor *tw = xl_pt_find(&f, "weight"), *tb = xl_pt_find(&f, "bias");
    if (!tw) st = xl_err(XL_ERR_FORMAT, "%s: no \"weight\" tensor (a torch.nn.Linear state_dict is expected)", path);
    else if (tw->ndim != 2 || tw->shape[1] != hidden || tw->shape[0] < 1 || tw->shape[0] > (1 << 20) ||
             (want_out && tw->shape[0] != want_out))
        st = xl_err(XL_ERR_FORMAT, "%s: weight has shape [%lld, %lld], expected [%s, %d] for this model", path,
                    (long long)(tw->ndim > 0 ? tw->shape[0] : 0), (long long)(tw->ndim > 1 ? tw->shape[1] : 0),
                    want_out ? "1" : "D", hidden);
    else if (tb && (tb->ndim != 1 || tb->shape[0] != tw->shape[0]))
        st = xl_err(XL_ERR_FORMAT, "%s: bias has %zu values, the weight %lld rows", path, tb->numel, (long long)tw->shape[0]);
    if (!st) {
        *out_dim = (int)tw->shape[0];
        *w = malloc(tw->numel * sizeof **w);
        *b = calloc((size_t)*out_dim, sizeof **b);
        if (!*w || !*b) st = xl_err(XL_ERR_NOMEM, "out of memory");
        else {
            memcpy(*w, tw->data, tw->numel * sizeof **w);
            if (tb) memcpy(*b, tb->data, tb->numel * sizeof **b);
        }
    }
    xl_pt_free(&f);
    return st;
}

/* The ids FlagEmbedding leaves out of the sparse weights: the tokenizer's cls, eos, pad
 * and unk tokens (tokenizer_config.json names them; XLM-R's are the defaults). Without
 * a tokenizer, config.json's bos / eos / pad ids. */
static void find_unused(xl_m3 *h) {
    const xl_model *m = h->m;
    if (m->tok) {
        static const char *keys[M3_UNUSED_MAX] = {"cls_token", "eos_token", "pad_token", "unk_token"};
        static const char *defaults[M3_UNUSED_MAX] = {"<s>", "</s>", "<pad>", "<unk>"};
        json_t *tc = NULL;
        char *path = xl_path_join(m->dir, "tokenizer_config.json");
        if (path && xl_file_exists(path) && xl_json_load_file(path, &tc)) {
            tc = NULL;
            xl_err_clear();
        }
        free(path);
        for (int k = 0; k < M3_UNUSED_MAX; k++) {
            const char *name = defaults[k];
            json_t *v = tc ? json_object_get(tc, keys[k]) : NULL;
            if (json_is_object(v)) v = json_object_get(v, "content");
            if (json_is_string(v)) name = json_string_value(v);
            int32_t id = xl_tokenizer_token_to_id(m->tok, name);
            if (id >= 0) h->unused[h->n_unused++] = id;
        }
        if (tc) json_decref(tc);
        return;
    }
    static const char *ids[] = {"bos_token_id", "eos_token_id", "pad_token_id"};
    for (int k = 0; k < 3; k++) {
        json_t *v = json_object_get(m->config, ids[k]);
        if (json_is_integer(v)) h->unused[h->n_unused++] = (int32_t)json_integer_value(v);
    }
}

xl_status xl_m3_load(const xl_model *m, xl_m3 **out) {
    *out = NULL;
    if (!m) return xl_err(XL_ERR_ARG, "xl_m3_load: no model");
    xl_m3 *h = calloc(1, sizeof *h);
    if (!h) return xl_err(XL_ERR_NOMEM, "out of memory");
    h->m = m;
    h->hidden = m->ainfo.hidden_size;
    h->heads = XL_M3_DENSE;
    char *cpath = xl_path_join(m->dir, "colbert_linear.pt"), *spath = xl_path_join(m->dir, "sparse_linear.pt");
    xl_status st = cpath && spath ? XL_OK : xl_err(XL_ERR_NOMEM, "out of memory");
    if (!st && !xl_file_exists(cpath) && !xl_file_exists(spath))
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: no colbert_linear.pt or sparse_linear.pt (not a bge-m3 folder)", m->dir);
    if (!st && xl_file_exists(cpath)) {
        st = take_linear(cpath, h->hidden, 0, &h->colbert_w, &h->colbert_b, &h->colbert_dim);
        if (!st) h->heads |= XL_M3_COLBERT;
    }
    if (!st && xl_file_exists(spath)) {
        float *b = NULL;
        int one;
        st = take_linear(spath, h->hidden, 1, &h->sparse_w, &b, &one);
        if (!st) {
            h->sparse_b = b[0];
            h->heads |= XL_M3_SPARSE;
        }
        free(b);
    }
    free(cpath);
    free(spath);
    if (st) {
        xl_m3_free(h);
        return st;
    }
    find_unused(h);
    *out = h;
    return XL_OK;
}

void xl_m3_free(xl_m3 *h) {
    if (!h) return;
    free(h->colbert_w);
    free(h->colbert_b);
    free(h->sparse_w);
    free(h);
}

unsigned xl_m3_heads(const xl_m3 *h) { return h->heads; }
int xl_m3_colbert_dim(const xl_m3 *h) { return h->colbert_dim; }

void xl_m3_vectors_free(xl_m3_vectors *v) {
    if (!v) return;
    free(v->dense);
    free(v->sparse_ids);
    free(v->sparse_weights);
    free(v->colbert);
    memset(v, 0, sizeof *v);
}

typedef struct {
    int32_t id;
    float w;
} idw;

static int by_id_then_weight(const void *a, const void *b) {
    const idw *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->w > y->w ? -1 : x->w < y->w; /* larger first: the first of an id is its max */
}

static xl_status sparse_head(const xl_m3 *h, const int32_t *ids, size_t n, const float *hidden, xl_m3_vectors *out) {
    idw *tw = malloc((n ? n : 1) * sizeof *tw);
    if (!tw) return xl_err(XL_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t t = 0; t < n; t++) {
        int skip = 0;
        for (int u = 0; u < h->n_unused; u++) skip |= ids[t] == h->unused[u];
        if (skip) continue;
        const float *x = hidden + t * (size_t)h->hidden;
        double s = h->sparse_b;
        for (int j = 0; j < h->hidden; j++) s += (double)h->sparse_w[j] * x[j];
        if (s > 0) tw[k++] = (idw){ids[t], (float)s}; /* relu, then weights <= 0 dropped */
    }
    qsort(tw, k, sizeof *tw, by_id_then_weight);
    out->sparse_ids = malloc((k ? k : 1) * sizeof *out->sparse_ids);
    out->sparse_weights = malloc((k ? k : 1) * sizeof *out->sparse_weights);
    if (!out->sparse_ids || !out->sparse_weights) {
        free(tw);
        return xl_err(XL_ERR_NOMEM, "out of memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < k; i++)
        if (!m || tw[i].id != out->sparse_ids[m - 1]) {
            out->sparse_ids[m] = tw[i].id;
            out->sparse_weights[m++] = tw[i].w;
        }
    out->n_sparse = m;
    free(tw);
    return XL_OK;
}

xl_status xl_m3_compute(const xl_m3 *h, const int32_t *ids, size_t n, const float *hidden, unsigned heads,
                        xl_m3_vectors *out) {
    memset(out, 0, sizeof *out);
    if (!heads || (heads & ~(unsigned)XL_M3_ALL)) return xl_err(XL_ERR_ARG, "bge-m3: heads must be a mask of XL_M3_DENSE, _SPARSE, _COLBERT");
    if (heads & ~h->heads)
        return xl_err(XL_ERR_UNSUPPORTED, "%s: no %s head (%s missing)", h->m->dir,
                      (heads & ~h->heads & XL_M3_SPARSE) ? "sparse" : "ColBERT",
                      (heads & ~h->heads & XL_M3_SPARSE) ? "sparse_linear.pt" : "colbert_linear.pt");
    if (!n) return xl_err(XL_ERR_INPUT, "a sequence without tokens");
    size_t H = (size_t)h->hidden;
    xl_status st = XL_OK;
    if (heads & XL_M3_DENSE) {
        out->dense_dim = h->hidden;
        if (!(out->dense = malloc(H * sizeof *out->dense))) st = xl_err(XL_ERR_NOMEM, "out of memory");
        else {
            memcpy(out->dense, hidden, H * sizeof *out->dense);
            xl_l2_normalize(out->dense, h->hidden);
        }
    }
    if (!st && (heads & XL_M3_SPARSE)) st = sparse_head(h, ids, n, hidden, out);
    if (!st && (heads & XL_M3_COLBERT)) {
        size_t rows = n - 1, D = (size_t)h->colbert_dim;
        out->colbert_dim = h->colbert_dim;
        out->n_colbert = rows;
        if (!(out->colbert = malloc((rows ? rows : 1) * D * sizeof *out->colbert))) st = xl_err(XL_ERR_NOMEM, "out of memory");
        else if (rows) {
            xl_linear_f32(hidden + H, (int)rows, h->hidden, h->colbert_w, h->colbert_dim, h->colbert_b, out->colbert,
                          h->m->threads);
            for (size_t r = 0; r < rows; r++) xl_l2_normalize(out->colbert + r * D, h->colbert_dim);
        }
    }
    if (st) xl_m3_vectors_free(out);
    return st;
}

/* Progress of one group of a longer call, counted from its first item. */
typedef struct {
    const xl_embed_options *o;
    size_t base, total;
} group_progress;

static void on_group(void *ctx, size_t done, size_t total) {
    group_progress *g = ctx;
    (void)total;
    g->o->progress(g->o->progress_ctx, g->base + done, g->total);
}

/* Runs prepared sequences in groups (token states of a group are held at once) and
 * computes the heads of each item. */
static xl_status run_heads(const xl_m3 *h, const xl_sequence *seqs, size_t n, unsigned heads,
                           const xl_embed_options *o, xl_m3_vectors *out, size_t *n_truncated) {
    if (n_truncated) *n_truncated = 0;
    if (!heads || (heads & ~h->heads)) {
        xl_m3_vectors v;
        return xl_m3_compute(h, NULL, 0, NULL, heads, &v); /* the message */
    }
    xl_embed_options ro;
    if (o) ro = *o;
    else xl_embed_options_init(&ro);
    ro.pooling = XL_POOL_DEFAULT;
    ro.normalize = -1;
    ro.dim = 0;
    group_progress gp = {o, 0, n};
    if (o && o->progress) {
        ro.progress = on_group;
        ro.progress_ctx = &gp;
    }
    xl_context *ctx;
    xl_status st = xl_context_new(h->m, &ctx);
    if (st) return st;
    /* The token states of a group are held at once: at most ~64 MB of them (and one
     * sequence, however long), whatever the number of texts. */
    const size_t budget = ((size_t)64 << 20) / sizeof(float) / (size_t)h->hidden;
    for (size_t g0 = 0, gn; !st && g0 < n; g0 += gn) {
        size_t tokens = seqs[g0].n;
        for (gn = 1; g0 + gn < n && tokens + seqs[g0 + gn].n <= budget; gn++) tokens += seqs[g0 + gn].n;
        gp.base = g0;
        xl_outputs r;
        st = xl_run(ctx, seqs + g0, gn, XL_OUT_TOKENS, &ro, &r);
        if (st) break;
        for (size_t i = 0; !st && i < gn; i++) {
            if (r.status[i]) {
                const char *sep = strncmp(r.error[i], "has ", 4) == 0 ? " " : ": ";
                st = xl_err(r.status[i], "input %zu%s%s", g0 + i + 1, sep, r.error[i]);
            } else st = xl_m3_compute(h, seqs[g0 + i].ids, r.n_tokens[i], r.tokens[i], heads, &out[g0 + i]);
        }
        xl_outputs_free(&r);
    }
    xl_context_free(ctx);
    if (st) {
        for (size_t i = 0; i < n; i++) xl_m3_vectors_free(&out[i]);
        return st;
    }
    if (n_truncated)
        for (size_t i = 0; i < n; i++) *n_truncated += seqs[i].truncated != 0;
    return XL_OK;
}

/* The heads of n prepared sequences (the first that could not be prepared is the
 * error); the sequences are freed. */
static xl_status run_prepared(const xl_m3 *h, xl_sequence *seqs, size_t n, unsigned heads, const xl_embed_options *o,
                              xl_m3_vectors *out, size_t *n_truncated) {
    xl_status st = XL_OK;
    for (size_t i = 0; !st && i < n; i++)
        if (seqs[i].status) st = xl_err(seqs[i].status, "input %zu: %s", i + 1, seqs[i].error);
    if (!st) st = run_heads(h, seqs, n, heads, o, out, n_truncated);
    xl_sequences_free(seqs, n);
    return st;
}

xl_status xl_m3_embed_texts(const xl_m3 *h, const char *const *texts, const size_t *lens, size_t n, unsigned heads,
                            const xl_embed_options *o, xl_m3_vectors *out, size_t *n_truncated) {
    memset(out, 0, n * sizeof *out);
    xl_sequence *seqs;
    xl_status st = xl_prepare_texts(h->m, texts, lens, NULL, NULL, n, o, &seqs);
    return st ? st : run_prepared(h, seqs, n, heads, o, out, n_truncated);
}

xl_status xl_m3_embed_ids(const xl_m3 *h, const int32_t *const *ids, const size_t *lens, size_t n, unsigned heads,
                          const xl_embed_options *o, xl_m3_vectors *out, size_t *n_truncated) {
    memset(out, 0, n * sizeof *out);
    xl_sequence *seqs;
    xl_status st = xl_prepare_ids(h->m, ids, lens, NULL, n, o, &seqs);
    return st ? st : run_prepared(h, seqs, n, heads, o, out, n_truncated);
}

/* ---- scores ---- */

static double dot(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

double xl_m3_dense_score(const xl_m3_vectors *q, const xl_m3_vectors *d) {
    if (!q->dense || !d->dense || q->dense_dim != d->dense_dim) return NAN;
    return dot(q->dense, d->dense, q->dense_dim);
}

double xl_m3_lexical_score(const xl_m3_vectors *q, const xl_m3_vectors *d) {
    if (!q->sparse_ids || !d->sparse_ids) return NAN;
    double s = 0;
    size_t i = 0, j = 0;
    while (i < q->n_sparse && j < d->n_sparse) {
        if (q->sparse_ids[i] < d->sparse_ids[j]) i++;
        else if (q->sparse_ids[i] > d->sparse_ids[j]) j++;
        else s += (double)q->sparse_weights[i++] * d->sparse_weights[j++];
    }
    return s;
}

double xl_m3_colbert_score(const xl_m3_vectors *q, const xl_m3_vectors *d) {
    if (!q->colbert || !d->colbert || q->colbert_dim != d->colbert_dim) return NAN;
    if (!q->n_colbert || !d->n_colbert) return 0;
    size_t D = (size_t)q->colbert_dim;
    double sum = 0;
    for (size_t i = 0; i < q->n_colbert; i++) {
        double best = -INFINITY;
        for (size_t j = 0; j < d->n_colbert; j++) {
            double s = dot(q->colbert + i * D, d->colbert + j * D, q->colbert_dim);
            if (s > best) best = s;
        }
        sum += best;
    }
    return sum / (double)q->n_colbert;
}

xl_status xl_m3_score(const xl_m3_vectors *q, const xl_m3_vectors *d, const double *weights, xl_m3_scores *out) {
    static const double def[3] = {0.4, 0.2, 0.4};
    const double *w = weights ? weights : def;
    if (!(w[0] >= 0 && w[1] >= 0 && w[2] >= 0 && w[0] + w[1] + w[2] > 0))
        return xl_err(XL_ERR_ARG, "bge-m3 score weights must be >= 0 with a positive sum");
    out->dense = xl_m3_dense_score(q, d);
    out->lexical = xl_m3_lexical_score(q, d);
    out->colbert = xl_m3_colbert_score(q, d);
    const double s[3] = {out->dense, out->lexical, out->colbert};
    static const char *names[3] = {"dense", "sparse", "ColBERT"};
    double c = 0;
    for (int k = 0; k < 3; k++) {
        if (!w[k]) continue;
        if (isnan(s[k])) return xl_err(XL_ERR_ARG, "bge-m3 score: the %s vectors are missing or of unequal widths", names[k]);
        c += w[k] * s[k];
    }
    out->combined = c / (w[0] + w[1] + w[2]);
    return XL_OK;
}
