/* Tests of the CPU kernels against naive float64 references on random data: linear,
 * LayerNorm / RMSNorm (incl. rows with a large offset), activations over their whole
 * range (tails included), the fused passes, softmax, and attention with GQA, masks
 * (right, left and scattered padding), causal and sliding windows, odd sizes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/kernels.h"
#include "testlib.h"

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) { /* uniform in [0, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static float *rand_vec(size_t n, float lo, float hi) {
    float *v = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) v[i] = (float)(lo + (hi - lo) * urand());
    return v;
}

/* |got - want| <= rel * scale + abs_tol for every element; reports the first miss. */
static int close_all(const char *what, const float *got, const double *want, const double *scale, size_t n,
                     double rel, double abs_tol) {
    for (size_t i = 0; i < n; i++) {
        double tol = rel * (scale ? scale[i] : fabs(want[i])) + abs_tol;
        if (!(fabs((double)got[i] - want[i]) <= tol)) {
            CHECK_MSG(0, "%s[%zu]: got %.9g want %.9g (tol %.3g)", what, i, got[i], want[i], tol);
            return 0;
        }
    }
    CHECK(1);
    return 1;
}

/* ------------------------------------------------------------------ linear */
static void test_linear(int M, int K, int N, int with_bias, int threads) {
    float *x = rand_vec((size_t)M * K, -1, 1), *W = rand_vec((size_t)N * K, -1, 1), *b = rand_vec(N, -1, 1);
    float *y = malloc(sizeof(float) * (size_t)M * N);
    double *ref = malloc(sizeof(double) * (size_t)M * N), *sc = malloc(sizeof(double) * (size_t)M * N);
    xl_linear_f32(x, M, K, W, N, with_bias ? b : NULL, y, threads);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = with_bias ? b[n] : 0.0, a = with_bias ? fabs(b[n]) : 0.0;
            for (int k = 0; k < K; k++) {
                s += (double)x[(size_t)m * K + k] * W[(size_t)n * K + k];
                a += fabs((double)x[(size_t)m * K + k] * W[(size_t)n * K + k]);
            }
            ref[(size_t)m * N + n] = s;
            sc[(size_t)m * N + n] = a;
        }
    /* float accumulation over K terms: error <= ~K·eps·Σ|x·w|; 1e-6·Σ|x·w| is far above
     * the typical error yet catches any wrong element */
    char what[64];
    snprintf(what, sizeof what, "linear %dx%dx%d%s", M, K, N, with_bias ? "+b" : "");
    close_all(what, y, ref, sc, (size_t)M * N, 1e-5, 1e-6);
    free(x); free(W); free(b); free(y); free(ref); free(sc);
}

/* xl_pack_w + xl_linear_packed with bias and a fused activation. */
static double r_gelu_erf(double x);
static void test_linear_packed(int M, int K, int N, xl_kact act, int threads) {
    float *x = rand_vec((size_t)M * K, -1, 1), *W = rand_vec((size_t)N * K, -1, 1), *b = rand_vec(N, -1, 1);
    float *y = malloc(sizeof(float) * (size_t)M * N);
    double *ref = malloc(sizeof(double) * (size_t)M * N), *sc = malloc(sizeof(double) * (size_t)M * N);
    xl_packed_w P;
    CHECK_EQ_INT(xl_pack_w(W, N, K, &P), XL_OK);
    CHECK(P.N == N && P.K == K);
    xl_linear_packed(x, M, &P, b, act, y, threads);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = b[n], a = fabs(b[n]);
            for (int k = 0; k < K; k++) {
                s += (double)x[(size_t)m * K + k] * W[(size_t)n * K + k];
                a += fabs((double)x[(size_t)m * K + k] * W[(size_t)n * K + k]);
            }
            /* GELU and ReLU have slope <= 1.13: the pre-activation tolerance carries over */
            ref[(size_t)m * N + n] = act == XL_KACT_GELU_ERF ? r_gelu_erf(s) : act == XL_KACT_RELU ? (s > 0 ? s : 0) : s;
            sc[(size_t)m * N + n] = 1.2 * a;
        }
    char what[64];
    snprintf(what, sizeof what, "linear_packed %dx%dx%d act%d", M, K, N, (int)act);
    close_all(what, y, ref, sc, (size_t)M * N, 1e-5, 1e-6);
    xl_packed_w_free(&P);
    CHECK(P.data == NULL);
    free(x); free(W); free(b); free(y); free(ref); free(sc);
}

/* ------------------------------------------------------------------ norms */
static void ref_layernorm(const float *x, int H, const float *g, const float *b, double eps, double *out) {
    double mean = 0, var = 0;
    for (int i = 0; i < H; i++) mean += x[i];
    mean /= H;
    for (int i = 0; i < H; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= H;
    for (int i = 0; i < H; i++) out[i] = (x[i] - mean) / sqrt(var + eps) * g[i] + b[i];
}

static void test_layernorm(int M, int H, float offset, float spread, int threads) {
    float *x = rand_vec((size_t)M * H, offset - spread, offset + spread);
    float *g = rand_vec(H, 0.5f, 1.5f), *b = rand_vec(H, -0.5f, 0.5f);
    double *ref = malloc(sizeof(double) * (size_t)M * H);
    for (int m = 0; m < M; m++) ref_layernorm(x + (size_t)m * H, H, g, b, 1e-12, ref + (size_t)m * H);
    xl_layernorm(x, M, H, g, b, 1e-12f, threads);
    char what[80];
    snprintf(what, sizeof what, "layernorm %dx%d offset %g", M, H, offset);
    /* Normalized values are O(1): 1e-5 relative to 1 + |ref|. The input's own float
     * rounding limits rows with a large offset (offset·eps / spread). */
    double *sc = malloc(sizeof(double) * (size_t)M * H);
    for (size_t i = 0; i < (size_t)M * H; i++) sc[i] = 1.0 + fabs(ref[i]);
    close_all(what, x, ref, sc, (size_t)M * H, 1e-5, 0);
    free(x); free(g); free(b); free(ref); free(sc);
}

static void test_residual_layernorm(int M, int H, int threads) {
    float *x = rand_vec((size_t)M * H, -2, 2), *y = rand_vec((size_t)M * H, -2, 2), *bias = rand_vec(H, -1, 1);
    float *g = rand_vec(H, 0.5f, 1.5f), *b = rand_vec(H, -0.5f, 0.5f);
    float *sum = malloc(sizeof(float) * (size_t)M * H);
    double *ref = malloc(sizeof(double) * (size_t)M * H), *sc = malloc(sizeof(double) * (size_t)M * H);
    for (size_t i = 0; i < (size_t)M * H; i++) sum[i] = x[i] + (y[i] + bias[i % H]);
    for (int m = 0; m < M; m++) ref_layernorm(sum + (size_t)m * H, H, g, b, 1e-5, ref + (size_t)m * H);
    for (size_t i = 0; i < (size_t)M * H; i++) sc[i] = 1.0 + fabs(ref[i]);
    xl_residual_layernorm(x, y, bias, M, H, g, b, 1e-5f, threads);
    close_all("residual_layernorm", x, ref, sc, (size_t)M * H, 1e-5, 0);
    free(x); free(y); free(bias); free(g); free(b); free(sum); free(ref); free(sc);
}

static void test_rmsnorm(int M, int H, float w_offset, int threads) {
    float *x = rand_vec((size_t)M * H, -3, 3), *w = rand_vec(H, -0.5f, 1.5f);
    double *ref = malloc(sizeof(double) * (size_t)M * H), *sc = malloc(sizeof(double) * (size_t)M * H);
    for (int m = 0; m < M; m++) {
        const float *r = x + (size_t)m * H;
        double ss = 0;
        for (int i = 0; i < H; i++) ss += (double)r[i] * r[i];
        double s = 1.0 / sqrt(ss / H + 1e-6);
        for (int i = 0; i < H; i++) {
            ref[(size_t)m * H + i] = r[i] * s * ((double)w[i] + w_offset);
            sc[(size_t)m * H + i] = 1.0 + fabs(r[i] * s) * (fabs(w[i]) + fabs(w_offset));
        }
    }
    xl_rmsnorm(x, M, H, w, w_offset, 1e-6f, threads);
    close_all(w_offset ? "rmsnorm (1+w)" : "rmsnorm", x, ref, sc, (size_t)M * H, 1e-5, 0);
    free(x); free(w); free(ref); free(sc);
}

/* ------------------------------------------------------------------ activations */
static double r_gelu_erf(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
/* 0.5 x (1 + tanh u) written as x / (1 + e^(-2u)): the same function without the
 * cancellation that would make the double reference itself wrong in the negative tail */
static double r_gelu_tanh(double x) { return x / (1.0 + exp(-2.0 * sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))); }
static double r_relu(double x) { return x < 0 ? 0 : x; }
static double r_silu(double x) { return x / (1.0 + exp(-x)); }

static void test_activation(const char *name, void (*fn)(float *, size_t, int), double (*ref)(double),
                            double rel) {
    /* a dense grid over [-40, 40] (both tails) plus random values, odd total length */
    size_t n = 16001 + 1003;
    float *x = malloc(sizeof(float) * n);
    double *want = malloc(sizeof(double) * n);
    for (size_t i = 0; i < 16001; i++) x[i] = (float)(-40.0 + 80.0 * (double)i / 16000.0);
    for (size_t i = 16001; i < n; i++) x[i] = (float)(-6.0 + 12.0 * urand());
    double *sc = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) {
        want[i] = ref((double)x[i]);
        /* In the negative tails the result is exp(-O(x²)) of an exponent computed in
         * float, so its relative error grows like x²·eps (as in any float code): the
         * tolerance is relative to the value itself, widened by 1 + x²/4 there. */
        sc[i] = fabs(want[i]) * (1.0 + (double)x[i] * x[i] / 4.0);
    }
    fn(x, n, 2);
    /* 1e-37 absorbs results that underflow float's normal range */
    close_all(name, x, want, sc, n, rel, 1e-37);
    free(sc);
    float special[3] = {NAN, 0.0f, -0.0f};
    fn(special, 3, 1);
    CHECK_MSG(isnan(special[0]), "%s(NaN) = %g", name, special[0]);
    CHECK_MSG(special[1] == 0.0f && special[2] == 0.0f, "%s(0) = %g, %g", name, special[1], special[2]);
    free(x); free(want);
}

static void test_bias_act(void) {
    int M = 7, N = 37;
    float *y = rand_vec((size_t)M * N, -4, 4), *b = rand_vec(N, -1, 1);
    double *ref = malloc(sizeof(double) * M * N);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) ref[m * N + n] = r_gelu_erf((double)(y[m * N + n] + b[n]));
    xl_bias_act(y, M, N, b, XL_KACT_GELU_ERF, 2);
    close_all("bias_act gelu", y, ref, NULL, (size_t)M * N, 2e-6, 1e-30);
    free(y); free(b); free(ref);

    /* gated: fused [gate | up] rows (ld = 2F) */
    int F = 45;
    float *gu = rand_vec((size_t)M * 2 * F, -5, 5), *out = malloc(sizeof(float) * M * F);
    double *gref = malloc(sizeof(double) * M * F);
    for (int m = 0; m < M; m++)
        for (int f = 0; f < F; f++) gref[m * F + f] = r_silu(gu[m * 2 * F + f]) * gu[m * 2 * F + F + f];
    xl_gated_act(out, gu, gu + F, M, F, 2 * F, XL_KACT_SILU, 2);
    close_all("gated silu", out, gref, NULL, (size_t)M * F, 2e-6, 1e-30);
    for (int m = 0; m < M; m++)
        for (int f = 0; f < F; f++) gref[m * F + f] = r_gelu_tanh(gu[m * 2 * F + f]) * gu[m * 2 * F + F + f];
    xl_gated_act(out, gu, gu + F, M, F, 2 * F, XL_KACT_GELU_TANH, 1);
    close_all("gated gelu_tanh", out, gref, NULL, (size_t)M * F, 2e-6, 1e-30);
    free(gu); free(out); free(gref);

    float a[5] = {1, 2, 3, 4, 5}, c[5] = {0.5f, -2, 1, 0, 10};
    xl_add_inplace(a, c, 5, 1);
    CHECK(a[0] == 1.5f && a[1] == 0.0f && a[2] == 4.0f && a[3] == 4.0f && a[4] == 15.0f);
}

static void test_softmax(void) {
    for (int n = 1; n <= 70; n += 23) {
        float *x = rand_vec(n, -20, 20);
        x[0] += 1000.0f; /* large values must not overflow */
        double mx = -INFINITY, s = 0;
        double *ref = malloc(sizeof(double) * n);
        for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
        for (int i = 0; i < n; i++) s += ref[i] = exp(x[i] - mx);
        for (int i = 0; i < n; i++) ref[i] /= s;
        xl_softmax(x, n);
        close_all("softmax", x, ref, NULL, n, 2e-6, 1e-37);
        free(x); free(ref);
    }
}

/* ------------------------------------------------------------------ attention */
typedef struct {
    int B, T, H, Hkv, hd, wl, wr;
    int padding; /* 0 none, 1 right, 2 left, 3 scattered */
} attn_case;

static void test_attention(attn_case c) {
    const int B = c.B, T = c.T, H = c.H, Hkv = c.Hkv, hd = c.hd;
    const int qs = H * hd + 3, kvs = 2 * Hkv * hd + 5; /* strides wider than the heads */
    float *q = rand_vec((size_t)B * T * qs, -1, 1), *kv = rand_vec((size_t)B * T * kvs, -1, 1);
    const float *k = kv, *v = kv + Hkv * hd;
    uint8_t *mask = malloc((size_t)B * T);
    for (int b = 0; b < B; b++) {
        int len = T - (b * 7) % T;
        if (len < 1) len = 1;
        for (int t = 0; t < T; t++) {
            uint8_t m = 1;
            if (c.padding == 1) m = t < len;
            if (c.padding == 2) m = t >= T - len;
            if (c.padding == 3) m = (t * 5 + b) % 3 != 0 || t == 0;
            mask[b * T + t] = m;
        }
    }
    xl_attn_params p = {.B = B, .T = T, .n_heads = H, .n_kv_heads = Hkv, .head_dim = hd,
                        .scale = 1.0f / sqrtf((float)hd), .window_left = c.wl, .window_right = c.wr, .mask = mask};
    size_t on = (size_t)B * T * H * hd;
    float *out = malloc(sizeof(float) * on), *out1 = malloc(sizeof(float) * on);
    for (size_t i = 0; i < on; i++) out[i] = out1[i] = NAN; /* every element must be written */
    double *ref = calloc(on, sizeof(double)), *sc = calloc(on, sizeof(double));
    double *s = malloc(sizeof(double) * T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int g = h / (H / Hkv);
            for (int i = 0; i < T; i++) {
                if (!mask[b * T + i]) continue;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    int vis = mask[b * T + j] && (c.wl < 0 || j >= i - c.wl) && (c.wr < 0 || j <= i + c.wr);
                    s[j] = -INFINITY;
                    if (!vis) continue;
                    double d = 0;
                    for (int e = 0; e < hd; e++)
                        d += (double)q[(size_t)(b * T + i) * qs + h * hd + e] * k[(size_t)(b * T + j) * kvs + g * hd + e];
                    s[j] = d * p.scale;
                    mx = s[j] > mx ? s[j] : mx;
                }
                if (mx == -INFINITY) continue;
                for (int j = 0; j < T; j++) sum += s[j] = s[j] == -INFINITY ? 0 : exp(s[j] - mx);
                for (int e = 0; e < hd; e++) {
                    double o = 0, a = 0;
                    for (int j = 0; j < T; j++) {
                        o += s[j] / sum * v[(size_t)(b * T + j) * kvs + g * hd + e];
                        a += s[j] / sum * fabs(v[(size_t)(b * T + j) * kvs + g * hd + e]);
                    }
                    ref[(size_t)(b * T + i) * H * hd + h * hd + e] = o;
                    sc[(size_t)(b * T + i) * H * hd + h * hd + e] = a;
                }
            }
        }
    CHECK_EQ_INT(xl_attention(&p, q, qs, k, v, kvs, out, 2), XL_OK);
    CHECK_EQ_INT(xl_attention(&p, q, qs, k, v, kvs, out1, 1), XL_OK);
    char what[128];
    snprintf(what, sizeof what, "attention B%d T%d H%d/%d d%d w(%d,%d) pad%d", B, T, H, Hkv, hd, c.wl, c.wr,
             c.padding);
    /* Output = convex combination of values in [-1, 1]: float error ~1e-6 of Σ p|v|;
     * padded query rows must be exactly 0. */
    close_all(what, out, ref, sc, on, 1e-5, 1e-7);
    CHECK_MSG(memcmp(out, out1, sizeof(float) * on) == 0, "%s: 1 and 2 threads differ", what);
    /* on the caller's scratch, sized for this T and for a longer one: the same bits */
    for (int extra = 0; extra <= 9; extra += 9) {
        xl_attn_params pl = p;
        pl.T = T + extra;
        size_t sb = xl_attention_scratch_bytes(&pl);
        void *scratch = aligned_alloc(64, (sb + 63) / 64 * 64);
        for (size_t i = 0; i < on; i++) out1[i] = NAN;
        CHECK_EQ_INT(xl_attention_st(&p, q, qs, k, v, kvs, out1, scratch, sb), XL_OK);
        CHECK_MSG(memcmp(out, out1, sizeof(float) * on) == 0, "%s: single-thread scratch variant (T + %d) differs", what,
                  extra);
        free(scratch);
    }
    int zeros_ok = 1;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++)
            if (!mask[b * T + i])
                for (int e = 0; e < H * hd; e++) zeros_ok &= out[(size_t)(b * T + i) * H * hd + e] == 0.0f;
    CHECK_MSG(zeros_ok, "%s: padded query rows not zero", what);
    free(q); free(kv); free(mask); free(out); free(out1); free(ref); free(sc); free(s);
}

static void test_attention_mask_isolation(void) {
    /* Changing the keys/values of masked positions must not change any output. */
    int B = 2, T = 19, H = 2, hd = 16, st = 3 * H * hd;
    float *x = rand_vec((size_t)B * T * st, -1, 1);
    uint8_t mask[2 * 19];
    for (int t = 0; t < T; t++) { mask[t] = t < 11; mask[T + t] = t >= 4; }
    xl_attn_params p = {B, T, H, H, hd, 0.25f, -1, -1, mask};
    float *o1 = malloc(sizeof(float) * B * T * H * hd), *o2 = malloc(sizeof(float) * B * T * H * hd);
    xl_attention(&p, x, st, x + H * hd, x + 2 * H * hd, st, o1, 2);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            if (!mask[b * T + t])
                for (int e = H * hd; e < st; e++) x[(size_t)(b * T + t) * st + e] = 1e30f;
    xl_attention(&p, x, st, x + H * hd, x + 2 * H * hd, st, o2, 2);
    int same = 1;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            if (mask[b * T + t])
                for (int e = 0; e < H * hd; e++)
                    same &= o1[(size_t)(b * T + t) * H * hd + e] == o2[(size_t)(b * T + t) * H * hd + e];
    CHECK_MSG(same, "masked keys influence the output");
    /* too little scratch, or misaligned: refused */
    {
        size_t sb = xl_attention_scratch_bytes(&p);
        unsigned char *scratch = aligned_alloc(64, (sb + 64 + 63) / 64 * 64);
        CHECK(sb > 0);
        CHECK_EQ_INT(xl_attention_st(&p, x, st, x + H * hd, x + 2 * H * hd, st, o2, scratch, 64), XL_ERR_ARG);
        CHECK_EQ_INT(xl_attention_st(&p, x, st, x + H * hd, x + 2 * H * hd, st, o2, scratch + 4, sb), XL_ERR_ARG);
        free(scratch);
    }
    p.n_kv_heads = 3; /* 2 heads cannot share 3 kv heads */
    CHECK_EQ_INT(xl_attention(&p, x, st, x + H * hd, x + 2 * H * hd, st, o2, 1), XL_ERR_ARG);
    CHECK(xl_attention_scratch_bytes(&p) == 0);
    CHECK_EQ_INT(xl_attention_st(&p, x, st, x + H * hd, x + 2 * H * hd, st, o2, NULL, 0), XL_ERR_ARG);
    free(x); free(o1); free(o2);
}

int main(void) {
    test_linear(1, 1, 1, 1, 1);
    test_linear(7, 33, 19, 1, 2);
    test_linear(64, 384, 96, 0, 2);
    test_linear(130, 70, 200, 1, 1);
    test_linear(13, 300, 70, 1, 2);   /* few rows: the dot-product path, threaded */
    test_linear(37, 1000, 45, 1, 2);  /* several K blocks, ragged N */
    test_linear(400, 130, 300, 0, 2); /* several row blocks and panel groups */
    test_linear(30, 2048, 40, 1, 2);  /* K a multiple of 1024: rows of x copied before use */
    test_linear_packed(1, 5, 3, XL_KACT_NONE, 1);
    test_linear_packed(16, 384, 96, XL_KACT_GELU_ERF, 2);
    test_linear_packed(205, 777, 70, XL_KACT_RELU, 2);
    test_linear_packed(13, 64, 1000, XL_KACT_GELU_ERF, 2);
    test_linear_packed(41, 3072, 50, XL_KACT_NONE, 2); /* copied rows of x, ragged last slab */
    {
        /* a packed weight of megabytes takes the huge-page-aligned allocation */
        int N = 1100, K = 512;
        float *W = rand_vec((size_t)N * K, -1, 1), *x = rand_vec(3 * (size_t)K, -1, 1), y[3 * 1100];
        xl_packed_w P;
        CHECK_EQ_INT(xl_pack_w(W, N, K, &P), XL_OK);
        xl_linear_packed(x, 3, &P, NULL, XL_KACT_NONE, y, 1);
        double worst = 0;
        for (int m = 0; m < 3; m++)
            for (int n = 0; n < N; n += 37) {
                double s = 0, a = 0;
                for (int k = 0; k < K; k++) {
                    s += (double)x[m * K + k] * W[(size_t)n * K + k];
                    a += fabs((double)x[m * K + k] * W[(size_t)n * K + k]);
                }
                double e = fabs(y[m * N + n] - s) / a;
                worst = e > worst ? e : worst;
            }
        CHECK_MSG(worst < 1e-5, "linear_packed 3x512x1100: relative error %g", worst);
        xl_packed_w_free(&P);
        free(W); free(x);
    }
    {
        xl_packed_w P;
        float w1 = 1.0f;
        CHECK_EQ_INT(xl_pack_w(&w1, 0, 1, &P), XL_ERR_ARG);
    }

    test_layernorm(5, 384, 0.0f, 2.0f, 2);
    test_layernorm(3, 37, 0.0f, 1.0f, 1);
    test_layernorm(9, 1024, 100.0f, 1.0f, 2); /* offset rows: naive float variance fails here */
    test_layernorm(1, 1, 3.0f, 1.0f, 1);
    test_residual_layernorm(33, 768, 2);
    test_residual_layernorm(2, 17, 1);
    test_rmsnorm(6, 129, 0.0f, 2);
    test_rmsnorm(40, 1024, 1.0f, 2);

    /* GELU/SiLU via vector exp/erfc: a few float ulps (2e-6 relative) */
    test_activation("gelu_erf", xl_gelu_erf, r_gelu_erf, 2e-6);
    test_activation("gelu_tanh", xl_gelu_tanh, r_gelu_tanh, 2e-6);
    test_activation("relu", xl_relu, r_relu, 0);
    test_activation("silu", xl_silu, r_silu, 2e-6);
    test_bias_act();
    test_softmax();

    attn_case cases[] = {
        {1, 1, 1, 1, 8, -1, -1, 0},      /* a single token */
        {2, 16, 12, 12, 32, -1, -1, 1},  /* BERT-like, right padding */
        {3, 37, 4, 2, 24, -1, -1, 1},    /* GQA, odd head dim */
        {3, 37, 4, 2, 24, -1, 0, 1},     /* causal */
        {2, 41, 6, 2, 80, -1, 0, 2},     /* causal, left padding, head dim 80 */
        {2, 33, 4, 1, 64, 3, 3, 1},      /* Gemma-style sliding window, MQA */
        {2, 30, 2, 2, 16, 5, 0, 3},      /* causal sliding window, scattered mask */
        {2, 29, 2, 1, 160, -1, -1, 3},   /* head dim > 128 (chunked), scattered mask */
        {1, 130, 2, 2, 32, -1, -1, 0},   /* > 64 keys: the 64-key blocks + tails */
        {3, 128, 12, 12, 64, -1, -1, 1}, /* BERT-base heads, right padding: full query blocks */
        {2, 40, 3, 3, 48, -1, -1, 3},    /* head dim 48: output columns 32 + 16, scattered mask */
        {1, 130, 4, 2, 128, 50, 50, 1},
        {1, 520, 2, 2, 256, -1, 0, 1},   /* long: each task packs one kv head (scratch cap) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_attention(cases[i]);
    test_attention_mask_isolation();
    return test_summary("test_kernels");
}
