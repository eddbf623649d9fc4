/* Multi-head attention over a padded batch: softmax(scale · q·kᵀ) · v per (sequence, head).
 *
 * Only real keys are ever touched: each sequence's key positions (mask = 1) are listed
 * once, and for every query the visible keys form one contiguous run of that list (the
 * window bounds move monotonically with the query), so padding costs nothing and masked
 * keys cannot leak in.
 *
 * Per task (a sequence and a group of its kv heads) the real positions' queries
 * (pre-multiplied by scale · log2(e)) and values are packed contiguously ([pos][head_dim]:
 * rows of the projection output are kilobytes apart and would crowd a few L1 sets) and
 * the keys transposed ([head_dim][pos], 16 x 16 blocks transposed in registers), reading
 * the rows front to back. Queries then go in blocks of MQ = 12, each block two
 * register-tiled products in the shape of the GEMM's micro-kernel (12 rows x 32
 * columns, 24 accumulators, one broadcast per row and step):
 *   scores   s[12][keys]      = q_block · Kᵀ    over the union of the block's key runs,
 *   softmax  per row over its own run, as 2^(s - max) (zero elsewhere), unnormalized,
 *   output   o[12][head_dim]  = p · V,  divided by each row's sum at the store.
 * Working in base 2 (the log2(e) folded into the queries) makes the exponential a
 * range reduction, a degree-5 polynomial and a scale by 2^n.
 * Tasks run in parallel; each is computed the same way whatever the thread count.
 * With AVX2 + FMA: the same blocks, tiles of 6 rows x 16 columns (12 ymm accumulators;
 * a block of 12 queries is two of them), the keys transposed by the portable packing. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"
#include "util/error.h"
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#define XL_ALWAYS_INLINE inline __attribute__((always_inline))
#define MQ 12        /* queries per block: rows of both tiles */
#define SCRATCH_MAX ((size_t)512 << 10) /* packed queries, keys, values of one task: stay in L2 */
#define LOG2E 1.44269504088896341f

static int round16(int n) { return (n + 15) / 16 * 16; }

/* Scratch of one thread, for the kv heads of one task. */
typedef struct {
    float *kt;   /* [group][head_dim][kt_ld]: keys transposed, zero past the last key */
    int kt_ld;   /* keys rounded up to 16, plus 16 (a 16-key tile may start anywhere up to the last key) */
    float *vp;   /* [group][kt_ld][v_ld]: value rows, contiguous, zero-padded to v_ld */
    int v_ld;    /* head_dim rounded up to 16 */
    float *qp;   /* [group x query heads per kv head][kt_ld][v_ld]: real queries times scale · log2(e) */
    float *s;    /* [MQ][kt_ld]: scores, then exponentials */
    float *qb;   /* [MQ][v_ld]: a block's queries when they are not consecutive in qp */
} attn_scratch;

/* ------------------------------------------------------------------ AVX-512 */
#ifdef __AVX512F__
static inline __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1u); }

/* 16 x 16 transpose in registers: r[i] (row i) becomes column i. */
static XL_ALWAYS_INLINE void transpose16(__m512 r[16]) {
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* per 128-bit lane L of u[4i + k]: column 4L + k of rows 4i .. 4i + 3 */
    __m512 u[16];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m512 w0 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x88), w1 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x88);
        __m512 w2 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xDD), w3 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xDD);
        r[k] = _mm512_shuffle_f32x4(w0, w1, 0x88);
        r[8 + k] = _mm512_shuffle_f32x4(w0, w1, 0xDD);
        r[4 + k] = _mm512_shuffle_f32x4(w2, w3, 0x88);
        r[12 + k] = _mm512_shuffle_f32x4(w2, w3, 0xDD);
    }
}

/* Packs one task: for the n listed positions of one sequence, the queries of kv heads
 * [g0, g0 + ng) (per query heads each) scaled by c, their keys transposed and their
 * values. Positions go 16 at a time, front to back (for a fused q|k|v projection the
 * task's rows are then read in memory order; the next 16 rows are prefetched): each
 * key row's segment of a head is loaded 16 dims at a time, transposed in registers and
 * stored as 16 dims x 16 keys; queries and values are copied row by row. */
static void pack_task(attn_scratch *w, const float *q, int q_stride, const float *k, const float *v, int kv_stride,
                      const int *idx, int n, int hd, size_t row0, int g0, int ng, int per, float c) {
    const int ld = w->kt_ld, vld = w->v_ld, n16 = round16(n), nq = ng * per;
    const size_t kt_head = (size_t)hd * ld, vp_head = (size_t)ld * vld;
    const __m512 vc = _mm512_set1_ps(c);
    for (int g = 0; g < ng; g++)
        for (int d = 0; d < hd; d++) memset(w->kt + g * kt_head + (size_t)d * ld + n16, 0, sizeof(float) * (size_t)(ld - n16));
    const float *qbase = q + (size_t)g0 * per * hd, *kbase = k + (size_t)g0 * hd, *vbase = v + (size_t)g0 * hd;
    for (int j0 = 0; j0 < n; j0 += 16) {
        const int nj = n - j0 < 16 ? n - j0 : 16;
        const float *qr[16], *kr[16], *vr[16];
        for (int r = 0; r < nj; r++) {
            size_t row = row0 + (size_t)idx[j0 + r];
            qr[r] = qbase + row * q_stride;
            kr[r] = kbase + row * kv_stride;
            vr[r] = vbase + row * kv_stride;
        }
        for (int r = j0 + 16; r < n && r < j0 + 32; r++) { /* rows are kilobytes apart: fetch ahead */
            size_t row = row0 + (size_t)idx[r];
            const char *qf = (const char *)(qbase + row * q_stride), *kf = (const char *)(kbase + row * kv_stride),
                       *vf = (const char *)(vbase + row * kv_stride);
            for (int off = 0; off < nq * hd * 4; off += 64) __builtin_prefetch(qf + off);
            for (int off = 0; off < ng * hd * 4; off += 64) {
                __builtin_prefetch(kf + off);
                __builtin_prefetch(vf + off);
            }
        }
        for (int hl = 0; hl < nq; hl++) {
            float *qd = w->qp + ((size_t)hl * ld + j0) * vld;
            for (int r = 0; r < nj; r++)
                for (int d = 0; d < vld; d += 16)
                    _mm512_storeu_ps(qd + (size_t)r * vld + d,
                                     _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes(hd - d), qr[r] + (size_t)hl * hd + d), vc));
        }
        for (int g = 0; g < ng; g++) {
            float *kt = w->kt + g * kt_head + j0;
            for (int d0 = 0; d0 < hd; d0 += 16) {
                const __mmask16 m = lanes(hd - d0);
                __m512 x[16];
#pragma GCC unroll 16
                for (int r = 0; r < 16; r++)
                    x[r] = r < nj ? _mm512_maskz_loadu_ps(m, kr[r] + (size_t)g * hd + d0) : _mm512_setzero_ps();
                transpose16(x);
                const int nd = hd - d0 < 16 ? hd - d0 : 16;
                for (int cc = 0; cc < nd; cc++) _mm512_storeu_ps(kt + (size_t)(d0 + cc) * ld, x[cc]);
            }
            float *vp = w->vp + g * vp_head + (size_t)j0 * vld;
            for (int r = 0; r < nj; r++)
                for (int d = 0; d < vld; d += 16)
                    _mm512_storeu_ps(vp + (size_t)r * vld + d, _mm512_maskz_loadu_ps(lanes(hd - d), vr[r] + (size_t)g * hd + d));
        }
    }
}

/* s[i][0 .. 16·NK) = qb[i] · kt[:, 0 .. 16·NK) for the block's mr rows. */
static XL_ALWAYS_INLINE void score_tile(const int mr, const int NK, const float *kt, int ld, const float *qb, int qld,
                                        int hd, float *s, int sld) {
    __m512 c0[MQ], c1[MQ];
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) c0[i] = c1[i] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int d = 0; d < hd; d++) {
        const __m512 b0 = _mm512_loadu_ps(kt + (size_t)d * ld);
        const __m512 b1 = NK == 2 ? _mm512_loadu_ps(kt + (size_t)d * ld + 16) : b0;
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            __m512 a = _mm512_set1_ps(qb[(size_t)i * qld + d]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            if (NK == 2) c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        _mm512_storeu_ps(s + (size_t)i * sld, c0[i]);
        if (NK == 2) _mm512_storeu_ps(s + (size_t)i * sld + 16, c1[i]);
    }
}

/* o[i][0 .. 16·NB) (lanes m0, m1) = inv[i] · Σ_j s[i][j] · v[j][0 .. 16·NB), j < cnt. */
static XL_ALWAYS_INLINE void pv_tile(const int mr, const int NB, const float *s, int sld, const float *v, int vld,
                                     int cnt, float *const *o, int d0, const float *inv, __mmask16 m0, __mmask16 m1) {
    __m512 c0[MQ], c1[MQ];
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) c0[i] = c1[i] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int j = 0; j < cnt; j++) {
        const __m512 b0 = _mm512_loadu_ps(v + (size_t)j * vld);
        const __m512 b1 = NB == 2 ? _mm512_loadu_ps(v + (size_t)j * vld + 16) : b0;
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            __m512 a = _mm512_set1_ps(s[(size_t)i * sld + j]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            if (NB == 2) c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        __m512 vi = _mm512_set1_ps(inv[i]);
        _mm512_mask_storeu_ps(o[i] + d0, m0, _mm512_mul_ps(c0[i], vi));
        if (NB == 2) _mm512_mask_storeu_ps(o[i] + d0 + 16, m1, _mm512_mul_ps(c1[i], vi));
    }
}

static void score_any(int mr, int nk, const float *kt, int ld, const float *qb, int qld, int hd, float *s, int sld) {
    switch (mr * 2 + nk - 1) {
#define S(m) case 2 * m: score_tile(m, 1, kt, ld, qb, qld, hd, s, sld); break; \
             case 2 * m + 1: score_tile(m, 2, kt, ld, qb, qld, hd, s, sld); break;
        S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11) S(12)
#undef S
    default: break;
    }
}

static void pv_any(int mr, int nb, const float *s, int sld, const float *v, int vld, int cnt, float *const *o, int d0,
                   const float *inv, __mmask16 m0, __mmask16 m1) {
    switch (mr * 2 + nb - 1) {
#define P(m) case 2 * m: pv_tile(m, 1, s, sld, v, vld, cnt, o, d0, inv, m0, m1); break; \
             case 2 * m + 1: pv_tile(m, 2, s, sld, v, vld, cnt, o, d0, inv, m0, m1); break;
        P(1) P(2) P(3) P(4) P(5) P(6) P(7) P(8) P(9) P(10) P(11) P(12)
#undef P
    default: break;
    }
}

/* Scores of the block over keys [0, cnt) of kt (already offset to the union's start). */
static void block_scores(int mr, const float *kt, int ld, const float *qb, int qld, int hd, int cnt, float *s, int sld) {
    int j = 0;
    for (; j + 16 < cnt; j += 32) score_any(mr, 2, kt + j, ld, qb, qld, hd, s + j, sld);
    if (j < cnt) score_any(mr, 1, kt + j, ld, qb, qld, hd, s + j, sld);
}

static void block_output(int mr, const float *s, int sld, const float *v, int vld, int cnt, int hd, float *const *o,
                         const float *inv) {
    for (int d0 = 0; d0 < hd; d0 += 32) {
        int nb = hd - d0 > 16 ? 2 : 1;
        pv_any(mr, nb, s, sld, v + d0, vld, cnt, o, d0, inv, lanes(hd - d0), lanes(hd - d0 - 16));
    }
}

/* 2^t for t <= 0 (base-2 scores minus their maximum): t = n + f with n = floor(t),
 * f in [0, 1); 2^f by a degree-5 polynomial (our minimax fit, relative error 9e-8),
 * then scalef multiplies by 2^n (0 far below the maximum). */
static inline __m512 v_exp2(__m512 t) {
    /* floor + subtract rather than vreduceps: half the issue cost on AMD Zen 4 */
    __m512 f = _mm512_sub_ps(t, _mm512_roundscale_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
    __m512 p = _mm512_set1_ps(1.8775767e-3f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(8.9893397e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5826318e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4015361e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9315308e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.9999994e-1f));
    return _mm512_scalef_ps(p, t);
}

/* Row of base-2 scores: s[lo, hi) = 2^(s - max) and zero over [0, lo) and [hi, cnt);
 * returns the sum over the run. */
static float row_exp2(float *s, int lo, int hi, int cnt) {
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int j = lo; j < hi; j += 16) vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(vmax, lanes(hi - j), s + j));
    const __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
    __m512 sum = _mm512_setzero_ps();
    if (lo > 0) memset(s, 0, sizeof(float) * (size_t)lo);
    for (int j = lo; j < hi; j += 16) {
        __mmask16 m = lanes(hi - j);
        __m512 e = _mm512_maskz_mov_ps(m, v_exp2(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), vm)));
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(s + j, m, e);
    }
    if (hi < cnt) memset(s + hi, 0, sizeof(float) * (size_t)(cnt - hi));
    return _mm512_reduce_add_ps(sum);
}

#else
/* ------------------------------------------------------------------ portable */
#define XL_ATTN_PORTABLE_PACK 1
#endif

#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
/* ------------------------------------------------------------------ AVX2 + FMA */
#define MT 6 /* rows per tile */

static inline __m256i lanes8(int n) {
    static const int32_t tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const void *)(tab + 8 - (n < 0 ? 0 : n > 8 ? 8 : n)));
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

static inline float hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

/* s[i][0 .. 8·NK) = qb[i] · kt[:, 0 .. 8·NK) for mr <= 6 rows. */
static XL_ALWAYS_INLINE void score_tile(const int mr, const int NK, const float *kt, int ld, const float *qb, int qld,
                                        int hd, float *s, int sld) {
    __m256 c0[MT], c1[MT];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) c0[i] = c1[i] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int d = 0; d < hd; d++) {
        const __m256 b0 = _mm256_loadu_ps(kt + (size_t)d * ld);
        const __m256 b1 = NK == 2 ? _mm256_loadu_ps(kt + (size_t)d * ld + 8) : b0;
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            __m256 a = _mm256_broadcast_ss(qb + (size_t)i * qld + d);
            c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
            if (NK == 2) c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        _mm256_storeu_ps(s + (size_t)i * sld, c0[i]);
        if (NK == 2) _mm256_storeu_ps(s + (size_t)i * sld + 8, c1[i]);
    }
}

/* o[i][d0 .. d0 + 8·NB) (the first `lanes` of them) = inv[i] · Σ_j s[i][j] · v[j][...]. */
static XL_ALWAYS_INLINE void pv_tile(const int mr, const int NB, const float *s, int sld, const float *v, int vld,
                                     int cnt, float *const *o, int d0, const float *inv, int nlanes) {
    __m256 c0[MT], c1[MT];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) c0[i] = c1[i] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int j = 0; j < cnt; j++) {
        const __m256 b0 = _mm256_loadu_ps(v + (size_t)j * vld);
        const __m256 b1 = NB == 2 ? _mm256_loadu_ps(v + (size_t)j * vld + 8) : b0;
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            __m256 a = _mm256_broadcast_ss(s + (size_t)i * sld + j);
            c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
            if (NB == 2) c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
        }
    }
    const __m256i m0 = lanes8(nlanes), m1 = lanes8(nlanes - 8);
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        __m256 vi = _mm256_set1_ps(inv[i]);
        if (nlanes >= 8 * NB) {
            _mm256_storeu_ps(o[i] + d0, _mm256_mul_ps(c0[i], vi));
            if (NB == 2) _mm256_storeu_ps(o[i] + d0 + 8, _mm256_mul_ps(c1[i], vi));
        } else {
            _mm256_maskstore_ps(o[i] + d0, m0, _mm256_mul_ps(c0[i], vi));
            if (NB == 2) _mm256_maskstore_ps(o[i] + d0 + 8, m1, _mm256_mul_ps(c1[i], vi));
        }
    }
}

static void score_any(int mr, int nk, const float *kt, int ld, const float *qb, int qld, int hd, float *s, int sld) {
    switch (mr * 2 + nk - 1) {
#define S(m) case 2 * m: score_tile(m, 1, kt, ld, qb, qld, hd, s, sld); break; \
             case 2 * m + 1: score_tile(m, 2, kt, ld, qb, qld, hd, s, sld); break;
        S(1) S(2) S(3) S(4) S(5) S(6)
#undef S
    default: break;
    }
}

static void pv_any(int mr, int nb, const float *s, int sld, const float *v, int vld, int cnt, float *const *o, int d0,
                   const float *inv, int nlanes) {
    switch (mr * 2 + nb - 1) {
#define P(m) case 2 * m: pv_tile(m, 1, s, sld, v, vld, cnt, o, d0, inv, nlanes); break; \
             case 2 * m + 1: pv_tile(m, 2, s, sld, v, vld, cnt, o, d0, inv, nlanes); break;
        P(1) P(2) P(3) P(4) P(5) P(6)
#undef P
    default: break;
    }
}

/* Keys are read 16 at a time past cnt: kt rows are zero-padded to kt_ld (see attn_scratch). */
static void block_scores(int mr, const float *kt, int ld, const float *qb, int qld, int hd, int cnt, float *s, int sld) {
    for (int i0 = 0; i0 < mr; i0 += MT) {
        const int m = mr - i0 < MT ? mr - i0 : MT;
        const float *q = qb + (size_t)i0 * qld;
        float *si = s + (size_t)i0 * sld;
        int j = 0;
        for (; j + 8 < cnt; j += 16) score_any(m, 2, kt + j, ld, q, qld, hd, si + j, sld);
        if (j < cnt) score_any(m, 1, kt + j, ld, q, qld, hd, si + j, sld);
    }
}

static void block_output(int mr, const float *s, int sld, const float *v, int vld, int cnt, int hd, float *const *o,
                         const float *inv) {
    for (int i0 = 0; i0 < mr; i0 += MT) {
        const int m = mr - i0 < MT ? mr - i0 : MT;
        for (int d0 = 0; d0 < hd; d0 += 16)
            pv_any(m, hd - d0 > 8 ? 2 : 1, s + (size_t)i0 * sld, sld, v + d0, vld, cnt, o + i0, d0, inv + i0, hd - d0);
    }
}

/* 2^t for t <= 0: t = n + f, n = floor(t), 2^f by the degree-5 polynomial of the AVX-512
 * path, 2^n built in the exponent field (t clamped at -127, whose field 0 gives 0). */
static inline __m256 v_exp2(__m256 t) {
    t = _mm256_max_ps(t, _mm256_set1_ps(-127.0f));
    __m256 fl = _mm256_floor_ps(t);
    __m256 f = _mm256_sub_ps(t, fl);
    __m256 p = _mm256_set1_ps(1.8775767e-3f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(8.9893397e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.5826318e-2f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.4015361e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.9315308e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.9999994e-1f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fl), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static float row_exp2(float *s, int lo, int hi, int cnt) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 vmax = ninf;
    for (int j = lo; j < hi; j += 8) {
        __m256i m = lanes8(hi - j);
        vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(ninf, _mm256_maskload_ps(s + j, m), _mm256_castsi256_ps(m)));
    }
    const __m256 vm = _mm256_set1_ps(hmax8(vmax));
    __m256 sum = _mm256_setzero_ps();
    if (lo > 0) memset(s, 0, sizeof(float) * (size_t)lo);
    for (int j = lo; j < hi; j += 8) {
        __m256i m = lanes8(hi - j);
        __m256 e = _mm256_and_ps(v_exp2(_mm256_sub_ps(_mm256_maskload_ps(s + j, m), vm)), _mm256_castsi256_ps(m));
        sum = _mm256_add_ps(sum, e);
        _mm256_maskstore_ps(s + j, m, e);
    }
    if (hi < cnt) memset(s + hi, 0, sizeof(float) * (size_t)(cnt - hi));
    return hsum8(sum);
}
#endif

#ifdef XL_ATTN_PORTABLE_PACK
static void pack_task(attn_scratch *w, const float *q, int q_stride, const float *k, const float *v, int kv_stride,
                      const int *idx, int n, int hd, size_t row0, int g0, int ng, int per, float c) {
    const int ld = w->kt_ld, vld = w->v_ld, nq = ng * per;
    const size_t kt_head = (size_t)hd * ld, vp_head = (size_t)ld * vld;
    for (int g = 0; g < ng; g++)
        for (int d = 0; d < hd; d++)
            for (int j = n; j < ld; j++) w->kt[g * kt_head + (size_t)d * ld + j] = 0.0f;
    for (int j = 0; j < n; j++) {
        const size_t row = row0 + (size_t)idx[j];
        const float *qr = q + row * q_stride + (size_t)g0 * per * hd;
        const float *kr = k + row * kv_stride + (size_t)g0 * hd, *vs = v + row * kv_stride + (size_t)g0 * hd;
        for (int hl = 0; hl < nq; hl++) {
            float *qd = w->qp + ((size_t)hl * ld + j) * vld;
            for (int d = 0; d < vld; d++) qd[d] = d < hd ? qr[(size_t)hl * hd + d] * c : 0.0f;
        }
        for (int g = 0; g < ng; g++) {
            for (int d = 0; d < hd; d++) w->kt[g * kt_head + (size_t)d * ld + j] = kr[(size_t)g * hd + d];
            float *vr = w->vp + g * vp_head + (size_t)j * vld;
            for (int d = 0; d < vld; d++) vr[d] = d < hd ? vs[(size_t)g * hd + d] : 0.0f;
        }
    }
}

#if !(defined(__AVX2__) && defined(__FMA__))
static void block_scores(int mr, const float *kt, int ld, const float *qb, int qld, int hd, int cnt, float *s, int sld) {
    for (int i = 0; i < mr; i++) {
        float *si = s + (size_t)i * sld;
        for (int j = 0; j < cnt; j++) si[j] = 0.0f;
        for (int d = 0; d < hd; d++) {
            const float *r = kt + (size_t)d * ld;
            float qd = qb[(size_t)i * qld + d];
            for (int j = 0; j < cnt; j++) si[j] += qd * r[j];
        }
    }
}

static void block_output(int mr, const float *s, int sld, const float *v, int vld, int cnt, int hd, float *const *o,
                         const float *inv) {
    for (int i = 0; i < mr; i++) {
        for (int d = 0; d < hd; d++) o[i][d] = 0.0f;
        for (int j = 0; j < cnt; j++) {
            const float *vr = v + (size_t)j * vld;
            float pj = s[(size_t)i * sld + j];
            for (int d = 0; d < hd; d++) o[i][d] += pj * vr[d];
        }
        for (int d = 0; d < hd; d++) o[i][d] *= inv[i];
    }
}

static float row_exp2(float *s, int lo, int hi, int cnt) {
    float mx = -INFINITY, sum = 0.0f;
    for (int j = lo; j < hi; j++) mx = s[j] > mx ? s[j] : mx;
    for (int j = 0; j < cnt; j++) {
        s[j] = j >= lo && j < hi ? exp2f(s[j] - mx) : 0.0f;
        sum += s[j];
    }
    return sum;
}
#endif
#endif

/* Query head h of sequence b (packed queries at qp) against its kv head (kt, vp). The
 * real queries go in blocks of MQ, in position order. */
static void attend_head(const xl_attn_params *p, float *out, const int *idx, int n, int b, int h, const float *qp,
                        const float *kt, const float *vp, attn_scratch *w) {
    const int T = p->T, hd = p->head_dim, ostride = p->n_heads * hd, sld = w->kt_ld, vld = w->v_ld;
    const size_t row0 = (size_t)b * T;
    if (n < T) /* padded query rows: zeros */
        for (int i = 0; i < T; i++)
            if (!p->mask[row0 + i]) memset(out + (row0 + i) * ostride + (size_t)h * hd, 0, sizeof(float) * (size_t)hd);
    int a = 0, e = 0; /* the key run of the next query */
    for (int j0 = 0; j0 < n; j0 += MQ) {
        float *os[MQ];
        int src[MQ], ra[MQ], re[MQ], mr = 0, A = INT_MAX, E = 0;
        for (int j = j0; j < n && j < j0 + MQ; j++) {
            const int i = idx[j];
            long lo = p->window_left < 0 ? LONG_MIN : (long)i - p->window_left;
            long hi = p->window_right < 0 ? LONG_MAX : (long)i + p->window_right;
            while (a < n && idx[a] < lo) a++;
            while (e < n && idx[e] <= hi) e++;
            float *o = out + (row0 + i) * ostride + (size_t)h * hd;
            if (e <= a) { /* nothing visible (a real query sees itself: defensive): zeros */
                memset(o, 0, sizeof(float) * (size_t)hd);
                continue;
            }
            src[mr] = j;
            os[mr] = o;
            ra[mr] = a;
            re[mr] = e;
            A = a < A ? a : A;
            E = e > E ? e : E;
            mr++;
        }
        if (!mr) continue;
        const float *qb = qp + (size_t)src[0] * vld;
        if (src[mr - 1] - src[0] != mr - 1) { /* a query in the middle sees nothing: gather the others */
            for (int u = 0; u < mr; u++) memcpy(w->qb + (size_t)u * vld, qp + (size_t)src[u] * vld, sizeof(float) * (size_t)vld);
            qb = w->qb;
        }
        const int cnt = E - A;
        block_scores(mr, kt + A, w->kt_ld, qb, vld, hd, cnt, w->s, sld);
        float inv[MQ];
        for (int u = 0; u < mr; u++) inv[u] = 1.0f / row_exp2(w->s + (size_t)u * sld, ra[u] - A, re[u] - A, cnt);
        block_output(mr, w->s, sld, vp + (size_t)A * vld, vld, cnt, hd, os, inv);
    }
}

/* One task: kv heads [g0, g0 + ng) of sequence b and all their query heads. */
static void attend_task(const xl_attn_params *p, const float *q, int q_stride, const float *k, const float *v,
                        int kv_stride, float *out, const int *idx, int n, int b, int g0, int ng, attn_scratch *w) {
    const int hd = p->head_dim, per = p->n_heads / p->n_kv_heads;
    if (n > 0)
        pack_task(w, q, q_stride, k, v, kv_stride, idx, n, hd, (size_t)b * p->T, g0, ng, per, p->scale * LOG2E);
    for (int g = 0; g < ng; g++)
        for (int u = 0; u < per; u++)
            attend_head(p, out, idx, n, b, (g0 + g) * per + u, w->qp + (size_t)(g * per + u) * w->kt_ld * w->v_ld,
                        w->kt + (size_t)g * hd * w->kt_ld, w->vp + (size_t)g * w->kt_ld * w->v_ld, w);
}

/* How a call is cut into tasks (a sequence and a group of ng kv heads) and the scratch
 * one thread needs for a task. */
typedef struct {
    int kt_ld, v_ld, per, ng, groups;
    size_t kt_f, vp_f, qp_f, s_f, qb_f; /* floats of each scratch part */
} attn_plan;

static size_t up64(size_t bytes) { return (bytes + 63) / 64 * 64; }

static size_t plan_bytes(const attn_plan *pl) {
    return up64(sizeof(float) * pl->kt_f) + up64(sizeof(float) * pl->vp_f) + up64(sizeof(float) * pl->qp_f) +
           up64(sizeof(float) * pl->s_f) + up64(sizeof(float) * pl->qb_f);
}

static void plan_set_ng(attn_plan *pl, int hd, int ng) {
    pl->ng = ng;
    pl->kt_f = (size_t)ng * hd * pl->kt_ld;
    pl->vp_f = (size_t)ng * pl->kt_ld * pl->v_ld;
    pl->qp_f = (size_t)ng * pl->per * pl->kt_ld * pl->v_ld;
    pl->s_f = (size_t)MQ * pl->kt_ld;
    pl->qb_f = (size_t)MQ * pl->v_ld;
}

/* A group's packed queries, keys and values stay in L2 while its heads are attended
 * (at most SCRATCH_MAX, at least one kv head); groups are also split to give every
 * thread work. */
static attn_plan make_plan(const xl_attn_params *p, int threads) {
    attn_plan pl;
    const int hd = p->head_dim, Hkv = p->n_kv_heads;
    pl.kt_ld = round16(p->T) + 16;
    pl.v_ld = round16(hd);
    pl.per = p->n_heads / Hkv;
    const size_t head_bytes = sizeof(float) * ((size_t)hd * pl.kt_ld + (size_t)(1 + pl.per) * pl.kt_ld * pl.v_ld);
    int ng = Hkv;
    if ((size_t)ng * head_bytes > SCRATCH_MAX) ng = (int)(SCRATCH_MAX / head_bytes) > 1 ? (int)(SCRATCH_MAX / head_bytes) : 1;
    int groups = (Hkv + ng - 1) / ng;
    if ((long)p->B * groups < 2L * threads) {
        groups = (int)((2L * threads + p->B - 1) / p->B);
        if (groups > Hkv) groups = Hkv;
    }
    ng = (Hkv + groups - 1) / groups; /* even groups */
    pl.groups = (Hkv + ng - 1) / ng;
    plan_set_ng(&pl, hd, ng);
    return pl;
}

/* Points w's parts into block (plan_bytes(pl) bytes, 64-byte aligned). */
static void carve(attn_scratch *w, const attn_plan *pl, void *block) {
    char *c = block;
    w->kt_ld = pl->kt_ld;
    w->v_ld = pl->v_ld;
    w->kt = (float *)c;
    c += up64(sizeof(float) * pl->kt_f);
    w->vp = (float *)c;
    c += up64(sizeof(float) * pl->vp_f);
    w->qp = (float *)c;
    c += up64(sizeof(float) * pl->qp_f);
    w->s = (float *)c;
    c += up64(sizeof(float) * pl->s_f);
    w->qb = (float *)c;
}

static xl_status check_heads(const xl_attn_params *p) {
    if (p->head_dim <= 0 || p->n_kv_heads <= 0 || p->n_heads % p->n_kv_heads != 0)
        return xl_err(XL_ERR_ARG, "attention: %d query heads cannot share %d key/value heads of dim %d", p->n_heads,
                      p->n_kv_heads, p->head_dim);
    return XL_OK;
}

/* The key positions of each sequence, in order, into idx[B][T]; their counts into nkeys. */
static void list_keys(const xl_attn_params *p, int *idx, int *nkeys) {
    for (int b = 0; b < p->B; b++) {
        int n = 0;
        for (int j = 0; j < p->T; j++)
            if (p->mask[(size_t)b * p->T + j]) idx[(size_t)b * p->T + n++] = j;
        nkeys[b] = n;
    }
}

xl_status xl_attention(const xl_attn_params *p, const float *q, int q_stride, const float *k, const float *v,
                       int kv_stride, float *out, int threads) {
    const int B = p->B, T = p->T;
    if (B <= 0 || T <= 0 || p->n_heads <= 0) return XL_OK;
    xl_status st = check_heads(p);
    if (st) return st;
    if (threads < 1) threads = 1;
    int *idx = malloc(sizeof(int) * ((size_t)B * T + (size_t)B));
    if (!idx) return xl_err(XL_ERR_NOMEM, "attention: out of memory for %d x %d key lists", B, T);
    int *nkeys = idx + (size_t)B * T;
    list_keys(p, idx, nkeys);
    const attn_plan pl = make_plan(p, threads);
    const int Hkv = p->n_kv_heads, ng = pl.ng, groups = pl.groups;
    const int ntasks = B * groups;
    const int nt = threads < ntasks ? threads : ntasks;
    int failed = 0;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        attn_scratch w = {0};
        void *block = aligned_alloc(64, plan_bytes(&pl));
        if (block)
            carve(&w, &pl, block);
        else {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp barrier
        int stop;
#pragma omp atomic read
        stop = failed;
        if (!stop) {
#pragma omp for schedule(dynamic, 1)
            for (int t = 0; t < ntasks; t++) {
                int b = t / groups, g0 = (t % groups) * ng;
                int cnt = Hkv - g0 < ng ? Hkv - g0 : ng;
                attend_task(p, q, q_stride, k, v, kv_stride, out, idx + (size_t)b * T, nkeys[b], b, g0, cnt, &w);
            }
        }
        free(block);
    }
    free(idx);
    if (failed) return xl_err(XL_ERR_NOMEM, "attention: out of memory for the scratch of %d positions", T);
    return XL_OK;
}

size_t xl_attention_scratch_bytes(const xl_attn_params *p) {
    if (p->B <= 0 || p->T <= 0 || p->n_heads <= 0 || check_heads(p)) return 0;
    attn_plan pl = make_plan(p, 1);
    size_t b = plan_bytes(&pl);
    /* a shorter T may put more kv heads in a group: up to SCRATCH_MAX of them */
    attn_plan one = pl;
    plan_set_ng(&one, p->head_dim, 1);
    size_t fixed = plan_bytes(&one) - up64(sizeof(float) * one.kt_f) - up64(sizeof(float) * one.vp_f) -
                   up64(sizeof(float) * one.qp_f);
    if (b < SCRATCH_MAX + fixed + 3 * 64) b = SCRATCH_MAX + fixed + 3 * 64;
    return b + up64(sizeof(int) * ((size_t)p->B * p->T + (size_t)p->B));
}

xl_status xl_attention_st(const xl_attn_params *p, const float *q, int q_stride, const float *k, const float *v,
                          int kv_stride, float *out, void *scratch, size_t scratch_bytes) {
    const int B = p->B, T = p->T;
    if (B <= 0 || T <= 0 || p->n_heads <= 0) return XL_OK;
    xl_status st = check_heads(p);
    if (st) return st;
    const size_t idx_bytes = up64(sizeof(int) * ((size_t)B * T + (size_t)B));
    const attn_plan pl = make_plan(p, 1);
    if (!scratch || ((uintptr_t)scratch & 63u) || scratch_bytes < idx_bytes + plan_bytes(&pl))
        return xl_err(XL_ERR_ARG, "attention: scratch of %zu bytes (64-byte aligned: %s) is short of the %zu that %d x %d positions need",
                      scratch_bytes, scratch && !((uintptr_t)scratch & 63u) ? "yes" : "no", idx_bytes + plan_bytes(&pl), B, T);
    int *idx = scratch, *nkeys = idx + (size_t)B * T;
    list_keys(p, idx, nkeys);
    attn_scratch w;
    carve(&w, &pl, (char *)scratch + idx_bytes);
    for (int b = 0; b < B; b++)
        for (int g0 = 0; g0 < p->n_kv_heads; g0 += pl.ng) {
            int cnt = p->n_kv_heads - g0 < pl.ng ? p->n_kv_heads - g0 : pl.ng;
            attend_task(p, q, q_stride, k, v, kv_stride, out, idx + (size_t)b * T, nkeys[b], b, g0, cnt, &w);
        }
    return XL_OK;
}
