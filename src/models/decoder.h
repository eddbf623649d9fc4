/* One decoder for Llama, Mistral, Qwen2, Qwen3 and Gemma 3 (models/decoder.c), driven
 * by a description each family makes from its config.json (llama.c, gemma3.c). The
 * structs follow llama2.c: a Config (the description plus the load options), the
 * Weights (views into the mapping, float32 norms, int8 copies with --quantize q8) and a
 * RunState (the scratch of one forward, created by state_new, grown on demand and
 * reused, so a warmed state allocates nothing). The model is never written after load.
 *
 * One block, for every family:
 *   h += attn_out_norm?(o(attention(rope(qk_norm?(q(x))), rope(qk_norm?(k(x))), v(x)))),
 *        x = attn_norm(h)
 *   h += ffn_out_norm?(down(act(gate(x)) * up(x))),  x = ffn_norm(h)
 * then a final norm. The `?` parts are the sandwich norms (Gemma 3) and q/k norms
 * (Qwen3, Gemma 3); every RMSNorm scales by (norm_offset + w).
 *
 * Key windows (xl_attention's window_left / window_right): a layer with window w
 * sees i - w < j <= i when causal and |i - j| <= w / 2 when bidirectional (the rule
 * Hugging Face applies to Gemma 3's bidirectional sliding layers); w = 0: no window.
 * A batch's type_ids are ignored: these models have no token types. */
#ifndef XL_DECODER_H
#define XL_DECODER_H
#include <jansson.h>
#include <stdint.h>
#include "models/arch.h"
#include "models/decoder_common.h"

#define XL_DEC_MAX_ROPE 2 /* Gemma 3: a local base for sliding layers, a global one */

typedef struct {
    int window; /* key window (config's sliding_window), 0 = none */
    int rope;   /* index into xl_dec_desc.rope */
} xl_dec_layer_desc;

/* What a family's config says, in the decoder's terms. */
typedef struct {
    char *architecture, *model_type; /* architectures[0] and model_type, owned ("" if absent) */
    xl_dec_dims d;
    float norm_offset; /* RMSNorm multiplies by (norm_offset + w): 0, or 1 for Gemma */
    float embed_scale; /* embeddings are multiplied by it: 1, or sqrt(hidden) for Gemma */
    int sandwich;      /* norms on the attention and MLP outputs too; the tensors are then
                          input / post_attention / pre_feedforward / post_feedforward_layernorm,
                          else input / post_attention_layernorm */
    xl_kact act;       /* of the gated MLP: XL_KACT_SILU or XL_KACT_GELU_TANH */
    xl_bias_rule qkv_bias, o_bias, mlp_bias;
    int qk_norm;       /* per-head RMSNorm of q and k before RoPE */
    float attn_scale;  /* multiplies q·k: head_dim^-0.5, or query_pre_attn_scalar^-0.5 */
    int causal;        /* the config's attention direction */
    int n_rope;
    xl_rope_params rope[XL_DEC_MAX_ROPE];
    xl_dec_layer_desc *layers; /* [d.layers], owned */
} xl_dec_desc;

/* A family's parser: config → description. `what` names config.json in errors. On
 * failure the description may be partly filled; the caller frees it. */
typedef xl_status (*xl_dec_describe_fn)(const json_t *config, const char *what, xl_dec_desc *out);

/* Allocates desc->layers (zeroed) and copies architectures[0] / model_type. */
xl_status xl_dec_desc_init(xl_dec_desc *desc, const json_t *config, const char *what, int layers);
void xl_dec_desc_free(xl_dec_desc *desc);

/* The load every family's xl_arch uses: describe, check the options, load the weights,
 * quantize (opts->quantize, with opts->threads threads, 0 = all cores). */
xl_status xl_dec_load(const json_t *config, const xl_weights *w, const char *dir, const xl_model_options *opts,
                      xl_dec_describe_fn describe, void **model);

/* The rest of a decoder family's xl_arch. */
xl_status xl_dec_estimate_memory(const json_t *config, const xl_weights *w, const xl_model_options *opts,
                                 uint64_t *bytes);
xl_status xl_dec_state_new(const void *model, void **state);
void xl_dec_state_free(void *state);
xl_status xl_dec_forward(const void *model, void *state, const xl_batch *b, float *hidden, xl_layer_cb cb,
                         void *cb_ctx, int threads);
void xl_dec_get_info(const void *model, xl_arch_info *info);
void xl_dec_free(void *model);
/* *ForSequenceClassification: `score.weight` [labels][hidden] (no bias) on the last
 * token (xling runs unpadded sequences: HF's last non-padding token). 0 = no head. */
int xl_dec_num_scores(const void *model);
void xl_dec_head_scores(const void *model, const float *h, int len, float *scores);
/* xl_arch.vocab_logits: lm_head.weight when the checkpoint has it, else the tied
 * embed_tokens (XL_ERR_FORMAT when tie_word_embeddings is false and there is none). */
xl_status xl_dec_vocab_logits(const void *model, const float *h, const int32_t *rows, int n, float *out);

/* The decoders' memory estimate: the weights as held (the mapping is the working set:
 * 1x the checkpoint; with q8 0.52x of a half checkpoint, 0.26x of an F32 one: int8 + a
 * float scale per 128 values, the float pages handed back tensor by tensor) plus the
 * runtime (XL_MEM_RUNTIME_BYTES), 6 hidden-size floats per token of a batch of
 * batch_tokens (0: XL_MEM_BATCH_TOKENS) and the MLP's row chunks (XL_DEC_MLP_BYTES). */
uint64_t xl_dec_memory_needed(uint64_t weight_bytes, int half_weights, int q8, int hidden, int batch_tokens);

#endif
