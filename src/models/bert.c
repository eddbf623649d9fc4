/* BERT-family encoders: BertModel, XLMRobertaModel, RobertaModel (and their
 * *ForMaskedLM / *ForPreTraining checkpoints, whose encoder is the same).
 *
 *   x = LN(word[id] + pos[p] + type[type_id])                   embeddings
 *   per layer (post-LN):
 *     x = LN(x + (softmax(q·kᵀ/√d) v) Wo + bo)                  self-attention
 *     x = LN(x + act(x W1 + b1) W2 + b2)                        feed-forward
 *
 * Positions: BERT counts 0..n-1; XLM-R / RoBERTa count from padding_idx + 1 (HF's
 * cumsum(mask) * mask + padding_idx). Weights: F32 tensors are used in place from the
 * mapping when 4-byte aligned, F16 / BF16 are converted to F32 once at load; weight
 * matrices are packed for the GEMM once at load, q, k, v concatenated into one
 * [3H][H] matrix so a layer runs one GEMM for all three.
 * The word-embedding table stays in its stored dtype (rows converted on lookup), so a
 * 250k-row F16 vocabulary is not doubled in memory.
 * The model is read-only after load; a forward's scratch lives in the caller's run
 * state (bert_state), so any number of contexts may run one model at once. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "io/memcheck.h"
#include "kernels/kernels.h"
#include "models/arch.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/json.h"
#include "util/vec.h"

typedef struct {
    int hidden, layers, heads, head_dim, inter, vocab, max_pos, type_vocab;
    int pad_id;
    int roberta_positions; /* 1: positions start at pad_id + 1 */
    float eps;
    xl_kact act;
} bert_config;

/* Matrices are packed for the GEMM (xl_pack_w); vectors are float32 views. */
typedef struct {
    xl_packed_w wqkv;              /* [3H][H]: q | k | v */
    float *bqkv;                   /* [3H] (owned) */
    xl_packed_w wo;                /* [H][H] */
    const float *bo;               /* [H] */
    const float *ln1_g, *ln1_b;    /* attention output LayerNorm */
    xl_packed_w w1;                /* [I][H] */
    const float *b1;               /* [I] */
    xl_packed_w w2;                /* [H][I] */
    const float *b2;               /* [H] */
    const float *ln2_g, *ln2_b;    /* output LayerNorm */
} bert_layer;

typedef struct {
    bert_config c;
    const xl_tensor *word;         /* [vocab][H], stored dtype */
    const float *pos;              /* [max_pos][H] */
    const float *types;            /* [type_vocab][H] token type (segment) rows */
    const float *emb_ln_g, *emb_ln_b;
    bert_layer *layer;
    void **owned;                  /* float arrays converted or built at load */
    int n_owned, cap_owned;
    char *architecture, *model_type;
    char dtype[16];
    uint64_t n_params;
    /* *ForSequenceClassification: scores = out(tanh(dense(h[first token]))) with BERT's
     * pooler + classifier or XLM-R's classifier.dense + classifier.out_proj */
    int n_labels;                  /* 0: no head */
    const float *head_w, *head_b;  /* [H][H], [H] */
    const float *out_w, *out_b;    /* [n_labels][H], [n_labels] */
} bert_model;

/* A context's run state: the scratch of its last forward, kept for the next one (a
 * fresh block per call costs a page fault per 4 KB, tens of MB at 32 x 128 tokens). */
typedef struct {
    void *block;
    size_t bytes;
} bert_state;

/* ------------------------------------------------------------------ config */

static const char *const k_archs[] = {
    "BertModel",    "BertForMaskedLM",    "BertForPreTraining",    "XLMRobertaModel",
    "XLMRobertaForMaskedLM", "RobertaModel", "RobertaForMaskedLM",
};
static const char *const k_model_types[] = {"bert", "xlm-roberta", "roberta"};

static int bert_matches(const json_t *config) {
    const json_t *archs = json_object_get(config, "architectures");
    size_t i;
    const json_t *a;
    json_array_foreach(archs, i, a) {
        const char *s = json_string_value(a);
        for (size_t k = 0; s && k < sizeof k_archs / sizeof k_archs[0]; k++)
            if (strcmp(s, k_archs[k]) == 0) return 1;
    }
    const char *mt = json_string_value(json_object_get(config, "model_type"));
    for (size_t k = 0; mt && k < sizeof k_model_types / sizeof k_model_types[0]; k++)
        if (strcmp(mt, k_model_types[k]) == 0) return 1;
    return 0;
}

static int is_roberta(const json_t *config) {
    const char *mt = json_string_value(json_object_get(config, "model_type"));
    if (mt) return strcmp(mt, "xlm-roberta") == 0 || strcmp(mt, "roberta") == 0;
    const char *arch = json_string_value(json_array_get(json_object_get(config, "architectures"), 0));
    return arch && (strncmp(arch, "XLMRoberta", 10) == 0 || strncmp(arch, "Roberta", 7) == 0);
}

/* A required positive integer key. */
static xl_status get_dim(const json_t *cfg, const char *key, const char *what, int *out) {
    long long v;
    xl_status st = xl_json_get_int(cfg, key, -1, &v, what);
    if (st) return st;
    if (v == -1 && !json_object_get(cfg, key)) return xl_err(XL_ERR_FORMAT, "%s: missing \"%s\"", what, key);
    if (v <= 0 || v > (1 << 24)) return xl_err(XL_ERR_FORMAT, "%s: \"%s\" = %lld is out of range", what, key, v);
    *out = (int)v;
    return XL_OK;
}

static xl_status read_config(const json_t *cfg, const char *what, bert_config *c) {
    xl_status st;
    memset(c, 0, sizeof *c);
    if ((st = get_dim(cfg, "hidden_size", what, &c->hidden)) || (st = get_dim(cfg, "num_hidden_layers", what, &c->layers)) ||
        (st = get_dim(cfg, "num_attention_heads", what, &c->heads)) ||
        (st = get_dim(cfg, "intermediate_size", what, &c->inter)) || (st = get_dim(cfg, "vocab_size", what, &c->vocab)) ||
        (st = get_dim(cfg, "max_position_embeddings", what, &c->max_pos)))
        return st;
    if (c->hidden % c->heads != 0)
        return xl_err(XL_ERR_FORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d", what, c->hidden,
                      c->heads);
    c->head_dim = c->hidden / c->heads;
    long long tv, pad;
    if ((st = xl_json_get_int(cfg, "type_vocab_size", 2, &tv, what))) return st;
    if (tv < 1 || tv > (1 << 20)) return xl_err(XL_ERR_FORMAT, "%s: \"type_vocab_size\" = %lld is out of range", what, tv);
    c->type_vocab = (int)tv;
    c->roberta_positions = is_roberta(cfg);
    if ((st = xl_json_get_int(cfg, "pad_token_id", c->roberta_positions ? 1 : 0, &pad, what))) return st;
    if (pad < 0 || pad >= c->vocab)
        return xl_err(XL_ERR_FORMAT, "%s: \"pad_token_id\" = %lld is outside the vocabulary", what, pad);
    c->pad_id = (int)pad;
    if (c->roberta_positions && c->pad_id + 1 >= c->max_pos)
        return xl_err(XL_ERR_FORMAT, "%s: max_position_embeddings %d leaves no position after padding_idx %d", what,
                      c->max_pos, c->pad_id);
    double eps;
    if ((st = xl_json_get_num(cfg, "layer_norm_eps", 1e-12, &eps, what))) return st;
    if (!(eps >= 0.0 && eps < 1.0)) return xl_err(XL_ERR_FORMAT, "%s: \"layer_norm_eps\" = %g is out of range", what, eps);
    c->eps = (float)eps;
    const char *act, *pet;
    if ((st = xl_json_get_str(cfg, "hidden_act", "gelu", &act, what))) return st;
    if (strcmp(act, "gelu") == 0)
        c->act = XL_KACT_GELU_ERF;
    else if (strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_pytorch_tanh") == 0 || strcmp(act, "gelu_fast") == 0)
        c->act = XL_KACT_GELU_TANH;
    else if (strcmp(act, "relu") == 0)
        c->act = XL_KACT_RELU;
    else if (strcmp(act, "silu") == 0 || strcmp(act, "swish") == 0)
        c->act = XL_KACT_SILU;
    else
        return xl_err(XL_ERR_UNSUPPORTED,
                      "%s: hidden_act \"%s\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu)",
                      what, act);
    if ((st = xl_json_get_str(cfg, "position_embedding_type", "absolute", &pet, what))) return st;
    if (strcmp(pet, "absolute") != 0)
        return xl_err(XL_ERR_UNSUPPORTED, "%s: position_embedding_type \"%s\" is not supported (only \"absolute\")", what,
                      pet);
    return XL_OK;
}

/* ------------------------------------------------------------------ weights */

static xl_status own(bert_model *m, void *p) {
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 32;
        void **o = realloc(m->owned, sizeof(void *) * (size_t)cap);
        if (!o) {
            free(p);
            return xl_err(XL_ERR_NOMEM, "out of memory loading the model");
        }
        m->owned = o;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return XL_OK;
}

/* Records the tensor's dtype in the model's summary ("F32", "F16", ... or "mixed"). */
static void note_tensor(bert_model *m, const xl_tensor *t) {
    const char *dn = xl_dtype_name(t->dtype);
    if (!m->dtype[0])
        snprintf(m->dtype, sizeof m->dtype, "%s", dn);
    else if (strcmp(m->dtype, dn) != 0)
        snprintf(m->dtype, sizeof m->dtype, "mixed");
    m->n_params += t->numel;
}

/* A float32 view of a tensor whose shape the config implies: in place for aligned F32,
 * else a converted copy owned by the model. */
static xl_status get_f32(bert_model *m, const xl_weights *w, const char *name, int ndim, int64_t d0, int64_t d1,
                         const float **out) {
    int64_t shape[2] = {d0, d1};
    const xl_tensor *t;
    xl_status st = xl_weights_get(w, name, ndim, shape, &t);
    if (st) return st;
    note_tensor(m, t);
    if (t->dtype == XL_DT_F32 && ((uintptr_t)t->data & 3u) == 0) {
        *out = t->data;
        return XL_OK;
    }
    float *f;
    if ((st = xl_tensor_to_f32(t, &f))) return st;
    if ((st = own(m, f))) return st;
    *out = f;
    return XL_OK;
}

/* Copies the tensor (any float dtype) as float32 into dst (n values, shape checked). */
static xl_status copy_f32(bert_model *m, const xl_weights *w, const char *name, int ndim, int64_t d0, int64_t d1,
                          float *dst) {
    int64_t shape[2] = {d0, d1};
    const xl_tensor *t;
    xl_status st = xl_weights_get(w, name, ndim, shape, &t);
    if (st) return st;
    note_tensor(m, t);
    xl_convert_to_f32(t->dtype, t->data, dst, t->numel);
    return XL_OK;
}

/* Packs the [N][K] weight `name` for the GEMM (converted to float32 on the way). */
static xl_status get_packed(bert_model *m, const xl_weights *w, const char *name, int N, int K, xl_packed_w *out) {
    int64_t shape[2] = {N, K};
    const xl_tensor *t;
    xl_status st = xl_weights_get(w, name, 2, shape, &t);
    if (st) return st;
    note_tensor(m, t);
    if (t->dtype == XL_DT_F32 && ((uintptr_t)t->data & 3u) == 0) return xl_pack_w(t->data, N, K, out);
    float *f;
    if ((st = xl_tensor_to_f32(t, &f))) return st;
    st = xl_pack_w(f, N, K, out);
    free(f);
    return st;
}

static xl_status load_layer(bert_model *m, const xl_weights *w, int l) {
    const int H = m->c.hidden, I = m->c.inter;
    bert_layer *L = &m->layer[l];
    char name[160];
    xl_status st;
#define NAME(suffix) (snprintf(name, sizeof name, "encoder.layer.%d.%s", l, suffix), name)
    L->bqkv = malloc(sizeof(float) * 3 * (size_t)H);
    if ((st = own(m, L->bqkv))) return st;
    float *wqkv = malloc(sizeof(float) * 3 * (size_t)H * H);
    if (!wqkv || !L->bqkv) {
        free(wqkv);
        return xl_err(XL_ERR_NOMEM, "out of memory loading layer %d", l);
    }
    static const char *const qkv[3] = {"query", "key", "value"};
    for (int i = 0; i < 3; i++) {
        char part[64];
        snprintf(part, sizeof part, "attention.self.%s.weight", qkv[i]);
        if (!(st = copy_f32(m, w, NAME(part), 2, H, H, wqkv + (size_t)i * H * H))) {
            snprintf(part, sizeof part, "attention.self.%s.bias", qkv[i]);
            st = copy_f32(m, w, NAME(part), 1, H, 0, L->bqkv + (size_t)i * H);
        }
        if (st) {
            free(wqkv);
            return st;
        }
    }
    st = xl_pack_w(wqkv, 3 * H, H, &L->wqkv);
    free(wqkv);
    if (st || (st = get_packed(m, w, NAME("attention.output.dense.weight"), H, H, &L->wo)) ||
        (st = get_f32(m, w, NAME("attention.output.dense.bias"), 1, H, 0, &L->bo)) ||
        (st = get_f32(m, w, NAME("attention.output.LayerNorm.weight"), 1, H, 0, &L->ln1_g)) ||
        (st = get_f32(m, w, NAME("attention.output.LayerNorm.bias"), 1, H, 0, &L->ln1_b)) ||
        (st = get_packed(m, w, NAME("intermediate.dense.weight"), I, H, &L->w1)) ||
        (st = get_f32(m, w, NAME("intermediate.dense.bias"), 1, I, 0, &L->b1)) ||
        (st = get_packed(m, w, NAME("output.dense.weight"), H, I, &L->w2)) ||
        (st = get_f32(m, w, NAME("output.dense.bias"), 1, H, 0, &L->b2)) ||
        (st = get_f32(m, w, NAME("output.LayerNorm.weight"), 1, H, 0, &L->ln2_g)) ||
        (st = get_f32(m, w, NAME("output.LayerNorm.bias"), 1, H, 0, &L->ln2_b)))
        return st;
#undef NAME
    return XL_OK;
}

static void bert_free(void *model) {
    bert_model *m = model;
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    for (int l = 0; m->layer && l < m->c.layers; l++) {
        xl_packed_w_free(&m->layer[l].wqkv);
        xl_packed_w_free(&m->layer[l].wo);
        xl_packed_w_free(&m->layer[l].w1);
        xl_packed_w_free(&m->layer[l].w2);
    }
    free(m->layer);
    free(m->architecture);
    free(m->model_type);
    free(m);
}

static char *dup_or_null(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static const char *config_arch(const json_t *config) {
    const char *a = json_string_value(json_array_get(json_object_get(config, "architectures"), 0));
    return a ? a : "BertModel";
}

/* The load options are decoder switches: an encoder has one attention direction and
 * keeps float32 weights. */
static xl_status check_options(const json_t *config, const char *dir, const xl_model_options *o) {
    if (!o) return XL_OK;
    if (o->attention != XL_ATTN_DEFAULT)
        return xl_err(XL_ERR_ARG, "%s: forcing the attention direction applies to decoder models only (this is %s)",
                      dir ? dir : ".", config_arch(config));
    if (o->quantize != XL_QUANTIZE_NONE)
        return xl_err(XL_ERR_UNSUPPORTED, "%s: --quantize q8 is implemented for decoder models only (this is %s)",
                      dir ? dir : ".", config_arch(config));
    return XL_OK;
}

/* The classification head of a *ForSequenceClassification folder: num_labels from
 * id2label (else num_labels, else 2, as transformers' PretrainedConfig). */
static xl_status load_head(bert_model *m, const json_t *config, const xl_weights *w, const char *what) {
    const char *arch = m->architecture;
    size_t al = arch ? strlen(arch) : 0, sl = strlen("ForSequenceClassification");
    if (al < sl || strcmp(arch + al - sl, "ForSequenceClassification")) return XL_OK;
    const json_t *id2label = json_object_get(config, "id2label"), *nl = json_object_get(config, "num_labels");
    int n = json_is_object(id2label) ? (int)json_object_size(id2label)
            : json_is_integer(nl)    ? (int)json_integer_value(nl)
                                     : 2;
    if (n < 1 || n > 1 << 16) return xl_err(XL_ERR_FORMAT, "%s: %d labels", what, n);
    const int H = m->c.hidden;
    xl_status st;
    if (!strncmp(arch, "Bert", 4))
        st = get_f32(m, w, "pooler.dense.weight", 2, H, H, &m->head_w);
    else
        st = get_f32(m, w, "classifier.dense.weight", 2, H, H, &m->head_w);
    if (st) return st;
    if (!strncmp(arch, "Bert", 4)) {
        if ((st = get_f32(m, w, "pooler.dense.bias", 1, H, 0, &m->head_b)) ||
            (st = get_f32(m, w, "classifier.weight", 2, n, H, &m->out_w)) ||
            (st = get_f32(m, w, "classifier.bias", 1, n, 0, &m->out_b)))
            return st;
    } else if ((st = get_f32(m, w, "classifier.dense.bias", 1, H, 0, &m->head_b)) ||
               (st = get_f32(m, w, "classifier.out_proj.weight", 2, n, H, &m->out_w)) ||
               (st = get_f32(m, w, "classifier.out_proj.bias", 1, n, 0, &m->out_b))) {
        return st;
    }
    m->n_labels = n;
    return XL_OK;
}

static int bert_num_scores(const void *model) { return ((const bert_model *)model)->n_labels; }

static void bert_head_scores(const void *model, const float *h, int len, float *scores) {
    const bert_model *m = model;
    const int H = m->c.hidden;
    (void)len;
    float *t = malloc((size_t)H * sizeof *t);
    if (!t) {
        for (int k = 0; k < m->n_labels; k++) scores[k] = NAN;
        return;
    }
    for (int i = 0; i < H; i++) { /* the first token ([CLS] / <s>) through dense + tanh */
        double s = m->head_b[i];
        for (int k = 0; k < H; k++) s += (double)m->head_w[(size_t)i * H + k] * h[k];
        t[i] = (float)tanh(s);
    }
    for (int c = 0; c < m->n_labels; c++) {
        double s = m->out_b[c];
        for (int k = 0; k < H; k++) s += (double)m->out_w[(size_t)c * H + k] * t[k];
        scores[c] = (float)s;
    }
    free(t);
}

static xl_status bert_load(const json_t *config, const xl_weights *w, const char *dir, const xl_model_options *opts,
                           void **out) {
    *out = NULL;
    xl_status st = check_options(config, dir, opts);
    if (st) return st;
    char what[1024];
    snprintf(what, sizeof what, "%s/config.json", dir ? dir : ".");
    bert_model *m = calloc(1, sizeof *m);
    if (!m) return xl_err(XL_ERR_NOMEM, "out of memory loading %s", what);
    st = read_config(config, what, &m->c);
    if (st) goto fail;
    m->architecture = dup_or_null(json_string_value(json_array_get(json_object_get(config, "architectures"), 0)));
    m->model_type = dup_or_null(json_string_value(json_object_get(config, "model_type")));
    const int H = m->c.hidden;
    {
        int64_t shape[2] = {m->c.vocab, H};
        if ((st = xl_weights_get(w, "embeddings.word_embeddings.weight", 2, shape, &m->word))) goto fail;
        note_tensor(m, m->word);
    }
    if ((st = get_f32(m, w, "embeddings.position_embeddings.weight", 2, m->c.max_pos, H, &m->pos)) ||
        (st = get_f32(m, w, "embeddings.token_type_embeddings.weight", 2, m->c.type_vocab, H, &m->types)) ||
        (st = get_f32(m, w, "embeddings.LayerNorm.weight", 1, H, 0, &m->emb_ln_g)) ||
        (st = get_f32(m, w, "embeddings.LayerNorm.bias", 1, H, 0, &m->emb_ln_b)))
        goto fail;
    m->layer = calloc((size_t)m->c.layers, sizeof *m->layer);
    if (!m->layer) {
        st = xl_err(XL_ERR_NOMEM, "out of memory loading %s", what);
        goto fail;
    }
    for (int l = 0; l < m->c.layers; l++)
        if ((st = load_layer(m, w, l))) goto fail;
    if ((st = load_head(m, config, w, what))) goto fail;
    *out = m;
    return XL_OK;
fail:
    bert_free(m);
    return st;
}

static void bert_get_info(const void *model, xl_arch_info *info) {
    const bert_model *m = model;
    memset(info, 0, sizeof *info);
    info->architecture = m->architecture ? m->architecture : "BertModel";
    info->model_type = m->model_type ? m->model_type : (m->c.roberta_positions ? "xlm-roberta" : "bert");
    info->hidden_size = m->c.hidden;
    info->num_layers = m->c.layers;
    info->num_heads = m->c.heads;
    info->num_kv_heads = m->c.heads;
    info->head_dim = m->c.head_dim;
    info->intermediate_size = m->c.inter;
    info->vocab_size = m->c.vocab;
    info->max_position_embeddings = m->c.max_pos;
    info->max_tokens = m->c.roberta_positions ? m->c.max_pos - (m->c.pad_id + 1) : m->c.max_pos;
    info->causal = 0;
    info->has_final_norm = 0;
    info->dtype = m->dtype;
    info->n_params = m->n_params;
}

/* ------------------------------------------------------------------ forward */

/* What one layer writes besides x, for its rows. */
typedef struct {
    float *qkv;  /* [rows][3H] */
    float *ctx;  /* [rows][H] attention output before Wo */
    float *proj; /* [rows][H] output of Wo / W2 before the residual LayerNorm */
    float *ffn;  /* [rows][I] */
} layer_bufs;

/* Scratch for one forward pass over R = B*T rows: the layer buffers (in the
 * sequence-parallel pass, thread t uses rows [t*T, (t+1)*T) of them), and for that pass
 * each thread's attention scratch and a row of T ones (the mask of a sequence's tokens). */
typedef struct {
    layer_bufs b;
    unsigned char *attn; /* [threads][attn_bytes] */
    size_t attn_bytes;
    uint8_t *ones;
} bert_run;

/* Lays the run out in the state's scratch, grown when too small. seq_threads > 0 adds
 * that many attention scratches of attn_bytes and the row of T ones. */
static xl_status run_alloc(const bert_model *m, bert_state *s, bert_run *r, size_t R, int T, int seq_threads,
                           size_t attn_bytes) {
    const bert_config *c = &m->c;
    size_t H = (size_t)c->hidden, per_row = 3 * H + H + H + (size_t)c->inter, n, extra = 0;
    attn_bytes = (attn_bytes + 63) / 64 * 64;
    if (!xl_mul_ok(R, per_row, &n) || !xl_mul_ok(n, sizeof(float), &n) || n > SIZE_MAX - 64 ||
        !xl_mul_ok((size_t)seq_threads, attn_bytes, &extra) || extra > SIZE_MAX / 2 - (size_t)T)
        return xl_err(XL_ERR_NOMEM, "batch of %zu positions is too large", R);
    n = (n + 63) / 64 * 64;
    if (seq_threads > 0) extra += (size_t)T;
    if (n > SIZE_MAX - extra) return xl_err(XL_ERR_NOMEM, "batch of %zu positions is too large", R);
    if (s->bytes < n + extra) {
        free(s->block);
        s->block = xl_alloc_huge(n + extra);
        s->bytes = s->block ? n + extra : 0;
    }
    if (!s->block) return xl_err(XL_ERR_NOMEM, "out of memory for a batch of %zu positions", R);
    r->b.qkv = s->block;
    r->b.ctx = r->b.qkv + R * 3 * H;
    r->b.proj = r->b.ctx + R * H;
    r->b.ffn = r->b.proj + R * H;
    r->attn = seq_threads > 0 ? (unsigned char *)s->block + n : NULL;
    r->attn_bytes = attn_bytes;
    r->ones = seq_threads > 0 ? r->attn + (size_t)seq_threads * attn_bytes : NULL;
    if (r->ones) memset(r->ones, 1, (size_t)T);
    return XL_OK;
}

static xl_status bert_state_new(const void *model, void **state) {
    (void)model;
    *state = calloc(1, sizeof(bert_state));
    return *state ? XL_OK : xl_err(XL_ERR_NOMEM, "out of memory for an encoder run state");
}

static void bert_state_free(void *state) {
    bert_state *s = state;
    if (!s) return;
    free(s->block);
    free(s);
}

/* x[b][t] = LN(word[id] + pos[p] + type[type_id]); padded rows get LN(0) (defined, unused). */
static void embed(const bert_model *m, const xl_batch *bt, float *x, int threads) {
    const bert_config *c = &m->c;
    const int H = c->hidden, T = bt->T;
    const size_t esz = xl_dtype_size(m->word->dtype);
    const unsigned char *wbase = m->word->data;
    long R = (long)bt->B * T;
#pragma omp parallel for num_threads(threads) schedule(static) if (R >= 64 && threads > 1)
    for (long r = 0; r < R; r++) {
        int b = (int)(r / T), t = (int)(r % T);
        float *row = x + (size_t)r * H;
        if (t >= bt->lens[b]) {
            memset(row, 0, sizeof(float) * (size_t)H);
            continue;
        }
        /* right padding: the t-th real token; RoBERTa counts from padding_idx + 1 */
        int p = c->roberta_positions ? c->pad_id + 1 + t : t;
        xl_convert_to_f32(m->word->dtype, wbase + (size_t)bt->ids[r] * H * esz, row, (size_t)H);
        const float *pr = m->pos + (size_t)p * H;
        const float *ty = m->types + (size_t)(bt->type_ids ? bt->type_ids[r] : 0) * H;
        for (int i = 0; i < H; i++) row[i] = row[i] + ty[i] + pr[i];
    }
    xl_layernorm(x, (int)R, H, m->emb_ln_g, m->emb_ln_b, c->eps, threads);
}

/* One layer over B sequences of T rows at x (mask [B][T]). With attn (attention scratch
 * of attn_bytes) on the calling thread alone (threads = 1). */
static xl_status layer_forward(const bert_model *m, const bert_layer *L, float *x, int B, int T, const uint8_t *mask,
                               const layer_bufs *r, void *attn, size_t attn_bytes, int threads) {
    const bert_config *c = &m->c;
    const int H = c->hidden, R = B * T;
    xl_linear_packed(x, R, &L->wqkv, L->bqkv, XL_KACT_NONE, r->qkv, threads);
    xl_attn_params ap = {.B = B, .T = T, .n_heads = c->heads, .n_kv_heads = c->heads, .head_dim = c->head_dim,
                         .scale = 1.0f / sqrtf((float)c->head_dim), .window_left = -1, .window_right = -1,
                         .mask = mask};
    xl_status st = attn ? xl_attention_st(&ap, r->qkv, 3 * H, r->qkv + H, r->qkv + 2 * H, 3 * H, r->ctx, attn, attn_bytes)
                        : xl_attention(&ap, r->qkv, 3 * H, r->qkv + H, r->qkv + 2 * H, 3 * H, r->ctx, threads);
    if (st) return st;
    xl_linear_packed(r->ctx, R, &L->wo, NULL, XL_KACT_NONE, r->proj, threads);
    xl_residual_layernorm(x, r->proj, L->bo, R, H, L->ln1_g, L->ln1_b, c->eps, threads);
    xl_linear_packed(x, R, &L->w1, L->b1, c->act, r->ffn, threads); /* bias + activation fused */
    xl_linear_packed(r->ffn, R, &L->w2, NULL, XL_KACT_NONE, r->proj, threads);
    xl_residual_layernorm(x, r->proj, L->b2, R, H, L->ln2_g, L->ln2_b, c->eps, threads);
    return XL_OK;
}

/* Sequences are independent within a layer, so with enough of them each thread takes
 * whole sequences (longest first, handed out one at a time) through the layer's kernels
 * on its own: a sequence's rows and buffers stay in the core's cache from one kernel to
 * the next (far less memory traffic than sweeping the whole batch per kernel, which
 * matters most when other work shares the memory system), the threads meet once per
 * layer instead of at every kernel, and only real tokens are computed. Every row goes
 * through the same kernels in the same order as in the batch-wide pass: with our
 * AVX-512 GEMM the results are identical (OpenBLAS blocks by the row count: rounding). */
static int use_sequence_pass(const xl_batch *bt, int threads) {
    if (bt->B < 2) return 0;
    if (threads == 1) return 1;
    return bt->B >= 4 * threads || (bt->B >= 2 * threads && bt->B % threads == 0);
}

static xl_status forward_by_sequence(const bert_model *m, const xl_batch *bt, float *hidden, const bert_run *r,
                                     xl_layer_cb cb, void *cb_ctx, int threads) {
    const int B = bt->B, T = bt->T, H = m->c.hidden, I = m->c.inter;
    /* longest first (counting sort by length) */
    int *order = malloc(sizeof(int) * ((size_t)B + (size_t)T + 2));
    if (!order) return xl_err(XL_ERR_NOMEM, "out of memory ordering %d sequences", B);
    int *start = order + B;
    memset(start, 0, sizeof(int) * ((size_t)T + 2));
    for (int b = 0; b < B; b++) start[T - bt->lens[b] + 1]++;
    for (int i = 1; i <= T + 1; i++) start[i] += start[i - 1];
    for (int b = 0; b < B; b++) order[start[T - bt->lens[b]]++] = b;
    xl_status failed = XL_OK;
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num();
#else
        const int t = 0;
#endif
        const layer_bufs lb = {.qkv = r->b.qkv + (size_t)t * T * 3 * H, .ctx = r->b.ctx + (size_t)t * T * H,
                               .proj = r->b.proj + (size_t)t * T * H, .ffn = r->b.ffn + (size_t)t * T * I};
        unsigned char *attn = r->attn + (size_t)t * r->attn_bytes;
        for (int l = 0; l < m->c.layers; l++) {
#pragma omp for schedule(dynamic, 1)
            for (int k = 0; k < B; k++) {
                const int b = order[k];
                xl_status st = layer_forward(m, &m->layer[l], hidden + (size_t)b * T * H, 1, bt->lens[b], r->ones, &lb,
                                             attn, r->attn_bytes, 1);
                if (st) {
#pragma omp critical(bert_seq_failed)
                    failed = st;
                }
            }
            if (cb) { /* on the calling thread, after every sequence's layer l */
#pragma omp master
                cb(cb_ctx, l + 1, hidden, B, T, H);
#pragma omp barrier
            }
        }
    }
    free(order);
    /* the kernel's message may sit in a worker thread's buffer */
    if (failed) return xl_err(failed, "encoder forward: attention over %d positions failed", T);
    return XL_OK;
}

/* The batch must be right-padded with every real id inside the vocabulary and every
 * length inside the position table. */
static xl_status check_batch(const bert_model *m, const xl_batch *bt) {
    const bert_config *c = &m->c;
    if (!bt || bt->B <= 0 || bt->T <= 0 || !bt->ids || !bt->mask || !bt->lens)
        return xl_err(XL_ERR_ARG, "encoder forward: empty or incomplete batch");
    size_t R;
    if (!xl_mul_ok((size_t)bt->B, (size_t)bt->T, &R) || R > (size_t)INT32_MAX / 4 / (size_t)c->hidden)
        return xl_err(XL_ERR_ARG, "encoder forward: batch of %d x %d positions is too large", bt->B, bt->T);
    const int max_tokens = c->roberta_positions ? c->max_pos - (c->pad_id + 1) : c->max_pos;
    for (int b = 0; b < bt->B; b++) {
        int len = bt->lens[b];
        if (len < 1 || len > bt->T)
            return xl_err(XL_ERR_ARG, "encoder forward: sequence %d has length %d (batch width %d)", b, len, bt->T);
        if (len > max_tokens)
            return xl_err(XL_ERR_INPUT, "sequence %d has %d tokens; the model's position table allows at most %d", b,
                          len, max_tokens);
        for (int t = 0; t < bt->T; t++) {
            size_t r = (size_t)b * bt->T + t;
            if ((bt->mask[r] != 0) != (t < len))
                return xl_err(XL_ERR_ARG, "encoder forward: sequence %d is not right-padded to its length %d", b, len);
            if (t < len && (bt->ids[r] < 0 || bt->ids[r] >= c->vocab))
                return xl_err(XL_ERR_INPUT, "token id %d (sequence %d, position %d) is outside the vocabulary [0, %d)",
                              (int)bt->ids[r], b, t, c->vocab);
            if (t < len && bt->type_ids && (bt->type_ids[r] < 0 || bt->type_ids[r] >= c->type_vocab))
                return xl_err(XL_ERR_INPUT,
                              "token type id %d (sequence %d, position %d) is outside the model's type_vocab_size %d",
                              (int)bt->type_ids[r], b, t, c->type_vocab);
        }
    }
    return XL_OK;
}

static xl_status bert_forward(const void *model, void *state, const xl_batch *bt, float *hidden, xl_layer_cb cb,
                              void *cb_ctx, int threads) {
    const bert_model *m = model;
    if (!state) return xl_err(XL_ERR_ARG, "encoder forward: no run state");
    if (threads < 1) threads = 1;
    xl_status st = check_batch(m, bt);
    if (st) return st;
    const int by_seq = use_sequence_pass(bt, threads);
    size_t attn_bytes = 0;
    if (by_seq) {
        xl_attn_params one = {.B = 1, .T = bt->T, .n_heads = m->c.heads, .n_kv_heads = m->c.heads,
                              .head_dim = m->c.head_dim};
        attn_bytes = xl_attention_scratch_bytes(&one);
    }
    bert_run r = {0};
    if ((st = run_alloc(m, state, &r, (size_t)bt->B * bt->T, bt->T, by_seq ? threads : 0, attn_bytes))) return st;
    const int H = m->c.hidden;
    embed(m, bt, hidden, threads);
    if (cb) cb(cb_ctx, 0, hidden, bt->B, bt->T, H);
    if (by_seq) {
        st = forward_by_sequence(m, bt, hidden, &r, cb, cb_ctx, threads);
    } else {
        for (int l = 0; l < m->c.layers; l++) {
            if ((st = layer_forward(m, &m->layer[l], hidden, bt->B, bt->T, bt->mask, &r.b, NULL, 0, threads))) break;
            if (cb) cb(cb_ctx, l + 1, hidden, bt->B, bt->T, H);
        }
    }
    return st;
}

/* Weights as held after load: the word table in its stored dtype (read from the
 * mapping), everything else as float32 (converted or packed copies); plus the runtime
 * (XL_MEM_RUNTIME_BYTES) and one default batch (XL_MEM_BATCH_TOKENS) of activations,
 * 6 hidden + 2 intermediate floats per token. */
static xl_status bert_estimate_memory(const json_t *config, const xl_weights *w, const xl_model_options *opts,
                                      uint64_t *bytes) {
    (void)opts;
    uint64_t weights = 0;
    for (size_t i = 0; w && i < xl_weights_count(w); i++) {
        const xl_tensor *t = xl_weights_at(w, i);
        weights += strstr(t->name, "word_embeddings") ? (uint64_t)t->nbytes : (uint64_t)t->numel * sizeof(float);
    }
    json_int_t h = json_integer_value(json_object_get(config, "hidden_size"));
    json_int_t in = json_integer_value(json_object_get(config, "intermediate_size"));
    uint64_t per_token = (uint64_t)(h > 0 ? h : 0) * 6 + (uint64_t)(in > 0 ? in : 0) * 2;
    *bytes = weights + XL_MEM_RUNTIME_BYTES + (uint64_t)XL_MEM_BATCH_TOKENS * per_token * sizeof(float);
    return XL_OK;
}

const xl_arch xl_arch_bert = {
    .name = "bert",
    .matches = bert_matches,
    .num_scores = bert_num_scores,
    .head_scores = bert_head_scores,
    .estimate_memory = bert_estimate_memory,
    .load = bert_load,
    .state_new = bert_state_new,
    .state_free = bert_state_free,
    .forward = bert_forward,
    .get_info = bert_get_info,
    .free = bert_free,
};
