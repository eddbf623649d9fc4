/* Linear layers: y = act(x · Wᵀ + b), W stored [N][K] as nn.Linear does.
 *
 * With AVX-512 this is our own GEMM, threaded with OpenMP like every other kernel so
 * the process has a single thread pool (OpenBLAS's pthread pool spinning next to
 * OpenMP's on two cores made a 12-layer forward up to 20x slower). Layout:
 *   - W is cut into panels of 32 output columns, each stored [K][32] contiguously:
 *     packed once at load (xl_pack_w) or panel by panel per call (xl_linear_f32);
 *   - 12 rows of x are read in place, each element broadcast against the panel:
 *     a 12 x 32 tile is 24 zmm accumulators, one FMA per cycle with loads to spare
 *     (when K is a multiple of 1024 the 12 rows would share one L1 set, so each 12-row
 *     slab is first copied to a buffer whose rows are spread over the sets);
 *   - weights of megabytes are 2 MB aligned and advised for huge pages (TLB misses);
 *   - the output is cut into tasks of 192 rows x 8 panels (the panels stay in L2 while
 *     the rows stream by; K is cut into blocks of <= 384 so a tile's rows stay in L1),
 *     handed to the threads dynamically;
 *   - bias is added on the first K block, the activation applied to each finished row
 *     block while it is still in cache;
 *   - with a plain W and at most 16 rows (decoder latency), dot products along K instead,
 *     since packing W per call would cost as much as the multiply.
 * Without AVX-512, OpenBLAS's sgemm does the multiply. */
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"
#include "util/alloc.h"
#include "util/error.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __AVX512F__
#include <immintrin.h>
#else
#include <cblas.h>
#include <pthread.h>
#endif

#define NR 32          /* panel width (output columns) */
#define MR 12          /* rows per micro-tile */
#define KC_MAX 384     /* K block: a tile's 12 rows x 384 of x stay in L1 */
#define PG_MAX 8       /* panels per task: 8 x 32 x 384 x 4 B = 384 KB of W in L2 */
#define MB_ROWS 192    /* rows per task: each W element is used 192 times per fetch */

#ifdef __AVX512F__
#define XL_ALWAYS_INLINE inline __attribute__((always_inline))

/* aligned_alloc wants a size that is a multiple of the alignment. */

static int k_block(int K) {
    int nb = (K + KC_MAX - 1) / KC_MAX;
    return (K + nb - 1) / nb;
}

xl_status xl_pack_w(const float *W, int N, int K, xl_packed_w *out) {
    memset(out, 0, sizeof *out);
    if (N <= 0 || K <= 0) return xl_err(XL_ERR_ARG, "xl_pack_w: empty weight %d x %d", N, K);
    int np = (N + NR - 1) / NR;
    size_t n = (size_t)np * NR * (size_t)K;
    float *d = xl_alloc_huge(sizeof(float) * n);
    if (!d) return xl_err(XL_ERR_NOMEM, "out of memory packing a %d x %d weight", N, K);
    for (int p = 0; p < np; p++) {
        float *dp = d + (size_t)p * NR * K;
        for (int j = 0; j < NR; j++) {
            int nrow = p * NR + j;
            if (nrow < N) {
                const float *wr = W + (size_t)nrow * K;
                for (int k = 0; k < K; k++) dp[(size_t)k * NR + j] = wr[k];
            } else {
                for (int k = 0; k < K; k++) dp[(size_t)k * NR + j] = 0.0f;
            }
        }
    }
    out->N = N;
    out->K = K;
    out->data = d;
    return XL_OK;
}

void xl_packed_w_free(xl_packed_w *w) {
    if (!w) return;
    free(w->data);
    w->data = NULL;
}


/* Tile: c[0..mr)[0..32) (columns masked by mask0/mask1) (+)= a[0..mr)[0..kc) · bp[kc][NR],
 * a read in place (rows at stride lda, each element broadcast). first: c is
 * overwritten (+ bias if any); else accumulated onto. */
static XL_ALWAYS_INLINE void tile(const int mr, int kc, const float *a, size_t lda, const float *bp, float *c,
                                  size_t ldc, __mmask16 mask0, __mmask16 mask1, int first, const float *bias) {
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) c0[i] = c1[i] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp + (size_t)k * NR);
        __m512 b1 = _mm512_load_ps(bp + (size_t)k * NR + 16);
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            __m512 av = _mm512_set1_ps(a[(size_t)i * lda + k]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
    }
    __m512 bias0 = _mm512_setzero_ps(), bias1 = bias0;
    if (first && bias) {
        bias0 = _mm512_maskz_loadu_ps(mask0, bias);
        bias1 = _mm512_maskz_loadu_ps(mask1, bias + 16);
    }
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        float *cr = c + (size_t)i * ldc;
        if (first) {
            c0[i] = _mm512_add_ps(c0[i], bias0);
            c1[i] = _mm512_add_ps(c1[i], bias1);
        } else {
            c0[i] = _mm512_add_ps(c0[i], _mm512_maskz_loadu_ps(mask0, cr));
            c1[i] = _mm512_add_ps(c1[i], _mm512_maskz_loadu_ps(mask1, cr + 16));
        }
        _mm512_mask_storeu_ps(cr, mask0, c0[i]);
        _mm512_mask_storeu_ps(cr + 16, mask1, c1[i]);
    }
}

static void tile_any(int mr, int kc, const float *a, size_t lda, const float *bp, float *c, size_t ldc, __mmask16 m0,
                     __mmask16 m1, int first, const float *bias) {
    switch (mr) {
#define T(n) case n: tile(n, kc, a, lda, bp, c, ldc, m0, m1, first, bias); break;
        T(1) T(2) T(3) T(4) T(5) T(6) T(7) T(8) T(9) T(10) T(11) T(12)
#undef T
    default: break;
    }
}

/* Packs panels [p0, p1) of a plain W for the K block [k0, k0 + kc) into buf[p - p0][kc][NR]. */
static void pack_w_block(const float *W, int N, int K, int p0, int p1, int k0, int kc, float *buf) {
    for (int p = p0; p < p1; p++) {
        float *dp = buf + (size_t)(p - p0) * kc * NR;
        for (int j = 0; j < NR; j++) {
            int n = p * NR + j;
            if (n < N) {
                const float *wr = W + (size_t)n * K + k0;
                for (int k = 0; k < kc; k++) dp[(size_t)k * NR + j] = wr[k];
            } else {
                for (int k = 0; k < kc; k++) dp[(size_t)k * NR + j] = 0.0f;
            }
        }
    }
}

/* How the output is cut into tasks: row blocks of mb rows x groups of pg panels. */
typedef struct {
    int M, N, K, np, kcb;
    int mb, n_mb; /* rows per block, blocks */
    int pg, n_pg; /* panels per group, groups */
} gemm_plan;

static gemm_plan plan(int M, int N, int K, int threads) {
    gemm_plan g;
    g.M = M;
    g.N = N;
    g.K = K;
    g.np = (N + NR - 1) / NR;
    g.kcb = k_block(K);
    g.mb = M < MB_ROWS ? M : MB_ROWS;
    g.n_mb = (M + g.mb - 1) / g.mb;
    /* a group's panels stay in L2 across the row block: at most PG_MAX panels */
    int groups = (g.np + PG_MAX - 1) / PG_MAX;
    /* enough tasks for dynamic balancing: ~4 per thread when the shape allows */
    if (threads > 1 && (long)g.n_mb * groups < 4L * threads) {
        int want = (4 * threads + g.n_mb - 1) / g.n_mb;
        groups = want > groups ? want : groups;
    }
    if (groups > g.np) groups = g.np;
    g.pg = (g.np + groups - 1) / groups;
    g.n_pg = (g.np + g.pg - 1) / g.pg;
    return g;
}

/* Leading dimension of a copied 12-row slab of x: kc rounded up to 16 floats plus 16, so
 * the 12 rows start in 12 different L1 sets (rows of x itself are K floats apart: with
 * K a multiple of 1024 they would all share one set, more rows than it has ways). */
static int slab_ld(int kc) { return (kc + 15) / 16 * 16 + 16; }

/* One task: rows [m0, m1) x panels [p0, p1), all of K. Exactly one of W (plain,
 * packed per K block into wbuf) and P (prepacked) is set. With abuf, each 12-row slab of
 * x is first copied there (see slab_ld); it is then read by every panel of the task. */
static void gemm_task(const gemm_plan *g, const float *x, const float *W, const xl_packed_w *P, const float *b,
                      xl_kact act, float *y, int m0, int m1, int p0, int p1, float *wbuf, float *abuf) {
    const int N = g->N, K = g->K;
    const int ncols = (p1 * NR < N ? p1 * NR : N) - p0 * NR;
    for (int k0 = 0; k0 < K; k0 += g->kcb) {
        int kc = K - k0 < g->kcb ? K - k0 : g->kcb;
        int first = k0 == 0, last = k0 + kc == K;
        if (W) pack_w_block(W, N, K, p0, p1, k0, kc, wbuf);
        for (int r0 = m0; r0 < m1; r0 += MR) {
            int mr = m1 - r0 < MR ? m1 - r0 : MR;
            const float *a = x + (size_t)r0 * K + k0;
            size_t lda = (size_t)K;
            if (abuf) {
                const int ald = slab_ld(kc);
                for (int i = 0; i < mr; i++) {
                    const float *src = a + (size_t)i * K;
                    float *dst = abuf + (size_t)i * ald;
                    int k = 0;
                    for (; k + 16 <= kc; k += 16) _mm512_storeu_ps(dst + k, _mm512_loadu_ps(src + k));
                    if (k < kc) {
                        __mmask16 m = (__mmask16)((1u << (kc - k)) - 1u);
                        _mm512_mask_storeu_ps(dst + k, m, _mm512_maskz_loadu_ps(m, src + k));
                    }
                }
                a = abuf;
                lda = (size_t)ald;
            }
            for (int p = p0; p < p1; p++) {
                int cols = N - p * NR;
                __mmask16 mk0 = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1u);
                __mmask16 mk1 = cols >= 32 ? 0xffff : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1u);
                const float *bp = W ? wbuf + (size_t)(p - p0) * kc * NR : P->data + (size_t)p * NR * K + (size_t)k0 * NR;
                tile_any(mr, kc, a, lda, bp, y + (size_t)r0 * N + (size_t)p * NR, (size_t)N, mk0, mk1, first,
                         b ? b + (size_t)p * NR : NULL);
            }
            if (last && act != XL_KACT_NONE) xl_act_block(y + (size_t)r0 * N + (size_t)p0 * NR, mr, ncols, N, NULL, act);
        }
    }
}

/* Fallback when a thread cannot get its few hundred KB of scratch: plain dot products. */
static void gemm_task_plain(const gemm_plan *g, const float *x, const float *W, const xl_packed_w *P, const float *b,
                            xl_kact act, float *y, int m0, int m1, int p0, int p1) {
    const int N = g->N, K = g->K;
    const int n1 = p1 * NR < N ? p1 * NR : N;
    for (int m = m0; m < m1; m++)
        for (int n = p0 * NR; n < n1; n++) {
            float s = b ? b[n] : 0.0f;
            for (int k = 0; k < K; k++) {
                float w = W ? W[(size_t)n * K + k] : P->data[(size_t)(n / NR) * NR * K + (size_t)k * NR + n % NR];
                s += x[(size_t)m * K + k] * w;
            }
            y[(size_t)m * N + n] = s;
        }
    if (act != XL_KACT_NONE) xl_act_block(y + (size_t)m0 * N + (size_t)p0 * NR, m1 - m0, n1 - p0 * NR, N, NULL, act);
}

static void gemm(const float *x, int M, int K, const float *W, const xl_packed_w *P, int N, const float *b,
                 xl_kact act, float *y, int threads) {
    if (threads < 1) threads = 1;
    gemm_plan g = plan(M, N, K, threads);
    const int ntasks = g.n_mb * g.n_pg;
    int nt = threads < ntasks ? threads : ntasks;
    if ((long)M * N * K < 100000) nt = 1; /* waking threads costs more than it saves */
    /* rows of x 4 KB apart or a multiple: a tile's 12 rows fall in one L1 set */
    const int copy_a = K % 1024 == 0;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *wbuf = W ? xl_alloc64(sizeof(float) * (size_t)g.pg * NR * g.kcb) : NULL;
        float *abuf = copy_a ? xl_alloc64(sizeof(float) * (size_t)MR * slab_ld(g.kcb)) : NULL;
        /* tasks handed out one at a time: a thread that loses its core (shared
         * machines) delays only its current task, not a fixed share */
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < ntasks; t++) {
            int mbi = t / g.n_pg, pgi = t % g.n_pg;
            int m0 = mbi * g.mb, m1 = m0 + g.mb < M ? m0 + g.mb : M;
            int p0 = pgi * g.pg, p1 = p0 + g.pg < g.np ? p0 + g.pg : g.np;
            if (!W || wbuf)
                gemm_task(&g, x, W, P, b, act, y, m0, m1, p0, p1, wbuf, abuf);
            else
                gemm_task_plain(&g, x, W, P, b, act, y, m0, m1, p0, p1);
        }
        free(wbuf);
        free(abuf);
    }
}

/* Few rows with a plain W: packing W per call would cost as much as the multiply, so
 * dot products along K instead: 4 rows of W x up to 4 rows of x per step, 16
 * accumulators, each W row read once per 4 rows of x (from L1). */
static XL_ALWAYS_INLINE void dot_block(const int MR4, const int NR4, const float *x, int K, const float *W,
                                       const float *b, float *y, int N) {
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < MR4; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NR4; j++) acc[i][j] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) {
        __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1u);
        __m512 w[4];
#pragma GCC unroll 4
        for (int j = 0; j < NR4; j++) w[j] = _mm512_maskz_loadu_ps(m, W + (size_t)j * K + k);
#pragma GCC unroll 4
        for (int i = 0; i < MR4; i++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x + (size_t)i * K + k);
#pragma GCC unroll 4
            for (int j = 0; j < NR4; j++) acc[i][j] = _mm512_fmadd_ps(xv, w[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MR4; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NR4; j++) y[(size_t)i * N + j] = _mm512_reduce_add_ps(acc[i][j]) + (b ? b[j] : 0.0f);
}

static void dot_any(int mr, int nr, const float *x, int K, const float *W, const float *b, float *y, int N) {
#define D(i, j) if (mr == i && nr == j) { dot_block(i, j, x, K, W, b, y, N); return; }
    D(4, 4) D(4, 3) D(4, 2) D(4, 1) D(3, 4) D(3, 3) D(3, 2) D(3, 1)
    D(2, 4) D(2, 3) D(2, 2) D(2, 1) D(1, 4) D(1, 3) D(1, 2) D(1, 1)
#undef D
}

#define DOT_MAX_M 16  /* up to here dot products beat packing W per call */
#define DOT_ROWS 16   /* W rows per task */

static void small_m(const float *x, int M, int K, const float *W, int N, const float *b, float *y, int threads) {
    const int ntasks = (N + DOT_ROWS - 1) / DOT_ROWS;
    int nt = threads < ntasks ? threads : ntasks;
    if ((long)M * N * K < 100000) nt = 1;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (int t = 0; t < ntasks; t++) {
        int n1 = (t + 1) * DOT_ROWS < N ? (t + 1) * DOT_ROWS : N;
        for (int n0 = t * DOT_ROWS; n0 < n1; n0 += 4) {
            int nr = n1 - n0 < 4 ? n1 - n0 : 4;
            for (int m0 = 0; m0 < M; m0 += 4)
                dot_any(M - m0 < 4 ? M - m0 : 4, nr, x + (size_t)m0 * K, K, W + (size_t)n0 * K, b ? b + n0 : NULL,
                        y + (size_t)m0 * N + n0, N);
        }
    }
}

void xl_linear_f32(const float *x, int M, int K, const float *W, int N, const float *b, float *y, int threads) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) y[(size_t)m * N + n] = b ? b[n] : 0.0f;
        return;
    }
    if (threads < 1) threads = 1;
    if (M <= DOT_MAX_M)
        small_m(x, M, K, W, N, b, y, threads);
    else
        gemm(x, M, K, W, NULL, N, b, XL_KACT_NONE, y, threads);
}

void xl_linear_packed(const float *x, int M, const xl_packed_w *W, const float *b, xl_kact act, float *y,
                      int threads) {
    if (M <= 0) return;
    gemm(x, M, W->K, NULL, W, W->N, b, act, y, threads);
}
#else
/* Without AVX-512: OpenBLAS. The packed form is kept as plain [N][K] rows. */
xl_status xl_pack_w(const float *W, int N, int K, xl_packed_w *out) {
    memset(out, 0, sizeof *out);
    if (N <= 0 || K <= 0) return xl_err(XL_ERR_ARG, "xl_pack_w: empty weight %d x %d", N, K);
    float *d = malloc(sizeof(float) * (size_t)N * K);
    if (!d) return xl_err(XL_ERR_NOMEM, "out of memory packing a %d x %d weight", N, K);
    memcpy(d, W, sizeof(float) * (size_t)N * K);
    out->N = N;
    out->K = K;
    out->data = d;
    return XL_OK;
}

void xl_packed_w_free(xl_packed_w *w) {
    if (!w) return;
    free(w->data);
    w->data = NULL;
}

/* y = x · Wᵀ + beta · y with OpenBLAS. Its OpenMP build frees and reallocates global
 * per-thread buffers in openblas_set_num_threads, without a lock: two threads calling
 * it at once (sequences side by side, bert.c) can free a buffer another thread's GEMM
 * has just taken, and two GEMMs then share it (wrong vectors under load, issue 9). So
 * the count is set only outside parallel regions, where OpenBLAS may use threads, and
 * under a lock held through the call; inside one, OpenBLAS runs on the calling thread
 * whatever it was told, so it is called as is. */
static void sgemm_xwt(const float *x, int M, int K, const float *W, int N, float beta, float *y, int threads) {
    static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;
#ifdef _OPENMP
    const int inside = omp_in_parallel();
#else
    const int inside = 0;
#endif
    if (!inside) {
        pthread_mutex_lock(&blas_lock);
        openblas_set_num_threads(threads);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, W, K, beta, y, N);
    if (!inside) pthread_mutex_unlock(&blas_lock);
}

void xl_linear_f32(const float *x, int M, int K, const float *W, int N, const float *b, float *y, int threads) {
    if (M <= 0 || N <= 0) return;
    if (b) {
        /* start from the bias and let the GEMM accumulate onto it (beta = 1) */
        for (int m = 0; m < M; m++) memcpy(y + (size_t)m * N, b, sizeof(float) * (size_t)N);
    }
    if (K <= 0) {
        if (!b) memset(y, 0, sizeof(float) * (size_t)M * N);
        return;
    }
    sgemm_xwt(x, M, K, W, N, b ? 1.0f : 0.0f, y, threads > 0 ? threads : 1);
}

void xl_linear_packed(const float *x, int M, const xl_packed_w *W, const float *b, xl_kact act, float *y,
                      int threads) {
    xl_linear_f32(x, M, W->K, W->data, W->N, b, y, threads);
    if (act != XL_KACT_NONE) xl_bias_act(y, M, W->N, NULL, act, threads);
}
#endif
