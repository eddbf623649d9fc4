/* Gemma 3 text decoder (Gemma3TextModel, model_type gemma3_text), as EmbeddingGemma
 * uses it. Differences from Llama, as Hugging Face transformers 4.5x computes them:
 *   - embeddings are multiplied by sqrt(hidden_size). HF multiplies by the scale cast to
 *     the weight dtype; xling computes in float32, where that is sqrt(hidden) in float
 *     (EmbeddingGemma runs in float32; the reference is float64);
 *   - RMSNorm is x / rms(x) * (1 + w), on every norm including q_norm / k_norm;
 *   - sandwich norms: h += post_attention_norm(attn(input_norm(h)));
 *                     h += post_feedforward_norm(mlp(pre_feedforward_norm(h)));
 *   - attention scale query_pre_attn_scalar^-0.5; q_norm / k_norm per head before RoPE;
 *   - layers are sliding or full per `layer_types` (else every `sliding_window_pattern`-th
 *     layer is full): sliding layers rotate with rope_local_base_freq and no scaling, full
 *     layers with rope_theta and rope_scaling;
 *   - the MLP is down(gelu_tanh(gate(x)) * up(x)).
 * Attention direction: an `is_causal` boolean decides if present, else
 * `use_bidirectional_attention` (true for EmbeddingGemma) makes it bidirectional, else
 * causal. xl_llama_set_attention_override() replaces that. Sliding layers see keys with
 * |i - j| <= sliding_window / 2 when bidirectional (HF halves the window: exclusive bound
 * sliding_window // 2 + 1) and i - sliding_window < j <= i when causal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"
#include "models/arch.h"
#include "models/decoder_common.h"
#include "util/error.h"
#include "util/json.h"

typedef struct {
    float *input_norm, *post_attn_norm, *pre_ffn_norm, *post_ffn_norm;
    xl_dec_attn attn;
    xl_dec_mlp mlp;
    int sliding; /* 1: sliding-window layer with the local RoPE base */
} gemma3_layer;

typedef struct {
    xl_dec_header hdr; /* first: the attention override reaches it */
    char *architecture, *model_type;
    xl_dec_dims d;
    int window;             /* sliding_window as written in config.json */
    float attn_scale;       /* query_pre_attn_scalar^-0.5 */
    double *inv_freq_local; /* [head_dim / 2], sliding layers */
    double *inv_freq_full;  /* [head_dim / 2], full layers */
    const xl_tensor *embed;
    gemma3_layer *layers;
    float *final_norm;
    uint64_t n_params;
    char what[256];
} gemma3_model;

static int gemma3_matches(const json_t *config) {
    const char *mt = json_string_value(json_object_get(config, "model_type"));
    if (mt) return strcmp(mt, "gemma3_text") == 0;
    return xl_dec_arch_is(config, "Gemma3TextModel") || xl_dec_arch_is(config, "Gemma3ForCausalLM");
}

static void gemma3_free(void *mp) {
    gemma3_model *m = mp;
    if (!m) return;
    if (m->layers) {
        for (int l = 0; l < m->d.layers; l++) {
            gemma3_layer *ly = &m->layers[l];
            free(ly->input_norm);
            free(ly->post_attn_norm);
            free(ly->pre_ffn_norm);
            free(ly->post_ffn_norm);
            xl_dec_attn_free(&ly->attn);
            xl_dec_mlp_free(&ly->mlp);
        }
        free(m->layers);
    }
    free(m->final_norm);
    free(m->hdr.linears);
    free(m->inv_freq_local);
    free(m->inv_freq_full);
    free(m->architecture);
    free(m->model_type);
    free(m);
}

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static xl_status config_is_causal(const json_t *cfg, const char *what, int *causal) {
    const json_t *ic = json_object_get(cfg, "is_causal");
    if (ic && !json_is_null(ic)) {
        if (!json_is_boolean(ic)) return xl_err(XL_ERR_FORMAT, "%s: \"is_causal\" must be true or false", what);
        *causal = json_is_true(ic);
        return XL_OK;
    }
    int bidir;
    xl_status st = xl_json_get_bool(cfg, "use_bidirectional_attention", 0, &bidir, what);
    *causal = !bidir;
    return st;
}

/* Which layers slide: layer_types, else every pattern-th layer (1-based) is full. */
static xl_status read_layer_kinds(const json_t *cfg, const char *what, gemma3_model *m) {
    int L = m->d.layers, present = 0;
    int *sliding = calloc((size_t)L, sizeof *sliding);
    if (!sliding) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    xl_status st = xl_dec_read_layer_types(cfg, what, L, sliding, &present);
    if (!st && !present) {
        long long pattern;
        st = xl_json_get_int(cfg, "sliding_window_pattern", 6, &pattern, what);
        if (!st && pattern < 1) st = xl_err(XL_ERR_FORMAT, "%s: sliding_window_pattern %lld must be >= 1", what, pattern);
        for (int l = 0; !st && l < L; l++) sliding[l] = (l + 1) % pattern != 0;
    }
    for (int l = 0; !st && l < L; l++) m->layers[l].sliding = sliding[l];
    free(sliding);
    return st;
}

static xl_status load_layer(const xl_weights *w, gemma3_model *m, int l, xl_bias_rule attn_bias) {
    gemma3_layer *ly = &m->layers[l];
    static const char *norm_names[4] = {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                                        "post_feedforward_layernorm"};
    float **norms[4] = {&ly->input_norm, &ly->post_attn_norm, &ly->pre_ffn_norm, &ly->post_ffn_norm};
    char name[128];
    xl_status st;
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "layers.%d.%s.weight", l, norm_names[i]);
        if ((st = xl_dec_vector_load(w, name, m->d.hidden, norms[i]))) return st;
    }
    if ((st = xl_dec_attn_load(w, l, &m->d, attn_bias, attn_bias, 1, &ly->attn))) return st;
    if ((st = xl_dec_mlp_load(w, l, &m->d, XL_BIAS_NONE, &ly->mlp))) return st;
    m->n_params += 4 * (uint64_t)m->d.hidden + xl_dec_attn_params(&ly->attn, &m->d) + xl_dec_mlp_params(&ly->mlp);
    return XL_OK;
}

/* Every linear layer, for xl_llama_set_quantize. */
static xl_status register_linears(gemma3_model *m) {
    int n = 7 * m->d.layers;
    xl_dec_linear **all = malloc(sizeof *all * (size_t)n);
    if (!all) return xl_err(XL_ERR_NOMEM, "%s: out of memory", m->what);
    for (int l = 0; l < m->d.layers; l++) {
        xl_dec_attn *a = &m->layers[l].attn;
        xl_dec_mlp *f = &m->layers[l].mlp;
        xl_dec_linear *ls[7] = {&a->q, &a->k, &a->v, &a->o, &f->gate, &f->up, &f->down};
        memcpy(all + 7 * l, ls, sizeof ls);
    }
    xl_status st = xl_dec_register_linears(&m->hdr, all, n);
    free(all);
    return st;
}

static xl_status gemma3_load(const json_t *config, const xl_weights *w, const char *dir, const xl_model_options *opts,
                              void **out) {
    xl_status st;
    char what[300];
    *out = NULL;
    snprintf(what, sizeof what, "%s/config.json", dir);
    gemma3_model *m = calloc(1, sizeof *m);
    if (!m) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    m->hdr.magic = XL_DEC_MAGIC;
    snprintf(m->what, sizeof m->what, "%s", dir);
    m->architecture = dup_or_empty(json_string_value(json_array_get(json_object_get(config, "architectures"), 0)));
    m->model_type = dup_or_empty(json_string_value(json_object_get(config, "model_type")));
    if (!m->architecture || !m->model_type) {
        st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    /* Gemma3TextConfig defaults: head_dim 256, eps 1e-6. */
    if ((st = xl_dec_read_dims(config, what, 1e-6, 256, &m->d))) goto fail;
    const char *act;
    if ((st = xl_json_get_str(config, "hidden_activation", "gelu_pytorch_tanh", &act, what))) goto fail;
    if (strcmp(act, "gelu_pytorch_tanh") != 0) {
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: hidden_activation \"%s\" is not supported (gelu_pytorch_tanh only)", what, act);
        goto fail;
    }
    const json_t *softcap = json_object_get(config, "attn_logit_softcapping");
    if (softcap && !json_is_null(softcap)) {
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: attn_logit_softcapping is not supported (Gemma 3 has none)", what);
        goto fail;
    }
    double qpas;
    if ((st = xl_json_get_num(config, "query_pre_attn_scalar", 256, &qpas, what))) goto fail;
    if (!(qpas > 0)) {
        st = xl_err(XL_ERR_FORMAT, "%s: query_pre_attn_scalar %g must be positive", what, qpas);
        goto fail;
    }
    m->attn_scale = (float)(1.0 / sqrt(qpas));
    long long window;
    if ((st = xl_json_get_int(config, "sliding_window", 4096, &window, what))) goto fail;
    if (window < 1 || window > (1LL << 30)) {
        st = xl_err(XL_ERR_FORMAT, "%s: sliding_window %lld is out of range", what, window);
        goto fail;
    }
    m->window = (int)window;
    if ((st = config_is_causal(config, what, &m->hdr.config_causal))) goto fail;
    int attention_bias = 0;
    if ((st = xl_json_get_bool(config, "attention_bias", 0, &attention_bias, what))) goto fail;

    xl_rope_params local, full;
    if ((st = xl_dec_read_rope(config, what, "rope_local_base_freq", 10000.0, NULL, &local))) goto fail;
    if ((st = xl_dec_read_rope(config, what, "rope_theta", 1000000.0, "rope_scaling", &full))) goto fail;
    size_t half = (size_t)m->d.head_dim / 2;
    m->inv_freq_local = malloc(half * sizeof(double));
    m->inv_freq_full = malloc(half * sizeof(double));
    m->layers = calloc((size_t)m->d.layers, sizeof *m->layers);
    if (!m->inv_freq_local || !m->inv_freq_full || !m->layers) {
        st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    xl_rope_inv_freq(&local, m->d.head_dim, m->inv_freq_local);
    xl_rope_inv_freq(&full, m->d.head_dim, m->inv_freq_full);
    if ((st = read_layer_kinds(config, what, m))) goto fail;

    if ((st = xl_dec_embed_load(w, &m->d, &m->embed))) goto fail;
    m->n_params = (uint64_t)m->d.vocab * m->d.hidden + m->d.hidden;
    for (int l = 0; l < m->d.layers; l++)
        if ((st = load_layer(w, m, l, attention_bias ? XL_BIAS_REQUIRED : XL_BIAS_NONE))) goto fail;
    if ((st = xl_dec_vector_load(w, "norm.weight", m->d.hidden, &m->final_norm))) goto fail;
    if ((st = register_linears(m))) goto fail;
    if ((st = xl_dec_apply_options(m, opts))) goto fail;
    *out = m;
    return XL_OK;
fail:
    gemma3_free(m);
    return st;
}

static xl_status gemma3_forward(const void *mp, void *state, const xl_batch *b, float *hidden, xl_layer_cb cb,
                              void *cb_ctx, int threads) {
    const gemma3_model *m = mp;
    (void)state;
    const xl_dec_dims *d = &m->d;
    xl_status st = xl_dec_check_batch(b, d->vocab, m->what);
    if (st) return st;
    int rows = b->B * b->T, causal = xl_dec_is_causal(&m->hdr), half = d->head_dim / 2;
    size_t work = 0, n = (size_t)rows * d->hidden;
    for (int l = 0; l < d->layers; l++) {
        size_t lw = xl_dec_layer_work(&m->layers[l].attn, &m->layers[l].mlp, rows, threads);
        if (lw > work) work = lw;
    }
    xl_dec_scratch s;
    if ((st = xl_dec_scratch_alloc(&s, d, rows, work, b->T))) return st;
    /* The scratch holds one pair of RoPE tables; the other base gets its own. */
    size_t tab = (size_t)b->T * half;
    float *cos_full = malloc(tab * sizeof(float)), *sin_full = malloc(tab * sizeof(float));
    if (!cos_full || !sin_full) {
        free(cos_full);
        free(sin_full);
        xl_dec_scratch_free(&s);
        return xl_err(XL_ERR_NOMEM, "%s: out of memory for RoPE tables", m->what);
    }
    xl_rope_tables(m->inv_freq_local, half, b->T, s.cos_t, s.sin_t);
    xl_rope_tables(m->inv_freq_full, half, b->T, cos_full, sin_full);
    const float eps = (float)d->eps;

    xl_dec_embed(m->embed, d->hidden, b, (float)sqrt((double)d->hidden), hidden, threads);
    if (cb) cb(cb_ctx, 0, hidden, b->B, b->T, d->hidden);
    xl_dec_attn_cfg ac = {
        .n_heads = d->heads,
        .n_kv_heads = d->kv_heads,
        .head_dim = d->head_dim,
        .scale = m->attn_scale,
        .qk_norm_eps = eps,
        .qk_norm_offset = 1.0f,
    };
    for (int l = 0; l < d->layers; l++) {
        const gemma3_layer *ly = &m->layers[l];
        if (ly->sliding) {
            ac.cos_t = s.cos_t;
            ac.sin_t = s.sin_t;
            ac.window_left = causal ? m->window - 1 : m->window / 2;
            ac.window_right = causal ? 0 : m->window / 2;
        } else {
            ac.cos_t = cos_full;
            ac.sin_t = sin_full;
            ac.window_left = -1;
            ac.window_right = causal ? 0 : -1;
        }
        memcpy(s.xn, hidden, n * sizeof(float));
        xl_rmsnorm(s.xn, rows, d->hidden, ly->input_norm, 1.0f, eps, threads);
        if ((st = xl_dec_attention(&ly->attn, &ac, b, s.xn, &s, threads))) break;
        xl_rmsnorm(s.out, rows, d->hidden, ly->post_attn_norm, 1.0f, eps, threads);
        xl_add_inplace(hidden, s.out, n, threads);
        memcpy(s.xn, hidden, n * sizeof(float));
        xl_rmsnorm(s.xn, rows, d->hidden, ly->pre_ffn_norm, 1.0f, eps, threads);
        xl_dec_mlp_forward(&ly->mlp, XL_KACT_GELU_TANH, s.xn, rows, &s, threads);
        xl_rmsnorm(s.out, rows, d->hidden, ly->post_ffn_norm, 1.0f, eps, threads);
        xl_add_inplace(hidden, s.out, n, threads);
        if (cb) cb(cb_ctx, l + 1, hidden, b->B, b->T, d->hidden);
    }
    if (!st) {
        xl_rmsnorm(hidden, rows, d->hidden, m->final_norm, 1.0f, eps, threads);
        if (cb) cb(cb_ctx, d->layers + 1, hidden, b->B, b->T, d->hidden);
    }
    free(cos_full);
    free(sin_full);
    xl_dec_scratch_free(&s);
    return st;
}

static void gemma3_info(const void *mp, xl_arch_info *info) {
    const gemma3_model *m = mp;
    xl_dec_fill_info(&m->hdr, &m->d, m->architecture, m->model_type, m->layers[0].attn.q.dtype, m->n_params, info);
}

const xl_arch xl_arch_gemma3 = {
    .name = "gemma3",
    .matches = gemma3_matches,
    .estimate_memory = xl_dec_estimate_memory,
    .load = gemma3_load,
    .state_new = xl_dec_state_new,
    .state_free = xl_dec_state_free,
    .forward = gemma3_forward,
    .get_info = gemma3_info,
    .free = gemma3_free,
};
