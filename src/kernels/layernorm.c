/* LayerNorm (biased variance) and the fused residual + LayerNorm of post-LN encoders.
 * Statistics are accumulated in double, two passes (mean, then squared deviations), so
 * the result matches a float64 reference to float rounding whatever the row's offset. */
#include <math.h>
#include "kernels/kernels.h"
#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#define XL_LN_AVX512 1
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define XL_LN_AVX2 1
#endif

#ifdef XL_LN_AVX512
static inline __mmask16 tail_mask(int n) { return (__mmask16)((1u << n) - 1u); }

/* Sum of x[0..H) in double. */
static double row_sum(const float *x, int H) {
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
    int i = 0;
    for (; i + 16 <= H; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        a1 = _mm512_add_pd(a1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
    }
    if (i < H) {
        __m512 v = _mm512_maskz_loadu_ps(tail_mask(H - i), x + i);
        a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        a1 = _mm512_add_pd(a1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
}

/* Sum of (x - c)^2 over x[0..H) in double (w_sq: c = 0 for RMS). */
static double row_sq_dev(const float *x, int H, double c) {
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd(), vc = _mm512_set1_pd(c);
    int i = 0;
    for (; i < H; i += 16) {
        __m512 v = i + 16 <= H ? _mm512_loadu_ps(x + i) : _mm512_maskz_loadu_ps(tail_mask(H - i), x + i);
        __m512d d0 = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), vc);
        __m512d d1 = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)), vc);
        if (i + 16 > H) { /* lanes past the end must not contribute (0 - c)^2 */
            __mmask16 m = tail_mask(H - i);
            d0 = _mm512_maskz_mov_pd((__mmask8)(m & 0xff), d0);
            d1 = _mm512_maskz_mov_pd((__mmask8)(m >> 8), d1);
        }
        a0 = _mm512_fmadd_pd(d0, d0, a0);
        a1 = _mm512_fmadd_pd(d1, d1, a1);
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
}

/* y = (x - mean) * rstd * g + b, written over x. */
static void row_affine(float *x, int H, float mean, float rstd, const float *g, const float *b) {
    __m512 vm = _mm512_set1_ps(mean), vr = _mm512_set1_ps(rstd);
    for (int i = 0; i < H; i += 16) {
        __mmask16 m = i + 16 <= H ? (__mmask16)0xffff : tail_mask(H - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 t = _mm512_mul_ps(_mm512_sub_ps(v, vm), vr);
        if (g) t = _mm512_mul_ps(t, _mm512_maskz_loadu_ps(m, g + i));
        if (b) t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(m, b + i));
        _mm512_mask_storeu_ps(x + i, m, t);
    }
}
#elif defined(XL_LN_AVX2)
/* 8 floats a step, each half widened to 4 doubles; the tail through a zeroed buffer. */
static inline __m256 load_tail(const float *x, int n) {
    float t[8] = {0};
    for (int i = 0; i < n; i++) t[i] = x[i];
    return _mm256_loadu_ps(t);
}
static inline double hsum4d(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

static double row_sum(const float *x, int H) {
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    for (int i = 0; i < H; i += 8) {
        __m256 v = i + 8 <= H ? _mm256_loadu_ps(x + i) : load_tail(x + i, H - i);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    return hsum4d(_mm256_add_pd(a0, a1));
}

static double row_sq_dev(const float *x, int H, double c) {
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    const __m256d vc = _mm256_set1_pd(c);
    int i = 0;
    for (; i + 8 <= H; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), vc);
        __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), vc);
        a0 = _mm256_fmadd_pd(d0, d0, a0);
        a1 = _mm256_fmadd_pd(d1, d1, a1);
    }
    double s = hsum4d(_mm256_add_pd(a0, a1));
    for (; i < H; i++) { /* lanes past the end must not contribute (0 - c)^2 */
        double d = (double)x[i] - c;
        s += d * d;
    }
    return s;
}

static void row_affine(float *x, int H, float mean, float rstd, const float *g, const float *b) {
    const __m256 vm = _mm256_set1_ps(mean), vr = _mm256_set1_ps(rstd);
    int i = 0;
    for (; i + 8 <= H; i += 8) {
        __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vr);
        if (g) t = _mm256_mul_ps(t, _mm256_loadu_ps(g + i));
        if (b) t = _mm256_add_ps(t, _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(x + i, t);
    }
    for (; i < H; i++) {
        float t = (x[i] - mean) * rstd;
        if (g) t *= g[i];
        if (b) t += b[i];
        x[i] = t;
    }
}
#else
static double row_sum(const float *x, int H) {
    double s = 0.0;
    for (int i = 0; i < H; i++) s += x[i];
    return s;
}
static double row_sq_dev(const float *x, int H, double c) {
    double s = 0.0;
    for (int i = 0; i < H; i++) {
        double d = (double)x[i] - c;
        s += d * d;
    }
    return s;
}
static void row_affine(float *x, int H, float mean, float rstd, const float *g, const float *b) {
    for (int i = 0; i < H; i++) {
        float t = (x[i] - mean) * rstd;
        if (g) t *= g[i];
        if (b) t += b[i];
        x[i] = t;
    }
}
#endif

static void layernorm_row(float *x, int H, const float *g, const float *b, float eps) {
    double mean = row_sum(x, H) / H;
    double var = row_sq_dev(x, H, mean) / H;
    row_affine(x, H, (float)mean, (float)(1.0 / sqrt(var + (double)eps)), g, b);
}

/* Below this many values a parallel region costs more than it saves. */
#define XL_PAR_MIN 16384

void xl_layernorm(float *x, int M, int H, const float *g, const float *b, float eps, int threads) {
    if (M <= 0 || H <= 0) return;
    if (threads < 1) threads = 1;
#pragma omp parallel for num_threads(threads) schedule(static) if ((size_t)M * H >= XL_PAR_MIN && threads > 1)
    for (int m = 0; m < M; m++) layernorm_row(x + (size_t)m * H, H, g, b, eps);
}

void xl_residual_layernorm(float *x, const float *y, const float *bias, int M, int H, const float *g,
                           const float *beta, float eps, int threads) {
    if (M <= 0 || H <= 0) return;
    if (threads < 1) threads = 1;
#pragma omp parallel for num_threads(threads) schedule(static) if ((size_t)M * H >= XL_PAR_MIN && threads > 1)
    for (int m = 0; m < M; m++) {
        float *xr = x + (size_t)m * H;
        const float *yr = y + (size_t)m * H;
        if (bias) {
#pragma omp simd
            for (int i = 0; i < H; i++) xr[i] += yr[i] + bias[i];
        } else {
#pragma omp simd
            for (int i = 0; i < H; i++) xr[i] += yr[i];
        }
        layernorm_row(xr, H, g, beta, eps);
    }
}

double xl_sum_sq_dev(const float *x, int n, double c) { return n > 0 ? row_sq_dev(x, n, c) : 0.0; }
