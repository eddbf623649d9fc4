/* Linear layers over F16 / BF16 weights in place.
 *
 * One OpenMP region: each thread takes tiles of NT weight rows, converts its tile to
 * float32 into a private buffer sized to stay in L2 (each weight is converted once per
 * call), then computes y[:, tile] = x · tileᵀ with a register-blocked dot-product kernel
 * (4 rows of x × 4 rows of the tile, 16 accumulators over K, horizontal sums at the end).
 * Both operands are K-contiguous, so nothing is transposed or packed.
 *
 * Why not convert chunks and call OpenBLAS: alternating OpenMP conversion with
 * OpenBLAS's own pthreads makes each side's idle threads spin against the other's on a
 * small machine (measured 3-20x slower than either alone). Float32 weights do go to the
 * shared sgemm. */
#include "kernels/linear_half.h"
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "kernels/kernels.h"
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define TILE_BYTES (512u * 1024u) /* converted tile: half of a 1 MiB L2 */
#define TILE_MAX_ROWS 64
#define PAR_MIN_MACS 262144.0 /* smaller products run on one thread */

/* Weight rows per tile: a multiple of 4, within TILE_BYTES, at least 4. */
static int tile_rows(int K) {
    size_t rows = TILE_BYTES / ((size_t)K * sizeof(float));
    if (rows > TILE_MAX_ROWS) rows = TILE_MAX_ROWS;
    rows &= ~(size_t)3;
    return rows < 4 ? 4 : (int)rows;
}

/* Threads actually used: no more than there are tiles. */
static int used_threads(int N, int K, int threads) {
    int nt = tile_rows(K), ntiles = (N + nt - 1) / nt;
    if (threads < 1) threads = 1;
    return threads < ntiles ? threads : ntiles;
}

size_t xl_linear_half_work(xl_dtype dt, int N, int K, int threads) {
    if (dt == XL_DT_F32 || N <= 0 || K <= 0) return 0;
    return (size_t)used_threads(N, K, threads) * (size_t)tile_rows(K) * (size_t)K;
}

#ifdef __AVX512F__
static inline __mmask16 kmask(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u); }

/* One step of the 4x4 block: rows x0..x3 against w0..w3 (named accumulators, so
 * they stay in registers). */
#define XL_DOT_ROW(c0, c1, c2, c3, xi)            \
    do {                                          \
        c0 = _mm512_fmadd_ps(xi, w0, c0);         \
        c1 = _mm512_fmadd_ps(xi, w1, c1);         \
        c2 = _mm512_fmadd_ps(xi, w2, c2);         \
        c3 = _mm512_fmadd_ps(xi, w3, c3);         \
    } while (0)

/* y[i][j] (i, j < 4) = x_i · w_j over K. */
static void dot4x4(const float *x, size_t ldx, const float *w, size_t ldw, int K, float *y, size_t ldy) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    __m512 c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    for (int k = 0; k < K; k += 16) {
        __mmask16 m = kmask(K - k);
        __m512 w0 = _mm512_maskz_loadu_ps(m, w + k), w1 = _mm512_maskz_loadu_ps(m, w + ldw + k);
        __m512 w2 = _mm512_maskz_loadu_ps(m, w + 2 * ldw + k), w3 = _mm512_maskz_loadu_ps(m, w + 3 * ldw + k);
        __m512 x0 = _mm512_maskz_loadu_ps(m, x + k), x1 = _mm512_maskz_loadu_ps(m, x + ldx + k);
        XL_DOT_ROW(c00, c01, c02, c03, x0);
        XL_DOT_ROW(c10, c11, c12, c13, x1);
        __m512 x2 = _mm512_maskz_loadu_ps(m, x + 2 * ldx + k), x3 = _mm512_maskz_loadu_ps(m, x + 3 * ldx + k);
        XL_DOT_ROW(c20, c21, c22, c23, x2);
        XL_DOT_ROW(c30, c31, c32, c33, x3);
    }
    y[0] = _mm512_reduce_add_ps(c00);
    y[1] = _mm512_reduce_add_ps(c01);
    y[2] = _mm512_reduce_add_ps(c02);
    y[3] = _mm512_reduce_add_ps(c03);
    y += ldy;
    y[0] = _mm512_reduce_add_ps(c10);
    y[1] = _mm512_reduce_add_ps(c11);
    y[2] = _mm512_reduce_add_ps(c12);
    y[3] = _mm512_reduce_add_ps(c13);
    y += ldy;
    y[0] = _mm512_reduce_add_ps(c20);
    y[1] = _mm512_reduce_add_ps(c21);
    y[2] = _mm512_reduce_add_ps(c22);
    y[3] = _mm512_reduce_add_ps(c23);
    y += ldy;
    y[0] = _mm512_reduce_add_ps(c30);
    y[1] = _mm512_reduce_add_ps(c31);
    y[2] = _mm512_reduce_add_ps(c32);
    y[3] = _mm512_reduce_add_ps(c33);
}

/* Edge blocks: mr x nr with mr, nr <= 4, one row of x at a time. */
static void dot_edge(const float *x, size_t ldx, int mr, const float *w, size_t ldw, int nr, int K, float *y,
                     size_t ldy) {
    for (int i = 0; i < mr; i++) {
        __m512 c[4];
        for (int j = 0; j < 4; j++) c[j] = _mm512_setzero_ps();
        for (int k = 0; k < K; k += 16) {
            __mmask16 m = kmask(K - k);
            __m512 xi = _mm512_maskz_loadu_ps(m, x + i * ldx + k);
            for (int j = 0; j < nr; j++) c[j] = _mm512_fmadd_ps(xi, _mm512_maskz_loadu_ps(m, w + j * ldw + k), c[j]);
        }
        for (int j = 0; j < nr; j++) y[i * ldy + j] = _mm512_reduce_add_ps(c[j]);
    }
}
#else
static void dot_edge(const float *x, size_t ldx, int mr, const float *w, size_t ldw, int nr, int K, float *y,
                     size_t ldy) {
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) s += x[i * ldx + k] * w[j * ldw + k];
            y[i * ldy + j] = s;
        }
}

static void dot4x4(const float *x, size_t ldx, const float *w, size_t ldw, int K, float *y, size_t ldy) {
    dot_edge(x, ldx, 4, w, ldw, 4, K, y, ldy);
}
#endif

/* y[M][nr] (row stride ldy) = x · wtᵀ for a converted tile wt[nr][K]. */
static void tile_product(const float *x, int M, int K, const float *wt, int nr, float *y, size_t ldy) {
    int m = 0;
    for (; m + 4 <= M; m += 4) {
        const float *xm = x + (size_t)m * K;
        int j = 0;
        for (; j + 4 <= nr; j += 4) dot4x4(xm, (size_t)K, wt + (size_t)j * K, (size_t)K, K, y + (size_t)m * ldy + j, ldy);
        if (j < nr) dot_edge(xm, (size_t)K, 4, wt + (size_t)j * K, (size_t)K, nr - j, K, y + (size_t)m * ldy + j, ldy);
    }
    if (m < M)
        for (int j = 0; j < nr; j += 4)
            dot_edge(x + (size_t)m * K, (size_t)K, M - m, wt + (size_t)j * K, (size_t)K, nr - j < 4 ? nr - j : 4, K,
                     y + (size_t)m * ldy + j, ldy);
}

void xl_linear_half(const float *x, int M, int K, const void *W, xl_dtype dt, int N, const float *b, float *y,
                    float *work, int threads) {
    if (M <= 0 || N <= 0) return;
    if (dt == XL_DT_F32) {
        xl_linear_f32(x, M, K, (const float *)W, N, b, y, threads);
        return;
    }
    if (K <= 0) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) y[(size_t)m * N + n] = b ? b[n] : 0.0f;
        return;
    }
    const size_t elt = xl_dtype_size(dt);
    const int nt = tile_rows(K), ntiles = (N + nt - 1) / nt;
    threads = used_threads(N, K, threads);
#pragma omp parallel num_threads(threads) if (threads > 1 && (double)M * N * K >= PAR_MIN_MACS)
    {
        int me = 0;
#ifdef _OPENMP
        me = omp_get_thread_num();
#endif
        float *wt = work + (size_t)me * nt * K;
#pragma omp for schedule(static)
        for (int t = 0; t < ntiles; t++) {
            int n0 = t * nt, nr = N - n0 < nt ? N - n0 : nt;
            xl_convert_to_f32(dt, (const char *)W + (size_t)n0 * K * elt, wt, (size_t)nr * K);
            tile_product(x, M, K, wt, nr, y + n0, (size_t)N);
            if (b)
                for (int m = 0; m < M; m++)
                    for (int j = 0; j < nr; j++) y[(size_t)m * N + n0 + j] += b[n0 + j];
        }
    }
}
