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
 * The attention load option (xl_model_options) replaces the rule's answer. Bidirectional
 * attention masks only padding keys; a window, if any, then spans |i - j| <= window / 2.
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

typedef enum { FAM_LLAMA = 0, FAM_MISTRAL, FAM_QWEN2, FAM_QWEN3, FAM_NONE } llama_family;

static const struct {
    const char *name;
    llama_family fam;
} arch_names[] = {
    {"LlamaModel", FAM_LLAMA},   {"LlamaForCausalLM", FAM_LLAMA},   {"LlamaBidirectionalModel", FAM_LLAMA},
    {"MistralModel", FAM_MISTRAL}, {"MistralForCausalLM", FAM_MISTRAL}, {"Qwen2Model", FAM_QWEN2},
    {"Qwen2ForCausalLM", FAM_QWEN2}, {"Qwen3Model", FAM_QWEN3},       {"Qwen3ForCausalLM", FAM_QWEN3},
    /* rerankers and classifiers: the `score` head (decoder.c) */
    {"LlamaForSequenceClassification", FAM_LLAMA}, {"MistralForSequenceClassification", FAM_MISTRAL},
    {"Qwen2ForSequenceClassification", FAM_QWEN2}, {"Qwen3ForSequenceClassification", FAM_QWEN3},
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
    int present;
    xl_status st = xl_dec_read_is_causal(cfg, what, causal, &present);
    if (st || present) return st;
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
static xl_status read_windows(const json_t *cfg, const char *what, llama_family family, xl_dec_desc *c) {
    xl_status st;
    int L = c->d.layers;
    long long window = 0;
    int *sliding = calloc((size_t)L, sizeof *sliding), present = 0;
    if (!sliding) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    if ((st = xl_dec_read_layer_types(cfg, what, L, sliding, &present))) goto done;
    if (family == FAM_LLAMA) {
        for (int l = 0; l < L; l++)
            if (present && sliding[l]) {
                st = xl_err(XL_ERR_UNSUPPORTED, "%s: layer_types[%d] is sliding_attention, which Llama models do not have", what, l);
                goto done;
            }
    } else if (family == FAM_MISTRAL) {
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
    for (int l = 0; l < L; l++) c->layers[l].window = sliding[l] ? (int)window : 0;
    st = XL_OK;
done:
    free(sliding);
    return st;
}

/* The config as a decoder description: pre-norm blocks, RMSNorm w, SiLU, one RoPE. */
static xl_status llama_describe(const json_t *config, const char *what, xl_dec_desc *c) {
    xl_status st;
    llama_family family = family_of(config);
    if (family == FAM_NONE) return xl_err(XL_ERR_UNSUPPORTED, "%s: not a Llama / Mistral / Qwen2 / Qwen3 config", what);
    xl_dec_dims d;
    if ((st = xl_dec_read_dims(config, what, 1e-6, 0, &d))) return st;
    if ((st = xl_dec_desc_init(c, config, what, d.layers))) return st;
    c->d = d;
    const char *act;
    if ((st = xl_json_get_str(config, "hidden_act", "silu", &act, what))) return st;
    if (strcmp(act, "silu") != 0)
        return xl_err(XL_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" is not supported for %s (silu only)", what, act,
                      family_name(family));
    if (json_object_get(config, "alibi") || json_object_get(config, "alibi_bias_max"))
        return xl_err(XL_ERR_UNSUPPORTED, "%s: ALiBi attention is not supported (rotary position embeddings only)", what);
    c->n_rope = 1;
    if ((st = xl_dec_read_rope(config, what, "rope_theta", 10000.0, "rope_scaling", &c->rope[0]))) return st;
    if ((st = config_is_causal(config, what, &c->causal))) return st;

    int attention_bias = 0, mlp_bias = 0;
    if ((st = xl_json_get_bool(config, "attention_bias", 0, &attention_bias, what))) return st;
    if ((st = xl_json_get_bool(config, "mlp_bias", 0, &mlp_bias, what))) return st;
    c->qkv_bias = c->o_bias = c->mlp_bias = XL_BIAS_NONE;
    if (family == FAM_LLAMA) {
        c->qkv_bias = c->o_bias = attention_bias ? XL_BIAS_REQUIRED : XL_BIAS_NONE;
        c->mlp_bias = mlp_bias ? XL_BIAS_REQUIRED : XL_BIAS_NONE;
    } else if (family == FAM_QWEN2) {
        c->qkv_bias = XL_BIAS_REQUIRED;
    } else if (family == FAM_QWEN3) {
        c->qkv_bias = c->o_bias = attention_bias ? XL_BIAS_REQUIRED : XL_BIAS_NONE;
    }
    c->qk_norm = family == FAM_QWEN3;
    c->norm_offset = 0.0f;
    c->embed_scale = 1.0f;
    c->sandwich = 0;
    c->act = XL_KACT_SILU;
    c->attn_scale = (float)(1.0 / sqrt((double)d.head_dim));
    return read_windows(config, what, family, c);
}

static xl_status llama_load(const json_t *config, const xl_weights *w, const char *dir, const xl_model_options *opts,
                            void **out) {
    return xl_dec_load(config, w, dir, opts, llama_describe, out);
}

const xl_arch xl_arch_llama = {
    .name = "llama",
    .matches = llama_matches,
    .estimate_memory = xl_dec_estimate_memory,
    .load = llama_load,
    .state_new = xl_dec_state_new,
    .state_free = xl_dec_state_free,
    .forward = xl_dec_forward,
    .get_info = xl_dec_get_info,
    .num_scores = xl_dec_num_scores,
    .head_scores = xl_dec_head_scores,
    .vocab_logits = xl_dec_vocab_logits,
    .free = xl_dec_free,
};
