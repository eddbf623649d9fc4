/* Linear layers over F16 / BF16 weights in place.
 *
 * Two kernels, both in one OpenMP region per call, each thread converting tiles of
 * weight rows to float32 in a private buffer that stays in L2 (so each weight is
 * converted once per call and read from the mapping once), and prefetching the next
 * tile's weights while it computes the current one (one short query would otherwise
 * wait on memory, then compute, in turn):
 *
 * - Batches (M >= SMALL_M rows): x is first packed, by all threads, into panels of 16
 *   rows stored k-major ([K][16]: one zmm per k). A micro-tile is 48 rows of x (three
 *   panels) by 8 weight rows: per k, three panel loads and eight weight values
 *   broadcast from the converted tile into 24 FMAs on 24 accumulators. That is
 *   FMA-bound with few loads (the dot-product form needs a load per FMA pair and a
 *   horizontal sum per output). The 48 x 8 result is written transposed into y. x is
 *   packed a chunk of rows at a time (CHUNK_BYTES), so the workspace stays bounded for
 *   long batches and the chunk stays in the last-level cache while every tile of
 *   weights passes over it. Measured on one Zen 4 core: 107 GFLOP/s of 117 (91 %).
 * - A few rows (M < SMALL_M, e.g. a one-word query): dot products of 4 rows of x
 *   against 4 rows of the tile (16 accumulators, horizontal sums at the end).
 *
 * AVX2 builds (16 ymm registers) use the same scheme with 8-row panels and a 16 x 6
 * micro-tile (12 accumulators; one core of an AVX-512 EPYC, built for AVX2: 106 GFLOP/s,
 * ~90 % of the AVX2 FMA rate, half the 237 GFLOP/s of its AVX-512 FMA loop), and for a
 * few rows multiply straight from the half-precision weights, converted in registers
 * (tile_dot_half).
 *
 * Why not convert chunks and call OpenBLAS: alternating OpenMP conversion with
 * OpenBLAS's own pthreads makes each side's idle threads spin against the other's on a
 * small machine (measured 3-20x slower than either alone). Float32 weights do go to the
 * shared sgemm. */
#include "kernels/linear_half.h"
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "kernels/kernels.h"
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#define TILE_BYTES (256u * 1024u) /* converted tile: a quarter of a 1 MiB L2 */
#define TILE_MAX_ROWS 64
#define PAR_MIN_MACS 262144.0 /* smaller products run on one thread */
#define SMALL_M 8                 /* fewer rows of x: the dot-product kernel */
#if defined(__AVX512F__) || !defined(__AVX2__)
#define MP 16                     /* rows of x per packed panel (one zmm) */
#define MV 3                      /* panels per micro-tile: 48 rows */
#define NRN 8                     /* weight rows per micro-tile */
#else
/* AVX2 has 16 ymm registers: 12 accumulators (16 rows x 6 weight rows), two panel
 * loads and a broadcast. 16 rows also fit a one-text query of 16 tokens exactly.
 * (24 rows x 4 weight rows measured half as fast: more loads per FMA.) */
#define MP 8
#define MV 2
#define NRN 6
#endif
#define CHUNK_BYTES (8u << 20)    /* packed rows of x per pass */
#define MAX_JOBS 8

/* Weight rows per tile: a multiple of NRN within TILE_BYTES, at least NRN. */
static int tile_rows(int K) {
    size_t rows = TILE_BYTES / ((size_t)K * sizeof(float));
    if (rows > TILE_MAX_ROWS) rows = TILE_MAX_ROWS;
    rows -= rows % NRN;
    return rows < NRN ? NRN : (int)rows;
}

/* Rows of x packed per pass: a multiple of MP * MV within CHUNK_BYTES, at least one
 * micro-tile, at most M rounded up to a panel. */
static int chunk_rows(int M, int K) {
    size_t rows = CHUNK_BYTES / ((size_t)K * sizeof(float));
    rows -= rows % (MP * MV);
    if (rows < MP * MV) rows = MP * MV;
    size_t m_up = ((size_t)M + MP - 1) / MP * MP;
    return (int)(rows < m_up ? rows : m_up);
}

size_t xl_linear_half_work(int M, int K, int threads) {
    if (M <= 0 || K <= 0) return 0;
    if (threads < 1) threads = 1;
    size_t tiles = (size_t)threads * (size_t)tile_rows(K) * (size_t)K;
    size_t packed = M >= SMALL_M ? (size_t)chunk_rows(M, K) * (size_t)K : 0;
    return tiles + packed + 16; /* + 16: room to align the panels to 64 bytes */
}

/* Asks for [p, p + n) to be brought into L2 ahead of its use. */
static void prefetch_bytes(const char *p, size_t n) {
#if defined(__AVX512F__) || defined(__AVX2__)
    for (size_t i = 0; i < n; i += 64) _mm_prefetch(p + i, _MM_HINT_T1);
#else
    (void)p;
    (void)n;
#endif
}

/* ------------------------------------------------------------ a few rows: dot products */

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
#elif defined(__AVX2__)
/* Lanes [0, n) of a ymm (n clipped to 0..8), for the masked loads of a row's tail. */
static inline __m256i lane_mask(int n) {
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* y[i][j] (i < 2, j < 4) = x_i · w_j over K: 8 accumulators, 4 weight and 2 x
 * registers (16 ymm in all: a 4 x 4 block would spill). */
static void dot2x4(const float *x, size_t ldx, const float *w, size_t ldw, int K, float *y, size_t ldy) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
    __m256 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 w0 = _mm256_loadu_ps(w + k), w1 = _mm256_loadu_ps(w + ldw + k);
        __m256 w2 = _mm256_loadu_ps(w + 2 * ldw + k), w3 = _mm256_loadu_ps(w + 3 * ldw + k);
        __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + ldx + k);
        c00 = _mm256_fmadd_ps(x0, w0, c00);
        c01 = _mm256_fmadd_ps(x0, w1, c01);
        c02 = _mm256_fmadd_ps(x0, w2, c02);
        c03 = _mm256_fmadd_ps(x0, w3, c03);
        c10 = _mm256_fmadd_ps(x1, w0, c10);
        c11 = _mm256_fmadd_ps(x1, w1, c11);
        c12 = _mm256_fmadd_ps(x1, w2, c12);
        c13 = _mm256_fmadd_ps(x1, w3, c13);
    }
    if (k < K) {
        __m256i m = lane_mask(K - k);
        __m256 w0 = _mm256_maskload_ps(w + k, m), w1 = _mm256_maskload_ps(w + ldw + k, m);
        __m256 w2 = _mm256_maskload_ps(w + 2 * ldw + k, m), w3 = _mm256_maskload_ps(w + 3 * ldw + k, m);
        __m256 x0 = _mm256_maskload_ps(x + k, m), x1 = _mm256_maskload_ps(x + ldx + k, m);
        c00 = _mm256_fmadd_ps(x0, w0, c00);
        c01 = _mm256_fmadd_ps(x0, w1, c01);
        c02 = _mm256_fmadd_ps(x0, w2, c02);
        c03 = _mm256_fmadd_ps(x0, w3, c03);
        c10 = _mm256_fmadd_ps(x1, w0, c10);
        c11 = _mm256_fmadd_ps(x1, w1, c11);
        c12 = _mm256_fmadd_ps(x1, w2, c12);
        c13 = _mm256_fmadd_ps(x1, w3, c13);
    }
    y[0] = hsum8(c00);
    y[1] = hsum8(c01);
    y[2] = hsum8(c02);
    y[3] = hsum8(c03);
    y += ldy;
    y[0] = hsum8(c10);
    y[1] = hsum8(c11);
    y[2] = hsum8(c12);
    y[3] = hsum8(c13);
}

static void dot4x4(const float *x, size_t ldx, const float *w, size_t ldw, int K, float *y, size_t ldy) {
    dot2x4(x, ldx, w, ldw, K, y, ldy);
    dot2x4(x + 2 * ldx, ldx, w, ldw, K, y + 2 * ldy, ldy);
}

/* Edge blocks: mr x nr with mr, nr <= 4, one row of x at a time. */
static void dot_edge(const float *x, size_t ldx, int mr, const float *w, size_t ldw, int nr, int K, float *y,
                     size_t ldy) {
    for (int i = 0; i < mr; i++) {
        __m256 c[4];
        for (int j = 0; j < 4; j++) c[j] = _mm256_setzero_ps();
        for (int k = 0; k < K; k += 8) {
            __m256i m = lane_mask(K - k);
            __m256 xi = _mm256_maskload_ps(x + i * ldx + k, m);
            for (int j = 0; j < nr; j++) c[j] = _mm256_fmadd_ps(xi, _mm256_maskload_ps(w + j * ldw + k, m), c[j]);
        }
        for (int j = 0; j < nr; j++) y[i * ldy + j] = hsum8(c[j]);
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

/* y[M][nr] (row stride ldy) = x · wtᵀ (+ b) for a converted tile wt[nr][K], M < SMALL_M;
 * prefetches `pf_n` bytes at pf over the column blocks. */
static void tile_dot(const float *x, int M, int K, const float *wt, int nr, float *y, size_t ldy, const float *b,
                     const char *pf, size_t pf_n) {
    int nblk = (nr + 3) / 4;
    size_t pf_step = pf_n / (size_t)nblk + 64;
    for (int j = 0; j < nr; j += 4) {
        if (pf && pf_n) {
            size_t n = pf_step < pf_n ? pf_step : pf_n;
            prefetch_bytes(pf, n);
            pf += n;
            pf_n -= n;
        }
        int jr = nr - j < 4 ? nr - j : 4, m = 0;
        if (jr == 4)
            for (; m + 4 <= M; m += 4) dot4x4(x + (size_t)m * K, (size_t)K, wt + (size_t)j * K, (size_t)K, K, y + (size_t)m * ldy + j, ldy);
        if (m < M)
            dot_edge(x + (size_t)m * K, (size_t)K, M - m, wt + (size_t)j * K, (size_t)K, jr, K, y + (size_t)m * ldy + j, ldy);
    }
    if (b)
        for (int m = 0; m < M; m++)
            for (int j = 0; j < nr; j++) y[(size_t)m * ldy + j] += b[j];
}

#if defined(__AVX2__) && !defined(__AVX512F__)
/* A few rows straight from the BF16 / F16 weights (AVX2): with M < 8 each converted
 * weight serves only a few rows, so converting in registers beats writing a float32
 * tile and reading it back (one core, 1024 -> 3072 BF16: 1 row 0.52 -> 0.16 ms, 4 rows
 * 0.66 -> 0.32 ms). The AVX-512 build keeps the tile. */

/* 8 weights at p as floats: BF16 is the top half of a float32; F16 through F16C. */
static inline __attribute__((always_inline)) __m256 half8(const uint16_t *p, const int f16) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
#ifdef __F16C__
    if (f16) return _mm256_cvtph_ps(h);
#else
    (void)f16;
#endif
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* y[i][j] (i < R <= 2, j < J <= 4) = x_i · w_j over K, w in half precision. */
static inline __attribute__((always_inline)) void hdot(const int R, const int J, const int f16, const float *x,
                                                       size_t ldx, const uint16_t *w, size_t ldw, int K, float *y,
                                                       size_t ldy) {
    __m256 c[2][4], wv[4];
#pragma GCC unroll 2
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < J; j++) c[i][j] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
#pragma GCC unroll 4
        for (int j = 0; j < J; j++) wv[j] = half8(w + j * ldw + k, f16);
#pragma GCC unroll 2
        for (int i = 0; i < R; i++) {
            __m256 xi = _mm256_loadu_ps(x + i * ldx + k);
#pragma GCC unroll 4
            for (int j = 0; j < J; j++) c[i][j] = _mm256_fmadd_ps(xi, wv[j], c[i][j]);
        }
    }
    if (k < K) { /* the tail through a zero-padded copy (zero halves are 0.0f) */
        uint16_t t[4][8] = {{0}};
        __m256i m = lane_mask(K - k);
#pragma GCC unroll 4
        for (int j = 0; j < J; j++) {
            memcpy(t[j], w + j * ldw + k, sizeof(uint16_t) * (size_t)(K - k));
            wv[j] = half8(t[j], f16);
        }
#pragma GCC unroll 2
        for (int i = 0; i < R; i++) {
            __m256 xi = _mm256_maskload_ps(x + i * ldx + k, m);
#pragma GCC unroll 4
            for (int j = 0; j < J; j++) c[i][j] = _mm256_fmadd_ps(xi, wv[j], c[i][j]);
        }
    }
#pragma GCC unroll 2
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < J; j++) y[i * ldy + j] = hsum8(c[i][j]);
}

static void hdot_any(int R, int J, int f16, const float *x, size_t ldx, const uint16_t *w, size_t ldw, int K, float *y,
                     size_t ldy) {
    if (f16) {
        if (R == 2) J == 4 ? hdot(2, 4, 1, x, ldx, w, ldw, K, y, ldy) : hdot(2, 1, 1, x, ldx, w, ldw, K, y, ldy);
        else J == 4 ? hdot(1, 4, 1, x, ldx, w, ldw, K, y, ldy) : hdot(1, 1, 1, x, ldx, w, ldw, K, y, ldy);
    } else {
        if (R == 2) J == 4 ? hdot(2, 4, 0, x, ldx, w, ldw, K, y, ldy) : hdot(2, 1, 0, x, ldx, w, ldw, K, y, ldy);
        else J == 4 ? hdot(1, 4, 0, x, ldx, w, ldw, K, y, ldy) : hdot(1, 1, 0, x, ldx, w, ldw, K, y, ldy);
    }
}

/* tile_dot for nr rows of half-precision weights w (BF16, or F16 when f16). */
static void tile_dot_half(const float *x, int M, int K, const uint16_t *w, int f16, int nr, float *y, size_t ldy,
                          const float *b, const char *pf, size_t pf_n) {
    int nblk = (nr + 3) / 4;
    size_t pf_step = pf_n / (size_t)nblk + 64;
    for (int j = 0; j < nr; j += 4) {
        if (pf && pf_n) {
            size_t n = pf_step < pf_n ? pf_step : pf_n;
            prefetch_bytes(pf, n);
            pf += n;
            pf_n -= n;
        }
        int jr = nr - j < 4 ? nr - j : 4;
        for (int m = 0; m < M; m += 2) {
            int r = M - m < 2 ? 1 : 2;
            const float *xm = x + (size_t)m * K;
            float *ym = y + (size_t)m * ldy + j;
            if (jr == 4) {
                hdot_any(r, 4, f16, xm, (size_t)K, w + (size_t)j * K, (size_t)K, K, ym, ldy);
            } else {
                for (int jj = 0; jj < jr; jj++)
                    hdot_any(r, 1, f16, xm, (size_t)K, w + (size_t)(j + jj) * K, (size_t)K, K, ym + jj, ldy);
            }
        }
    }
    if (b)
        for (int m = 0; m < M; m++)
            for (int j = 0; j < nr; j++) y[(size_t)m * ldy + j] += b[j];
}
#define XL_HALF_DIRECT 1
#ifdef __F16C__
#define XL_HAS_F16C 1
#else
#define XL_HAS_F16C 0
#endif
#endif

/* ------------------------------------------------------------ batches: packed x */

#ifdef __AVX512F__
/* 16 x 16 transpose: r[i] (row i, 16 floats) → r[j] = column j. */
static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    /* Each 128-bit lane now holds a 4 x 4 block; move the lanes into place. */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
    }
}
#elif defined(__AVX2__)
/* 8 x 8 transpose: r[i] (row i, 8 floats) → r[j] = column j. */
static inline void transpose8(__m256 r[8]) {
    __m256 t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    /* Each 128-bit lane now holds a 4 x 4 block; swap the off-diagonal lanes. */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
    }
    for (int i = 0; i < 8; i++) r[i] = t[i];
}
#endif

/* Panel p: xp[k][l] = x[p * MP + l][k] for the rows [0, rows) of x, zeros past them. */
static void pack_panel(const float *x, int rows, int K, float *xp, int p) {
    float *dst = xp + (size_t)p * K * MP;
    int m0 = p * MP, live = rows - m0 < MP ? rows - m0 : MP, k = 0;
#ifdef __AVX512F__
    for (; k + 16 <= K; k += 16) {
        __m512 r[16];
        for (int l = 0; l < MP; l++)
            r[l] = l < live ? _mm512_loadu_ps(x + (size_t)(m0 + l) * K + k) : _mm512_setzero_ps();
        transpose16(r);
        for (int i = 0; i < 16; i++) _mm512_store_ps(dst + (size_t)(k + i) * MP, r[i]);
    }
#elif defined(__AVX2__)
    for (; k + 8 <= K; k += 8) {
        __m256 r[8];
        for (int l = 0; l < MP; l++)
            r[l] = l < live ? _mm256_loadu_ps(x + (size_t)(m0 + l) * K + k) : _mm256_setzero_ps();
        transpose8(r);
        for (int i = 0; i < 8; i++) _mm256_store_ps(dst + (size_t)(k + i) * MP, r[i]);
    }
#endif
    for (; k < K; k++)
        for (int l = 0; l < MP; l++) dst[(size_t)k * MP + l] = l < live ? x[(size_t)(m0 + l) * K + k] : 0.0f;
}

#ifdef __AVX512F__
/* acc[j][v] = Σ_k xp[v][k][:] * w[j][k] for nv panels and nr weight rows; written to
 * t[j][v * MP + l]. Constant nv, nr once inlined: the accumulators stay in registers. */
static inline __attribute__((always_inline)) void micro(const int nv, const int nr, const float *xp, size_t xps,
                                                        const float *w, size_t ldw, int K, float *t, const char *pf,
                                                        int pf_every) {
    __m512 acc[NRN][MV];
    const float *wr[NRN];
#pragma GCC unroll 8
    for (int j = 0; j < nr; j++) {
        wr[j] = w + (size_t)j * ldw;
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) acc[j][v] = _mm512_setzero_ps();
    }
    const float *x0 = xp, *x1 = xp + xps, *x2 = xp + 2 * xps;
    int pf_count = pf_every;
    for (int k = 0; k < K; k++) {
        /* One line of the next tile every pf_every steps: spread out, the prefetches
         * overlap the weights' memory traffic with this tile's FMAs. */
        if (pf && --pf_count == 0) {
            _mm_prefetch(pf, _MM_HINT_T1);
            pf += 64;
            pf_count = pf_every;
        }
        __m512 xv[MV];
        xv[0] = _mm512_load_ps(x0 + (size_t)k * MP);
        if (nv > 1) xv[1] = _mm512_load_ps(x1 + (size_t)k * MP);
        if (nv > 2) xv[2] = _mm512_load_ps(x2 + (size_t)k * MP);
#pragma GCC unroll 8
        for (int j = 0; j < nr; j++) {
            __m512 b = _mm512_set1_ps(wr[j][k]);
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++) acc[j][v] = _mm512_fmadd_ps(xv[v], b, acc[j][v]);
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < nr; j++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) _mm512_storeu_ps(t + (size_t)j * MV * MP + (size_t)v * MP, acc[j][v]);
}

/* Edge micro-tiles (fewer than NRN weight rows): not unrolled, rare. */
static __attribute__((noinline)) void micro_edge(int nv, int nr, const float *xp, size_t xps, const float *w,
                                                 size_t ldw, int K, float *t) {
    for (int j = 0; j < nr; j++)
        for (int v = 0; v < nv; v++) {
            __m512 acc = _mm512_setzero_ps();
            const float *xv = xp + (size_t)v * xps, *wj = w + (size_t)j * ldw;
            for (int k = 0; k < K; k++) acc = _mm512_fmadd_ps(_mm512_load_ps(xv + (size_t)k * MP), _mm512_set1_ps(wj[k]), acc);
            _mm512_storeu_ps(t + (size_t)j * MV * MP + (size_t)v * MP, acc);
        }
}

static void micro_any(int nv, int nr, const float *xp, size_t xps, const float *w, size_t ldw, int K, float *t,
                      const char *pf, int pf_every) {
    if (nr == NRN) {
        if (nv == 3) micro(3, NRN, xp, xps, w, ldw, K, t, pf, pf_every);
        else if (nv == 2) micro(2, NRN, xp, xps, w, ldw, K, t, pf, pf_every);
        else micro(1, NRN, xp, xps, w, ldw, K, t, pf, pf_every);
    } else {
        micro_edge(nv, nr, xp, xps, w, ldw, K, t);
    }
}
#elif defined(__AVX2__)
/* As the AVX-512 micro-tile with ymm: 2 panels (16 rows) x 6 weight rows, 12
 * accumulators, per k 2 panel loads and 6 broadcasts into 12 FMAs. */
static inline __attribute__((always_inline)) void micro(const int nv, const int nr, const float *xp, size_t xps,
                                                        const float *w, size_t ldw, int K, float *t, const char *pf,
                                                        int pf_every) {
    __m256 acc[NRN][MV];
    const float *wr[NRN];
#pragma GCC unroll 6
    for (int j = 0; j < nr; j++) {
        wr[j] = w + (size_t)j * ldw;
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++) acc[j][v] = _mm256_setzero_ps();
    }
    int pf_count = pf_every;
    for (int k = 0; k < K; k++) {
        if (pf && --pf_count == 0) {
            _mm_prefetch(pf, _MM_HINT_T1);
            pf += 64;
            pf_count = pf_every;
        }
        __m256 xv[MV];
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) xv[v] = _mm256_load_ps(xp + (size_t)v * xps + (size_t)k * MP);
#pragma GCC unroll 6
        for (int j = 0; j < nr; j++) {
            __m256 b = _mm256_broadcast_ss(wr[j] + k);
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++) acc[j][v] = _mm256_fmadd_ps(xv[v], b, acc[j][v]);
        }
    }
#pragma GCC unroll 6
    for (int j = 0; j < nr; j++)
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++) _mm256_storeu_ps(t + (size_t)j * MV * MP + (size_t)v * MP, acc[j][v]);
}

/* Edge micro-tiles (fewer than NRN weight rows): two weight rows at a time. */
static __attribute__((noinline)) void micro_edge(int nv, int nr, const float *xp, size_t xps, const float *w,
                                                 size_t ldw, int K, float *t) {
    for (int v = 0; v < nv; v++) {
        const float *xv = xp + (size_t)v * xps;
        int j = 0;
        for (; j + 2 <= nr; j += 2) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
            const float *w0 = w + (size_t)j * ldw, *w1 = w0 + ldw;
            int k = 0;
            /* two partial sums per output: the FMA latency, not its rate, bounds one chain */
            for (; k + 2 <= K; k += 2) {
                __m256 xa = _mm256_load_ps(xv + (size_t)k * MP), xb = _mm256_load_ps(xv + (size_t)(k + 1) * MP);
                a0 = _mm256_fmadd_ps(xa, _mm256_broadcast_ss(w0 + k), a0);
                a1 = _mm256_fmadd_ps(xa, _mm256_broadcast_ss(w1 + k), a1);
                b0 = _mm256_fmadd_ps(xb, _mm256_broadcast_ss(w0 + k + 1), b0);
                b1 = _mm256_fmadd_ps(xb, _mm256_broadcast_ss(w1 + k + 1), b1);
            }
            for (; k < K; k++) {
                __m256 xa = _mm256_load_ps(xv + (size_t)k * MP);
                a0 = _mm256_fmadd_ps(xa, _mm256_broadcast_ss(w0 + k), a0);
                a1 = _mm256_fmadd_ps(xa, _mm256_broadcast_ss(w1 + k), a1);
            }
            _mm256_storeu_ps(t + (size_t)j * MV * MP + (size_t)v * MP, _mm256_add_ps(a0, b0));
            _mm256_storeu_ps(t + (size_t)(j + 1) * MV * MP + (size_t)v * MP, _mm256_add_ps(a1, b1));
        }
        for (; j < nr; j++) {
            __m256 a0 = _mm256_setzero_ps();
            const float *wj = w + (size_t)j * ldw;
            for (int k = 0; k < K; k++) a0 = _mm256_fmadd_ps(_mm256_load_ps(xv + (size_t)k * MP), _mm256_broadcast_ss(wj + k), a0);
            _mm256_storeu_ps(t + (size_t)j * MV * MP + (size_t)v * MP, a0);
        }
    }
}

static void micro_any(int nv, int nr, const float *xp, size_t xps, const float *w, size_t ldw, int K, float *t,
                      const char *pf, int pf_every) {
    if (nr == NRN) {
        if (nv == 2) micro(2, NRN, xp, xps, w, ldw, K, t, pf, pf_every);
        else micro(1, NRN, xp, xps, w, ldw, K, t, pf, pf_every);
    } else {
        micro_edge(nv, nr, xp, xps, w, ldw, K, t);
    }
}
#else
static void micro_any(int nv, int nr, const float *xp, size_t xps, const float *w, size_t ldw, int K, float *t,
                      const char *pf, int pf_every) {
    (void)pf;
    (void)pf_every;
    for (int j = 0; j < nr; j++)
        for (int v = 0; v < nv; v++)
            for (int l = 0; l < MP; l++) {
                float s = 0.0f;
                for (int k = 0; k < K; k++) s += xp[(size_t)v * xps + (size_t)k * MP + l] * w[(size_t)j * ldw + k];
                t[(size_t)j * MV * MP + (size_t)v * MP + l] = s;
            }
}
#endif

/* y[m][j] (+ b[j]) for m < rows, j < nr, from the micro-tile result t[j][m]. */
static void store_tile(const float *t, int rows, int nr, float *y, size_t ldy, const float *b) {
    for (int m = 0; m < rows; m++) {
        float *ym = y + (size_t)m * ldy;
        for (int j = 0; j < nr; j++) ym[j] = t[(size_t)j * MV * MP + m] + (b ? b[j] : 0.0f);
    }
}

/* One tile of nr converted weight rows wt against the packed chunk of `rows` rows of
 * x; y and b already point at the tile's first column and the chunk's first row.
 * Prefetches pf_n bytes at pf, spread over the micro-tiles. */
static void tile_packed(const float *xp, int rows, int K, const float *wt, int nr, float *y, size_t ldy,
                        const float *b, const char *pf, size_t pf_n) {
    float t[NRN * MV * MP] __attribute__((aligned(64)));
    int np = (rows + MP - 1) / MP;
    size_t xps = (size_t)K * MP;
    /* The next tile's bytes, shared evenly among the micro-tiles: each prefetches its
     * share one line every pf_every of its K steps. */
    size_t calls = (size_t)((np + MV - 1) / MV) * (size_t)((nr + NRN - 1) / NRN);
    size_t share = (pf_n / calls + 63) & ~(size_t)63, lines = share / 64;
    int pf_every = lines ? (int)((size_t)K / lines > 0 ? (size_t)K / lines : 1) : 0;
    for (int p = 0; p < np; p += MV) {
        int nv = np - p < MV ? np - p : MV, mrows = rows - p * MP < MV * MP ? rows - p * MP : MV * MP;
        for (int j = 0; j < nr; j += NRN) {
            const char *pf_call = NULL;
            if (pf && pf_n && pf_every) {
                size_t n = share < pf_n ? share : pf_n;
                /* what the k loop cannot cover (K < lines) goes at once */
                if ((size_t)K < lines) prefetch_bytes(pf + (size_t)K * 64, n > (size_t)K * 64 ? n - (size_t)K * 64 : 0);
                pf_call = pf;
                pf += n;
                pf_n -= n;
            }
            int jr = nr - j < NRN ? nr - j : NRN;
            micro_any(nv, jr, xp + (size_t)p * xps, xps, wt + (size_t)j * K, (size_t)K, K, t, pf_call, pf_every);
            if (pf_call && jr < NRN) prefetch_bytes(pf_call, share); /* the edge kernel does not prefetch */
            store_tile(t, mrows, jr, y + (size_t)p * MP * ldy + j, ldy, b ? b + j : NULL);
        }
    }
}

/* ------------------------------------------------------------ driver */

/* Where global tile g of the jobs lives: job *j, first row *n0, *nr rows. */
static void locate(const xl_half_job *jobs, const int *first, int n_jobs, int nt, int g, int *j, int *n0, int *nr) {
    int k = 0;
    while (k + 1 < n_jobs && g >= first[k + 1]) k++;
    *j = k;
    *n0 = (g - first[k]) * nt;
    *nr = jobs[k].N - *n0 < nt ? jobs[k].N - *n0 : nt;
}

static void run_half(const float *x, int M, int K, const xl_half_job *jobs, int n_jobs, float *work, int threads) {
    const int nt = tile_rows(K);
    int first[MAX_JOBS + 1], ntiles = 0;
    double macs = 0;
    for (int j = 0; j < n_jobs; j++) {
        first[j] = ntiles;
        ntiles += (jobs[j].N + nt - 1) / nt;
        macs += (double)M * jobs[j].N * K;
    }
    first[n_jobs] = ntiles;
    if (threads < 1) threads = 1;
    if (threads > ntiles) threads = ntiles;
    const int packed = M >= SMALL_M, mc = packed ? chunk_rows(M, K) : 0;
    /* Panels first (64-byte aligned for the zmm loads), then one tile per thread. */
    float *xp = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    float *tiles = packed ? xp + (size_t)mc * K : xp;
#pragma omp parallel num_threads(threads) if (threads > 1 && macs >= PAR_MIN_MACS)
    {
        int me = 0, nth = 1;
#ifdef _OPENMP
        me = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        float *wt = tiles + (size_t)me * nt * K;
        /* Contiguous blocks of tiles per thread (as schedule(static)), so each thread
         * knows its next tile and can prefetch it. */
        int lo = (int)((long long)ntiles * me / nth), hi = (int)((long long)ntiles * (me + 1) / nth);
        for (int c0 = 0; c0 < (packed ? M : 1); c0 += (packed ? mc : 1)) {
            int rows = packed ? (M - c0 < mc ? M - c0 : mc) : M;
            if (packed) {
                int np = (rows + MP - 1) / MP;
#pragma omp for schedule(static)
                for (int p = 0; p < np; p++) pack_panel(x + (size_t)c0 * K, rows, K, xp, p);
                /* (the workshare's barrier: the chunk is packed before any tile reads it) */
            }
            for (int g = lo; g < hi; g++) {
                int j, n0, nr;
                locate(jobs, first, n_jobs, nt, g, &j, &n0, &nr);
                const xl_half_job *jb = &jobs[j];
                size_t elt = xl_dtype_size(jb->dt);
                const char *pf = NULL;
                size_t pf_n = 0;
                if (g + 1 < hi) {
                    int j2, n2, nr2;
                    locate(jobs, first, n_jobs, nt, g + 1, &j2, &n2, &nr2);
                    pf = (const char *)jobs[j2].W + (size_t)n2 * K * xl_dtype_size(jobs[j2].dt);
                    pf_n = (size_t)nr2 * K * xl_dtype_size(jobs[j2].dt);
                }
                const float *b = jb->b ? jb->b + n0 : NULL;
#ifdef XL_HALF_DIRECT
                if (!packed && (jb->dt == XL_DT_BF16 || (jb->dt == XL_DT_F16 && XL_HAS_F16C))) {
                    tile_dot_half(x, M, K, (const uint16_t *)jb->W + (size_t)n0 * K, jb->dt == XL_DT_F16, nr, jb->y + n0,
                                  (size_t)jb->N, b, pf, pf_n);
                    continue;
                }
#endif
                xl_convert_to_f32(jb->dt, (const char *)jb->W + (size_t)n0 * K * elt, wt, (size_t)nr * K);
                if (packed)
                    tile_packed(xp, rows, K, wt, nr, jb->y + (size_t)c0 * jb->N + n0, (size_t)jb->N, b, pf, pf_n);
                else
                    tile_dot(x, M, K, wt, nr, jb->y + n0, (size_t)jb->N, b, pf, pf_n);
            }
            if (packed) {
#pragma omp barrier
                /* (every tile is done before the next chunk replaces the panels) */
            }
        }
    }
}

void xl_linear_half_multi(const float *x, int M, int K, const xl_half_job *jobs, int n_jobs, float *work,
                          int threads) {
    if (M <= 0 || n_jobs <= 0) return;
    /* Float32 weights go to the shared sgemm; empty products are just the bias. */
    xl_half_job half[MAX_JOBS];
    int nh = 0;
    for (int j = 0; j < n_jobs; j++) {
        const xl_half_job *jb = &jobs[j];
        if (jb->N <= 0) continue;
        if (jb->dt == XL_DT_F32) {
            xl_linear_f32(x, M, K, (const float *)jb->W, jb->N, jb->b, jb->y, threads);
        } else if (K <= 0) {
            for (int m = 0; m < M; m++)
                for (int n = 0; n < jb->N; n++) jb->y[(size_t)m * jb->N + n] = jb->b ? jb->b[n] : 0.0f;
        } else {
            if (nh == MAX_JOBS) {
                run_half(x, M, K, half, nh, work, threads);
                nh = 0;
            }
            half[nh++] = *jb;
        }
    }
    if (nh) run_half(x, M, K, half, nh, work, threads);
}

void xl_linear_half(const float *x, int M, int K, const void *W, xl_dtype dt, int N, const float *b, float *y,
                    float *work, int threads) {
    xl_half_job job = {.W = W, .dt = dt, .N = N, .b = b, .y = y};
    xl_linear_half_multi(x, M, K, &job, 1, work, threads);
}
