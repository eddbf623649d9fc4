/* Kernels: pure functions on float arrays, shared by every architecture.
 * Row-major throughout; "tokens" are the B*T rows of a padded batch.
 * `threads` is the number of threads a kernel may use (OpenMP). */
#ifndef XL_KERNELS_H
#define XL_KERNELS_H
#include <stddef.h>
#include <stdint.h>
#include "xling.h"

/* ---- linear layers ---- */

/* y[M][N] = x[M][K] · W[N][K]^T (+ b[N] if b). W as PyTorch's nn.Linear stores it. */
void xl_linear_f32(const float *x, int M, int K, const float *W, int N, const float *b, float *y, int threads);

/* A weight pre-arranged once for the GEMM (with AVX-512: panels of 32 output columns
 * stored [K][32]; otherwise plain [N][K] rows). Owned; free with xl_packed_w_free. */
typedef struct {
    int N, K;
    float *data;
} xl_packed_w;

/* 1 when a row of xl_linear_f32 / xl_linear_packed comes out bit for bit the same
 * whatever the other rows of x (our own GEMMs; not OpenBLAS, which blocks by M). */
int xl_linear_row_invariant(void);

xl_status xl_pack_w(const float *W, int N, int K, xl_packed_w *out);
void xl_packed_w_free(xl_packed_w *w);

/* ---- normalization ---- */

/* In place over M rows of H: LayerNorm with biased variance, then * g + b. */
void xl_layernorm(float *x, int M, int H, const float *g, const float *b, float eps, int threads);
/* In place over M rows of H: x / rms(x) * w (w_offset = 1 for Gemma's (1 + w), else 0). */
void xl_rmsnorm(float *x, int M, int H, const float *w, float w_offset, float eps, int threads);

/* Σ (x[i] - c)² over n values, accumulated in double (the statistic both norms need). */
double xl_sum_sq_dev(const float *x, int n, double c);

/* ---- activations (in place) ---- */
void xl_gelu_erf(float *x, size_t n, int threads);
void xl_gelu_tanh(float *x, size_t n, int threads);
void xl_relu(float *x, size_t n, int threads);
void xl_silu(float *x, size_t n, int threads);

/* ---- attention ---- */

typedef struct {
    int B, T;              /* batch of B sequences, T positions each */
    int n_heads, n_kv_heads, head_dim;
    float scale;           /* multiplies q·k (usually head_dim^-0.5) */
    /* Key j is visible from query i when mask[b][j] is 1 and
     * i - window_left <= j <= i + window_right; -1 means unbounded on that side.
     * Bidirectional: -1, -1. Causal: -1, 0. Gemma sliding (bidirectional): w/2, w/2. */
    int window_left, window_right;
    const uint8_t *mask;   /* [B][T], 1 = real token */
} xl_attn_params;

/* q: [B*T][q_stride] with head h at columns h*head_dim; k, v: [B*T][kv_stride] with kv
 * head g at columns g*head_dim; query head h reads kv head h / (n_heads / n_kv_heads).
 * out: [B*T][n_heads*head_dim]. Rows of padded queries are written with zeros (so are
 * queries that see no key). Fails only on bad head counts (XL_ERR_ARG) or when its
 * per-thread scratch (a few KB x T) cannot be allocated (XL_ERR_NOMEM). */
xl_status xl_attention(const xl_attn_params *p, const float *q, int q_stride, const float *k, const float *v,
                       int kv_stride, float *out, int threads);
/* xl_attention on the calling thread alone, on scratch the caller provides (no
 * allocation: for callers that run sequences side by side on their own threads).
 * scratch is 64-byte aligned and holds scratch_bytes >= xl_attention_scratch_bytes(p),
 * which also serves any call with the same B and heads and a shorter T. Fails on bad
 * head counts or too little scratch (XL_ERR_ARG). Same results as xl_attention. */
size_t xl_attention_scratch_bytes(const xl_attn_params *p);
xl_status xl_attention_st(const xl_attn_params *p, const float *q, int q_stride, const float *k, const float *v,
                          int kv_stride, float *out, void *scratch, size_t scratch_bytes);

/* ---- fused passes used by the model files (one sweep over the data each) ---- */

typedef enum { XL_KACT_NONE = 0, XL_KACT_GELU_ERF, XL_KACT_GELU_TANH, XL_KACT_RELU, XL_KACT_SILU } xl_kact;

/* y[M][N] = act(x[M][K] · Wᵀ + b) with a packed weight (b may be NULL, act NONE). */
void xl_linear_packed(const float *x, int M, const xl_packed_w *W, const float *b, xl_kact act, float *y,
                      int threads);
/* In place over M rows of N: y = act(y + b) (b may be NULL). */
void xl_bias_act(float *y, int M, int N, const float *b, xl_kact act, int threads);
/* In place over M rows of H: x = LayerNorm(x + y + bias) * g + beta (bias may be NULL).
 * The post-LN residual step of BERT: x is the residual stream, y a projection's output. */
void xl_residual_layernorm(float *x, const float *y, const float *bias, int M, int H, const float *g,
                           const float *beta, float eps, int threads);
/* Single-threaded building block: rows of N values at stride ld, y = act(y + b) (b may
 * be NULL). What the GEMM applies to each finished block. */
void xl_act_block(float *y, int M, int N, int ld, const float *b, xl_kact act);
/* x[i] += y[i] over n values. */
void xl_add_inplace(float *x, const float *y, size_t n, int threads);
/* Gated activation (SwiGLU / GeGLU): out[m][f] = act(gate[m*ld + f]) * up[m*ld + f] for
 * M rows of F; out is [M][F]. ld = F for separate gate/up arrays, 2F for a fused
 * [gate | up] projection output (then up = gate + F). */
void xl_gated_act(float *out, const float *gate, const float *up, int M, int F, int ld, xl_kact act,
                  int threads);
/* Numerically stable softmax of one row of n values, in place (single thread). */
void xl_softmax(float *x, int n);
/* x[i] = exp(x[i] - max x) in place; returns Σ x[i] (softmax without the division). */
float xl_softmax_unnormalized(float *x, int n);

#endif
