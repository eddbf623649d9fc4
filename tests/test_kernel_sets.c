/* Every kernel set this CPU runs against the generic set, in one process, on the same
 * random inputs (through the tables of kernels/dispatch.h). The sets sum in different
 * orders (register tiles, vector lanes, OpenBLAS in generic), so values are compared
 * with tolerances scaled by the sizes of the terms; conversions and the element-wise
 * passes without transcendental functions must agree bit for bit. Each set is also
 * tested against float64 references by test_kernels (run once per set by make test). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/dispatch.h"
#include "testlib.h"
#include "xling.h"

static unsigned long long rng_state = 0x243F6A8885A308D3ull;
static double urand(void) {
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
static float *copy_vec(const float *a, size_t n) {
    float *v = malloc(sizeof(float) * n);
    memcpy(v, a, sizeof(float) * n);
    return v;
}

/* |a - b| <= rel * (|b| + scale) for every element; reports the first miss. */
static void near_all(const char *isa, const char *what, const float *a, const float *b, size_t n, double rel,
                     double scale) {
    for (size_t i = 0; i < n; i++) {
        double tol = rel * (fabs((double)b[i]) + scale);
        if (!(fabs((double)a[i] - b[i]) <= tol)) {
            CHECK_MSG(0, "%s vs generic, %s[%zu]: %.9g vs %.9g (tol %.3g)", isa, what, i, a[i], b[i], tol);
            return;
        }
    }
    CHECK(1);
}
/* Activations: each set is within 4e-7 · (1 + x²/4) of float64 (test_kernels; the
 * exponent is formed from a rounded x², so the relative error grows like x² in the
 * tails), so two sets are within twice that of each other. */
static void near_act(const char *isa, const char *what, const float *x, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double tol = 8e-7 * (1.0 + (double)x[i] * x[i] / 4.0) * fabs((double)b[i]) + 1e-37;
        if (!(fabs((double)a[i] - b[i]) <= tol)) {
            CHECK_MSG(0, "%s vs generic, %s[%zu] at x = %.7g: %.9g vs %.9g (tol %.3g)", isa, what, i, x[i], a[i], b[i], tol);
            return;
        }
    }
    CHECK(1);
}
static void same_bits(const char *isa, const char *what, const float *a, const float *b, size_t n) {
    CHECK_MSG(memcmp(a, b, sizeof(float) * n) == 0, "%s vs generic, %s: not bit for bit", isa, what);
}

static void linear(const char *isa, const xl_kernel_table *t, const xl_kernel_table *g) {
    static const int shapes[][3] = {{37, 300, 70}, {3, 384, 100}, {16, 1024, 33}, {200, 96, 48}, {1, 7, 5}};
    static const xl_kact acts[] = {XL_KACT_NONE, XL_KACT_GELU_ERF, XL_KACT_GELU_TANH, XL_KACT_RELU, XL_KACT_SILU};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *x = rand_vec((size_t)M * K, -1, 1), *W = rand_vec((size_t)N * K, -0.1f, 0.1f), *b = rand_vec(N, -1, 1);
        float *y1 = malloc(sizeof(float) * (size_t)M * N), *y2 = malloc(sizeof(float) * (size_t)M * N);
        /* terms |x·w| <= 0.1: the sums' rounding is below K · 0.1 · 2^-24 */
        const double sc = 1.0 + 0.1 * K, rel = 2e-6;
        char what[64];
        t->linear_f32(x, M, K, W, N, b, y1, 2);
        g->linear_f32(x, M, K, W, N, b, y2, 2);
        snprintf(what, sizeof what, "linear_f32 %dx%dx%d", M, K, N);
        near_all(isa, what, y1, y2, (size_t)M * N, rel, sc);
        xl_packed_w p1, p2;
        CHECK(t->pack_w(W, N, K, &p1) == XL_OK && g->pack_w(W, N, K, &p2) == XL_OK);
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
            t->linear_packed(x, M, &p1, a % 2 ? b : NULL, acts[a], y1, 2);
            g->linear_packed(x, M, &p2, a % 2 ? b : NULL, acts[a], y2, 2);
            snprintf(what, sizeof what, "linear_packed %dx%dx%d act %d", M, K, N, (int)acts[a]);
            near_all(isa, what, y1, y2, (size_t)M * N, rel, sc);
        }
        t->packed_w_free(&p1);
        g->packed_w_free(&p2);
        free(x); free(W); free(b); free(y1); free(y2);
    }
}

static void norms_and_acts(const char *isa, const xl_kernel_table *t, const xl_kernel_table *g) {
    const int M = 7, H = 389;
    float *x = rand_vec((size_t)M * H, -3, 5), *y = rand_vec((size_t)M * H, -1, 1);
    float *gam = rand_vec(H, 0.5f, 1.5f), *bet = rand_vec(H, -1, 1);
    float *a = copy_vec(x, (size_t)M * H), *b = copy_vec(x, (size_t)M * H);
    t->layernorm(a, M, H, gam, bet, 1e-5f, 2);
    g->layernorm(b, M, H, gam, bet, 1e-5f, 2);
    near_all(isa, "layernorm", a, b, (size_t)M * H, 1e-6, 1.0);
    memcpy(a, x, sizeof(float) * (size_t)M * H);
    memcpy(b, x, sizeof(float) * (size_t)M * H);
    t->residual_layernorm(a, y, bet, M, H, gam, bet, 1e-5f, 2);
    g->residual_layernorm(b, y, bet, M, H, gam, bet, 1e-5f, 2);
    near_all(isa, "residual_layernorm", a, b, (size_t)M * H, 1e-6, 1.0);
    memcpy(a, x, sizeof(float) * (size_t)M * H);
    memcpy(b, x, sizeof(float) * (size_t)M * H);
    t->rmsnorm(a, M, H, gam, 1.0f, 1e-6f, 2);
    g->rmsnorm(b, M, H, gam, 1.0f, 1e-6f, 2);
    near_all(isa, "rmsnorm", a, b, (size_t)M * H, 1e-6, 1.0);
    /* activations over [-12, 12] and their tails: a few ulps apart (vector polynomials
     * against libm), relative to the value */
    const size_t n = 20011;
    float *v = rand_vec(n, -12, 12);
    void (*const ta[])(float *, size_t, int) = {t->gelu_erf, t->gelu_tanh, t->silu, t->relu};
    void (*const ga[])(float *, size_t, int) = {g->gelu_erf, g->gelu_tanh, g->silu, g->relu};
    static const char *names[] = {"gelu_erf", "gelu_tanh", "silu", "relu"};
    for (int k = 0; k < 4; k++) {
        float *p = copy_vec(v, n), *q = copy_vec(v, n);
        ta[k](p, n, 2);
        ga[k](q, n, 2);
        if (k == 3)
            same_bits(isa, names[k], p, q, n);
        else
            near_act(isa, names[k], v, p, q, n);
        free(p); free(q);
    }
    float *p = copy_vec(v, 300), *q = copy_vec(v, 300);
    t->softmax(p, 300);
    g->softmax(q, 300);
    near_all(isa, "softmax", p, q, 300, 4e-6, 1e-30);
    free(p); free(q);
    p = copy_vec(x, (size_t)M * H);
    q = copy_vec(x, (size_t)M * H);
    t->add_inplace(p, y, (size_t)M * H, 2);
    g->add_inplace(q, y, (size_t)M * H, 2);
    same_bits(isa, "add_inplace", p, q, (size_t)M * H);
    free(p); free(q);
    /* RoPE: products and sums of the same operands, same order */
    const int B = 2, T = 9, heads = 3, hd = 20;
    double inv[10];
    xl_rope_params rp = {.kind = XL_ROPE_DEFAULT, .theta = 10000.0};
    g->rope_inv_freq(&rp, hd, inv);
    float *ct = malloc(sizeof(float) * T * hd / 2), *st = malloc(sizeof(float) * T * hd / 2);
    g->rope_tables(inv, hd / 2, T, ct, st);
    p = rand_vec((size_t)B * T * heads * hd, -2, 2);
    q = copy_vec(p, (size_t)B * T * heads * hd);
    t->rope_apply(p, B, T, heads * hd, heads, hd, ct, st, 2);
    g->rope_apply(q, B, T, heads * hd, heads, hd, ct, st, 2);
    near_all(isa, "rope_apply", p, q, (size_t)B * T * heads * hd, 1e-6, 1.0);
    free(p); free(q); free(ct); free(st); free(v);
    free(x); free(y); free(gam); free(bet); free(a); free(b);
}

static void attention(const char *isa, const xl_kernel_table *t, const xl_kernel_table *g) {
    static const int shapes[][4] = {{4, 2, 24, 19}, {12, 12, 64, 40}, {8, 2, 128, 13}, {2, 1, 7, 33}};
    static const int windows[][2] = {{-1, -1}, {-1, 0}, {3, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t wi = 0; wi < 3; wi++) {
            const int nh = shapes[s][0], nkv = shapes[s][1], hd = shapes[s][2], T = shapes[s][3], B = 3;
            uint8_t *mask = malloc((size_t)B * T);
            for (int b = 0; b < B; b++)
                for (int j = 0; j < T; j++) mask[b * T + j] = j < T - 5 * b; /* right padding */
            xl_attn_params p = {.B = B, .T = T, .n_heads = nh, .n_kv_heads = nkv, .head_dim = hd,
                                .scale = 1.0f / sqrtf((float)hd), .window_left = windows[wi][0],
                                .window_right = windows[wi][1], .mask = mask};
            const int qs = nh * hd + 2 * nkv * hd; /* a fused q|k|v projection */
            float *qkv = rand_vec((size_t)B * T * qs, -2, 2);
            float *o1 = malloc(sizeof(float) * (size_t)B * T * nh * hd), *o2 = malloc(sizeof(float) * (size_t)B * T * nh * hd);
            CHECK(t->attention(&p, qkv, qs, qkv + nh * hd, qkv + nh * hd + nkv * hd, qs, o1, 2) == XL_OK);
            CHECK(g->attention(&p, qkv, qs, qkv + nh * hd, qkv + nh * hd + nkv * hd, qs, o2, 2) == XL_OK);
            char what[80];
            snprintf(what, sizeof what, "attention %d/%d heads x %d, T %d, window %d/%d", nh, nkv, hd, T,
                     windows[wi][0], windows[wi][1]);
            /* outputs are convex combinations of values in [-2, 2] */
            near_all(isa, what, o1, o2, (size_t)B * T * nh * hd, 4e-6, 2.0);
            free(mask); free(qkv); free(o1); free(o2);
        }
}

static void half_and_q8(const char *isa, const xl_kernel_table *t, const xl_kernel_table *g) {
    /* conversions: every 16-bit pattern, at an odd byte offset */
    unsigned char *src = malloc(2 * 65536 + 1);
    for (uint32_t h = 0; h < 65536; h++) {
        src[1 + 2 * h] = (unsigned char)(h & 0xff);
        src[2 + 2 * h] = (unsigned char)(h >> 8);
    }
    float *a = malloc(sizeof(float) * 65536), *b = malloc(sizeof(float) * 65536);
    t->convert_to_f32(XL_DT_F16, src + 1, a, 65536);
    g->convert_to_f32(XL_DT_F16, src + 1, b, 65536);
    same_bits(isa, "F16 -> F32", a, b, 65536);
    t->convert_to_f32(XL_DT_BF16, src + 1, a, 65536);
    g->convert_to_f32(XL_DT_BF16, src + 1, b, 65536);
    same_bits(isa, "BF16 -> F32", a, b, 65536);
    free(src); free(a); free(b);
    /* linear layers on half weights and q8 */
    static const int shapes[][3] = {{1, 256, 40}, {5, 300, 33}, {24, 512, 96}};
    for (size_t s = 0; s < 3; s++) {
        const int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *x = rand_vec((size_t)M * K, -1, 1), *W = rand_vec((size_t)N * K, -0.1f, 0.1f), *bias = rand_vec(N, -1, 1);
        uint16_t *Wb = malloc(2 * (size_t)N * K);
        for (size_t i = 0; i < (size_t)N * K; i++) {
            uint32_t u;
            memcpy(&u, &W[i], 4);
            Wb[i] = (uint16_t)(u >> 16);
        }
        float *y1 = malloc(sizeof(float) * (size_t)M * N), *y2 = malloc(sizeof(float) * (size_t)M * N);
        float *w1 = malloc(sizeof(float) * (t->linear_half_work(M, K, 2) + 1));
        float *w2 = malloc(sizeof(float) * (g->linear_half_work(M, K, 2) + 1));
        t->linear_half(x, M, K, Wb, XL_DT_BF16, N, bias, y1, w1, 2);
        g->linear_half(x, M, K, Wb, XL_DT_BF16, N, bias, y2, w2, 2);
        char what[64];
        snprintf(what, sizeof what, "linear_half BF16 %dx%dx%d", M, K, N);
        near_all(isa, what, y1, y2, (size_t)M * N, 2e-6, 1.0 + 0.1 * K);
        xl_q8_matrix q1, q2;
        CHECK(t->q8_quantize(W, XL_DT_F32, N, K, &q1, 2) == XL_OK && g->q8_quantize(W, XL_DT_F32, N, K, &q2, 2) == XL_OK);
        void *qw1 = malloc(t->q8_work(M, K, 2) + 64), *qw2 = malloc(g->q8_work(M, K, 2) + 64);
        t->q8_linear(x, M, K, &q1, bias, y1, qw1, 2);
        g->q8_linear(x, M, K, &q2, bias, y2, qw2, 2);
        snprintf(what, sizeof what, "q8_linear %dx%dx%d", M, K, N);
        /* same int8 weights; the activations are quantized per block to int16, or to int8
         * by a set that uses AVX-VNNI's vpdpbusd: then each x moves by up to
         * max|x| / 254 (<= 1/254 here), so outputs differ by up to Σ|w| / 127 */
        for (int n = 0, bad = 0; n < N && !bad; n++) {
            double sw = 0;
            for (int k = 0; k < K; k++) sw += fabs((double)W[(size_t)n * K + k]);
            for (int m = 0; m < M && !bad; m++) {
                double d = fabs((double)y1[(size_t)m * N + n] - y2[(size_t)m * N + n]);
                bad = !(d <= sw / 127.0 + 1e-5);
                if (bad) CHECK_MSG(0, "%s vs generic, %s[%d][%d]: differ by %.3g (tol %.3g)", isa, what, m, n, d, sw / 127.0 + 1e-5);
            }
            if (!bad && n == N - 1) CHECK(1);
        }
        t->q8_free(&q1);
        g->q8_free(&q2);
        free(qw1); free(qw2); free(w1); free(w2);
        free(x); free(W); free(bias); free(Wb); free(y1); free(y2);
    }
}

int main(void) {
    const xl_kernel_table *g = xl_kernels_for("generic");
    const char *avail = xl_kernel_isas();
    if (!g) {
        t_skip_case("kernel sets", "this build has no generic set (NATIVE=1)");
        return test_summary("test_kernel_sets");
    }
    static const char *sets[] = {"avx2-novnni", "avx2", "avx512-novnni", "avx512"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        const xl_kernel_table *t = xl_kernels_for(sets[i]);
        if (!t || strcmp(t->isa, sets[i])) { /* "avx2" without VNNI resolves to avx2-novnni */
            char why[160];
            snprintf(why, sizeof why, "this CPU runs only: %s", avail);
            t_skip_case(sets[i], why);
            continue;
        }
        linear(sets[i], t, g);
        norms_and_acts(sets[i], t, g);
        attention(sets[i], t, g);
        half_and_q8(sets[i], t, g);
    }
    return test_summary("test_kernel_sets");
}
