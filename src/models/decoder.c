/* The decoder forward shared by every decoder family: see decoder.h. */
#include "models/decoder.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/memcheck.h"
#include "kernels/kernels.h"
#include "util/error.h"
#include "util/json.h"
#include "util/vec.h"

/* ------------------------------------------------------------ Config, Weights, RunState */

/* The description plus what the load options decided. */
typedef struct {
    xl_dec_desc desc;
    int causal; /* in effect: the config's, or the forced direction */
} dec_config;

typedef struct {
    float *attn_norm, *attn_out_norm; /* attn_out_norm: sandwich only, else NULL */
    float *ffn_norm, *ffn_out_norm;   /* ffn_out_norm: sandwich only, else NULL */
    xl_dec_attn attn;
    xl_dec_mlp mlp;
} dec_layer;

typedef struct {
    const xl_tensor *embed; /* [vocab][hidden], read from the mapping */
    dec_layer *layers;
    float *final_norm;
    /* *ForSequenceClassification: score.weight [n_labels][hidden] as float32, else NULL */
    float *score;
    int n_labels;
    /* the output embedding: lm_head.weight [vocab][hidden] in the mapping, or NULL
     * (then embed when tied_output, else none) */
    const xl_tensor *lm_head;
    int tied_output;
} dec_weights;

typedef struct {
    dec_config c;
    dec_weights w;
    double *inv_freq[XL_DEC_MAX_ROPE]; /* [head_dim / 2] per RoPE kind */
    uint64_t n_params;
    char what[256]; /* the folder, for messages */
} dec_model;

typedef struct {
    const dec_model *model; /* the model it serves (its sizes) */
    int rows, T;            /* capacity: positions of a batch, of a sequence */
    size_t work;            /* floats in s.work */
    xl_dec_scratch s;
    float *cos_t[XL_DEC_MAX_ROPE], *sin_t[XL_DEC_MAX_ROPE]; /* [T][head_dim / 2] */
} dec_state;

/* ------------------------------------------------------------ description */

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

xl_status xl_dec_desc_init(xl_dec_desc *desc, const json_t *config, const char *what, int layers) {
    desc->architecture = dup_or_empty(json_string_value(json_array_get(json_object_get(config, "architectures"), 0)));
    desc->model_type = dup_or_empty(json_string_value(json_object_get(config, "model_type")));
    desc->layers = calloc((size_t)(layers > 0 ? layers : 1), sizeof *desc->layers);
    if (!desc->architecture || !desc->model_type || !desc->layers) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    return XL_OK;
}

void xl_dec_desc_free(xl_dec_desc *desc) {
    free(desc->architecture);
    free(desc->model_type);
    free(desc->layers);
    memset(desc, 0, sizeof *desc);
}

/* ------------------------------------------------------------ load */

void xl_dec_free(void *mp) {
    dec_model *m = mp;
    if (!m) return;
    if (m->w.layers) {
        for (int l = 0; l < m->c.desc.d.layers; l++) {
            dec_layer *ly = &m->w.layers[l];
            free(ly->attn_norm);
            free(ly->attn_out_norm);
            free(ly->ffn_norm);
            free(ly->ffn_out_norm);
            xl_dec_attn_free(&ly->attn);
            xl_dec_mlp_free(&ly->mlp);
        }
        free(m->w.layers);
    }
    free(m->w.final_norm);
    free(m->w.score);
    for (int r = 0; r < XL_DEC_MAX_ROPE; r++) free(m->inv_freq[r]);
    xl_dec_desc_free(&m->c.desc);
    free(m);
}

/* Norm tensors of a layer, in the order attn_norm, attn_out_norm, ffn_norm,
 * ffn_out_norm (NULL: the layout has none). */
static const char *const norm_names[2][4] = {
    {"input_layernorm", NULL, "post_attention_layernorm", NULL},
    {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"},
};

static xl_status load_layer(const xl_weights *w, dec_model *m, int l) {
    const xl_dec_desc *c = &m->c.desc;
    dec_layer *ly = &m->w.layers[l];
    float **norms[4] = {&ly->attn_norm, &ly->attn_out_norm, &ly->ffn_norm, &ly->ffn_out_norm};
    char name[128];
    xl_status st;
    for (int i = 0; i < 4; i++) {
        const char *nm = norm_names[c->sandwich ? 1 : 0][i];
        if (!nm) continue;
        snprintf(name, sizeof name, "layers.%d.%s.weight", l, nm);
        if ((st = xl_dec_vector_load(w, name, c->d.hidden, norms[i]))) return st;
        m->n_params += (uint64_t)c->d.hidden;
    }
    if ((st = xl_dec_attn_load(w, l, &c->d, c->qkv_bias, c->o_bias, c->qk_norm, &ly->attn))) return st;
    if ((st = xl_dec_mlp_load(w, l, &c->d, c->mlp_bias, &ly->mlp))) return st;
    m->n_params += xl_dec_attn_params(&ly->attn, &c->d) + xl_dec_mlp_params(&ly->mlp);
    return XL_OK;
}

static xl_status load_weights(dec_model *m, const xl_weights *w) {
    const xl_dec_dims *d = &m->c.desc.d;
    xl_status st;
    if ((st = xl_dec_embed_load(w, d, &m->w.embed))) return st;
    m->n_params = (uint64_t)d->vocab * d->hidden + d->hidden; /* + the final norm */
    m->w.layers = calloc((size_t)d->layers, sizeof *m->w.layers);
    if (!m->w.layers) return xl_err(XL_ERR_NOMEM, "%s: out of memory", m->what);
    for (int l = 0; l < d->layers; l++)
        if ((st = load_layer(w, m, l))) return st;
    return xl_dec_vector_load(w, "norm.weight", d->hidden, &m->w.final_norm);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The heads: a sequence classification `score` (labels from id2label, else num_labels,
 * else 2, as transformers' PretrainedConfig), and the output embedding for causal LMs. */
static xl_status load_heads(dec_model *m, const json_t *config, const xl_weights *w, const char *what) {
    const xl_dec_dims *d = &m->c.desc.d;
    xl_status st;
    if (ends_with(m->c.desc.architecture, "ForSequenceClassification")) {
        const json_t *id2label = json_object_get(config, "id2label"), *nl = json_object_get(config, "num_labels");
        long long n = json_is_object(id2label) ? (long long)json_object_size(id2label)
                      : json_is_integer(nl)    ? json_integer_value(nl)
                                               : 2;
        if (n < 1 || n > 1 << 16) return xl_err(XL_ERR_FORMAT, "%s: %lld labels", what, n);
        int64_t shape[2] = {n, d->hidden};
        if ((st = xl_weights_get_f32(w, "score.weight", 2, shape, &m->w.score))) return st;
        m->w.n_labels = (int)n;
        m->n_params += (uint64_t)n * (uint64_t)d->hidden;
    }
    int tied;
    if ((st = xl_json_get_bool(config, "tie_word_embeddings", 1, &tied, what))) return st;
    m->w.tied_output = tied;
    const xl_tensor *t = xl_weights_find(w, "lm_head.weight");
    if (t) {
        int64_t shape[2] = {d->vocab, d->hidden};
        if ((st = xl_weights_get(w, t->name, 2, shape, &m->w.lm_head))) return st;
    }
    return XL_OK;
}

int xl_dec_num_scores(const void *model) { return ((const dec_model *)model)->w.n_labels; }

void xl_dec_head_scores(const void *model, const float *h, int len, float *scores) {
    const dec_model *m = model;
    const int H = m->c.desc.d.hidden;
    const float *last = h + (size_t)(len - 1) * H;
    for (int c = 0; c < m->w.n_labels; c++) {
        double s = 0;
        for (int k = 0; k < H; k++) s += (double)m->w.score[(size_t)c * H + k] * last[k];
        scores[c] = (float)s;
    }
}

xl_status xl_dec_vocab_logits(const void *model, const float *h, const int32_t *rows, int n, float *out) {
    const dec_model *m = model;
    const xl_dec_dims *d = &m->c.desc.d;
    const xl_tensor *t = m->w.lm_head ? m->w.lm_head : m->w.tied_output ? m->w.embed : NULL;
    if (!t)
        return xl_err(XL_ERR_FORMAT, "%s: no lm_head.weight, and tie_word_embeddings is false (no output embedding)",
                      m->what);
    float *row = malloc((size_t)d->hidden * sizeof *row);
    if (!row) return xl_err(XL_ERR_NOMEM, "out of memory");
    size_t es = xl_dtype_size(t->dtype);
    for (int r = 0; r < n; r++) {
        if (rows[r] < 0 || rows[r] >= d->vocab) {
            free(row);
            return xl_err(XL_ERR_ARG, "%s: vocabulary row %d is outside [0, %d)", m->what, rows[r], d->vocab);
        }
        xl_convert_to_f32(t->dtype, (const char *)t->data + (size_t)rows[r] * d->hidden * es, row, (size_t)d->hidden);
        double s = 0;
        for (int k = 0; k < d->hidden; k++) s += (double)row[k] * h[k];
        out[r] = (float)s;
    }
    free(row);
    return XL_OK;
}

/* Layer by layer, so the float pages of each tensor are handed back before the next
 * one is copied (peak: the int8 copies plus one tensor). */
static xl_status quantize_linears(dec_model *m, int threads) {
    for (int l = 0; l < m->c.desc.d.layers; l++) {
        xl_dec_attn *a = &m->w.layers[l].attn;
        xl_dec_mlp *f = &m->w.layers[l].mlp;
        xl_dec_linear *ls[7] = {&a->q, &a->k, &a->v, &a->o, &f->gate, &f->up, &f->down};
        for (int i = 0; i < 7; i++) {
            xl_status st = xl_dec_linear_quantize(ls[i], threads);
            if (st) return st;
        }
    }
    return XL_OK;
}

static xl_status check_options(const xl_model_options *o, const char *dir) {
    if (!o) return XL_OK;
    if (o->attention != XL_ATTN_DEFAULT && o->attention != XL_ATTN_FORCE_BIDIRECTIONAL && o->attention != XL_ATTN_FORCE_CAUSAL)
        return xl_err(XL_ERR_ARG, "%s: load option attention = %d is not 0 (from the config), 1 (bidirectional) or 2 (causal)",
                      dir, (int)o->attention);
    if (o->quantize != XL_QUANTIZE_NONE && o->quantize != XL_QUANTIZE_Q8)
        return xl_err(XL_ERR_ARG, "%s: load option quantize = %d is not 0 (none) or 1 (q8)", dir, (int)o->quantize);
    return XL_OK;
}

xl_status xl_dec_load(const json_t *config, const xl_weights *w, const char *dir, const xl_model_options *opts,
                      xl_dec_describe_fn describe, void **out) {
    char what[300];
    *out = NULL;
    xl_status st = check_options(opts, dir);
    if (st) return st;
    snprintf(what, sizeof what, "%s/config.json", dir);
    dec_model *m = calloc(1, sizeof *m);
    if (!m) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    snprintf(m->what, sizeof m->what, "%s", dir);
    xl_dec_desc *c = &m->c.desc;
    if ((st = describe(config, what, c))) goto fail;
    m->c.causal = c->causal;
    if (opts && opts->attention == XL_ATTN_FORCE_BIDIRECTIONAL) m->c.causal = 0;
    if (opts && opts->attention == XL_ATTN_FORCE_CAUSAL) m->c.causal = 1;
    for (int r = 0; r < c->n_rope; r++) {
        m->inv_freq[r] = malloc(sizeof(double) * (size_t)(c->d.head_dim / 2));
        if (!m->inv_freq[r]) {
            st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
            goto fail;
        }
        xl_rope_inv_freq(&c->rope[r], c->d.head_dim, m->inv_freq[r]);
    }
    if ((st = load_weights(m, w))) goto fail;
    if ((st = load_heads(m, config, w, what))) goto fail;
    if (opts && opts->quantize == XL_QUANTIZE_Q8 &&
        (st = quantize_linears(m, opts->threads > 0 ? opts->threads : omp_get_num_procs())))
        goto fail;
    *out = m;
    return XL_OK;
fail:
    xl_dec_free(m);
    return st;
}

/* ------------------------------------------------------------ memory */

uint64_t xl_dec_memory_needed(uint64_t weight_bytes, int half_weights, int q8, int hidden, int batch_tokens) {
    uint64_t weights = weight_bytes;
    if (q8) weights = half_weights ? weight_bytes / 100 * 52 : weight_bytes / 100 * 26;
    uint64_t tokens = batch_tokens > 0 ? (uint64_t)batch_tokens : XL_MEM_BATCH_TOKENS;
    uint64_t h = hidden > 0 ? (uint64_t)hidden : 0;
    return weights + XL_MEM_RUNTIME_BYTES + tokens * 6 * h * sizeof(float) + XL_DEC_MLP_BYTES;
}

xl_status xl_dec_estimate_memory(const json_t *config, const xl_weights *w, const xl_model_options *opts,
                                 uint64_t *bytes) {
    int q8 = opts && opts->quantize == XL_QUANTIZE_Q8;
    int hidden = (int)json_integer_value(json_object_get(config, "hidden_size"));
    *bytes = xl_dec_memory_needed(xl_weights_data_bytes(w), xl_weights_mostly_half(w), q8, hidden, 0);
    return XL_OK;
}

/* ------------------------------------------------------------ run state */

xl_status xl_dec_state_new(const void *model, void **state) {
    *state = NULL;
    if (!model) return xl_err(XL_ERR_ARG, "decoder run state: no model");
    dec_state *s = calloc(1, sizeof *s);
    if (!s) return xl_err(XL_ERR_NOMEM, "decoder run state: out of memory");
    s->model = model;
    *state = s; /* empty: the first forward sizes it */
    return XL_OK;
}

static void free_rows(dec_state *s) {
    float **bufs[8] = {&s->s.xn, &s->s.out, &s->s.q, &s->s.k, &s->s.v, &s->s.ctx, &s->s.gate, &s->s.up};
    for (int i = 0; i < 8; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
    s->rows = 0;
    s->s.mlp_rows = 0;
}

static void free_tables(dec_state *s) {
    for (int r = 0; r < XL_DEC_MAX_ROPE; r++) {
        free(s->cos_t[r]);
        free(s->sin_t[r]);
        s->cos_t[r] = s->sin_t[r] = NULL;
    }
    s->T = 0;
}

void xl_dec_state_free(void *state) {
    dec_state *s = state;
    if (!s) return;
    free_rows(s);
    free_tables(s);
    free(s->s.work);
    free(s);
}

static float *alloc_floats(size_t a, size_t b, int *fail) {
    size_t n;
    if (!xl_mul_ok(a, b, &n) || !xl_mul_ok(n, sizeof(float), &n)) {
        *fail = 1;
        return NULL;
    }
    float *p = malloc(n ? n : sizeof(float));
    if (!p) *fail = 1;
    return p;
}

/* Grows the state to hold a batch of `rows` positions, sequences of T and `work`
 * workspace floats; what is large enough already is kept as it is. */
static xl_status state_reserve(dec_state *s, int rows, int T, size_t work) {
    const dec_model *m = s->model;
    const xl_dec_dims *d = &m->c.desc.d;
    int fail = 0;
    if (rows > s->rows) {
        free_rows(s);
        size_t qd = (size_t)d->heads * d->head_dim, kd = (size_t)d->kv_heads * d->head_dim;
        int mlp_rows = xl_dec_mlp_rows(d, rows);
        s->s.xn = alloc_floats((size_t)rows, (size_t)d->hidden, &fail);
        s->s.out = alloc_floats((size_t)rows, (size_t)d->hidden, &fail);
        s->s.q = alloc_floats((size_t)rows, qd, &fail);
        s->s.k = alloc_floats((size_t)rows, kd, &fail);
        s->s.v = alloc_floats((size_t)rows, kd, &fail);
        s->s.ctx = alloc_floats((size_t)rows, qd, &fail);
        s->s.gate = alloc_floats((size_t)mlp_rows, (size_t)d->intermediate, &fail);
        s->s.up = alloc_floats((size_t)mlp_rows, (size_t)d->intermediate, &fail);
        if (fail) {
            free_rows(s);
            return xl_err(XL_ERR_NOMEM, "%s: out of memory for a batch of %d positions", m->what, rows);
        }
        s->rows = rows;
        s->s.mlp_rows = mlp_rows;
    }
    if (work > s->work) {
        free(s->s.work);
        s->s.work = alloc_floats(work, 1, &fail);
        s->work = fail ? 0 : work;
        if (fail) return xl_err(XL_ERR_NOMEM, "%s: out of memory for the linear workspace", m->what);
    }
    if (T > s->T) {
        /* Row t of a table depends on t alone, so tables for T serve every shorter T. */
        free_tables(s);
        size_t half = (size_t)d->head_dim / 2;
        for (int r = 0; r < m->c.desc.n_rope; r++) {
            s->cos_t[r] = alloc_floats((size_t)T, half, &fail);
            s->sin_t[r] = alloc_floats((size_t)T, half, &fail);
            if (!fail) xl_rope_tables(m->inv_freq[r], (int)half, T, s->cos_t[r], s->sin_t[r]);
        }
        if (fail) {
            free_tables(s);
            return xl_err(XL_ERR_NOMEM, "%s: out of memory for RoPE tables of %d positions", m->what, T);
        }
        s->T = T;
    }
    return XL_OK;
}

/* ------------------------------------------------------------ forward */

/* Key window of a layer as xl_attention wants it (see decoder.h). */
static void layer_window(int causal, int window, int *left, int *right) {
    if (causal) {
        *left = window > 0 ? window - 1 : -1;
        *right = 0;
    } else {
        *left = *right = window > 0 ? window / 2 : -1;
    }
}

xl_status xl_dec_forward(const void *mp, void *sp, const xl_batch *b, float *hidden, xl_layer_cb cb, void *cb_ctx,
                         int threads) {
    const dec_model *m = mp;
    dec_state *s = sp;
    if (!m) return xl_err(XL_ERR_ARG, "decoder forward: no model");
    if (!s || s->model != m)
        return xl_err(XL_ERR_ARG, "%s: forward needs a run state made by state_new for this model", m->what);
    const xl_dec_desc *c = &m->c.desc;
    const xl_dec_dims *d = &c->d;
    xl_status st = xl_dec_check_batch(b, d->vocab, m->what);
    if (st) return st;
    int rows = b->B * b->T, H = d->hidden;
    size_t work = 0, n = (size_t)rows * H;
    for (int l = 0; l < d->layers; l++) {
        size_t lw = xl_dec_layer_work(&m->w.layers[l].attn, &m->w.layers[l].mlp, rows, threads);
        if (lw > work) work = lw;
    }
    if ((st = state_reserve(s, rows, b->T, work))) return st;
    xl_dec_scratch *x = &s->s;
    const float eps = (float)d->eps, off = c->norm_offset;

    xl_dec_embed(m->w.embed, H, b, c->embed_scale, hidden, threads);
    if (cb) cb(cb_ctx, 0, hidden, b->B, b->T, H);
    xl_dec_attn_cfg ac = {
        .n_heads = d->heads,
        .n_kv_heads = d->kv_heads,
        .head_dim = d->head_dim,
        .scale = c->attn_scale,
        .qk_norm_eps = eps,
        .qk_norm_offset = off,
    };
    for (int l = 0; l < d->layers; l++) {
        const dec_layer *ly = &m->w.layers[l];
        const xl_dec_layer_desc *ld = &c->layers[l];
        ac.cos_t = s->cos_t[ld->rope];
        ac.sin_t = s->sin_t[ld->rope];
        layer_window(m->c.causal, ld->window, &ac.window_left, &ac.window_right);
        memcpy(x->xn, hidden, n * sizeof(float));
        xl_rmsnorm(x->xn, rows, H, ly->attn_norm, off, eps, threads);
        if ((st = xl_dec_attention(&ly->attn, &ac, b, x->xn, x, threads))) return st;
        if (ly->attn_out_norm) xl_rmsnorm(x->out, rows, H, ly->attn_out_norm, off, eps, threads);
        xl_add_inplace(hidden, x->out, n, threads);
        memcpy(x->xn, hidden, n * sizeof(float));
        xl_rmsnorm(x->xn, rows, H, ly->ffn_norm, off, eps, threads);
        xl_dec_mlp_forward(&ly->mlp, c->act, x->xn, rows, x, threads);
        if (ly->ffn_out_norm) xl_rmsnorm(x->out, rows, H, ly->ffn_out_norm, off, eps, threads);
        xl_add_inplace(hidden, x->out, n, threads);
        if (cb) cb(cb_ctx, l + 1, hidden, b->B, b->T, H);
    }
    xl_rmsnorm(hidden, rows, H, m->w.final_norm, off, eps, threads);
    if (cb) cb(cb_ctx, d->layers + 1, hidden, b->B, b->T, H);
    return XL_OK;
}

/* ------------------------------------------------------------ info */

void xl_dec_get_info(const void *mp, xl_arch_info *info) {
    const dec_model *m = mp;
    const xl_dec_dims *d = &m->c.desc.d;
    memset(info, 0, sizeof *info);
    info->architecture = m->c.desc.architecture;
    info->model_type = m->c.desc.model_type;
    info->hidden_size = d->hidden;
    info->num_layers = d->layers;
    info->num_heads = d->heads;
    info->num_kv_heads = d->kv_heads;
    info->head_dim = d->head_dim;
    info->intermediate_size = d->intermediate;
    info->vocab_size = d->vocab;
    info->max_position_embeddings = d->max_pos;
    info->max_tokens = d->max_pos;
    info->causal = m->c.causal;
    info->has_final_norm = 1;
    info->dtype = xl_dtype_name(m->w.layers[0].attn.q.dtype);
    info->n_params = m->n_params;
}
