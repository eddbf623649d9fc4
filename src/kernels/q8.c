/* Block int8 linear layers: see q8.h for the format. */
#include "kernels/q8.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "util/error.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define QB XL_Q8_BLOCK
#define TILE_ROWS 16 /* weight rows per parallel task: 16 x Kp bytes stay in L1/L2 */
#define PAR_MIN 262144.0 /* smaller jobs (values or multiply-adds) run on one thread */

static int padded(int K) { return (K + QB - 1) / QB * QB; }

/* Quantizes a block of n values (n <= QB) to [-qmax, qmax] in QB slots (zeros after n);
 * returns the scale. T is the integer type of the slots. */
#define QUANTIZE_BLOCK(T, v, n, q, qmax, scale_out)                            \
    do {                                                                       \
        float amax_ = 0.0f;                                                    \
        for (int k_ = 0; k_ < (n); k_++) amax_ = fmaxf(amax_, fabsf((v)[k_])); \
        float inv_ = amax_ > 0.0f ? (qmax) / amax_ : 0.0f;                     \
        for (int k_ = 0; k_ < (n); k_++) {                                     \
            long r_ = lrintf((v)[k_] * inv_);                                  \
            (q)[k_] = (T)(r_ > (qmax) ? (qmax) : r_ < -(qmax) ? -(qmax) : r_); \
        }                                                                      \
        for (int k_ = (n); k_ < QB; k_++) (q)[k_] = 0;                         \
        (scale_out) = amax_ / (qmax);                                          \
    } while (0)

void xl_q8_free(xl_q8_matrix *m) {
    free(m->q);
    free(m->scale);
    memset(m, 0, sizeof *m);
}

size_t xl_q8_bytes(const xl_q8_matrix *m) {
    return (size_t)m->N * m->Kp + (size_t)m->N * (m->Kp / QB) * sizeof(float);
}

xl_status xl_q8_quantize(const void *W, xl_dtype dt, int N, int K, xl_q8_matrix *out, int threads) {
    memset(out, 0, sizeof *out);
    if (N <= 0 || K <= 0) return xl_err(XL_ERR_ARG, "q8: cannot quantize a %d x %d matrix", N, K);
    if (dt != XL_DT_F32 && dt != XL_DT_F16 && dt != XL_DT_BF16)
        return xl_err(XL_ERR_UNSUPPORTED, "q8: weights of dtype %s cannot be quantized", xl_dtype_name(dt));
    if (threads < 1) threads = 1;
    int Kp = padded(K), nb = Kp / QB;
    size_t elt = xl_dtype_size(dt);
    out->N = N;
    out->K = K;
    out->Kp = Kp;
    out->q = aligned_alloc(64, (size_t)N * Kp); /* Kp is a multiple of 64 */
    out->scale = malloc(sizeof(float) * (size_t)N * nb);
    float *rows = malloc(sizeof(float) * (size_t)threads * K);
    if (!out->q || !out->scale || !rows) {
        free(rows);
        xl_q8_free(out);
        return xl_err(XL_ERR_NOMEM, "q8: out of memory quantizing a %d x %d matrix", N, K);
    }
#pragma omp parallel num_threads(threads) if (threads > 1 && (double)N * K * 16 >= PAR_MIN)
    {
        int me = 0;
#ifdef _OPENMP
        me = omp_get_thread_num();
#endif
        float *row = rows + (size_t)me * K;
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            xl_convert_to_f32(dt, (const char *)W + (size_t)n * K * elt, row, (size_t)K);
            int8_t *q = out->q + (size_t)n * Kp;
            for (int b = 0; b < nb; b++) {
                int k0 = b * QB, cnt = K - k0 < QB ? K - k0 : QB;
                QUANTIZE_BLOCK(int8_t, row + k0, cnt, q + k0, 127.0f, out->scale[(size_t)n * nb + b]);
            }
        }
    }
    free(rows);
    return XL_OK;
}

/* ------------------------------------------------------------ activations */

size_t xl_q8_work(int M, int K) {
    size_t Kp = (size_t)padded(K);
    return (size_t)M * Kp * sizeof(int16_t) + sizeof(float) * (size_t)M * (Kp / QB) + 64;
}

/* xq[M][Kp] int16 values, sx[M][nb] scales; xq 64-byte aligned inside work. */
static void quantize_activations(const float *x, int M, int K, void *work, int16_t **xq_out, float **sx_out,
                                 int threads) {
    int Kp = padded(K), nb = Kp / QB;
    int16_t *xq = (int16_t *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    float *sx = (float *)(xq + (size_t)M * Kp);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && (double)M * K * 16 >= PAR_MIN)
    for (int m = 0; m < M; m++)
        for (int b = 0; b < nb; b++) {
            int k0 = b * QB, cnt = K - k0 < QB ? K - k0 : QB;
            QUANTIZE_BLOCK(int16_t, x + (size_t)m * K + k0, cnt, xq + (size_t)m * Kp + k0, 32767.0f,
                           sx[(size_t)m * nb + b]);
        }
    *xq_out = xq;
    *sx_out = sx;
}

/* ------------------------------------------------------------ portable kernel */

static void portable_rows(const int16_t *xq, const float *sx, int M, const xl_q8_matrix *W, const float *b, float *y,
                          int n0, int n1) {
    int Kp = W->Kp, nb = Kp / QB, N = W->N;
    for (int m = 0; m < M; m++) {
        const int16_t *xr = xq + (size_t)m * Kp;
        for (int n = n0; n < n1; n++) {
            const int8_t *wr = W->q + (size_t)n * Kp;
            float acc = 0.0f;
            for (int blk = 0; blk < nb; blk++) {
                int32_t d = 0;
                for (int k = blk * QB; k < (blk + 1) * QB; k++) d += (int32_t)xr[k] * wr[k];
                acc += (float)d * W->scale[(size_t)n * nb + blk] * sx[(size_t)m * nb + blk];
            }
            y[(size_t)m * N + n] = acc + (b ? b[n] : 0.0f);
        }
    }
}

void xl_q8_linear_portable(const float *x, int M, int K, const xl_q8_matrix *W, const float *b, float *y, void *work,
                           int threads) {
    if (M <= 0 || W->N <= 0) return;
    if (threads < 1) threads = 1;
    int16_t *xq;
    float *sx;
    quantize_activations(x, M, K, work, &xq, &sx, threads);
    int ntiles = (W->N + TILE_ROWS - 1) / TILE_ROWS;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && (double)M * W->N * W->Kp >= PAR_MIN)
    for (int t = 0; t < ntiles; t++) {
        int n0 = t * TILE_ROWS, n1 = n0 + TILE_ROWS < W->N ? n0 + TILE_ROWS : W->N;
        portable_rows(xq, sx, M, W, b, y, n0, n1);
    }
}

/* ------------------------------------------------------------ VNNI kernel */

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
int xl_q8_has_vnni(void) { return 1; }

/* MR rows of x (<= 4) against NR rows of W (<= 2), over every block. The loop bounds
 * are constants once inlined, so the accumulators live in registers. */
static inline __attribute__((always_inline)) void vnni_block(const int MR, const int NR, const int16_t *xq,
                                                             const float *sx, int nb, const xl_q8_matrix *W, int n,
                                                             float *y, size_t ldy, const float *bias) {
    const size_t Kp = (size_t)W->Kp;
    __m512 acc[4][2];
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
        for (int j = 0; j < NR; j++) acc[i][j] = _mm512_setzero_ps();
    for (int blk = 0; blk < nb; blk++) {
        __m512i d[4][2];
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
            for (int j = 0; j < NR; j++) d[i][j] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int s = 0; s < QB / 32; s++) {
            size_t k = (size_t)blk * QB + (size_t)s * 32;
            __m512i w[2];
#pragma GCC unroll 2
            for (int j = 0; j < NR; j++)
                w[j] = _mm512_cvtepi8_epi16(_mm256_load_si256((const __m256i *)(W->q + (size_t)(n + j) * Kp + k)));
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) {
                __m512i xi = _mm512_load_si512((const void *)(xq + (size_t)i * Kp + k));
#pragma GCC unroll 2
                for (int j = 0; j < NR; j++) d[i][j] = _mm512_dpwssd_epi32(d[i][j], xi, w[j]);
            }
        }
#pragma GCC unroll 2
        for (int j = 0; j < NR; j++) {
            __m512 sw = _mm512_set1_ps(W->scale[(size_t)(n + j) * nb + blk]);
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) {
                __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(d[i][j]), sw);
                acc[i][j] = _mm512_fmadd_ps(t, _mm512_set1_ps(sx[(size_t)i * nb + blk]), acc[i][j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
        for (int j = 0; j < NR; j++)
            y[(size_t)i * ldy + n + j] = _mm512_reduce_add_ps(acc[i][j]) + (bias ? bias[n + j] : 0.0f);
}

static void vnni_tile(const int16_t *xq, const float *sx, int M, const xl_q8_matrix *W, const float *b, float *y, int n0,
                      int n1) {
    int Kp = W->Kp, nb = Kp / QB, N = W->N;
    int m = 0;
    for (; m + 4 <= M; m += 4) {
        const int16_t *xm = xq + (size_t)m * Kp;
        const float *sm = sx + (size_t)m * nb;
        float *ym = y + (size_t)m * N;
        int n = n0;
        for (; n + 2 <= n1; n += 2) vnni_block(4, 2, xm, sm, nb, W, n, ym, (size_t)N, b);
        if (n < n1) vnni_block(4, 1, xm, sm, nb, W, n, ym, (size_t)N, b);
    }
    for (; m < M; m++) {
        const int16_t *xm = xq + (size_t)m * Kp;
        const float *sm = sx + (size_t)m * nb;
        float *ym = y + (size_t)m * N;
        int n = n0;
        for (; n + 2 <= n1; n += 2) vnni_block(1, 2, xm, sm, nb, W, n, ym, (size_t)N, b);
        if (n < n1) vnni_block(1, 1, xm, sm, nb, W, n, ym, (size_t)N, b);
    }
}

void xl_q8_linear(const float *x, int M, int K, const xl_q8_matrix *W, const float *b, float *y, void *work,
                  int threads) {
    if (M <= 0 || W->N <= 0) return;
    if (threads < 1) threads = 1;
    int16_t *xq;
    float *sx;
    quantize_activations(x, M, K, work, &xq, &sx, threads);
    int ntiles = (W->N + TILE_ROWS - 1) / TILE_ROWS;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && (double)M * W->N * W->Kp >= PAR_MIN)
    for (int t = 0; t < ntiles; t++) {
        int n0 = t * TILE_ROWS, n1 = n0 + TILE_ROWS < W->N ? n0 + TILE_ROWS : W->N;
        vnni_tile(xq, sx, M, W, b, y, n0, n1);
    }
}
#else
int xl_q8_has_vnni(void) { return 0; }

void xl_q8_linear(const float *x, int M, int K, const xl_q8_matrix *W, const float *b, float *y, void *work,
                  int threads) {
    xl_q8_linear_portable(x, M, K, W, b, y, work, threads);
}
#endif
