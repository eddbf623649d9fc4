/* Block int8 linear layers (`--quantize q8`).
 *
 * Weights: each row of K values is cut into blocks of XL_Q8_BLOCK values; a block is
 * stored as int8 q = round(w / s) in [-127, 127] with s = max|w| / 127 (float32).
 * Activations are quantized the same way on the fly, per row and block, then shifted
 * to unsigned (q + 128) so that AVX-512 VNNI's vpdpbusd (u8 x s8 -> s32) can multiply
 * 64 pairs per instruction; the shift is undone with a per-block term precomputed from
 * the weight sums. Rows are zero-padded to a whole number of blocks.
 *
 * Why 128-value blocks: the int32 sums of a block need one float conversion and two
 * float FMAs per output; 128 values amortise that over two vpdpbusd steps per pair of
 * rows (about 1.6x fewer instructions than the float32 kernel, and 1.1 bytes per weight
 * instead of 2), while keeping an outlier's damage to its own block (cosine to float32
 * >= 0.999 on every fixture). */
#ifndef XL_Q8_H
#define XL_Q8_H
#include <stddef.h>
#include <stdint.h>
#include "io/safetensors.h"
#include "xling.h"

#define XL_Q8_BLOCK 128

typedef struct {
    int N, K, Kp;  /* Kp: K rounded up to XL_Q8_BLOCK */
    int8_t *q;     /* [N][Kp] */
    float *scale;  /* [N][Kp / XL_Q8_BLOCK] */
    float *corr;   /* [N][Kp / XL_Q8_BLOCK]: 8 * scale * Σ q (undoes the +128 of activations) */
} xl_q8_matrix;

/* Quantizes W[N][K] (F32, F16 or BF16). XL_ERR_NOMEM on allocation failure. */
xl_status xl_q8_quantize(const void *W, xl_dtype dt, int N, int K, xl_q8_matrix *out, int threads);
void xl_q8_free(xl_q8_matrix *m);
/* Bytes the quantized matrix holds. */
size_t xl_q8_bytes(const xl_q8_matrix *m);

/* Bytes of workspace xl_q8_linear needs for M rows of K inputs. */
size_t xl_q8_work(int M, int K);

/* y[M][N] = x[M][K] · Wᵀ (+ b) with W quantized. work: xl_q8_work(M, K) bytes, 64-byte
 * aligned. Uses VNNI when the build targets it, else xl_q8_linear_portable's loops. */
void xl_q8_linear(const float *x, int M, int K, const xl_q8_matrix *W, const float *b, float *y, void *work,
                  int threads);
/* The same product with plain C integer loops (the fallback; exposed for tests). */
void xl_q8_linear_portable(const float *x, int M, int K, const xl_q8_matrix *W, const float *b, float *y, void *work,
                           int threads);

/* 1 when xl_q8_linear runs the VNNI kernel. */
int xl_q8_has_vnni(void);

#endif
