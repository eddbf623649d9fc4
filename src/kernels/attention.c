/* Multi-head attention over a padded batch: softmax(scale · q·kᵀ) · v per (sequence, head).
 *
 * Only real keys are ever touched: each sequence's key positions (mask = 1) are listed
 * once, and for every query the visible keys form one contiguous run of that list (the
 * window bounds move monotonically with the query), so padding costs nothing and masked
 * keys cannot leak in. Per task the keys of its kv heads are packed transposed
 * ([head_dim][keys]) and the values contiguously ([keys][head_dim]: rows of the
 * projection output are kilobytes apart and would crowd a few L1 sets). Queries go in
 * groups of QB = 4: their scores over the union of their key runs come out of one
 * register-blocked pass (each key vector loaded once for 4 queries), each row is
 * exponentiated over its own run (zero elsewhere), and the weighted sum of values is
 * another 4-query register-blocked pass, divided by each row's sum at the store.
 * Tasks run in parallel over (sequence, group of kv heads). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"
#include "util/error.h"
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define XL_ALWAYS_INLINE inline __attribute__((always_inline))
#define QB 4    /* queries per group */
#define KBLK 64 /* keys per score block (whole blocks may run past the run: buffers have room) */
#define PF_AHEAD 8 /* rows prefetched ahead when packing keys and values */
#define SCRATCH_MAX ((size_t)2 << 20) /* packed keys + values of one task, per thread */

/* aligned_alloc wants a size that is a multiple of the alignment. */
static void *alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

/* Scratch of one thread, for the kv heads of one task. */
typedef struct {
    float *kt;     /* [group][head_dim][kt_ld]: keys transposed, zero past the last key */
    int kt_ld;     /* keys rounded up to KBLK, plus KBLK */
    float *vp;     /* [group][keys][v_ld]: value rows, contiguous, zero-padded */
    int v_ld;      /* head_dim rounded up to 16 */
    float *s;      /* [QB][kt_ld]: scores, then exponentials */
    float *zero_q; /* [head_dim] zeros: the query of an unused group slot */
} attn_scratch;

/* Packs kv heads [g0, g0 + ng) of one sequence: reads each key row's segment of those
 * heads once, front to back (the rows are kilobytes apart; within a row the heads are
 * adjacent), and spreads it into the per-head transposed keys and value rows. */
static void pack_kv(attn_scratch *w, const float *k, const float *v, int kv_stride, const int *idx, int n, int hd,
                    size_t row0, int g0, int ng) {
    const int ld = w->kt_ld, vld = w->v_ld;
    const size_t kt_head = (size_t)hd * ld, vp_head = (size_t)ld * vld;
    for (int g = 0; g < ng; g++)
        for (int d = 0; d < hd; d++) memset(w->kt + g * kt_head + (size_t)d * ld + n, 0, sizeof(float) * (size_t)(ld - n));
    for (int j = 0; j < n; j++) {
        const float *kr = k + (row0 + (size_t)idx[j]) * kv_stride + (size_t)g0 * hd;
        const float *restrict vs = v + (row0 + (size_t)idx[j]) * kv_stride + (size_t)g0 * hd;
        if (j + PF_AHEAD < n) { /* rows are kilobytes apart: fetch a few ahead */
            const char *kf = (const char *)(k + (row0 + (size_t)idx[j + PF_AHEAD]) * kv_stride + (size_t)g0 * hd);
            const char *vf = (const char *)(v + (row0 + (size_t)idx[j + PF_AHEAD]) * kv_stride + (size_t)g0 * hd);
            for (int off = 0; off < ng * hd * 4; off += 64) {
                __builtin_prefetch(kf + off);
                __builtin_prefetch(vf + off);
            }
        }
        for (int g = 0; g < ng; g++) {
            float *kt = w->kt + g * kt_head + j;
            const float *kg = kr + (size_t)g * hd;
            for (int d = 0; d < hd; d++) kt[(size_t)d * ld] = kg[d];
            float *restrict vr = w->vp + g * vp_head + (size_t)j * vld;
            const float *restrict vg = vs + (size_t)g * hd;
#ifdef __AVX512F__
            for (int d = 0; d < vld; d += 16) {
                int r = hd - d;
                __mmask16 m = r >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << r) - 1u);
                _mm512_storeu_ps(vr + d, _mm512_maskz_loadu_ps(m, vg + d));
            }
#else
            for (int d = 0; d < hd; d++) vr[d] = vg[d];
            for (int d = hd; d < vld; d++) vr[d] = 0.0f;
#endif
        }
    }
}

#ifdef __AVX512F__
/* s[i][j0 + 0..16·NK) = scale · q_i · kt[:, A + j0 + ...] for the QB queries. */
static XL_ALWAYS_INLINE void score_block(const int NK, const float *kt, int ld, const float *const *q, int hd,
                                         __m512 vs, float *s, int sld, int j0) {
    __m512 acc[QB][4];
#pragma GCC unroll 4
    for (int i = 0; i < QB; i++)
#pragma GCC unroll 4
        for (int c = 0; c < NK; c++) acc[i][c] = _mm512_setzero_ps();
    for (int d = 0; d < hd; d++) {
        const float *r = kt + (size_t)d * ld + j0;
        __m512 kv[4];
#pragma GCC unroll 4
        for (int c = 0; c < NK; c++) kv[c] = _mm512_loadu_ps(r + 16 * c);
#pragma GCC unroll 4
        for (int i = 0; i < QB; i++) {
            __m512 qd = _mm512_set1_ps(q[i][d]);
#pragma GCC unroll 4
            for (int c = 0; c < NK; c++) acc[i][c] = _mm512_fmadd_ps(qd, kv[c], acc[i][c]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < QB; i++)
#pragma GCC unroll 4
        for (int c = 0; c < NK; c++) _mm512_storeu_ps(s + (size_t)i * sld + j0 + 16 * c, _mm512_mul_ps(acc[i][c], vs));
}

/* Scores of the group over keys [A, A + cnt): s[i][0..cnt) (kt already offset by A). */
static void scores(const float *kt, int ld, const float *const *q, int hd, float scale, int cnt, float *s, int sld) {
    const __m512 vs = _mm512_set1_ps(scale);
    int j = 0;
    for (; j + 32 < cnt; j += 64) score_block(4, kt, ld, q, hd, vs, s, sld, j);
    for (; j + 16 < cnt; j += 32) score_block(2, kt, ld, q, hd, vs, s, sld, j);
    for (; j < cnt; j += 16) score_block(1, kt, ld, q, hd, vs, s, sld, j);
}

/* o_i[d0 + 0..16·NB) = inv_i · Σ_j s[i][j] · v[j][d0 + ...] (tail block masked by mlast). */
static XL_ALWAYS_INLINE void pv_block(const int NB, const float *s, int sld, const float *v, int vld, int cnt, int d0,
                                      float *const *o, const float *inv, __mmask16 mlast) {
    __m512 acc[QB][4];
#pragma GCC unroll 4
    for (int i = 0; i < QB; i++)
#pragma GCC unroll 4
        for (int c = 0; c < NB; c++) acc[i][c] = _mm512_setzero_ps();
    for (int j = 0; j < cnt; j++) {
        const float *vr = v + (size_t)j * vld + d0;
        __m512 x[4];
#pragma GCC unroll 4
        for (int c = 0; c < NB; c++) x[c] = _mm512_loadu_ps(vr + 16 * c);
#pragma GCC unroll 4
        for (int i = 0; i < QB; i++) {
            __m512 p = _mm512_set1_ps(s[(size_t)i * sld + j]);
#pragma GCC unroll 4
            for (int c = 0; c < NB; c++) acc[i][c] = _mm512_fmadd_ps(p, x[c], acc[i][c]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < QB; i++) {
        if (!o[i]) continue;
        __m512 vi = _mm512_set1_ps(inv[i]);
#pragma GCC unroll 4
        for (int c = 0; c < NB; c++)
            _mm512_mask_storeu_ps(o[i] + d0 + 16 * c, c == NB - 1 ? mlast : (__mmask16)0xffff,
                                  _mm512_mul_ps(acc[i][c], vi));
    }
}

static void weighted_sums(const float *s, int sld, const float *v, int vld, int cnt, int hd, float *const *o,
                          const float *inv) {
    for (int d0 = 0; d0 < hd; d0 += 64) {
        int w = hd - d0 < 64 ? hd - d0 : 64;
        int nb = (w + 15) / 16;
        int tail = w - 16 * (nb - 1);
        __mmask16 ml = tail >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << tail) - 1u);
        switch (nb) {
        case 1: pv_block(1, s, sld, v, vld, cnt, d0, o, inv, ml); break;
        case 2: pv_block(2, s, sld, v, vld, cnt, d0, o, inv, ml); break;
        case 3: pv_block(3, s, sld, v, vld, cnt, d0, o, inv, ml); break;
        default: pv_block(4, s, sld, v, vld, cnt, d0, o, inv, ml); break;
        }
    }
}
#else
static void scores(const float *kt, int ld, const float *const *q, int hd, float scale, int cnt, float *s, int sld) {
    for (int i = 0; i < QB; i++) {
        float *si = s + (size_t)i * sld;
        for (int j = 0; j < cnt; j++) si[j] = 0.0f;
        for (int d = 0; d < hd; d++) {
            const float *r = kt + (size_t)d * ld;
            float qd = q[i][d];
            for (int j = 0; j < cnt; j++) si[j] += qd * r[j];
        }
        for (int j = 0; j < cnt; j++) si[j] *= scale;
    }
}

static void weighted_sums(const float *s, int sld, const float *v, int vld, int cnt, int hd, float *const *o,
                          const float *inv) {
    for (int i = 0; i < QB; i++) {
        if (!o[i]) continue;
        for (int d = 0; d < hd; d++) o[i][d] = 0.0f;
        for (int j = 0; j < cnt; j++) {
            const float *vr = v + (size_t)j * vld;
            float pj = s[(size_t)i * sld + j];
            for (int d = 0; d < hd; d++) o[i][d] += pj * vr[d];
        }
        for (int d = 0; d < hd; d++) o[i][d] *= inv[i];
    }
}
#endif

/* Query head h of sequence b against its kv head, packed at kt / vp. */
static void attend_head(const xl_attn_params *p, const float *q, int q_stride, float *out, const int *idx, int n,
                        int b, int h, const float *kt, const float *vp, attn_scratch *w) {
    const int T = p->T, hd = p->head_dim, ostride = p->n_heads * hd, sld = w->kt_ld;
    const size_t row0 = (size_t)b * T;
    const uint8_t *mask = p->mask + row0;
    int a = 0, e = 0; /* the key run of the next query */
    for (int i0 = 0; i0 < T; i0 += QB) {
        const float *qs[QB];
        float *os[QB];
        int ra[QB], re[QB], any = 0, A = INT_MAX, E = 0;
        for (int u = 0; u < QB; u++) {
            int i = i0 + u;
            qs[u] = w->zero_q;
            os[u] = NULL;
            ra[u] = re[u] = 0;
            if (i >= T) continue;
            long lo = p->window_left < 0 ? LONG_MIN : (long)i - p->window_left;
            long hi = p->window_right < 0 ? LONG_MAX : (long)i + p->window_right;
            while (a < n && idx[a] < lo) a++;
            while (e < n && idx[e] <= hi) e++;
            float *o = out + (row0 + i) * ostride + (size_t)h * hd;
            if (!mask[i] || e <= a) { /* padded query, or nothing visible: zeros */
                memset(o, 0, sizeof(float) * (size_t)hd);
                continue;
            }
            qs[u] = q + (row0 + i) * q_stride + (size_t)h * hd;
            os[u] = o;
            ra[u] = a;
            re[u] = e;
            A = a < A ? a : A;
            E = e > E ? e : E;
            any = 1;
        }
        if (!any) continue;
        const int cnt = E - A;
        scores(kt + A, w->kt_ld, qs, hd, p->scale, cnt, w->s, sld);
        float inv[QB];
        for (int u = 0; u < QB; u++) {
            float *su = w->s + (size_t)u * sld;
            inv[u] = 0.0f;
            if (!os[u]) { /* unused slot: contributes nothing */
                memset(su, 0, sizeof(float) * (size_t)cnt);
                continue;
            }
            int lo = ra[u] - A, hi = re[u] - A;
            if (lo > 0) memset(su, 0, sizeof(float) * (size_t)lo);
            if (hi < cnt) memset(su + hi, 0, sizeof(float) * (size_t)(cnt - hi));
            float sum = xl_softmax_unnormalized(su + lo, hi - lo);
            inv[u] = 1.0f / sum;
        }
        weighted_sums(w->s, sld, vp + (size_t)A * w->v_ld, w->v_ld, cnt, hd, os, inv);
    }
}

/* One task: kv heads [g0, g0 + ng) of sequence b and all their query heads. */
static void attend_task(const xl_attn_params *p, const float *q, int q_stride, const float *k, const float *v,
                        int kv_stride, float *out, const int *idx, int n, int b, int g0, int ng, attn_scratch *w) {
    const int hd = p->head_dim, per = p->n_heads / p->n_kv_heads;
    if (n > 0) pack_kv(w, k, v, kv_stride, idx, n, hd, (size_t)b * p->T, g0, ng);
    for (int g = 0; g < ng; g++)
        for (int h = (g0 + g) * per; h < (g0 + g + 1) * per; h++)
            attend_head(p, q, q_stride, out, idx, n, b, h, w->kt + (size_t)g * hd * w->kt_ld,
                        w->vp + (size_t)g * w->kt_ld * w->v_ld, w);
}

xl_status xl_attention(const xl_attn_params *p, const float *q, int q_stride, const float *k, const float *v,
                       int kv_stride, float *out, int threads) {
    const int B = p->B, T = p->T, H = p->n_heads;
    if (B <= 0 || T <= 0 || H <= 0) return XL_OK;
    if (p->head_dim <= 0 || p->n_kv_heads <= 0 || H % p->n_kv_heads != 0)
        return xl_err(XL_ERR_ARG, "attention: %d query heads cannot share %d key/value heads of dim %d", H,
                      p->n_kv_heads, p->head_dim);
    if (threads < 1) threads = 1;
    /* The key positions of each sequence, in order. */
    int *idx = malloc(sizeof(int) * ((size_t)B * T + (size_t)B));
    if (!idx) return xl_err(XL_ERR_NOMEM, "attention: out of memory for %d x %d key lists", B, T);
    int *nkeys = idx + (size_t)B * T;
    for (int b = 0; b < B; b++) {
        int n = 0;
        for (int j = 0; j < T; j++)
            if (p->mask[(size_t)b * T + j]) idx[(size_t)b * T + n++] = j;
        nkeys[b] = n;
    }
    /* Tasks: (sequence, group of kv heads). Whole sequences (every kv head at once) read
     * each row segment once, front to back; groups are split only to give every thread
     * work (few sequences) or to bound the scratch (long sequences). */
    const int hd = p->head_dim, Hkv = p->n_kv_heads;
    const int kt_ld = (T + KBLK - 1) / KBLK * KBLK + KBLK, v_ld = (hd + 15) / 16 * 16;
    const size_t head_bytes = sizeof(float) * ((size_t)hd * kt_ld + (size_t)kt_ld * v_ld);
    int ng = Hkv; /* kv heads per task */
    if ((size_t)ng * head_bytes > SCRATCH_MAX) ng = (int)(SCRATCH_MAX / head_bytes) > 1 ? (int)(SCRATCH_MAX / head_bytes) : 1;
    int groups = (Hkv + ng - 1) / ng;
    if ((long)B * groups < 2L * threads) {
        groups = (int)((2L * threads + B - 1) / B);
        if (groups > Hkv) groups = Hkv;
        ng = (Hkv + groups - 1) / groups;
        groups = (Hkv + ng - 1) / ng;
    }
    const int ntasks = B * groups;
    const int nt = threads < ntasks ? threads : ntasks;
    int failed = 0;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        attn_scratch w;
        w.kt_ld = kt_ld;
        w.v_ld = v_ld;
        w.kt = alloc64(sizeof(float) * (size_t)ng * hd * kt_ld);
        w.vp = alloc64(sizeof(float) * ((size_t)ng * kt_ld * v_ld));
        w.s = alloc64(sizeof(float) * (size_t)QB * w.kt_ld);
        w.zero_q = calloc((size_t)hd, sizeof(float));
        if (!w.kt || !w.vp || !w.s || !w.zero_q) {
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
        free(w.kt);
        free(w.vp);
        free(w.s);
        free(w.zero_q);
    }
    free(idx);
    if (failed) return xl_err(XL_ERR_NOMEM, "attention: out of memory for the scratch of %d positions", T);
    return XL_OK;
}
