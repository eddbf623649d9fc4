/* The Llama family of decoders used as embedders: Llama (causal, or bidirectional as
 * llama-embed-nemotron runs it), Mistral (e5-mistral), Qwen2 (gte-Qwen2) and Qwen3
 * (Qwen3-Embedding). One block: h += o(attn(rope(q), rope(k), v)) over RMSNorm(h), then
 * h += down(silu(gate(x)) * up(x)) over RMSNorm(h); a final RMSNorm.
 *
 * Per family (as Hugging Face transformers 4.5x builds them):
 *   llama   q/k/v/o biases when attention_bias, MLP biases when mlp_bias; no window.
 *   mistral no biases; every layer has the causal window `sliding_window` (4096 when
 *           the key is absent, none when null): key j is visible from i when
 *           i - window < j <= i.
 *   qwen2   q/k/v biases always (no config key), o and MLP none; a window only when
 *           use_sliding_window, on the layers layer_types marks sliding (default: the
 *           layers from max_window_layers on).
 *   qwen3   like qwen2 for windows; biases when attention_bias (q/k/v/o); q_norm / k_norm
 *           RMSNorm over head_dim, per head, before RoPE; head_dim explicit.
 *
 * Attention direction (the rule, in order):
 *   1. an `is_causal` boolean in config.json decides (false = bidirectional);
 *   2. else bidirectional when an architectures[] name contains "Bidirectional" or the
 *      model_type contains "bidirec" (llama-embed-nemotron: LlamaBidirectionalModel,
 *      model_type llama_bidirec);
 *   3. else causal.
 * xl_llama_set_attention_override() replaces the rule's answer. Bidirectional attention
 * masks only padding keys; a window, if any, then spans |i - j| <= window / 2 (the rule
 * Hugging Face applies to Gemma 3's bidirectional sliding layers). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"
#include "models/arch.h"
#include "models/decoder_common.h"
#include "util/error.h"
#include "util/json.h"

typedef enum { FAM_LLAMA = 0, FAM_MISTRAL, FAM_QWEN2, FAM_QWEN3, FAM_NONE } llama_family;

typedef struct {
    float *attn_norm, *ffn_norm; /* input_layernorm, post_attention_layernorm */
    xl_dec_attn attn;
    xl_dec_mlp mlp;
    int window; /* causal sliding window of this layer, 0 = none */
} llama_layer;

typedef struct {
    xl_dec_header hdr; /* first: the attention override reaches it */
    llama_family family;
    char *architecture, *model_type;
    xl_dec_dims d;
    xl_rope_params rope;
    double *inv_freq; /* [head_dim / 2] */
    const xl_tensor *embed;
    llama_layer *layers;
    float *final_norm;
    uint64_t n_params;
    char what[256]; /* "<dir>" for error messages */
} llama_model;

static const struct {
    const char *name;
    llama_family fam;
} arch_names[] = {
    {"LlamaModel", FAM_LLAMA},   {"LlamaForCausalLM", FAM_LLAMA},   {"LlamaBidirectionalModel", FAM_LLAMA},
    {"MistralModel", FAM_MISTRAL}, {"MistralForCausalLM", FAM_MISTRAL}, {"Qwen2Model", FAM_QWEN2},
    {"Qwen2ForCausalLM", FAM_QWEN2}, {"Qwen3Model", FAM_QWEN3},       {"Qwen3ForCausalLM", FAM_QWEN3},
};

/* model_type decides; without one, a known architectures[] name. */
static llama_family family_of(const json_t *config) {
    const char *mt = json_string_value(json_object_get(config, "model_type"));
    if (mt) {
        if (!strcmp(mt, "llama") || !strcmp(mt, "llama_bidirec")) return FAM_LLAMA;
        if (!strcmp(mt, "mistral")) return FAM_MISTRAL;
        if (!strcmp(mt, "qwen2")) return FAM_QWEN2;
        if (!strcmp(mt, "qwen3")) return FAM_QWEN3;
        return FAM_NONE;
    }
    for (size_t i = 0; i < sizeof arch_names / sizeof arch_names[0]; i++)
        if (xl_dec_arch_is(config, arch_names[i].name)) return arch_names[i].fam;
    return FAM_NONE;
}

static int llama_matches(const json_t *config) { return family_of(config) != FAM_NONE; }

static const char *family_name(llama_family f) {
    switch (f) {
    case FAM_LLAMA: return "llama";
    case FAM_MISTRAL: return "mistral";
    case FAM_QWEN2: return "qwen2";
    case FAM_QWEN3: return "qwen3";
    default: return "?";
    }
}

/* The attention-direction rule documented at the top of the file. */
static xl_status config_is_causal(const json_t *cfg, const char *what, int *causal) {
    const json_t *ic = json_object_get(cfg, "is_causal");
    if (ic && !json_is_null(ic)) {
        if (!json_is_boolean(ic)) return xl_err(XL_ERR_FORMAT, "%s: \"is_causal\" must be true or false", what);
        *causal = json_is_true(ic);
        return XL_OK;
    }
    const json_t *archs = json_object_get(cfg, "architectures");
    size_t i;
    const json_t *a;
    json_array_foreach(archs, i, a) {
        if (json_is_string(a) && strstr(json_string_value(a), "Bidirectional")) {
            *causal = 0;
            return XL_OK;
        }
    }
    const char *mt = json_string_value(json_object_get(cfg, "model_type"));
    *causal = !(mt && strstr(mt, "bidirec"));
    return XL_OK;
}

/* Per-layer windows for the family (see the top of the file). */
static xl_status read_windows(const json_t *cfg, const char *what, llama_model *m) {
    xl_status st;
    int L = m->d.layers;
    long long window = 0;
    int *sliding = calloc((size_t)L, sizeof *sliding), present = 0;
    if (!sliding) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    if ((st = xl_dec_read_layer_types(cfg, what, L, sliding, &present))) goto done;
    if (m->family == FAM_LLAMA) {
        for (int l = 0; l < L; l++)
            if (present && sliding[l]) {
                st = xl_err(XL_ERR_UNSUPPORTED, "%s: layer_types[%d] is sliding_attention, which Llama models do not have", what, l);
                goto done;
            }
    } else if (m->family == FAM_MISTRAL) {
        if ((st = xl_json_get_int(cfg, "sliding_window", 0, &window, what))) goto done;
        if (!json_object_get(cfg, "sliding_window")) window = 4096; /* MistralConfig's default */
        for (int l = 0; l < L; l++) sliding[l] = 1;
    } else {
        int use = 0;
        long long mwl;
        if ((st = xl_json_get_bool(cfg, "use_sliding_window", 0, &use, what))) goto done;
        if ((st = xl_json_get_int(cfg, "sliding_window", 4096, &window, what))) goto done;
        if (json_is_null(json_object_get(cfg, "sliding_window"))) window = 0; /* explicit null: no window */
        if ((st = xl_json_get_int(cfg, "max_window_layers", 28, &mwl, what))) goto done;
        if (!use) window = 0;
        if (!present)
            for (int l = 0; l < L; l++) sliding[l] = l >= mwl;
    }
    if (window < 0 || window > (1LL << 30)) {
        st = xl_err(XL_ERR_FORMAT, "%s: sliding_window %lld is out of range", what, window);
        goto done;
    }
    for (int l = 0; l < L; l++) m->layers[l].window = sliding[l] ? (int)window : 0;
    st = XL_OK;
done:
    free(sliding);
    return st;
}

static void llama_free(void *mp) {
    llama_model *m = mp;
    if (!m) return;
    if (m->layers) {
        for (int l = 0; l < m->d.layers; l++) {
            free(m->layers[l].attn_norm);
            free(m->layers[l].ffn_norm);
            xl_dec_attn_free(&m->layers[l].attn);
            xl_dec_mlp_free(&m->layers[l].mlp);
        }
        free(m->layers);
    }
    free(m->final_norm);
    free(m->hdr.linears);
    free(m->inv_freq);
    free(m->architecture);
    free(m->model_type);
    free(m);
}

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static xl_status load_layer(const xl_weights *w, llama_model *m, int l, xl_bias_rule qkv_bias, xl_bias_rule o_bias,
                            xl_bias_rule mlp_bias) {
    llama_layer *ly = &m->layers[l];
    char name[128];
    xl_status st;
    snprintf(name, sizeof name, "layers.%d.input_layernorm.weight", l);
    if ((st = xl_dec_vector_load(w, name, m->d.hidden, &ly->attn_norm))) return st;
    snprintf(name, sizeof name, "layers.%d.post_attention_layernorm.weight", l);
    if ((st = xl_dec_vector_load(w, name, m->d.hidden, &ly->ffn_norm))) return st;
    if ((st = xl_dec_attn_load(w, l, &m->d, qkv_bias, o_bias, m->family == FAM_QWEN3, &ly->attn))) return st;
    if ((st = xl_dec_mlp_load(w, l, &m->d, mlp_bias, &ly->mlp))) return st;
    m->n_params += 2 * (uint64_t)m->d.hidden + xl_dec_attn_params(&ly->attn, &m->d) + xl_dec_mlp_params(&ly->mlp);
    return XL_OK;
}

/* Every linear layer, for xl_llama_set_quantize. */
static xl_status register_linears(llama_model *m) {
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

static xl_status llama_load(const json_t *config, const xl_weights *w, const char *dir, const xl_model_options *opts,
                              void **out) {
    xl_status st;
    char what[300];
    *out = NULL;
    snprintf(what, sizeof what, "%s/config.json", dir);
    llama_model *m = calloc(1, sizeof *m);
    if (!m) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    m->hdr.magic = XL_DEC_MAGIC;
    snprintf(m->what, sizeof m->what, "%s", dir);
    m->family = family_of(config);
    if (m->family == FAM_NONE) {
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: not a Llama / Mistral / Qwen2 / Qwen3 config", what);
        goto fail;
    }
    m->architecture = dup_or_empty(json_string_value(json_array_get(json_object_get(config, "architectures"), 0)));
    m->model_type = dup_or_empty(json_string_value(json_object_get(config, "model_type")));
    if (!m->architecture || !m->model_type) {
        st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    if ((st = xl_dec_read_dims(config, what, 1e-6, 0, &m->d))) goto fail;
    const char *act;
    if ((st = xl_json_get_str(config, "hidden_act", "silu", &act, what))) goto fail;
    if (strcmp(act, "silu") != 0) {
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" is not supported for %s (silu only)", what, act,
                    family_name(m->family));
        goto fail;
    }
    if (json_object_get(config, "alibi") || json_object_get(config, "alibi_bias_max")) {
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: ALiBi attention is not supported (rotary position embeddings only)", what);
        goto fail;
    }
    if ((st = xl_dec_read_rope(config, what, "rope_theta", 10000.0, "rope_scaling", &m->rope))) goto fail;
    if ((st = config_is_causal(config, what, &m->hdr.config_causal))) goto fail;

    int attention_bias = 0, mlp_bias = 0;
    if ((st = xl_json_get_bool(config, "attention_bias", 0, &attention_bias, what))) goto fail;
    if ((st = xl_json_get_bool(config, "mlp_bias", 0, &mlp_bias, what))) goto fail;
    xl_bias_rule qkv = XL_BIAS_NONE, o = XL_BIAS_NONE, mlp = XL_BIAS_NONE;
    if (m->family == FAM_LLAMA) {
        qkv = o = attention_bias ? XL_BIAS_REQUIRED : XL_BIAS_NONE;
        mlp = mlp_bias ? XL_BIAS_REQUIRED : XL_BIAS_NONE;
    } else if (m->family == FAM_QWEN2) {
        qkv = XL_BIAS_REQUIRED;
    } else if (m->family == FAM_QWEN3) {
        qkv = o = attention_bias ? XL_BIAS_REQUIRED : XL_BIAS_NONE;
    }

    m->inv_freq = malloc(sizeof(double) * (size_t)(m->d.head_dim / 2));
    m->layers = calloc((size_t)m->d.layers, sizeof *m->layers);
    if (!m->inv_freq || !m->layers) {
        st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    xl_rope_inv_freq(&m->rope, m->d.head_dim, m->inv_freq);
    if ((st = read_windows(config, what, m))) goto fail;

    if ((st = xl_dec_embed_load(w, &m->d, &m->embed))) goto fail;
    m->n_params = (uint64_t)m->d.vocab * m->d.hidden + m->d.hidden;
    for (int l = 0; l < m->d.layers; l++)
        if ((st = load_layer(w, m, l, qkv, o, mlp))) goto fail;
    if ((st = xl_dec_vector_load(w, "norm.weight", m->d.hidden, &m->final_norm))) goto fail;
    if ((st = register_linears(m))) goto fail;
    if ((st = xl_dec_apply_options(m, opts))) goto fail;
    *out = m;
    return XL_OK;
fail:
    llama_free(m);
    return st;
}

/* Key window of a layer as xl_attention wants it. */
static void layer_window(int causal, int window, int *left, int *right) {
    if (causal) {
        *left = window > 0 ? window - 1 : -1;
        *right = 0;
    } else {
        *left = *right = window > 0 ? window / 2 : -1;
    }
}

static xl_status llama_forward(const void *mp, void *state, const xl_batch *b, float *hidden, xl_layer_cb cb,
                              void *cb_ctx, int threads) {
    const llama_model *m = mp;
    (void)state;
    const xl_dec_dims *d = &m->d;
    xl_status st = xl_dec_check_batch(b, d->vocab, m->what);
    if (st) return st;
    int rows = b->B * b->T, causal = xl_dec_is_causal(&m->hdr);
    size_t work = 0, n = (size_t)rows * d->hidden;
    for (int l = 0; l < d->layers; l++) {
        size_t lw = xl_dec_layer_work(&m->layers[l].attn, &m->layers[l].mlp, rows, threads);
        if (lw > work) work = lw;
    }
    xl_dec_scratch s;
    if ((st = xl_dec_scratch_alloc(&s, d, rows, work, b->T))) return st;
    xl_rope_tables(m->inv_freq, d->head_dim / 2, b->T, s.cos_t, s.sin_t);

    xl_dec_embed(m->embed, d->hidden, b, 1.0f, hidden, threads);
    if (cb) cb(cb_ctx, 0, hidden, b->B, b->T, d->hidden);
    xl_dec_attn_cfg ac = {
        .n_heads = d->heads,
        .n_kv_heads = d->kv_heads,
        .head_dim = d->head_dim,
        .scale = (float)(1.0 / sqrt((double)d->head_dim)),
        .qk_norm_eps = (float)d->eps,
        .qk_norm_offset = 0.0f,
        .cos_t = s.cos_t,
        .sin_t = s.sin_t,
    };
    for (int l = 0; l < d->layers; l++) {
        const llama_layer *ly = &m->layers[l];
        layer_window(causal, ly->window, &ac.window_left, &ac.window_right);
        memcpy(s.xn, hidden, n * sizeof(float));
        xl_rmsnorm(s.xn, rows, d->hidden, ly->attn_norm, 0.0f, (float)d->eps, threads);
        if ((st = xl_dec_attention(&ly->attn, &ac, b, s.xn, &s, threads))) break;
        xl_add_inplace(hidden, s.out, n, threads);
        memcpy(s.xn, hidden, n * sizeof(float));
        xl_rmsnorm(s.xn, rows, d->hidden, ly->ffn_norm, 0.0f, (float)d->eps, threads);
        xl_dec_mlp_forward(&ly->mlp, XL_KACT_SILU, s.xn, rows, &s, threads);
        xl_add_inplace(hidden, s.out, n, threads);
        if (cb) cb(cb_ctx, l + 1, hidden, b->B, b->T, d->hidden);
    }
    if (!st) {
        xl_rmsnorm(hidden, rows, d->hidden, m->final_norm, 0.0f, (float)d->eps, threads);
        if (cb) cb(cb_ctx, d->layers + 1, hidden, b->B, b->T, d->hidden);
    }
    xl_dec_scratch_free(&s);
    return st;
}

static void llama_info(const void *mp, xl_arch_info *info) {
    const llama_model *m = mp;
    xl_dec_fill_info(&m->hdr, &m->d, m->architecture, m->model_type, m->layers[0].attn.q.dtype, m->n_params, info);
}

const xl_arch xl_arch_llama = {
    .name = "llama",
    .matches = llama_matches,
    .estimate_memory = xl_dec_estimate_memory,
    .load = llama_load,
    .state_new = xl_dec_state_new,
    .state_free = xl_dec_state_free,
    .forward = llama_forward,
    .get_info = llama_info,
    .free = llama_free,
};
