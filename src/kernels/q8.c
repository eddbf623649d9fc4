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

static int padded(int K) { return (K + QB - 1) / QB * QB; }

/* Quantizes one block: n valid values of v (n <= QB), the rest of the QB slots zero.
 * Sets *scale and returns Σ q. */
static int quantize_block(const float *v, int n, int8_t *q, float *scale) {
    float amax = 0.0f;
    for (int k = 0; k < n; k++) amax = fmaxf(amax, fabsf(v[k]));
    float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int k = 0; k < n; k++) {
        long r = lrintf(v[k] * inv);
        int qi = r > 127 ? 127 : r < -127 ? -127 : (int)r;
        q[k] = (int8_t)qi;
        sum += qi;
    }
    memset(q + n, 0, (size_t)(QB - n));
    *scale = amax / 127.0f;
    return sum;
}

/* One row of K values into Kp slots; sums[b] = Σ q of block b (NULL: not wanted). */
static void quantize_row(const float *v, int K, int Kp, int8_t *q, float *scale, int *sums) {
    for (int b = 0; b < Kp / QB; b++) {
        int k0 = b * QB, n = K - k0 < QB ? K - k0 : QB;
        int sum = quantize_block(v + k0, n, q + k0, scale + b);
        if (sums) sums[b] = sum;
    }
}

void xl_q8_free(xl_q8_matrix *m) {
    free(m->q);
    free(m->scale);
    free(m->corr);
    memset(m, 0, sizeof *m);
}

size_t xl_q8_bytes(const xl_q8_matrix *m) {
    size_t nb = (size_t)m->Kp / QB;
    return (size_t)m->N * m->Kp + 2 * (size_t)m->N * nb * sizeof(float);
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
    out->q = aligned_alloc(64, (size_t)N * Kp);
    out->scale = malloc(sizeof(float) * (size_t)N * nb);
    out->corr = malloc(sizeof(float) * (size_t)N * nb);
    float *rows = malloc(sizeof(float) * (size_t)threads * K);
    int *sums = malloc(sizeof(int) * (size_t)threads * nb);
    if (!out->q || !out->scale || !out->corr || !rows || !sums) {
        free(rows);
        free(sums);
        xl_q8_free(out);
        return xl_err(XL_ERR_NOMEM, "q8: out of memory quantizing a %d x %d matrix", N, K);
    }
#pragma omp parallel num_threads(threads)
    {
        int me = 0;
#ifdef _OPENMP
        me = omp_get_thread_num();
#endif
        float *row = rows + (size_t)me * K;
        int *s = sums + (size_t)me * nb;
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            xl_convert_to_f32(dt, (const char *)W + (size_t)n * K * elt, row, (size_t)K);
            quantize_row(row, K, Kp, out->q + (size_t)n * Kp, out->scale + (size_t)n * nb, s);
            for (int b = 0; b < nb; b++) out->corr[(size_t)n * nb + b] = 8.0f * out->scale[(size_t)n * nb + b] * (float)s[b];
        }
    }
    free(rows);
    free(sums);
    return XL_OK;
}

/* ------------------------------------------------------------ activations */

size_t xl_q8_work(int M, int K) {
    size_t Kp = (size_t)padded(K);
    return (size_t)M * Kp + sizeof(float) * (size_t)M * (Kp / QB) + 64;
}

/* xq[M][Kp] = q + 128 (unsigned), sx[M][nb] scales. */
static void quantize_activations(const float *x, int M, int K, uint8_t *xq, float *sx, int threads) {
    int Kp = padded(K), nb = Kp / QB;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int m = 0; m < M; m++) {
        quantize_row(x + (size_t)m * K, K, Kp, (int8_t *)(xq + (size_t)m * Kp), sx + (size_t)m * nb, NULL);
        uint8_t *u = xq + (size_t)m * Kp;
        for (int k = 0; k < Kp; k++) u[k] = (uint8_t)((int)(int8_t)u[k] + 128);
    }
}

static void split_work(void *work, int M, int K, uint8_t **xq, float **sx) {
    uintptr_t p = ((uintptr_t)work + 63) & ~(uintptr_t)63;
    *xq = (uint8_t *)p;
    *sx = (float *)(p + (size_t)M * padded(K));
}

/* ------------------------------------------------------------ portable kernel */

static void portable_rows(const uint8_t *xq, const float *sx, int M, const xl_q8_matrix *W, const float *b, float *y,
                          int n0, int n1) {
    int Kp = W->Kp, nb = Kp / QB, N = W->N;
    for (int m = 0; m < M; m++) {
        const uint8_t *xr = xq + (size_t)m * Kp;
        for (int n = n0; n < n1; n++) {
            const int8_t *wr = W->q + (size_t)n * Kp;
            float acc = 0.0f;
            for (int blk = 0; blk < nb; blk++) {
                int32_t d = 0;
                for (int k = blk * QB; k < (blk + 1) * QB; k++) d += (int32_t)xr[k] * wr[k];
                float sw = W->scale[(size_t)n * nb + blk], c = W->corr[(size_t)n * nb + blk];
                acc += sx[(size_t)m * nb + blk] * ((float)d * sw - 16.0f * c);
            }
            y[(size_t)m * N + n] = acc + (b ? b[n] : 0.0f);
        }
    }
}

void xl_q8_linear_portable(const float *x, int M, int K, const xl_q8_matrix *W, const float *b, float *y, void *work,
                           int threads) {
    if (M <= 0 || W->N <= 0) return;
    if (threads < 1) threads = 1;
    uint8_t *xq;
    float *sx;
    split_work(work, M, K, &xq, &sx);
    quantize_activations(x, M, K, xq, sx, threads);
    int ntiles = (W->N + TILE_ROWS - 1) / TILE_ROWS;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < ntiles; t++) {
        int n0 = t * TILE_ROWS, n1 = n0 + TILE_ROWS < W->N ? n0 + TILE_ROWS : W->N;
        portable_rows(xq, sx, M, W, b, y, n0, n1);
    }
}

/* ------------------------------------------------------------ VNNI kernel */

#if defined(__AVX512F__) && defined(__AVX512VNNI__)
int xl_q8_has_vnni(void) { return 1; }

/* MR rows of x (<= 4) against NR rows of W (<= 2), over every block. Loops have
 * constant bounds once inlined, so the accumulators live in registers. */
static inline __attribute__((always_inline)) void vnni_block(const int MR, const int NR, const uint8_t *xq,
                                                             const float *sx, int nb, const xl_q8_matrix *W, int n,
                                                             float *y, size_t ldy, const float *bias) {
    const int Kp = W->Kp;
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
#pragma GCC unroll 2
        for (int s = 0; s < QB / 64; s++) {
            size_t k = (size_t)blk * QB + (size_t)s * 64;
            __m512i w[2];
#pragma GCC unroll 2
            for (int j = 0; j < NR; j++) w[j] = _mm512_load_si512((const void *)(W->q + (size_t)(n + j) * Kp + k));
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) {
                __m512i xi = _mm512_load_si512((const void *)(xq + (size_t)i * Kp + k));
#pragma GCC unroll 2
                for (int j = 0; j < NR; j++) d[i][j] = _mm512_dpbusd_epi32(d[i][j], xi, w[j]);
            }
        }
#pragma GCC unroll 2
        for (int j = 0; j < NR; j++) {
            __m512 sw = _mm512_set1_ps(W->scale[(size_t)(n + j) * nb + blk]);
            __m512 c = _mm512_set1_ps(W->corr[(size_t)(n + j) * nb + blk]);
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) {
                __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(d[i][j]), sw, c);
                acc[i][j] = _mm512_fmadd_ps(t, _mm512_set1_ps(sx[(size_t)i * nb + blk]), acc[i][j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
        for (int j = 0; j < NR; j++) y[(size_t)i * ldy + n + j] = _mm512_reduce_add_ps(acc[i][j]) + (bias ? bias[n + j] : 0.0f);
}

static void vnni_tile(const uint8_t *xq, const float *sx, int M, const xl_q8_matrix *W, const float *b, float *y, int n0,
                      int n1) {
    int Kp = W->Kp, nb = Kp / QB, N = W->N;
    int m = 0;
    for (; m + 4 <= M; m += 4) {
        const uint8_t *xm = xq + (size_t)m * Kp;
        const float *sm = sx + (size_t)m * nb;
        float *ym = y + (size_t)m * N;
        int n = n0;
        for (; n + 2 <= n1; n += 2) vnni_block(4, 2, xm, sm, nb, W, n, ym, (size_t)N, b);
        if (n < n1) vnni_block(4, 1, xm, sm, nb, W, n, ym, (size_t)N, b);
    }
    for (; m < M; m++) {
        const uint8_t *xm = xq + (size_t)m * Kp;
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
    uint8_t *xq;
    float *sx;
    split_work(work, M, K, &xq, &sx);
    quantize_activations(x, M, K, xq, sx, threads);
    int ntiles = (W->N + TILE_ROWS - 1) / TILE_ROWS;
#pragma omp parallel for num_threads(threads) schedule(static)
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
