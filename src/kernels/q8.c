/* Block int8 linear layers: see q8.h for the format and the kernels. */
#include "kernels/q8.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "util/error.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* Which kernel set this build runs: Q8_ZMM (AVX-512 VNNI) or Q8_YMM (AVX2, with
 * AVX-VNNI's VEX vpdpwssd where the build has it, else vpmaddwd + vpaddd); neither:
 * the portable loops. */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define Q8_ZMM 1
#elif defined(__AVX2__)
#define Q8_YMM 1
#endif

#define QB XL_Q8_BLOCK
#define TILE_ROWS 16       /* weight rows per parallel task of the few-rows kernel */
#define PAR_MIN 262144.0   /* smaller jobs (values or multiply-adds) run on one thread */
#define SMALL_M 8          /* fewer rows: the few-rows kernel */
#ifdef Q8_YMM
/* 16 ymm registers: 12 int32 accumulators (16 rows x 6 weight rows), two panel loads,
 * a broadcast and a product. */
#define MP 8
#define MV 2
#define NRN 6
#else
#define MP 16              /* rows per activation panel (one zmm of int32 pairs) */
#define MV 3               /* panels per micro-tile: 48 rows */
#define NRN 8              /* weight rows per micro-tile */
#endif
#define WTILE_BYTES (192u * 1024u) /* widened int16 weight tile per thread */
#define WTILE_MAX_ROWS 64
#define CHUNK_BYTES (4u << 20)     /* quantized activations per pass */

static int padded(int K) { return (K + QB - 1) / QB * QB; }

/* ------------------------------------------------------------ block quantization */

#if defined(__AVX2__) && !defined(__AVX512F__)
/* Lanes [0, n) of a ymm (n clipped to 0..8), for the masked loads of a block's tail. */
static inline __m256i lane_mask(int n) {
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* round-to-nearest-even of v[k] * inv for 8 lanes (zeros past n), clamped to +-qmax */
static inline __m256i quant8(const float *v, int left, __m256 vinv, int qmax) {
    __m256i r = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_maskload_ps(v, lane_mask(left)), vinv));
    return _mm256_min_epi32(_mm256_max_epi32(r, _mm256_set1_epi32(-qmax)), _mm256_set1_epi32(qmax));
}
#endif

/* max |v[k]| over a block of n <= QB values. */
static float block_amax(const float *v, int n) {
#ifdef __AVX512F__
    __m512 a = _mm512_setzero_ps();
    for (int k = 0; k < n; k += 16) {
        int left = n - k;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
        a = _mm512_max_ps(a, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, v + k)));
    }
    return _mm512_reduce_max_ps(a);
#elif defined(__AVX2__)
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 a = _mm256_setzero_ps();
    for (int k = 0; k < n; k += 8)
        a = _mm256_max_ps(a, _mm256_and_ps(_mm256_maskload_ps(v + k, lane_mask(n - k)), abs_mask));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
#else
    float amax = 0.0f;
    for (int k = 0; k < n; k++) amax = fmaxf(amax, fabsf(v[k]));
    return amax;
#endif
}

/* q[0..QB) = round(v[k] / s) clamped to [-qmax, qmax] (zeros past n), s = max|v| / qmax;
 * returns s. Rounding is to nearest even (lrintf under the default mode, and the
 * vector conversion under the default MXCSR), so both paths give the same integers. */
static float quantize_block_i8(const float *v, int n, int8_t *q) {
    float amax = block_amax(v, n);
#ifdef __AVX512F__
    float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    const __m512 vinv = _mm512_set1_ps(inv);
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    for (int k = 0; k < QB; k += 16) {
        int left = n - k;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1u) : 0;
        __m512i r = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, v + k), vinv));
        r = _mm512_min_epi32(_mm512_max_epi32(r, lo), hi);
        _mm_storeu_si128((__m128i *)(q + k), _mm512_cvtepi32_epi8(r));
    }
#elif defined(__AVX2__)
    float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    const __m256 vinv = _mm256_set1_ps(inv);
    for (int k = 0; k < QB; k += 32) {
        /* packs interleave the 128-bit lanes: the permute puts the 32 bytes in order */
        __m256i a = _mm256_packs_epi32(quant8(v + k, n - k, vinv, 127), quant8(v + k + 8, n - k - 8, vinv, 127));
        __m256i b = _mm256_packs_epi32(quant8(v + k + 16, n - k - 16, vinv, 127), quant8(v + k + 24, n - k - 24, vinv, 127));
        __m256i r = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + k), r);
    }
#else
    float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int k = 0; k < n; k++) {
        long r = lrintf(v[k] * inv);
        q[k] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
    }
    for (int k = n; k < QB; k++) q[k] = 0;
#endif
    return amax / 127.0f;
}

/* The same with int16 values in [-32767, 32767] (activations). */
static float quantize_block_i16(const float *v, int n, int16_t *q) {
    float amax = block_amax(v, n);
#ifdef __AVX512F__
    float inv = amax > 0.0f ? 32767.0f / amax : 0.0f;
    const __m512 vinv = _mm512_set1_ps(inv);
    const __m512i lo = _mm512_set1_epi32(-32767), hi = _mm512_set1_epi32(32767);
    for (int k = 0; k < QB; k += 16) {
        int left = n - k;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1u) : 0;
        __m512i r = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, v + k), vinv));
        r = _mm512_min_epi32(_mm512_max_epi32(r, lo), hi);
        _mm256_storeu_si256((__m256i *)(q + k), _mm512_cvtepi32_epi16(r));
    }
#elif defined(__AVX2__)
    float inv = amax > 0.0f ? 32767.0f / amax : 0.0f;
    const __m256 vinv = _mm256_set1_ps(inv);
    for (int k = 0; k < QB; k += 16) {
        __m256i r = _mm256_packs_epi32(quant8(v + k, n - k, vinv, 32767), quant8(v + k + 8, n - k - 8, vinv, 32767));
        _mm256_storeu_si256((__m256i *)(q + k), _mm256_permute4x64_epi64(r, 0xD8));
    }
#else
    float inv = amax > 0.0f ? 32767.0f / amax : 0.0f;
    for (int k = 0; k < n; k++) {
        long r = lrintf(v[k] * inv);
        q[k] = (int16_t)(r > 32767 ? 32767 : r < -32767 ? -32767 : r);
    }
    for (int k = n; k < QB; k++) q[k] = 0;
#endif
    return amax / 32767.0f;
}

/* A row of K values → Kp int16 values and Kp / QB scales. */
static void quantize_row_i16(const float *x, int K, int16_t *q, float *s) {
    int nb = padded(K) / QB;
    for (int b = 0; b < nb; b++) {
        int k0 = b * QB, cnt = K - k0 < QB ? K - k0 : QB;
        s[b] = quantize_block_i16(x + k0, cnt, q + k0);
    }
}

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
                out->scale[(size_t)n * nb + b] = quantize_block_i8(row + k0, cnt, q + k0);
            }
        }
    }
    free(rows);
    return XL_OK;
}

/* ------------------------------------------------------------ workspace */

/* Weight rows per widened tile: a multiple of NRN within WTILE_BYTES. */
static int wtile_rows(int Kp) {
    size_t rows = WTILE_BYTES / ((size_t)Kp * sizeof(int16_t));
    if (rows > WTILE_MAX_ROWS) rows = WTILE_MAX_ROWS;
    rows -= rows % NRN;
    return rows < NRN ? NRN : (int)rows;
}

/* Rows of activations quantized per pass: a multiple of MP * MV within CHUNK_BYTES,
 * at most M rounded up to a panel. */
static int chunk_rows(int M, int Kp) {
    size_t rows = CHUNK_BYTES / ((size_t)Kp * sizeof(int16_t));
    rows -= rows % (MP * MV);
    if (rows < MP * MV) rows = MP * MV;
    size_t m_up = ((size_t)M + MP - 1) / MP * MP;
    return (int)(rows < m_up ? rows : m_up);
}

static int uses_panels(int M) {
#if defined(Q8_ZMM) || defined(Q8_YMM)
    return M >= SMALL_M;
#else
    (void)M;
    return 0;
#endif
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t xl_q8_work_rows(int M, int K) {
    if (M <= 0 || K <= 0) return 64;
    size_t Kp = (size_t)padded(K), nb = Kp / QB;
    return 64 + align64((size_t)M * Kp * sizeof(int16_t)) + sizeof(float) * (size_t)M * nb;
}

/* Per thread, for the panels: 16 quantized rows with their scales, and a tile. */
static size_t rowbuf_bytes(int Kp) { return align64((size_t)MP * Kp * sizeof(int16_t) + (size_t)MP * (Kp / QB) * sizeof(float)); }

size_t xl_q8_work(int M, int K, int threads) {
    if (M <= 0 || K <= 0) return 64;
    if (!uses_panels(M)) return xl_q8_work_rows(M, K);
    if (threads < 1) threads = 1;
    size_t Kp = (size_t)padded(K), nb = Kp / QB, mc = (size_t)chunk_rows(M, (int)Kp);
    size_t panels = align64(mc * Kp * sizeof(int16_t)) + align64(mc * nb * sizeof(float));
    size_t tile = align64((size_t)wtile_rows((int)Kp) * Kp * sizeof(int16_t));
    return 64 + panels + (size_t)threads * (rowbuf_bytes((int)Kp) + tile);
}

/* ------------------------------------------------------------ row-major activations */

/* xq[M][Kp] int16 values, sx[M][nb] scales; xq 64-byte aligned inside work. */
static void rows_layout(void *work, int M, int Kp, int16_t **xq, float **sx) {
    *xq = (int16_t *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    *sx = (float *)((char *)*xq + align64((size_t)M * Kp * sizeof(int16_t)));
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
    int Kp = padded(K), nb = Kp / QB;
    int16_t *xq;
    float *sx;
    rows_layout(work, M, Kp, &xq, &sx);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && (double)M * K * 16 >= PAR_MIN)
    for (int m = 0; m < M; m++) quantize_row_i16(x + (size_t)m * K, K, xq + (size_t)m * Kp, sx + (size_t)m * nb);
    int ntiles = (W->N + TILE_ROWS - 1) / TILE_ROWS;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && (double)M * W->N * W->Kp >= PAR_MIN)
    for (int t = 0; t < ntiles; t++) {
        int n0 = t * TILE_ROWS, n1 = n0 + TILE_ROWS < W->N ? n0 + TILE_ROWS : W->N;
        portable_rows(xq, sx, M, W, b, y, n0, n1);
    }
}

/* ------------------------------------------------------------ SIMD kernels */

#if defined(Q8_ZMM) || defined(Q8_YMM)
int xl_q8_has_vnni(void) {
#if defined(Q8_ZMM) || defined(__AVXVNNI__)
    return 1;
#else
    return 0;
#endif
}

/* k steps (pairs) of a row of nb blocks. */
static int Kp_steps(int nb) { return nb * (QB / 2); }

static void prefetch_bytes(const int8_t *p, size_t n) {
    for (size_t i = 0; i < n; i += 64) _mm_prefetch((const char *)p + i, _MM_HINT_T1);
}
#endif

#ifdef Q8_ZMM

/* ---- a few rows: dot products against int8 weight rows ---- */

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

/* Weight rows [n0, n1) of W against the M quantized rows. */
static void rows_tile(const int16_t *xq, const float *sx, int M, const xl_q8_matrix *W, const float *b, float *y, int n0,
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

/* ---- batches: activation panels against widened weight tiles ---- */

/* 16 x 16 transpose of 32-bit elements: r[i] (row i) → r[j] = column j. */
static inline void transpose16(__m512i ri[16]) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_castsi512_ps(ri[i]);
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
    for (int i = 0; i < 16; i++) ri[i] = _mm512_castps_si512(r[i]);
}

/* Panel p of the chunk: xp[p][kp][l] = the int16 pair (x[k], x[k+1]) of row p*MP + l at
 * k = 2 kp, as one int32; sp[p][blk][l] its scales. Rows past `rows` are zeros. rq, rs:
 * room for MP quantized rows and their scales. */
static void pack_panel(const float *x, int rows, int K, int p, uint32_t *xp, float *sp, int16_t *rq, float *rs) {
    int Kp = padded(K), nb = Kp / QB, kp2 = Kp / 2;
    int m0 = p * MP, live = rows - m0 < MP ? rows - m0 : MP;
    uint32_t *dst = xp + (size_t)p * kp2 * MP;
    float *sdst = sp + (size_t)p * nb * MP;
    for (int l = 0; l < live; l++) quantize_row_i16(x + (size_t)(m0 + l) * K, K, rq + (size_t)l * Kp, rs + (size_t)l * nb);
    /* kp2 is a multiple of 64: whole 16 x 16 blocks. */
    for (int k = 0; k < kp2; k += 16) {
        __m512i r[16];
        for (int l = 0; l < MP; l++)
            r[l] = l < live ? _mm512_loadu_si512((const void *)(rq + (size_t)l * Kp + 2 * (size_t)k)) : _mm512_setzero_si512();
        transpose16(r);
        for (int i = 0; i < 16; i++) _mm512_store_si512((void *)(dst + (size_t)(k + i) * MP), r[i]);
    }
    for (int b = 0; b < nb; b++)
        for (int l = 0; l < MP; l++) sdst[(size_t)b * MP + l] = l < live ? rs[(size_t)l * nb + b] : 0.0f;
}

/* acc += x · broadcast(*w) over int16 pairs. Written as asm because GCC (12) moves the
 * accumulators of the intrinsic through the stack on every step when 24 of them are
 * live (measured: 3.6x slower); the asm keeps each in its register and broadcasts the
 * weight pair straight from memory. */
static inline __attribute__((always_inline)) __m512i dpwssd_bcast(__m512i acc, __m512i x, const int32_t *w) {
    __asm__("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(x), "m"(*w));
    return acc;
}

/* t[j][v * MP + l] = Σ_blk scale_w[j][blk] * scale_x[v][blk][l] * Σ_{k in blk} x[v][k][l] w[j][k]
 * for nv panels and nr weight rows (constants once inlined). The int32 sums of a block
 * stay in 24 registers; the float sums live in t (L1). */
static inline __attribute__((always_inline)) void micro(const int nv, const int nr, const uint32_t *xp, size_t xps,
                                                        const float *sp, size_t sps, const int16_t *wt, size_t ldw,
                                                        const float *ws, int nb, float *t, const int8_t *pf,
                                                        int pf_every) {
    int pf_count = pf_every;
    const int32_t *wr[NRN];
#pragma GCC unroll 8
    for (int j = 0; j < nr; j++) {
        wr[j] = (const int32_t *)(wt + (size_t)j * ldw);
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) _mm512_store_ps(t + (size_t)j * MV * MP + (size_t)v * MP, _mm512_setzero_ps());
    }
    for (int blk = 0; blk < nb; blk++) {
        __m512i acc[NRN][MV];
#pragma GCC unroll 8
        for (int j = 0; j < nr; j++)
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++) acc[j][v] = _mm512_setzero_si512();
        const int k0 = blk * (QB / 2);
        for (int k = k0; k < k0 + QB / 2; k++) {
            /* One line of the next tile every pf_every steps (see tile_panels). */
            if (pf && --pf_count == 0) {
                _mm_prefetch((const char *)pf, _MM_HINT_T1);
                pf += 64;
                pf_count = pf_every;
            }
            __m512i xv[MV];
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++) xv[v] = _mm512_load_si512((const void *)(xp + (size_t)v * xps + (size_t)k * MP));
#pragma GCC unroll 8
            for (int j = 0; j < nr; j++)
#pragma GCC unroll 3
                for (int v = 0; v < nv; v++) acc[j][v] = dpwssd_bcast(acc[j][v], xv[v], wr[j] + k);
        }
        __m512 sx[MV];
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) sx[v] = _mm512_load_ps(sp + (size_t)v * sps + (size_t)blk * MP);
#pragma GCC unroll 8
        for (int j = 0; j < nr; j++) {
            __m512 sw = _mm512_set1_ps(ws[(size_t)j * nb + blk]);
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++) {
                float *tj = t + (size_t)j * MV * MP + (size_t)v * MP;
                _mm512_store_ps(tj, _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[j][v]), _mm512_mul_ps(sx[v], sw),
                                                    _mm512_load_ps(tj)));
            }
        }
    }
}

static __attribute__((noinline)) void micro_edge(int nv, int nr, const uint32_t *xp, size_t xps, const float *sp,
                                                 size_t sps, const int16_t *wt, size_t ldw, const float *ws, int nb,
                                                 float *t) {
    for (int j = 0; j < nr; j++)
        for (int v = 0; v < nv; v++) {
            const int32_t *w = (const int32_t *)(wt + (size_t)j * ldw);
            __m512 tf = _mm512_setzero_ps();
            for (int blk = 0; blk < nb; blk++) {
                __m512i acc = _mm512_setzero_si512();
                for (int k = blk * (QB / 2); k < (blk + 1) * (QB / 2); k++)
                    acc = dpwssd_bcast(acc, _mm512_load_si512((const void *)(xp + (size_t)v * xps + (size_t)k * MP)), w + k);
                __m512 s = _mm512_mul_ps(_mm512_load_ps(sp + (size_t)v * sps + (size_t)blk * MP),
                                         _mm512_set1_ps(ws[(size_t)j * nb + blk]));
                tf = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), s, tf);
            }
            _mm512_store_ps(t + (size_t)j * MV * MP + (size_t)v * MP, tf);
        }
}

static void micro_any(int nv, int nr, const uint32_t *xp, size_t xps, const float *sp, size_t sps, const int16_t *wt,
                      size_t ldw, const float *ws, int nb, float *t, const int8_t *pf, int pf_every) {
    if (nr == NRN) {
        if (nv == 3) micro(3, NRN, xp, xps, sp, sps, wt, ldw, ws, nb, t, pf, pf_every);
        else if (nv == 2) micro(2, NRN, xp, xps, sp, sps, wt, ldw, ws, nb, t, pf, pf_every);
        else micro(1, NRN, xp, xps, sp, sps, wt, ldw, ws, nb, t, pf, pf_every);
    } else {
        if (pf) prefetch_bytes(pf, (size_t)(pf_every ? (Kp_steps(nb) / pf_every + 1) : 0) * 64);
        micro_edge(nv, nr, xp, xps, sp, sps, wt, ldw, ws, nb, t);
    }
}

/* int8 rows [n0, n0 + nr) of W → int16 tile [nr][Kp]. */
static void widen_tile(const xl_q8_matrix *W, int n0, int nr, int16_t *wt) {
    size_t n = (size_t)nr * W->Kp;
    const int8_t *src = W->q + (size_t)n0 * W->Kp;
    for (size_t i = 0; i < n; i += 32)
        _mm512_store_si512((void *)(wt + i), _mm512_cvtepi8_epi16(_mm256_load_si256((const __m256i *)(src + i))));
}
#elif defined(Q8_YMM)
/* The same kernels on ymm registers. int16 x int8 products summed in int32 are exact:
 * a pair is at most 2 * 32767 * 127 in magnitude and a block of 64 pairs 5.3e8 < 2^31,
 * so vpmaddwd + vpaddd (or AVX-VNNI's vpdpwssd) give the portable path's integers. */

/* acc += x[2i] w[2i] + x[2i+1] w[2i+1] per int32 lane. */
static inline __attribute__((always_inline)) __m256i dot_pairs(__m256i acc, __m256i x, __m256i w) {
#ifdef __AVXVNNI__
    return _mm256_dpwssd_avx_epi32(acc, x, w);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(x, w));
#endif
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- a few rows: dot products against int8 weight rows ---- */

/* MR rows of x (<= 4) against NR rows of W (<= 2), over every block (as the AVX-512
 * version, 16 values per step). */
static inline __attribute__((always_inline)) void ymm_block(const int MR, const int NR, const int16_t *xq,
                                                            const float *sx, int nb, const xl_q8_matrix *W, int n,
                                                            float *y, size_t ldy, const float *bias) {
    const size_t Kp = (size_t)W->Kp;
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
        for (int j = 0; j < NR; j++) acc[i][j] = _mm256_setzero_ps();
    for (int blk = 0; blk < nb; blk++) {
        __m256i d[4][2];
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
            for (int j = 0; j < NR; j++) d[i][j] = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int s = 0; s < QB / 16; s++) {
            size_t k = (size_t)blk * QB + (size_t)s * 16;
            __m256i w[2];
#pragma GCC unroll 2
            for (int j = 0; j < NR; j++)
                w[j] = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(W->q + (size_t)(n + j) * Kp + k)));
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) {
                __m256i xi = _mm256_load_si256((const __m256i *)(xq + (size_t)i * Kp + k));
#pragma GCC unroll 2
                for (int j = 0; j < NR; j++) d[i][j] = dot_pairs(d[i][j], xi, w[j]);
            }
        }
#pragma GCC unroll 2
        for (int j = 0; j < NR; j++) {
            __m256 sw = _mm256_set1_ps(W->scale[(size_t)(n + j) * nb + blk]);
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++) {
                __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(d[i][j]), sw);
                acc[i][j] = _mm256_fmadd_ps(t, _mm256_set1_ps(sx[(size_t)i * nb + blk]), acc[i][j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 2
        for (int j = 0; j < NR; j++) y[(size_t)i * ldy + n + j] = hsum8(acc[i][j]) + (bias ? bias[n + j] : 0.0f);
}

/* Weight rows [n0, n1) of W against the M quantized rows. */
static void rows_tile(const int16_t *xq, const float *sx, int M, const xl_q8_matrix *W, const float *b, float *y, int n0,
                      int n1) {
    int Kp = W->Kp, nb = Kp / QB, N = W->N;
    int m = 0;
    for (; m + 4 <= M; m += 4) {
        const int16_t *xm = xq + (size_t)m * Kp;
        const float *sm = sx + (size_t)m * nb;
        float *ym = y + (size_t)m * N;
        int n = n0;
        for (; n + 2 <= n1; n += 2) ymm_block(4, 2, xm, sm, nb, W, n, ym, (size_t)N, b);
        if (n < n1) ymm_block(4, 1, xm, sm, nb, W, n, ym, (size_t)N, b);
    }
    for (; m + 2 <= M; m += 2) { /* each weight load serves two rows, not one */
        const int16_t *xm = xq + (size_t)m * Kp;
        const float *sm = sx + (size_t)m * nb;
        float *ym = y + (size_t)m * N;
        int n = n0;
        for (; n + 2 <= n1; n += 2) ymm_block(2, 2, xm, sm, nb, W, n, ym, (size_t)N, b);
        if (n < n1) ymm_block(2, 1, xm, sm, nb, W, n, ym, (size_t)N, b);
    }
    for (; m < M; m++) {
        const int16_t *xm = xq + (size_t)m * Kp;
        const float *sm = sx + (size_t)m * nb;
        float *ym = y + (size_t)m * N;
        int n = n0;
        for (; n + 2 <= n1; n += 2) ymm_block(1, 2, xm, sm, nb, W, n, ym, (size_t)N, b);
        if (n < n1) ymm_block(1, 1, xm, sm, nb, W, n, ym, (size_t)N, b);
    }
}

/* ---- batches: activation panels against widened weight tiles ---- */

/* 8 x 8 transpose of 32-bit elements: r[i] (row i) → r[j] = column j. */
static inline void transpose8(__m256i ri[8]) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_castsi256_ps(ri[i]);
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
    /* each 128-bit lane holds a 4 x 4 block: swap the off-diagonal lanes */
    for (int i = 0; i < 4; i++) {
        ri[i] = _mm256_castps_si256(_mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        ri[i + 4] = _mm256_castps_si256(_mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

/* Panel p of the chunk, as the AVX-512 version with 8-row panels. */
static void pack_panel(const float *x, int rows, int K, int p, uint32_t *xp, float *sp, int16_t *rq, float *rs) {
    int Kp = padded(K), nb = Kp / QB, kp2 = Kp / 2;
    int m0 = p * MP, live = rows - m0 < MP ? rows - m0 : MP;
    uint32_t *dst = xp + (size_t)p * kp2 * MP;
    float *sdst = sp + (size_t)p * nb * MP;
    for (int l = 0; l < live; l++) quantize_row_i16(x + (size_t)(m0 + l) * K, K, rq + (size_t)l * Kp, rs + (size_t)l * nb);
    for (int k = 0; k < kp2; k += 8) {
        __m256i r[8];
        for (int l = 0; l < MP; l++)
            r[l] = l < live ? _mm256_loadu_si256((const __m256i *)(rq + (size_t)l * Kp + 2 * (size_t)k)) : _mm256_setzero_si256();
        transpose8(r);
        for (int i = 0; i < 8; i++) _mm256_store_si256((__m256i *)(dst + (size_t)(k + i) * MP), r[i]);
    }
    for (int b = 0; b < nb; b++)
        for (int l = 0; l < MP; l++) sdst[(size_t)b * MP + l] = l < live ? rs[(size_t)l * nb + b] : 0.0f;
}

/* The weight pair at w (two int16 read as one int32) in every lane. */
static inline __m256i bcast_pair(const int16_t *w) {
    int32_t v;
    memcpy(&v, w, sizeof v);
    return _mm256_set1_epi32(v);
}

/* acc0 += x0 · (w pair), acc1 += x1 · (w pair) over int16 pairs, the pair broadcast.
 * asm because GCC (12) hoists the six broadcasts of a k step into registers and then
 * moves accumulators through the stack (measured 96 G int-ops/s with the intrinsics);
 * here one broadcast and one product register suffice: 12 + 2 + 2 = 16 ymm. */
typedef int32_t q8_i32_alias __attribute__((may_alias));
#ifdef __AVXVNNI__
static inline __attribute__((always_inline)) void pair2(__m256i *a0, __m256i *a1, __m256i x0, __m256i x1,
                                                        const int16_t *w) {
    __m256i b;
    __asm__("vpbroadcastd %[w], %[b]\n\t%{vex%} vpdpwssd %[b], %[x0], %[a0]\n\t%{vex%} vpdpwssd %[b], %[x1], %[a1]"
            : [a0] "+x"(*a0), [a1] "+x"(*a1), [b] "=&x"(b)
            : [x0] "x"(x0), [x1] "x"(x1), [w] "m"(*(const q8_i32_alias *)w));
}
static inline __attribute__((always_inline)) void pair1(__m256i *a0, __m256i x0, const int16_t *w) {
    __m256i b;
    __asm__("vpbroadcastd %[w], %[b]\n\t%{vex%} vpdpwssd %[b], %[x0], %[a0]"
            : [a0] "+x"(*a0), [b] "=&x"(b)
            : [x0] "x"(x0), [w] "m"(*(const q8_i32_alias *)w));
}
#else
static inline __attribute__((always_inline)) void pair2(__m256i *a0, __m256i *a1, __m256i x0, __m256i x1,
                                                        const int16_t *w) {
    __m256i b, t;
    __asm__("vpbroadcastd %[w], %[b]\n\tvpmaddwd %[b], %[x0], %[t]\n\tvpmaddwd %[b], %[x1], %[b]\n\t"
            "vpaddd %[t], %[a0], %[a0]\n\tvpaddd %[b], %[a1], %[a1]"
            : [a0] "+x"(*a0), [a1] "+x"(*a1), [b] "=&x"(b), [t] "=&x"(t)
            : [x0] "x"(x0), [x1] "x"(x1), [w] "m"(*(const q8_i32_alias *)w));
}
static inline __attribute__((always_inline)) void pair1(__m256i *a0, __m256i x0, const int16_t *w) {
    __m256i b, t;
    __asm__("vpbroadcastd %[w], %[b]\n\tvpmaddwd %[b], %[x0], %[t]\n\tvpaddd %[t], %[a0], %[a0]"
            : [a0] "+x"(*a0), [b] "=&x"(b), [t] "=&x"(t)
            : [x0] "x"(x0), [w] "m"(*(const q8_i32_alias *)w));
}
#endif

/* As the AVX-512 micro-tile: 2 panels (16 rows) x 6 weight rows, the int32 sums of a
 * block in 12 registers, the float sums in t. */
static inline __attribute__((always_inline)) void micro(const int nv, const int nr, const uint32_t *xp, size_t xps,
                                                        const float *sp, size_t sps, const int16_t *wt, size_t ldw,
                                                        const float *ws, int nb, float *t, const int8_t *pf,
                                                        int pf_every) {
    int pf_count = pf_every;
    const int16_t *wr[NRN];
#pragma GCC unroll 6
    for (int j = 0; j < nr; j++) {
        wr[j] = wt + (size_t)j * ldw;
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++) _mm256_store_ps(t + (size_t)j * MV * MP + (size_t)v * MP, _mm256_setzero_ps());
    }
    for (int blk = 0; blk < nb; blk++) {
        __m256i acc[NRN][MV];
#pragma GCC unroll 6
        for (int j = 0; j < nr; j++)
#pragma GCC unroll 2
            for (int v = 0; v < nv; v++) acc[j][v] = _mm256_setzero_si256();
        const int k0 = blk * (QB / 2);
        for (int k = k0; k < k0 + QB / 2; k++) {
            if (pf && --pf_count == 0) {
                _mm_prefetch((const char *)pf, _MM_HINT_T1);
                pf += 64;
                pf_count = pf_every;
            }
            __m256i xv[MV];
#pragma GCC unroll 2
            for (int v = 0; v < nv; v++) xv[v] = _mm256_load_si256((const __m256i *)(xp + (size_t)v * xps + (size_t)k * MP));
#pragma GCC unroll 6
            for (int j = 0; j < nr; j++) {
                if (nv == 2) pair2(&acc[j][0], &acc[j][1], xv[0], xv[1], wr[j] + 2 * (size_t)k);
                else pair1(&acc[j][0], xv[0], wr[j] + 2 * (size_t)k);
            }
        }
        __m256 sx[MV];
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++) sx[v] = _mm256_load_ps(sp + (size_t)v * sps + (size_t)blk * MP);
#pragma GCC unroll 6
        for (int j = 0; j < nr; j++) {
            __m256 sw = _mm256_set1_ps(ws[(size_t)j * nb + blk]);
#pragma GCC unroll 2
            for (int v = 0; v < nv; v++) {
                float *tj = t + (size_t)j * MV * MP + (size_t)v * MP;
                _mm256_store_ps(tj, _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[j][v]), _mm256_mul_ps(sx[v], sw),
                                                    _mm256_load_ps(tj)));
            }
        }
    }
}

static __attribute__((noinline)) void micro_edge(int nv, int nr, const uint32_t *xp, size_t xps, const float *sp,
                                                 size_t sps, const int16_t *wt, size_t ldw, const float *ws, int nb,
                                                 float *t) {
    for (int j = 0; j < nr; j++)
        for (int v = 0; v < nv; v++) {
            const int16_t *w = wt + (size_t)j * ldw;
            const uint32_t *xv = xp + (size_t)v * xps;
            __m256 tf = _mm256_setzero_ps();
            for (int blk = 0; blk < nb; blk++) {
                /* two chains of sums: one alone waits on the latency of each step */
                __m256i a0 = _mm256_setzero_si256(), a1 = a0;
                for (int k = blk * (QB / 2); k < (blk + 1) * (QB / 2); k += 2) {
                    a0 = dot_pairs(a0, _mm256_load_si256((const __m256i *)(xv + (size_t)k * MP)), bcast_pair(w + 2 * (size_t)k));
                    a1 = dot_pairs(a1, _mm256_load_si256((const __m256i *)(xv + (size_t)(k + 1) * MP)),
                                   bcast_pair(w + 2 * (size_t)(k + 1)));
                }
                __m256 s = _mm256_mul_ps(_mm256_load_ps(sp + (size_t)v * sps + (size_t)blk * MP),
                                         _mm256_set1_ps(ws[(size_t)j * nb + blk]));
                tf = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(a0, a1)), s, tf);
            }
            _mm256_store_ps(t + (size_t)j * MV * MP + (size_t)v * MP, tf);
        }
}

static void micro_any(int nv, int nr, const uint32_t *xp, size_t xps, const float *sp, size_t sps, const int16_t *wt,
                      size_t ldw, const float *ws, int nb, float *t, const int8_t *pf, int pf_every) {
    if (nr == NRN) {
        if (nv == 2) micro(2, NRN, xp, xps, sp, sps, wt, ldw, ws, nb, t, pf, pf_every);
        else micro(1, NRN, xp, xps, sp, sps, wt, ldw, ws, nb, t, pf, pf_every);
    } else {
        if (pf) prefetch_bytes(pf, (size_t)(pf_every ? (Kp_steps(nb) / pf_every + 1) : 0) * 64);
        micro_edge(nv, nr, xp, xps, sp, sps, wt, ldw, ws, nb, t);
    }
}

/* int8 rows [n0, n0 + nr) of W → int16 tile [nr][Kp]. */
static void widen_tile(const xl_q8_matrix *W, int n0, int nr, int16_t *wt) {
    size_t n = (size_t)nr * W->Kp;
    const int8_t *src = W->q + (size_t)n0 * W->Kp;
    for (size_t i = 0; i < n; i += 16)
        _mm256_store_si256((__m256i *)(wt + i), _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(src + i))));
}
#endif

#if defined(Q8_ZMM) || defined(Q8_YMM)

/* One widened tile (weight rows n0.., nr of them) against the `rows` packed rows of the
 * chunk starting at row c0; prefetches pf_n bytes at pf spread over the micro-tiles. */
static void tile_panels(const uint32_t *xp, const float *sp, int rows, const xl_q8_matrix *W, const int16_t *wt, int nr,
                        int n0, const float *b, float *y, int c0, const int8_t *pf, size_t pf_n) {
    float t[NRN * MV * MP] __attribute__((aligned(64)));
    int Kp = W->Kp, nb = Kp / QB, N = W->N, np = (rows + MP - 1) / MP;
    size_t xps = (size_t)(Kp / 2) * MP, sps = (size_t)nb * MP;
    /* The next tile's bytes, shared evenly among the micro-tiles: each prefetches its
     * share one line every pf_every of its Kp / 2 steps, overlapping the weights'
     * memory traffic with this tile's arithmetic. */
    size_t calls = (size_t)((np + MV - 1) / MV) * (size_t)((nr + NRN - 1) / NRN), steps = (size_t)Kp_steps(nb);
    size_t share = (pf_n / calls + 63) & ~(size_t)63, lines = share / 64;
    int pf_every = lines ? (int)(steps / lines > 0 ? steps / lines : 1) : 0;
    for (int p = 0; p < np; p += MV) {
        int nv = np - p < MV ? np - p : MV, mrows = rows - p * MP < MV * MP ? rows - p * MP : MV * MP;
        for (int j = 0; j < nr; j += NRN) {
            const int8_t *pf_call = NULL;
            if (pf && pf_n && pf_every) {
                size_t n = share < pf_n ? share : pf_n;
                if (steps < lines) prefetch_bytes(pf + steps * 64, n > steps * 64 ? n - steps * 64 : 0);
                pf_call = pf;
                pf += n;
                pf_n -= n;
            }
            int jr = nr - j < NRN ? nr - j : NRN;
            micro_any(nv, jr, xp + (size_t)p * xps, xps, sp + (size_t)p * sps, sps, wt + (size_t)j * Kp, (size_t)Kp,
                      W->scale + (size_t)(n0 + j) * nb, nb, t, pf_call, pf_every);
            for (int m = 0; m < mrows; m++) {
                float *ym = y + (size_t)(c0 + p * MP + m) * N + n0 + j;
                for (int jj = 0; jj < jr; jj++) ym[jj] = t[(size_t)jj * MV * MP + m] + (b ? b[n0 + j + jj] : 0.0f);
            }
        }
    }
}

/* ---- driver ---- */

#define MAX_JOBS 8

/* Where global tile g of the jobs lives: job *j, first row *n0, *nr rows. */
static void locate(const xl_q8_job *jobs, const int *first, int n_jobs, int nt, int g, int *j, int *n0, int *nr) {
    int k = 0;
    while (k + 1 < n_jobs && g >= first[k + 1]) k++;
    *j = k;
    *n0 = (g - first[k]) * nt;
    *nr = jobs[k].W->N - *n0 < nt ? jobs[k].W->N - *n0 : nt;
}

static void run_q8(const float *x, int M, int K, const xl_q8_job *jobs, int n_jobs, void *work, int threads) {
    const int Kp = padded(K), nb = Kp / QB, panels = uses_panels(M);
    const int nt = panels ? wtile_rows(Kp) : TILE_ROWS;
    int first[MAX_JOBS + 1], ntiles = 0;
    double macs = 0;
    for (int j = 0; j < n_jobs; j++) {
        first[j] = ntiles;
        ntiles += (jobs[j].W->N + nt - 1) / nt;
        macs += (double)M * jobs[j].W->N * Kp;
    }
    first[n_jobs] = ntiles;
    if (threads > ntiles) threads = ntiles;
    const int mc = panels ? chunk_rows(M, Kp) : M;
    /* panels: xp, sp, then per thread 16 quantized rows and a tile; else rows xq, sx. */
    size_t rowbuf = rowbuf_bytes(Kp), tile = align64((size_t)nt * Kp * sizeof(int16_t));
    uint32_t *xp = NULL;
    float *sp = NULL, *sx = NULL;
    char *per_thread = NULL;
    int16_t *xq = NULL;
    if (panels) {
        char *base = (char *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
        xp = (uint32_t *)base;
        sp = (float *)(base + align64((size_t)mc * Kp * sizeof(int16_t)));
        per_thread = (char *)sp + align64((size_t)mc * nb * sizeof(float));
    } else {
        rows_layout(work, M, Kp, &xq, &sx);
    }
#pragma omp parallel num_threads(threads) if (threads > 1 && macs >= PAR_MIN)
    {
        int me = 0, nth = 1;
#ifdef _OPENMP
        me = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        /* Contiguous blocks of tiles per thread, so each knows its next tile. */
        int lo = (int)((long long)ntiles * me / nth), hi = (int)((long long)ntiles * (me + 1) / nth);
        int16_t *rq = NULL, *wt = NULL;
        float *rs = NULL;
        if (panels) {
            char *mine = per_thread + (size_t)me * (rowbuf + tile);
            rq = (int16_t *)mine;
            rs = (float *)(mine + (size_t)MP * Kp * sizeof(int16_t));
            wt = (int16_t *)(mine + rowbuf);
        }
        for (int c0 = 0; c0 < M; c0 += mc) {
            int rows = M - c0 < mc ? M - c0 : mc, np = (rows + MP - 1) / MP;
            /* Workshares end with a barrier: the activations are quantized before any
             * tile reads them. */
            if (panels) {
#pragma omp for schedule(static)
                for (int p = 0; p < np; p++) pack_panel(x + (size_t)c0 * K, rows, K, p, xp, sp, rq, rs);
            } else {
#pragma omp for schedule(static)
                for (int m = 0; m < M; m++) quantize_row_i16(x + (size_t)m * K, K, xq + (size_t)m * Kp, sx + (size_t)m * nb);
            }
            for (int g = lo; g < hi; g++) {
                int j, n0, nr;
                locate(jobs, first, n_jobs, nt, g, &j, &n0, &nr);
                const xl_q8_job *jb = &jobs[j];
                const int8_t *pf = NULL;
                size_t pf_n = 0;
                if (g + 1 < hi) {
                    int j2, n2, nr2;
                    locate(jobs, first, n_jobs, nt, g + 1, &j2, &n2, &nr2);
                    pf = jobs[j2].W->q + (size_t)n2 * Kp;
                    pf_n = (size_t)nr2 * Kp;
                }
                if (panels) {
                    widen_tile(jb->W, n0, nr, wt);
                    tile_panels(xp, sp, rows, jb->W, wt, nr, n0, jb->b, jb->y, c0, pf, pf_n);
                } else {
                    if (pf) prefetch_bytes(pf, pf_n);
                    rows_tile(xq, sx, M, jb->W, jb->b, jb->y, n0, n0 + nr);
                }
            }
            /* (every tile is done before the next chunk replaces the panels) */
#pragma omp barrier
        }
    }
}

void xl_q8_linear_multi(const float *x, int M, int K, const xl_q8_job *jobs, int n_jobs, void *work, int threads) {
    if (M <= 0 || n_jobs <= 0) return;
    if (threads < 1) threads = 1;
    xl_q8_job live[MAX_JOBS];
    int n = 0;
    for (int j = 0; j < n_jobs; j++) {
        if (jobs[j].W->N <= 0) continue;
        if (n == MAX_JOBS) {
            run_q8(x, M, K, live, n, work, threads);
            n = 0;
        }
        live[n++] = jobs[j];
    }
    if (n) run_q8(x, M, K, live, n, work, threads);
}
#else
int xl_q8_has_vnni(void) { return 0; }

void xl_q8_linear_multi(const float *x, int M, int K, const xl_q8_job *jobs, int n_jobs, void *work, int threads) {
    for (int j = 0; j < n_jobs; j++) xl_q8_linear_portable(x, M, K, jobs[j].W, jobs[j].b, jobs[j].y, work, threads);
}
#endif

void xl_q8_linear(const float *x, int M, int K, const xl_q8_matrix *W, const float *b, float *y, void *work,
                  int threads) {
    xl_q8_job job = {.W = W, .b = b, .y = y};
    xl_q8_linear_multi(x, M, K, &job, 1, work, threads);
}
