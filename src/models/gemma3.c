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
 * causal. The attention load option (xl_model_options) replaces that. Sliding layers see
 * keys with |i - j| <= sliding_window / 2 when bidirectional (HF halves the window:
 * exclusive bound sliding_window // 2 + 1) and i - sliding_window < j <= i when causal.
 * This file only turns the config into a decoder description (models/decoder.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"
#include "models/arch.h"
#include "models/decoder.h"
#include "util/error.h"
#include "util/json.h"

static int gemma3_matches(const json_t *config) {
    const char *mt = json_string_value(json_object_get(config, "model_type"));
    if (mt) return strcmp(mt, "gemma3_text") == 0;
    return xl_dec_arch_is(config, "Gemma3TextModel") || xl_dec_arch_is(config, "Gemma3ForCausalLM") ||
           xl_dec_arch_is(config, "Gemma3TextForSequenceClassification");
}

static xl_status config_is_causal(const json_t *cfg, const char *what, int *causal) {
    int present;
    xl_status st = xl_dec_read_is_causal(cfg, what, causal, &present);
    if (st || present) return st;
    int bidir;
    st = xl_json_get_bool(cfg, "use_bidirectional_attention", 0, &bidir, what);
    *causal = !bidir;
    return st;
}

/* Which layers slide: layer_types, else every pattern-th layer (1-based) is full.
 * Sliding layers get the window and RoPE 0 (local base), full ones RoPE 1. */
static xl_status read_layer_kinds(const json_t *cfg, const char *what, int window, xl_dec_desc *c) {
    int L = c->d.layers, present = 0;
    int *sliding = calloc((size_t)L, sizeof *sliding);
    if (!sliding) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    xl_status st = xl_dec_read_layer_types(cfg, what, L, sliding, &present);
    if (!st && !present) {
        long long pattern;
        st = xl_json_get_int(cfg, "sliding_window_pattern", 6, &pattern, what);
        if (!st && pattern < 1) st = xl_err(XL_ERR_FORMAT, "%s: sliding_window_pattern %lld must be >= 1", what, pattern);
        for (int l = 0; !st && l < L; l++) sliding[l] = (l + 1) % pattern != 0;
    }
    for (int l = 0; !st && l < L; l++) {
        c->layers[l].window = sliding[l] ? window : 0;
        c->layers[l].rope = sliding[l] ? 0 : 1;
    }
    free(sliding);
    return st;
}

/* The config as a decoder description: sandwich norms, RMSNorm (1 + w), embeddings
 * scaled by sqrt(hidden), GeGLU (tanh), q/k norms, two RoPE bases. */
static xl_status gemma3_describe(const json_t *config, const char *what, xl_dec_desc *c) {
    xl_status st;
    xl_dec_dims d;
    /* Gemma3TextConfig defaults: head_dim 256, eps 1e-6. */
    if ((st = xl_dec_read_dims(config, what, 1e-6, 256, &d))) return st;
    if ((st = xl_dec_desc_init(c, config, what, d.layers))) return st;
    c->d = d;
    const char *act;
    if ((st = xl_json_get_str(config, "hidden_activation", "gelu_pytorch_tanh", &act, what))) return st;
    if (strcmp(act, "gelu_pytorch_tanh") != 0)
        return xl_err(XL_ERR_UNSUPPORTED, "%s: hidden_activation \"%s\" is not supported (gelu_pytorch_tanh only)", what, act);
    const json_t *softcap = json_object_get(config, "attn_logit_softcapping");
    if (softcap && !json_is_null(softcap))
        return xl_err(XL_ERR_UNSUPPORTED, "%s: attn_logit_softcapping is not supported (Gemma 3 has none)", what);
    double qpas;
    if ((st = xl_json_get_num(config, "query_pre_attn_scalar", 256, &qpas, what))) return st;
    if (!(qpas > 0)) return xl_err(XL_ERR_FORMAT, "%s: query_pre_attn_scalar %g must be positive", what, qpas);
    c->attn_scale = (float)(1.0 / sqrt(qpas));
    long long window;
    if ((st = xl_json_get_int(config, "sliding_window", 4096, &window, what))) return st;
    if (window < 1 || window > (1LL << 30))
        return xl_err(XL_ERR_FORMAT, "%s: sliding_window %lld is out of range", what, window);
    if ((st = config_is_causal(config, what, &c->causal))) return st;
    int attention_bias = 0;
    if ((st = xl_json_get_bool(config, "attention_bias", 0, &attention_bias, what))) return st;
    c->n_rope = 2;
    if ((st = xl_dec_read_rope(config, what, "rope_local_base_freq", 10000.0, NULL, &c->rope[0]))) return st;
    if ((st = xl_dec_read_rope(config, what, "rope_theta", 1000000.0, "rope_scaling", &c->rope[1]))) return st;
    c->qkv_bias = c->o_bias = attention_bias ? XL_BIAS_REQUIRED : XL_BIAS_NONE;
    c->mlp_bias = XL_BIAS_NONE;
    c->qk_norm = 1;
    c->norm_offset = 1.0f;
    c->embed_scale = (float)sqrt((double)d.hidden);
    c->sandwich = 1;
    c->act = XL_KACT_GELU_TANH;
    return read_layer_kinds(config, what, (int)window, c);
}

static xl_status gemma3_load(const json_t *config, const xl_weights *w, const char *dir, const xl_model_options *opts,
                             void **out) {
    return xl_dec_load(config, w, dir, opts, gemma3_describe, out);
}

const xl_arch xl_arch_gemma3 = {
    .name = "gemma3",
    .matches = gemma3_matches,
    .estimate_memory = xl_dec_estimate_memory,
    .load = gemma3_load,
    .state_new = xl_dec_state_new,
    .state_free = xl_dec_state_free,
    .forward = xl_dec_forward,
    .get_info = xl_dec_get_info,
    .num_scores = xl_dec_num_scores,
    .head_scores = xl_dec_head_scores,
    .free = xl_dec_free,
};
