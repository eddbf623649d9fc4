/* The building blocks of the decoder (models/decoder.c): config reading helpers for the
 * families' parsers (llama.c, gemma3.c), weight views into the mapping, the embedding
 * lookup, the attention block (projections, per-head q/k norm, RoPE, GQA attention,
 * output projection) and the gated MLP. */
#ifndef XL_DECODER_COMMON_H
#define XL_DECODER_COMMON_H
#include <jansson.h>
#include <stdint.h>
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "kernels/q8.h"
#include "kernels/rope.h"
#include "models/arch.h"

/* ---- config ---- */

/* The dimensions every decoder config carries. A missing head_dim is head_dim_default,
 * or hidden / heads (which must then divide) when that is 0; num_key_value_heads
 * defaults to num_attention_heads. */
typedef struct {
    int hidden, layers, heads, kv_heads, head_dim, intermediate, vocab, max_pos;
    double eps; /* rms_norm_eps */
} xl_dec_dims;

/* `what` names the file in errors (e.g. "dir/config.json"). */
xl_status xl_dec_read_dims(const json_t *cfg, const char *what, double eps_default, int head_dim_default,
                           xl_dec_dims *d);

/* RoPE base from theta_key (theta_default when absent) and, if scaling_key is not NULL,
 * the `rope_scaling` object found there: null / "default" / "linear" / "llama3".
 * Other rope types (yarn, dynamic, longrope, ...) and partial rotary factors are
 * XL_ERR_UNSUPPORTED naming the type. */
xl_status xl_dec_read_rope(const json_t *cfg, const char *what, const char *theta_key, double theta_default,
                           const char *scaling_key, xl_rope_params *out);

/* Reads `layer_types` when present: sliding[l] = 1 for "sliding_attention", 0 for
 * "full_attention"; other kinds are XL_ERR_UNSUPPORTED, a wrong length XL_ERR_FORMAT.
 * *present = 0 (and sliding untouched) when the key is absent or null. */
xl_status xl_dec_read_layer_types(const json_t *cfg, const char *what, int layers, int *sliding, int *present);

/* An `is_causal` boolean: *present = 1 and *causal set when the key is there (not null);
 * another type is XL_ERR_FORMAT. */
xl_status xl_dec_read_is_causal(const json_t *cfg, const char *what, int *causal, int *present);

/* 1 if architectures[] (any entry) equals name. */
int xl_dec_arch_is(const json_t *cfg, const char *name);

/* ---- weights ---- */

/* A linear layer: the weight [N][K] viewed in the mapping (F32 / F16 / BF16), an
 * optional float32 bias, and its int8 copy once quantized. */
typedef struct xl_dec_linear {
    int N, K;
    xl_dtype dtype;
    const void *w;
    float *bias;      /* [N] or NULL */
    xl_q8_matrix *q8; /* NULL unless quantized */
} xl_dec_linear;

typedef enum { XL_BIAS_NONE = 0, XL_BIAS_IF_PRESENT, XL_BIAS_REQUIRED } xl_bias_rule;

/* Loads `<base>.weight` with shape [N][K] (and `<base>.bias` [N] per rule). */
xl_status xl_dec_linear_load(const xl_weights *w, const char *base, int N, int K, xl_bias_rule rule,
                             xl_dec_linear *out);
void xl_dec_linear_free(xl_dec_linear *l);
/* Makes the int8 copy (kernels/q8.h) and hands the pages of the float weight back to
 * the kernel (madvise MADV_DONTNEED on the read-only mapping: they are read again from
 * the file if ever touched), so quantizing layer by layer peaks at the int8 copy plus
 * one tensor. XL_ERR_NOMEM when the copy does not fit. */
xl_status xl_dec_linear_quantize(xl_dec_linear *l, int threads);
/* y[M][N] = x[M][K] · Wᵀ + b. work: xl_dec_linear_work(l, M, threads) floats. */
void xl_dec_linear_apply(const xl_dec_linear *l, const float *x, int M, float *y, float *work, int threads);
/* ys[i] = x · ls[i].Wᵀ + b for n linears with the same K (q / k / v, gate / up): one
 * pass over x for each run of linears of the same kind (quantized or not). */
#define XL_DEC_MAX_MULTI 4
void xl_dec_linear_apply_multi(const xl_dec_linear *const *ls, float *const *ys, int n, const float *x, int M,
                               float *work, int threads);
size_t xl_dec_linear_work(const xl_dec_linear *l, int M, int threads);

/* embed_tokens.weight, shape [vocab][hidden], F32 / F16 / BF16. */
xl_status xl_dec_embed_load(const xl_weights *w, const xl_dec_dims *d, const xl_tensor **out);

/* A float32 copy of a 1-D tensor of n values (norm weights). */
xl_status xl_dec_vector_load(const xl_weights *w, const char *name, int n, float **out);

/* ---- blocks ---- */

typedef struct {
    xl_dec_linear q, k, v, o;
    float *q_norm, *k_norm; /* per-head RMSNorm weights [head_dim], or NULL */
} xl_dec_attn;

typedef struct {
    int n_heads, n_kv_heads, head_dim;
    float scale;          /* multiplies q·k */
    float qk_norm_eps;    /* for q_norm / k_norm */
    float qk_norm_offset; /* 1 for Gemma's (1 + w), else 0 */
    int window_left, window_right; /* as in xl_attn_params */
    const float *cos_t, *sin_t;    /* RoPE tables for positions 0..T-1 */
} xl_dec_attn_cfg;

typedef struct {
    xl_dec_linear gate, up, down;
} xl_dec_mlp;

/* Scratch buffers of the blocks for a batch of up to `rows` = B*T positions (held by
 * the decoder's run state). */
typedef struct {
    float *xn;        /* [rows][hidden] normed input of a block */
    float *out;       /* [rows][hidden] block output */
    float *q, *k, *v; /* [rows][heads*head_dim], [rows][kv_heads*head_dim] x2 */
    float *ctx;       /* [rows][heads*head_dim] attention output before o_proj */
    float *gate, *up; /* [mlp_rows][intermediate] */
    int mlp_rows;     /* rows the MLP takes at a time (xl_dec_mlp_rows) */
    float *work;      /* linear workspace */
} xl_dec_scratch;

/* Workspace floats the linears of one layer need for M rows with `threads` threads. */
size_t xl_dec_layer_work(const xl_dec_attn *a, const xl_dec_mlp *m, int M, int threads);

/* s->out = o_proj(attention(rope(norm(q_proj(x))), rope(norm(k_proj(x))), v_proj(x))).
 * Fails only when the attention kernel cannot get its scratch. */
xl_status xl_dec_attention(const xl_dec_attn *a, const xl_dec_attn_cfg *c, const xl_batch *b, const float *x,
                      xl_dec_scratch *s, int threads);

/* Rows the MLP processes at a time for a batch of `rows`: gate and up then hold at most
 * XL_DEC_MLP_BYTES together. */
#define XL_DEC_MLP_BYTES (64u << 20)
int xl_dec_mlp_rows(const xl_dec_dims *d, int rows);

/* s->out = down(act(gate(x)) * up(x)); act is XL_KACT_SILU or XL_KACT_GELU_TANH; in
 * chunks of s->mlp_rows rows. */
void xl_dec_mlp_forward(const xl_dec_mlp *m, xl_kact act, const float *x, int rows, xl_dec_scratch *s,
                        int threads);

/* Loads layers.<layer>.self_attn.{q,k,v,o}_proj (biases per the rules) and, when
 * qk_norm, self_attn.{q,k}_norm.weight [head_dim]. */
xl_status xl_dec_attn_load(const xl_weights *w, int layer, const xl_dec_dims *d, xl_bias_rule qkv_bias,
                           xl_bias_rule o_bias, int qk_norm, xl_dec_attn *a);
/* Loads layers.<layer>.mlp.{gate,up,down}_proj. */
xl_status xl_dec_mlp_load(const xl_weights *w, int layer, const xl_dec_dims *d, xl_bias_rule bias, xl_dec_mlp *m);
void xl_dec_attn_free(xl_dec_attn *a);
void xl_dec_mlp_free(xl_dec_mlp *m);
/* Parameter counts (weights + biases + norms). */
uint64_t xl_dec_attn_params(const xl_dec_attn *a, const xl_dec_dims *d);
uint64_t xl_dec_mlp_params(const xl_dec_mlp *m);

/* Checks the batch (sizes, lengths, mask agreeing with lens, ids of real tokens in
 * [0, vocab)); `what` names the model in errors. */
xl_status xl_dec_check_batch(const xl_batch *b, int vocab, const char *what);

/* hidden[b][t] = table[id] * scale for real tokens, zeros for pads. */
void xl_dec_embed(const xl_tensor *table, int hidden, const xl_batch *b, float scale, float *out, int threads);

#endif
