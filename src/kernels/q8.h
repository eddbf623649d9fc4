/* Block int8 linear layers (`--quantize q8`).
 *
 * Weights: each row of K values is cut into blocks of XL_Q8_BLOCK values; a block is
 * stored as int8 q = round(w / s) in [-127, 127] with s = max|w| / 127 (float32): 1.03
 * bytes per weight instead of 2 (F16 / BF16) or 4.
 * Activations are quantized on the fly to int16 per row and block (s = max|x| / 32767),
 * and the int16 x int8 products are summed exactly in int32 by AVX-512 VNNI's vpdpwssd
 * (32 pairs per instruction, the weights widened on load) — on AVX2 by AVX-VNNI's VEX
 * vpdpwssd, or vpmaddwd + vpaddd without it (16 pairs per instruction) — and each
 * block's sum is scaled in float32. Rows are zero-padded to a whole number of blocks.
 *
 * Why 16-bit activations: with int8 activations too (vpdpbusd) the tiny random
 * mistral-tiny fixture loses cosine 0.9985 on its longest input (< 0.999); with 16-bit
 * activations only the weight rounding remains (worst fixture cosine 0.9993).
 * Why 128-value blocks: the float work per block (convert, scale, accumulate) is spread
 * over four vpdpwssd steps, keeping the kernel at the float32 kernel's instruction count
 * while reading a quarter of the weight bytes; an outlier only coarsens its own block. */
#ifndef XL_Q8_H
#define XL_Q8_H
#include <stddef.h>
#include <stdint.h>
#include "io/safetensors.h"
#include "xling.h"

#define XL_Q8_BLOCK 128

typedef struct {
    int N, K, Kp; /* Kp: K rounded up to XL_Q8_BLOCK */
    int8_t *q;    /* [N][Kp], 64-byte aligned rows */
    float *scale; /* [N][Kp / XL_Q8_BLOCK] */
} xl_q8_matrix;

/* Quantizes W[N][K] (F32, F16 or BF16). XL_ERR_NOMEM on allocation failure. */
xl_status xl_q8_quantize(const void *W, xl_dtype dt, int N, int K, xl_q8_matrix *out, int threads);
void xl_q8_free(xl_q8_matrix *m);
/* Bytes the quantized matrix holds. */
size_t xl_q8_bytes(const xl_q8_matrix *m);

/* One product of a batch of products sharing the input x: y[M][N] = x · Wᵀ (+ b). */
typedef struct {
    const xl_q8_matrix *W; /* W->K must equal the shared K */
    const float *b;        /* [W->N] or NULL */
    float *y;              /* [M][W->N] */
} xl_q8_job;

/* Bytes of workspace xl_q8_linear and xl_q8_linear_multi need for M rows of K inputs
 * and `threads` threads: the quantized activations (a bounded chunk of them for long
 * batches) and a widened weight tile per thread. */
size_t xl_q8_work(int M, int K, int threads);
/* Bytes of workspace xl_q8_linear_portable needs: every row of x quantized. */
size_t xl_q8_work_rows(int M, int K);

/* y[M][N] = x[M][K] · Wᵀ (+ b) with W quantized. work: xl_q8_work(M, K, threads)
 * bytes. Uses the AVX-512 VNNI kernels when the build targets them, else the AVX2 ones
 * (the same layout on ymm registers: panels of 8 rows, micro-tiles of 16 rows x 6
 * weight rows, with AVX-VNNI where the build has it), else xl_q8_linear_portable.
 *
 * VNNI kernel, batches (M >= 8): the activations are quantized into panels of 16 rows
 * stored by pairs of k ([K/2][16] int32 pairs: one zmm per pair); each thread widens a
 * tile of weight rows to int16 in L2, and a micro-tile of 48 rows x 8 weight rows runs
 * 24 vpdpwssd per pair of k, each with one weight pair broadcast from the tile, with
 * the float scaling once per block (measured on one Zen 4 core: 190 G multiply-adds
 * x 2 per second, 81 % of vpdpwssd's rate, 1.8x the float32 kernel). A few rows
 * (M < 8): dot products of up to 4 rows against 2 weight rows read as int8. Both
 * prefetch the next tile's weights while computing the current one. */
void xl_q8_linear(const float *x, int M, int K, const xl_q8_matrix *W, const float *b, float *y, void *work,
                  int threads);
/* Several products of the same x (q / k / v, gate / up) in one pass: x is quantized
 * once and the tiles of every job are shared among the threads. */
void xl_q8_linear_multi(const float *x, int M, int K, const xl_q8_job *jobs, int n_jobs, void *work, int threads);
/* The same product with plain C integer loops (the fallback; exposed for tests).
 * work: xl_q8_work_rows(M, K) bytes. */
void xl_q8_linear_portable(const float *x, int M, int K, const xl_q8_matrix *W, const float *b, float *y, void *work,
                           int threads);

/* 1 when xl_q8_linear runs a VNNI kernel (AVX-512 VNNI or AVX-VNNI); 0 for the AVX2
 * kernel without VNNI and for the portable loops. */
int xl_q8_has_vnni(void);

#endif
