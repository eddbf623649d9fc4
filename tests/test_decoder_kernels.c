/* Tests of the decoder linears on whichever kernel set this build compiles (AVX-512,
 * AVX2, AVX2 + AVX-VNNI or the portable loops): xl_linear_half (BF16 / F16 weights read
 * in place) against a float64 reference, and the q8 kernels against an independent
 * integer reference written here (its own block quantization of x with lrintf, exact
 * int64 block sums, float64 scaling) and against xl_q8_linear_portable; the quantizer
 * against a scalar re-implementation, bit for bit. Shapes are chosen to hit every
 * edge: rows below / at / above the few-rows cut-off (8) and the panel sizes, weight
 * rows not a multiple of a micro-tile or a tile, K not a multiple of 8, 16 or the
 * 128-value q8 block, several x chunks; multi-job calls (more jobs than one pass
 * takes); threads 1 and 2. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/linear_half.h"
#include "kernels/q8.h"
#include "testlib.h"

static uint64_t rng = 0x243F6A8885A308D3ull;
static double urand(void) { /* uniform in [0, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static float *rand_floats(size_t n, double lo, double hi) {
    float *v = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) v[i] = (float)(lo + (hi - lo) * urand());
    return v;
}

/* Random [N][K] weights in dt (BF16: truncated floats in [-1, 1); F16: magnitudes
 * 2^-6 .. 2^1 with random signs and mantissas), and their exact float values. */
static uint16_t *rand_half(xl_dtype dt, int N, int K, float *as_f32) {
    size_t n = (size_t)N * K;
    uint16_t *w = malloc(2 * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        if (dt == XL_DT_BF16) {
            float v = (float)(2 * urand() - 1);
            uint32_t b;
            memcpy(&b, &v, 4);
            w[i] = (uint16_t)(b >> 16);
            as_f32[i] = xl_bf16_to_f32(w[i]);
        } else {
            uint16_t sign = urand() < 0.5 ? 0x8000 : 0, e = (uint16_t)(9 + (int)(urand() * 7));
            w[i] = (uint16_t)(sign | (uint16_t)(e << 10) | (uint16_t)(urand() * 1024));
            as_f32[i] = xl_f16_to_f32(w[i]);
        }
    }
    return w;
}

/* ------------------------------------------------------------------ BF16 / F16 */

/* y = x·Wᵀ (+ b) against float64, both thread counts; t=1 and t=2 must agree bit for
 * bit (each output is computed by one thread with the same tiles whatever the count). */
static void check_half(xl_dtype dt, int M, int K, int N, int with_bias) {
    float *x = rand_floats((size_t)M * K, -1, 1), *Wf = malloc(sizeof(float) * ((size_t)N * K + 1));
    float *b = rand_floats((size_t)N, -1, 1);
    uint16_t *W = rand_half(dt, N, K, Wf);
    float *y1 = malloc(sizeof(float) * (size_t)M * N), *y2 = malloc(sizeof(float) * (size_t)M * N);
    float *work = malloc(sizeof(float) * (xl_linear_half_work(M, K, 2) + 1));
    xl_linear_half(x, M, K, W, dt, N, with_bias ? b : NULL, y1, work, 1);
    xl_linear_half(x, M, K, W, dt, N, with_bias ? b : NULL, y2, work, 2);
    int bad = 0;
    for (int m = 0; m < M && !bad; m++)
        for (int n = 0; n < N; n++) {
            double s = with_bias ? b[n] : 0.0, a = with_bias ? fabs(b[n]) : 0.0;
            for (int k = 0; k < K; k++) {
                double p = (double)x[(size_t)m * K + k] * Wf[(size_t)n * K + k];
                s += p;
                a += fabs(p);
            }
            /* float32 sums of K terms in a few partial sums: error well below
             * 1e-5 · Σ|x·w| for K <= 2100 (the typical error is ~sqrt(K)·6e-8·Σ|x·w|). */
            double got = y1[(size_t)m * N + n], tol = 1e-5 * a + 1e-6;
            if (!(fabs(got - s) <= tol)) {
                CHECK_MSG(0, "linear_half %s %dx%dx%d%s y[%d][%d]: got %.9g want %.9g (tol %.3g)", xl_dtype_name(dt), M,
                          K, N, with_bias ? "+b" : "", m, n, got, s, tol);
                bad = 1;
                break;
            }
        }
    if (!bad) CHECK(1);
    CHECK_MSG(t_max_abs_diff(y1, y2, (size_t)M * N) == 0, "linear_half %s %dx%dx%d: 1 and 2 threads differ",
              xl_dtype_name(dt), M, K, N);
    free(x); free(Wf); free(b); free(W); free(y1); free(y2); free(work);
}

/* xl_linear_half_multi with n_jobs jobs (mixed widths, one without a bias, one of
 * width 0, an F32 one, more than the 8 one pass takes) gives exactly the single calls. */
static void check_half_multi(int M, int K, int threads) {
    enum { NJ = 11 };
    const int Ns[NJ] = {72, 17, 0, 40, 6, 13, 1, 64, 23, 9, 31};
    float *x = rand_floats((size_t)M * K, -1, 1);
    void *W[NJ];
    float *Wf[NJ], *b[NJ], *one[NJ], *multi[NJ];
    xl_half_job jobs[NJ];
    float *work = malloc(sizeof(float) * (xl_linear_half_work(M, K, threads) + 1));
    for (int j = 0; j < NJ; j++) {
        xl_dtype dt = j == 5 ? XL_DT_F32 : j % 2 ? XL_DT_F16 : XL_DT_BF16;
        Wf[j] = malloc(sizeof(float) * ((size_t)Ns[j] * K + 1));
        W[j] = dt == XL_DT_F32 ? (void *)Wf[j] : (void *)rand_half(dt, Ns[j], K, Wf[j]);
        if (dt == XL_DT_F32)
            for (size_t i = 0; i < (size_t)Ns[j] * K; i++) Wf[j][i] = (float)(urand() - 0.5);
        b[j] = j == 3 ? NULL : rand_floats((size_t)Ns[j], -1, 1);
        one[j] = malloc(sizeof(float) * ((size_t)M * Ns[j] + 1));
        multi[j] = malloc(sizeof(float) * ((size_t)M * Ns[j] + 1));
        xl_linear_half(x, M, K, W[j], dt, Ns[j], b[j], one[j], work, threads);
        jobs[j] = (xl_half_job){.W = W[j], .dt = dt, .N = Ns[j], .b = b[j], .y = multi[j]};
    }
    xl_linear_half_multi(x, M, K, jobs, NJ, work, threads);
    for (int j = 0; j < NJ; j++)
        CHECK_MSG(t_max_abs_diff(one[j], multi[j], (size_t)M * Ns[j]) == 0, "linear_half_multi %dx%d t=%d job %d differs",
                  M, K, threads, j);
    for (int j = 0; j < NJ; j++) {
        if (W[j] != Wf[j]) free(W[j]);
        free(Wf[j]); free(b[j]); free(one[j]); free(multi[j]);
    }
    free(x); free(work);
}

/* ------------------------------------------------------------------ q8 */

/* The block quantizer, written out: s = max|v| / qmax, q = round-to-nearest-even(v ·
 * (qmax / max|v|)) clamped to +-qmax (the library's definition, q8.h). */
static float ref_quant_block(const float *v, int n, int qmax, int32_t *q) {
    float amax = 0.0f;
    for (int k = 0; k < n; k++) amax = fmaxf(amax, fabsf(v[k]));
    float inv = amax > 0.0f ? (float)qmax / amax : 0.0f;
    for (int k = 0; k < XL_Q8_BLOCK; k++) {
        long r = k < n ? lrintf(v[k] * inv) : 0;
        q[k] = (int32_t)(r > qmax ? qmax : r < -qmax ? -qmax : r);
    }
    return amax / (float)qmax;
}

/* Weights quantized by the library equal the scalar definition, value and scale. */
static void check_q8_quantize(xl_dtype dt, int N, int K) {
    float *Wf = malloc(sizeof(float) * ((size_t)N * K + 1));
    void *W;
    if (dt == XL_DT_F32) {
        for (size_t i = 0; i < (size_t)N * K; i++) Wf[i] = (float)(4 * urand() - 2);
        if (N * K > 3) Wf[3] = 0.0f; /* an exact zero, and a row's own max */
        W = Wf;
    } else {
        W = rand_half(dt, N, K, Wf);
    }
    xl_q8_matrix q;
    CHECK(xl_q8_quantize(W, dt, N, K, &q, 2) == XL_OK);
    int nb = q.Kp / XL_Q8_BLOCK, bad = 0;
    CHECK_EQ_INT(q.Kp, (K + XL_Q8_BLOCK - 1) / XL_Q8_BLOCK * XL_Q8_BLOCK);
    int32_t want[XL_Q8_BLOCK];
    for (int n = 0; n < N && !bad; n++)
        for (int blk = 0; blk < nb && !bad; blk++) {
            int k0 = blk * XL_Q8_BLOCK, cnt = K - k0 < XL_Q8_BLOCK ? K - k0 : XL_Q8_BLOCK;
            float s = ref_quant_block(Wf + (size_t)n * K + k0, cnt, 127, want);
            if (q.scale[(size_t)n * nb + blk] != s) {
                CHECK_MSG(0, "q8 quantize %s %dx%d row %d block %d: scale %.9g want %.9g", xl_dtype_name(dt), N, K, n, blk,
                          q.scale[(size_t)n * nb + blk], s);
                bad = 1;
            }
            for (int k = 0; k < XL_Q8_BLOCK && !bad; k++)
                if (q.q[(size_t)n * q.Kp + k0 + k] != want[k]) {
                    CHECK_MSG(0, "q8 quantize %s %dx%d w[%d][%d]: %d want %d", xl_dtype_name(dt), N, K, n, k0 + k,
                              q.q[(size_t)n * q.Kp + k0 + k], want[k]);
                    bad = 1;
                }
        }
    if (!bad) CHECK(1);
    xl_q8_free(&q);
    if (W != Wf) free(W);
    free(Wf);
}

/* xl_q8_linear against the reference built from the definition: x quantized to int16
 * per row and block (scalar), exact int64 block sums with the library's int8 weights,
 * scaled in float64. The kernels sum exactly in int32 per SIMD lane, then scale and
 * add the lanes and blocks in float32, so the difference is float rounding of sums
 * bounded by Σ|x_q·w_q|·scales: tolerance 1e-5 of that. Also: within 1e-5 · max|y| of
 * the portable kernel, and 1 thread == 2 threads bit for bit. */
static void check_q8_linear(int M, int K, int N, int with_bias) {
    float *x = rand_floats((size_t)M * K, -1, 1), *Wf = malloc(sizeof(float) * ((size_t)N * K + 1));
    float *b = rand_floats((size_t)N, -1, 1);
    uint16_t *W = rand_half(XL_DT_BF16, N, K, Wf);
    if (M > 1)
        for (int k = 0; k < K; k++) x[(size_t)1 * K + k] *= 1000.0f; /* a row of another magnitude */
    xl_q8_matrix q;
    CHECK(xl_q8_quantize(W, XL_DT_BF16, N, K, &q, 2) == XL_OK);
    int Kp = q.Kp, nb = Kp / XL_Q8_BLOCK;
    float *y1 = malloc(sizeof(float) * (size_t)M * N), *y2 = malloc(sizeof(float) * (size_t)M * N);
    float *yp = malloc(sizeof(float) * (size_t)M * N);
    void *work = malloc(xl_q8_work(M, K, 2)), *pwork = malloc(xl_q8_work_rows(M, K));
    const float *bb = with_bias ? b : NULL;
    xl_q8_linear(x, M, K, &q, bb, y1, work, 1);
    xl_q8_linear(x, M, K, &q, bb, y2, work, 2);
    xl_q8_linear_portable(x, M, K, &q, bb, yp, pwork, 2);

    int32_t *xq = malloc(sizeof(int32_t) * (size_t)Kp);
    float *sx = malloc(sizeof(float) * (size_t)nb);
    int bad = 0;
    double ymax = 0;
    for (int m = 0; m < M && !bad; m++) {
        for (int blk = 0; blk < nb; blk++) {
            int k0 = blk * XL_Q8_BLOCK, cnt = K - k0 < XL_Q8_BLOCK ? K - k0 : XL_Q8_BLOCK;
            sx[blk] = ref_quant_block(x + (size_t)m * K + k0, cnt, 32767, xq + k0);
        }
        for (int n = 0; n < N; n++) {
            double s = bb ? bb[n] : 0.0, a = bb ? fabs(bb[n]) : 0.0;
            for (int blk = 0; blk < nb; blk++) {
                int64_t d = 0, da = 0;
                for (int k = blk * XL_Q8_BLOCK; k < (blk + 1) * XL_Q8_BLOCK; k++) {
                    int64_t p = (int64_t)xq[k] * q.q[(size_t)n * Kp + k];
                    d += p;
                    da += p < 0 ? -p : p;
                }
                double sc = (double)q.scale[(size_t)n * nb + blk] * sx[blk];
                s += (double)d * sc;
                a += (double)da * sc;
            }
            double got = y1[(size_t)m * N + n], tol = 1e-5 * a + 1e-6;
            ymax = fmax(ymax, fabs(s));
            if (!(fabs(got - s) <= tol)) {
                CHECK_MSG(0, "q8 %dx%dx%d%s y[%d][%d]: got %.9g want %.9g (tol %.3g)", M, K, N, with_bias ? "+b" : "", m, n,
                          got, s, tol);
                bad = 1;
                break;
            }
        }
    }
    if (!bad) CHECK(1);
    double dp = t_max_abs_diff(y1, yp, (size_t)M * N);
    CHECK_MSG(dp <= 1e-5 * ymax + 1e-6, "q8 %dx%dx%d: kernel vs portable %.3g (max |y| %.3g)", M, K, N, dp, ymax);
    CHECK_MSG(t_max_abs_diff(y1, y2, (size_t)M * N) == 0, "q8 %dx%dx%d: 1 and 2 threads differ", M, K, N);
    free(xq); free(sx); free(x); free(Wf); free(b); free(W); free(y1); free(y2); free(yp); free(work); free(pwork);
    xl_q8_free(&q);
}

/* xl_q8_linear_multi with more jobs than one pass takes equals the single calls. */
static void check_q8_multi(int M, int K, int threads) {
    enum { NJ = 10 };
    const int Ns[NJ] = {72, 17, 40, 6, 13, 1, 64, 23, 9, 31};
    float *x = rand_floats((size_t)M * K, -1, 1);
    xl_q8_matrix q[NJ];
    float *b[NJ], *one[NJ], *multi[NJ];
    xl_q8_job jobs[NJ];
    void *work = malloc(xl_q8_work(M, K, threads));
    for (int j = 0; j < NJ; j++) {
        float *Wf = malloc(sizeof(float) * (size_t)Ns[j] * K);
        uint16_t *W = rand_half(XL_DT_BF16, Ns[j], K, Wf);
        CHECK(xl_q8_quantize(W, XL_DT_BF16, Ns[j], K, &q[j], threads) == XL_OK);
        free(W);
        free(Wf);
        b[j] = j == 2 ? NULL : rand_floats((size_t)Ns[j], -1, 1);
        one[j] = malloc(sizeof(float) * (size_t)M * Ns[j]);
        multi[j] = malloc(sizeof(float) * (size_t)M * Ns[j]);
        xl_q8_linear(x, M, K, &q[j], b[j], one[j], work, threads);
        jobs[j] = (xl_q8_job){.W = &q[j], .b = b[j], .y = multi[j]};
    }
    xl_q8_linear_multi(x, M, K, jobs, NJ, work, threads);
    for (int j = 0; j < NJ; j++)
        CHECK_MSG(t_max_abs_diff(one[j], multi[j], (size_t)M * Ns[j]) == 0, "q8_linear_multi %dx%d t=%d job %d differs", M,
                  K, threads, j);
    for (int j = 0; j < NJ; j++) {
        xl_q8_free(&q[j]);
        free(b[j]); free(one[j]); free(multi[j]);
    }
    free(x); free(work);
}

int main(void) {
    /* rows: below the few-rows cut-off (8), at it, one panel (8 / 16), a 16-row
     * micro-tile, past it, several micro-tiles and a partial one */
    static const int Ms[] = {1, 2, 3, 5, 7, 8, 9, 16, 17, 33, 50};
    /* K: 1, not a multiple of 8 / 16, one q8 block +- 1, several blocks and a tail */
    static const int Ks[] = {1, 7, 17, 127, 129, 300};
    /* N: below a micro-tile (6 / 8 rows), a non-multiple, a full 64-row tile plus an edge */
    static const int Ns[] = {1, 5, 13, 70};
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
                int M = Ms[mi], K = Ks[ki], N = Ns[ni], bias = (int)((mi + ki + ni) % 2);
                check_half(XL_DT_BF16, M, K, N, bias);
                check_half(XL_DT_F16, M, K, N, !bias);
                check_q8_linear(M, K, N, bias);
            }
    /* Large enough to run on 2 threads (>= 262144 multiply-adds), several tiles per
     * thread; a batch longer than one packed chunk of x (8 MB / 4K = 512 rows at
     * K = 2048 for the float kernels, 4 MB / 4K = 1008 or 1024 rows for q8); K of a real model. */
    check_half(XL_DT_BF16, 61, 300, 700, 1);
    check_half(XL_DT_F16, 3, 1024, 300, 0);
    check_half(XL_DT_BF16, 16, 1024, 200, 1);
    check_half(XL_DT_BF16, 1100, 2048, 7, 0);
    check_q8_linear(61, 300, 700, 1);
    check_q8_linear(5, 1024, 300, 0);
    check_q8_linear(16, 1024, 200, 1);
    check_q8_linear(1100, 2048, 7, 0);
    for (int th = 1; th <= 2; th++) {
        check_half_multi(3, 200, th);
        check_half_multi(61, 200, th);
        check_q8_multi(3, 200, th);
        check_q8_multi(61, 300, th);
    }
    for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
        check_q8_quantize(XL_DT_F32, 9, Ks[ki]);
        check_q8_quantize(XL_DT_BF16, 5, Ks[ki]);
        check_q8_quantize(XL_DT_F16, 3, Ks[ki]);
    }
    return test_summary("test_decoder_kernels");
}
