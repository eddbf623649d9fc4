/* Linear layers whose weights stay in the checkpoint's own dtype (F32, F16 or BF16),
 * read straight from the memory mapping: a large model is never copied to float32.
 * Each thread converts a tile of weight rows to float32 in a caller workspace and
 * multiplies it with its own register-blocked kernel. */
#ifndef XL_LINEAR_HALF_H
#define XL_LINEAR_HALF_H
#include <stddef.h>
#include "io/safetensors.h"

/* Floats of workspace xl_linear_half needs for N outputs, K inputs and `threads`
 * threads (a converted tile per thread; 0 for F32 weights). Independent of M. */
size_t xl_linear_half_work(xl_dtype dt, int N, int K, int threads);

/* y[M][N] = x[M][K] · W[N][K]^T (+ b[N] if b), W stored as dt (F32, F16 or BF16).
 * work holds xl_linear_half_work(dt, N, K, threads) floats (may be NULL for F32). */
void xl_linear_half(const float *x, int M, int K, const void *W, xl_dtype dt, int N, const float *b, float *y,
                    float *work, int threads);

#endif
