/* Kernels: pure functions on float arrays, shared by every architecture.
 * Row-major throughout; "tokens" are the B*T rows of a padded batch.
 * `threads` is the number of threads a kernel may use (OpenMP). */
#ifndef XL_KERNELS_H
#define XL_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/* ---- linear layers ---- */

/* y[M][N] = x[M][K] · W[N][K]^T (+ b[N] if b). W as PyTorch's nn.Linear stores it. */
void xl_linear_f32(const float *x, int M, int K, const float *W, int N, const float *b, float *y, int threads);

/* ---- normalization ---- */

/* In place over M rows of H: LayerNorm with biased variance, then * g + b. */
void xl_layernorm(float *x, int M, int H, const float *g, const float *b, float eps, int threads);
/* In place over M rows of H: x / rms(x) * w (w_offset = 1 for Gemma's (1 + w), else 0). */
void xl_rmsnorm(float *x, int M, int H, const float *w, float w_offset, float eps, int threads);

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
 * out: [B*T][n_heads*head_dim]. Rows of padded queries are written with zeros. */
void xl_attention(const xl_attn_params *p, const float *q, int q_stride, const float *k, const float *v,
                  int kv_stride, float *out, int threads);

#endif
