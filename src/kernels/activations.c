/* Element-wise activations, softmax and the fused bias/gate passes.
 *
 * With AVX-512 the transcendental parts are computed 16 lanes at a time by the
 * vector functions below; without it, by libm (expf, erfcf) one value at a time.
 * Accuracy of the vector path (relative, vs float64): exp ~2e-7, GELU (tanh), SiLU
 * ~3e-7, GELU (erf) ~4e-7 · (1 + x²/4) — a few float ulps, including the negative
 * tails, because Φ(x) for x < 0 is computed from erfc, never as 1 - something (the
 * x² growth is that of any float code whose exponent is formed from a rounded x²).
 * act_span runs two vectors per step: each function is a long dependency chain.
 * With AVX2 + FMA the same functions run 8 lanes at a time; AVX-512's scalef is
 * replaced by a product with two powers of two built in the exponent field (the same
 * results, subnormals included), its rcp14 + Newton step by a division. */
#include <math.h>
#include "kernels/kernels.h"
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

/* Below this many values a parallel region costs more than it saves. */
#define XL_PAR_MIN 16384

/* ------------------------------------------------------------ scalar forms */

static inline float s_gelu_erf(float x) { return x * 0.5f * erfcf(-x * 0.70710678118654752f); }
static inline float s_gelu_tanh(float x) {
    /* 0.5 x (1 + tanh(u)) = x · sigmoid(2u): no cancellation for negative x */
    float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
}
static inline float s_relu(float x) { return x < 0.0f ? 0.0f : x; } /* NaN stays NaN */
static inline float s_silu(float x) { return x / (1.0f + expf(-x)); }

static inline float s_act(float x, xl_kact act) {
    switch (act) {
    case XL_KACT_GELU_ERF: return s_gelu_erf(x);
    case XL_KACT_GELU_TANH: return s_gelu_tanh(x);
    case XL_KACT_RELU: return s_relu(x);
    case XL_KACT_SILU: return s_silu(x);
    case XL_KACT_NONE: break;
    }
    return x;
}

/* ------------------------------------------------------------ vector forms */
#ifdef __AVX512F__
static inline __mmask16 tail_mask(int n) { return (__mmask16)((1u << n) - 1u); }

/* exp(a + b) where b is a small correction to a (b = 0 for a plain exp). Cody-Waite
 * reduction a + b = n·ln2 + r with |r| <= ln2/2, degree-7 Taylor polynomial for e^r,
 * then scalef(p, n) = p·2^n, which also gives 0 / inf on underflow / overflow. */
static inline __m512 v_exp2t(__m512 a, __m512 b) {
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 ln2hi = _mm512_set1_ps(0.693147182464599609375f);
    const __m512 ln2lo = _mm512_set1_ps(-1.904654323148236e-09f);
    /* max/min order keeps NaN inputs NaN */
    a = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), a));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_add_ps(a, b), log2e),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, ln2hi, a);
    r = _mm512_fnmadd_ps(n, ln2lo, r);
    r = _mm512_add_ps(r, b);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}
static inline __m512 v_exp(__m512 x) { return v_exp2t(x, _mm512_setzero_ps()); }

/* x · Φ(x) with Φ from erfc(z), z = |x|/√2:  erfc(z) = t · exp(-z² + g(t)),
 * t = 1/(1 + z/2), g a degree-10 polynomial (our Chebyshev fit on z in [0, 21.2], max
 * relative error 4e-8 in exact arithmetic). Worked in base 2: Φ(-|x|) = ½ erfc(z) =
 * t · 2^v with v = -x²/2 · log2(e) + G(t), G = g · log2(e) - 1 (the ½ folded in), and
 * 2^v = 2^floor(v) · 2^f by a degree-5 polynomial in f (our minimax fit, 9e-8). The
 * exponent is formed in float, so the relative error grows like x² · 6e-8 (what any
 * float code gets from the rounding of x²) — 4e-7 at worst up to |x| = 13 after that
 * scaling, and below float's normal range beyond. About 30 multiply-class operations a
 * vector, against 40 for the classic exp(-z² + g) with its two-term reduction. */
static inline __m512 v_gelu_erf(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 ax = _mm512_min_ps(_mm512_set1_ps(30.0f), _mm512_abs_ps(x)); /* keeps NaN */
    /* t = 1 / (1 + ax/(2√2)): reciprocal estimate (2^-14) and one Newton step (2^-28) */
    __m512 den = _mm512_fmadd_ps(ax, _mm512_set1_ps(0.35355339059327376f), one);
    __m512 t0 = _mm512_rcp14_ps(den);
    __m512 t = _mm512_fmadd_ps(t0, _mm512_fnmadd_ps(den, t0, one), t0);
    __m512 c = _mm512_fmadd_ps(t, _mm512_set1_ps(2.1739130434782608f), _mm512_set1_ps(-1.173913043478261f));
    __m512 g = _mm512_set1_ps(-4.922977678e-05f);
    g = _mm512_fmadd_ps(g, c, _mm512_set1_ps(2.356693440e-04f));
    g = _mm512_fmadd_ps(g, c, _mm512_set1_ps(1.488098060e-04f));
    g = _mm512_fmadd_ps(g, c, _mm512_set1_ps(-1.714759972e-03f));
    g = _mm512_fmadd_ps(g, c, _mm512_set1_ps(4.203481658e-04f));
    g = _mm512_fmadd_ps(g, c, _mm512_set1_ps(8.838039823e-03f));
    g = _mm512_fmadd_ps(g, c, _mm512_set1_ps(-6.429545116e-03f));
    g = _mm512_fmadd_ps(g, c, _mm512_set1_ps(-5.557140335e-02f));
    g = _mm512_fmadd_ps(g, c, _mm512_set1_ps(4.366100207e-02f));
    g = _mm512_fmadd_ps(g, c, _mm512_set1_ps(9.016196132e-01f));
    g = _mm512_fmadd_ps(g, c, _mm512_set1_ps(-1.891158462e+00f));
    __m512 v = _mm512_fmadd_ps(_mm512_mul_ps(ax, ax), _mm512_set1_ps(-0.72134752044448170f), g);
    __m512 n = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(v, n);
    __m512 p = _mm512_set1_ps(1.8775767e-3f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(8.9893397e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5826318e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4015361e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9315308e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.9999994e-1f));
    __m512 tail = _mm512_mul_ps(t, _mm512_scalef_ps(p, n)); /* Φ(-|x|); 0 below 2^-149 */
    __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    __m512 phi = _mm512_mask_blend_ps(neg, _mm512_sub_ps(one, tail), tail);
    return _mm512_mul_ps(x, phi);
}

static inline __m512 v_gelu_tanh(__m512 x) {
    __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
    __m512 u = _mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f), _mm512_fmadd_ps(x3, _mm512_set1_ps(0.044715f), x));
    __m512 e = v_exp(_mm512_mul_ps(u, _mm512_set1_ps(-2.0f)));
    return _mm512_div_ps(x, _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}
static inline __m512 v_relu(__m512 x) { return _mm512_max_ps(_mm512_setzero_ps(), x); } /* NaN stays NaN */
static inline __m512 v_silu(__m512 x) {
    __m512 e = v_exp(_mm512_sub_ps(_mm512_setzero_ps(), x));
    return _mm512_div_ps(x, _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}

/* y[i] = act(y[i] + b[i]) (b may be NULL), or with gate: y[i] = act(y[i]) * gate[i].
 * Two vectors per step: the functions are long dependency chains, and two independent
 * ones keep the FMA pipes busy. */
#define XL_SPAN_ONE(VF, i, m)                                                        \
    do {                                                                             \
        __m512 v = _mm512_maskz_loadu_ps(m, src + (i));                              \
        if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + (i)));              \
        v = VF(v);                                                                   \
        if (mul) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, mul + (i)));          \
        _mm512_mask_storeu_ps(dst + (i), m, v);                                      \
    } while (0)
#define XL_SPAN_LOOP(VF)                                                             \
    {                                                                                \
        int i = 0;                                                                   \
        for (; i + 32 <= n; i += 32) {                                               \
            __m512 v0 = _mm512_loadu_ps(src + i), v1 = _mm512_loadu_ps(src + i + 16); \
            if (b) {                                                                 \
                v0 = _mm512_add_ps(v0, _mm512_loadu_ps(b + i));                      \
                v1 = _mm512_add_ps(v1, _mm512_loadu_ps(b + i + 16));                 \
            }                                                                        \
            v0 = VF(v0);                                                             \
            v1 = VF(v1);                                                             \
            if (mul) {                                                               \
                v0 = _mm512_mul_ps(v0, _mm512_loadu_ps(mul + i));                    \
                v1 = _mm512_mul_ps(v1, _mm512_loadu_ps(mul + i + 16));               \
            }                                                                        \
            _mm512_storeu_ps(dst + i, v0);                                           \
            _mm512_storeu_ps(dst + i + 16, v1);                                      \
        }                                                                            \
        for (; i < n; i += 16) XL_SPAN_ONE(VF, i, i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i)); \
    }
static inline __m512 v_ident(__m512 x) { return x; }

static void act_span(float *dst, const float *src, const float *b, const float *mul, int n, xl_kact act) {
    switch (act) {
    case XL_KACT_GELU_ERF: XL_SPAN_LOOP(v_gelu_erf) break;
    case XL_KACT_GELU_TANH: XL_SPAN_LOOP(v_gelu_tanh) break;
    case XL_KACT_RELU: XL_SPAN_LOOP(v_relu) break;
    case XL_KACT_SILU: XL_SPAN_LOOP(v_silu) break;
    case XL_KACT_NONE: XL_SPAN_LOOP(v_ident) break;
    }
}

void xl_softmax(float *x, int n) {
    if (n <= 0) return;
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i);
        vmax = _mm512_mask_max_ps(vmax, m, vmax, _mm512_maskz_loadu_ps(m, x + i));
    }
    float mx = _mm512_reduce_max_ps(vmax);
    if (mx == -INFINITY) mx = 0.0f; /* all -inf: exp gives 0s, caught below */
    __m512 vm = _mm512_set1_ps(mx), vs = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 e = v_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm));
        e = _mm512_maskz_mov_ps(m, e);
        vs = _mm512_add_ps(vs, e);
        _mm512_mask_storeu_ps(x + i, m, e);
    }
    float s = _mm512_reduce_add_ps(vs);
    __m512 inv = _mm512_set1_ps(s > 0.0f ? 1.0f / s : 0.0f);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
}

float xl_softmax_unnormalized(float *x, int n) {
    if (n <= 0) return 0.0f;
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i);
        vmax = _mm512_mask_max_ps(vmax, m, vmax, _mm512_maskz_loadu_ps(m, x + i));
    }
    float mx = _mm512_reduce_max_ps(vmax);
    if (mx == -INFINITY) mx = 0.0f;
    __m512 vm = _mm512_set1_ps(mx), vs = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 e = _mm512_maskz_mov_ps(m, v_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm)));
        vs = _mm512_add_ps(vs, e);
        _mm512_mask_storeu_ps(x + i, m, e);
    }
    return _mm512_reduce_add_ps(vs);
}
#elif defined(__AVX2__) && defined(__FMA__)
static inline __m256i tail_mask8(int n) {
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

/* p · 2^n for integral n (as float): n clamped to [-252, 254] and split in two halves of
 * [-126, 127], each a normal power of two, so the product rounds once into the
 * subnormals (or to 0 / inf) exactly as scalef does. A NaN p stays NaN. */
static inline __m256 v_scale2(__m256 p, __m256 n) {
    n = _mm256_min_ps(_mm256_max_ps(n, _mm256_set1_ps(-252.0f)), _mm256_set1_ps(254.0f));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* exp(a + b), b a small correction (see the AVX-512 v_exp2t). */
static inline __m256 v_exp2t(__m256 a, __m256 b) {
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
    const __m256 ln2hi = _mm256_set1_ps(0.693147182464599609375f);
    const __m256 ln2lo = _mm256_set1_ps(-1.904654323148236e-09f);
    a = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), a)); /* keeps NaN */
    __m256 n = _mm256_round_ps(_mm256_mul_ps(_mm256_add_ps(a, b), log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, ln2hi, a);
    r = _mm256_fnmadd_ps(n, ln2lo, r);
    r = _mm256_add_ps(r, b);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    return v_scale2(p, n);
}
static inline __m256 v_exp(__m256 x) { return v_exp2t(x, _mm256_setzero_ps()); }

/* x · Φ(x): the AVX-512 v_gelu_erf, 8 lanes (same polynomials, same error bounds). */
static inline __m256 v_gelu_erf(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 ax = _mm256_min_ps(_mm256_set1_ps(30.0f), _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x)); /* keeps NaN */
    __m256 den = _mm256_fmadd_ps(ax, _mm256_set1_ps(0.35355339059327376f), one);
    __m256 t = _mm256_div_ps(one, den);
    __m256 c = _mm256_fmadd_ps(t, _mm256_set1_ps(2.1739130434782608f), _mm256_set1_ps(-1.173913043478261f));
    __m256 g = _mm256_set1_ps(-4.922977678e-05f);
    g = _mm256_fmadd_ps(g, c, _mm256_set1_ps(2.356693440e-04f));
    g = _mm256_fmadd_ps(g, c, _mm256_set1_ps(1.488098060e-04f));
    g = _mm256_fmadd_ps(g, c, _mm256_set1_ps(-1.714759972e-03f));
    g = _mm256_fmadd_ps(g, c, _mm256_set1_ps(4.203481658e-04f));
    g = _mm256_fmadd_ps(g, c, _mm256_set1_ps(8.838039823e-03f));
    g = _mm256_fmadd_ps(g, c, _mm256_set1_ps(-6.429545116e-03f));
    g = _mm256_fmadd_ps(g, c, _mm256_set1_ps(-5.557140335e-02f));
    g = _mm256_fmadd_ps(g, c, _mm256_set1_ps(4.366100207e-02f));
    g = _mm256_fmadd_ps(g, c, _mm256_set1_ps(9.016196132e-01f));
    g = _mm256_fmadd_ps(g, c, _mm256_set1_ps(-1.891158462e+00f));
    __m256 v = _mm256_fmadd_ps(_mm256_mul_ps(ax, ax), _mm256_set1_ps(-0.72134752044448170f), g);
    __m256 n = _mm256_floor_ps(v);
    __m256 f = _mm256_sub_ps(v, n);
    __m256 p = _mm256_set1_ps(1.8775767e-3f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(8.9893397e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.5826318e-2f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.4015361e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.9315308e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.9999994e-1f));
    __m256 tail = _mm256_mul_ps(t, v_scale2(p, n)); /* Φ(-|x|) */
    __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 phi = _mm256_blendv_ps(_mm256_sub_ps(one, tail), tail, neg);
    return _mm256_mul_ps(x, phi);
}

static inline __m256 v_gelu_tanh(__m256 x) {
    __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f), _mm256_fmadd_ps(x3, _mm256_set1_ps(0.044715f), x));
    __m256 e = v_exp(_mm256_mul_ps(u, _mm256_set1_ps(-2.0f)));
    return _mm256_div_ps(x, _mm256_add_ps(e, _mm256_set1_ps(1.0f)));
}
static inline __m256 v_relu(__m256 x) { return _mm256_max_ps(_mm256_setzero_ps(), x); } /* NaN stays NaN */
static inline __m256 v_silu(__m256 x) {
    __m256 e = v_exp(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(e, _mm256_set1_ps(1.0f)));
}
static inline __m256 v_ident(__m256 x) { return x; }

#define XL_SPAN_LOOP8(VF)                                                                  \
    {                                                                                      \
        int i = 0;                                                                         \
        for (; i + 16 <= n; i += 16) {                                                     \
            __m256 v0 = _mm256_loadu_ps(src + i), v1 = _mm256_loadu_ps(src + i + 8);      \
            if (b) {                                                                       \
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(b + i));                            \
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(b + i + 8));                        \
            }                                                                              \
            v0 = VF(v0);                                                                   \
            v1 = VF(v1);                                                                   \
            if (mul) {                                                                     \
                v0 = _mm256_mul_ps(v0, _mm256_loadu_ps(mul + i));                          \
                v1 = _mm256_mul_ps(v1, _mm256_loadu_ps(mul + i + 8));                      \
            }                                                                              \
            _mm256_storeu_ps(dst + i, v0);                                                 \
            _mm256_storeu_ps(dst + i + 8, v1);                                             \
        }                                                                                  \
        for (; i < n; i += 8) {                                                            \
            __m256i m = tail_mask8(n - i);                                                 \
            __m256 v = _mm256_maskload_ps(src + i, m);                                     \
            if (b) v = _mm256_add_ps(v, _mm256_maskload_ps(b + i, m));                     \
            v = VF(v);                                                                     \
            if (mul) v = _mm256_mul_ps(v, _mm256_maskload_ps(mul + i, m));                 \
            _mm256_maskstore_ps(dst + i, m, v);                                            \
        }                                                                                  \
    }

static void act_span(float *dst, const float *src, const float *b, const float *mul, int n, xl_kact act) {
    switch (act) {
    case XL_KACT_GELU_ERF: XL_SPAN_LOOP8(v_gelu_erf) break;
    case XL_KACT_GELU_TANH: XL_SPAN_LOOP8(v_gelu_tanh) break;
    case XL_KACT_RELU: XL_SPAN_LOOP8(v_relu) break;
    case XL_KACT_SILU: XL_SPAN_LOOP8(v_silu) break;
    case XL_KACT_NONE: XL_SPAN_LOOP8(v_ident) break;
    }
}

/* exp(x[i] - max) over the row in place; returns the sum. */
static float exp_row(float *x, int n) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 vmax = ninf;
    for (int i = 0; i < n; i += 8) {
        __m256i m = tail_mask8(n - i);
        vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + i, m), _mm256_castsi256_ps(m)));
    }
    float mx = hmax8(vmax);
    if (mx == -INFINITY) mx = 0.0f; /* all -inf: exp gives 0s */
    __m256 vm = _mm256_set1_ps(mx), vs = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        __m256i m = tail_mask8(n - i);
        __m256 e = _mm256_and_ps(v_exp(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), vm)), _mm256_castsi256_ps(m));
        vs = _mm256_add_ps(vs, e);
        _mm256_maskstore_ps(x + i, m, e);
    }
    return hsum8(vs);
}

void xl_softmax(float *x, int n) {
    if (n <= 0) return;
    float s = exp_row(x, n);
    __m256 inv = _mm256_set1_ps(s > 0.0f ? 1.0f / s : 0.0f);
    for (int i = 0; i < n; i += 8) {
        __m256i m = tail_mask8(n - i);
        _mm256_maskstore_ps(x + i, m, _mm256_mul_ps(_mm256_maskload_ps(x + i, m), inv));
    }
}

float xl_softmax_unnormalized(float *x, int n) { return n > 0 ? exp_row(x, n) : 0.0f; }
#else
static void act_span(float *dst, const float *src, const float *b, const float *mul, int n, xl_kact act) {
    for (int i = 0; i < n; i++) {
        float v = src[i];
        if (b) v += b[i];
        v = s_act(v, act);
        if (mul) v *= mul[i];
        dst[i] = v;
    }
}

void xl_softmax(float *x, int n) {
    if (n <= 0) return;
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    if (mx == -INFINITY) mx = 0.0f;
    float s = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        s += x[i];
    }
    float inv = s > 0.0f ? 1.0f / s : 0.0f;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

float xl_softmax_unnormalized(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    if (mx == -INFINITY) mx = 0.0f;
    float s = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        s += x[i];
    }
    return s;
}
#endif

/* ------------------------------------------------------------ entry points */

/* Applies act over n contiguous values in chunks, in parallel when it pays. */
static void act_flat(float *x, size_t n, xl_kact act, int threads) {
    const size_t chunk = 4096;
    long nchunks = (long)((n + chunk - 1) / chunk);
    if (threads < 1) threads = 1;
#pragma omp parallel for num_threads(threads) schedule(static) if (n >= XL_PAR_MIN && threads > 1)
    for (long c = 0; c < nchunks; c++) {
        size_t off = (size_t)c * chunk;
        int len = (int)(n - off < chunk ? n - off : chunk);
        act_span(x + off, x + off, NULL, NULL, len, act);
    }
}

void xl_gelu_erf(float *x, size_t n, int threads) { act_flat(x, n, XL_KACT_GELU_ERF, threads); }
void xl_gelu_tanh(float *x, size_t n, int threads) { act_flat(x, n, XL_KACT_GELU_TANH, threads); }
void xl_relu(float *x, size_t n, int threads) { act_flat(x, n, XL_KACT_RELU, threads); }
void xl_silu(float *x, size_t n, int threads) { act_flat(x, n, XL_KACT_SILU, threads); }

void xl_bias_act(float *y, int M, int N, const float *b, xl_kact act, int threads) {
    if (M <= 0 || N <= 0) return;
    if (threads < 1) threads = 1;
#pragma omp parallel for num_threads(threads) schedule(static) if ((size_t)M * N >= XL_PAR_MIN && threads > 1)
    for (int m = 0; m < M; m++) {
        float *row = y + (size_t)m * N;
        act_span(row, row, b, NULL, N, act);
    }
}

void xl_act_block(float *y, int M, int N, int ld, const float *b, xl_kact act) {
    for (int m = 0; m < M; m++) {
        float *row = y + (size_t)m * ld;
        act_span(row, row, b, NULL, N, act);
    }
}

void xl_gated_act(float *out, const float *gate, const float *up, int M, int F, int ld, xl_kact act,
                  int threads) {
    if (M <= 0 || F <= 0) return;
    if (threads < 1) threads = 1;
#pragma omp parallel for num_threads(threads) schedule(static) if ((size_t)M * F >= XL_PAR_MIN && threads > 1)
    for (int m = 0; m < M; m++)
        act_span(out + (size_t)m * F, gate + (size_t)m * ld, NULL, up + (size_t)m * ld, F, act);
}

void xl_add_inplace(float *x, const float *y, size_t n, int threads) {
    if (threads < 1) threads = 1;
    long ln = (long)n;
#pragma omp parallel for simd num_threads(threads) schedule(static) if (n >= XL_PAR_MIN && threads > 1)
    for (long i = 0; i < ln; i++) x[i] += y[i];
}
