/* Linear layers whose weights stay in the checkpoint's own dtype (F32, F16 or BF16),
 * read straight from the memory mapping: a large model is never copied to float32.
 * Each thread converts a tile of weight rows to float32 in a caller workspace and
 * multiplies it with its own register-blocked kernel. */
#ifndef XL_LINEAR_HALF_H
#define XL_LINEAR_HALF_H
#include <stddef.h>
#include "io/safetensors.h"

/* One product of a batch of products sharing the input x: y[M][N] = x · Wᵀ (+ b). */
typedef struct {
    const void *W;  /* [N][K] stored as dt: F16 or BF16 (F32 also accepted) */
    xl_dtype dt;
    int N;
    const float *b; /* [N] or NULL */
    float *y;       /* [M][N] */
} xl_half_job;

/* Floats of workspace xl_linear_half and xl_linear_half_multi need for M rows of K
 * inputs and `threads` threads (a converted tile per thread, and a packed copy of at
 * most a bounded chunk of x: a few MB whatever M is). */
size_t xl_linear_half_work(int M, int K, int threads);

/* y[M][N] = x[M][K] · W[N][K]^T (+ b[N] if b), W stored as dt (F32, F16 or BF16; F32
 * goes to xl_linear_f32). work holds xl_linear_half_work(M, K, threads) floats. */
void xl_linear_half(const float *x, int M, int K, const void *W, xl_dtype dt, int N, const float *b, float *y,
                    float *work, int threads);

/* Several products of the same x (q / k / v, gate / up) in one pass: x is packed once
 * and the tiles of every job are shared among the threads in one parallel region. */
void xl_linear_half_multi(const float *x, int M, int K, const xl_half_job *jobs, int n_jobs, float *work,
                          int threads);

#endif
