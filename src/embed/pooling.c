#include "embed/pooling.h"

#include <math.h>
#include <string.h>

void xl_pool(xl_pooling mode, const float *hidden, int len, int H, int skip, float *out) {
    int start = skip < len ? skip : 0;
    switch (mode) {
    case XL_POOL_CLS:
        memcpy(out, hidden, (size_t)H * sizeof *out);
        return;
    case XL_POOL_LAST:
        memcpy(out, hidden + (size_t)(len - 1) * H, (size_t)H * sizeof *out);
        return;
    case XL_POOL_MAX:
        memcpy(out, hidden + (size_t)start * H, (size_t)H * sizeof *out);
        for (int t = start + 1; t < len; t++) {
            const float *h = hidden + (size_t)t * H;
            for (int j = 0; j < H; j++)
                if (h[j] > out[j]) out[j] = h[j];
        }
        return;
    case XL_POOL_MEAN:
    case XL_POOL_DEFAULT: {
        /* Accumulate in double: long sequences of large activations lose digits in float. */
        double acc[H];
        for (int j = 0; j < H; j++) acc[j] = 0;
        for (int t = start; t < len; t++) {
            const float *h = hidden + (size_t)t * H;
            for (int j = 0; j < H; j++) acc[j] += h[j];
        }
        double inv = 1.0 / (len - start);
        for (int j = 0; j < H; j++) out[j] = (float)(acc[j] * inv);
        return;
    }
    }
}

void xl_pool_weighted_mean(const float *hidden, int len, int H, int skip, float *out) {
    int start = skip < len ? skip : 0;
    double acc[H];
    for (int j = 0; j < H; j++) acc[j] = 0;
    for (int t = start; t < len; t++) {
        const float *h = hidden + (size_t)t * H;
        double w = t - start + 1;
        for (int j = 0; j < H; j++) acc[j] += w * h[j];
    }
    double m = len - start, inv = 2.0 / (m * (m + 1));
    for (int j = 0; j < H; j++) out[j] = (float)(acc[j] * inv);
}

static float activate(xl_activation a, float x) {
    switch (a) {
    case XL_ACT_IDENTITY: return x;
    case XL_ACT_TANH: return tanhf(x);
    case XL_ACT_RELU: return x > 0 ? x : 0;
    case XL_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case XL_ACT_GELU_TANH:
        return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case XL_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case XL_ACT_SILU: return x / (1.0f + expf(-x));
    }
    return x;
}

void xl_dense_apply(const xl_dense *d, int n_dense, const float *in, float *out, float *scratch) {
    int max_out = 0;
    for (int k = 0; k < n_dense; k++)
        if (d[k].out_features > max_out) max_out = d[k].out_features;
    const float *src = in;
    for (int k = 0; k < n_dense; k++) {
        const xl_dense *L = &d[k];
        /* Intermediate layers alternate between the two halves of scratch so that
         * a layer never reads and writes the same buffer. */
        float *dst = (k == n_dense - 1) ? out : scratch + (size_t)(k & 1) * max_out;
        for (int o = 0; o < L->out_features; o++) {
            const float *w = L->weight + (size_t)o * L->in_features;
            double s = L->bias ? L->bias[o] : 0.0;
            for (int i = 0; i < L->in_features; i++) s += (double)w[i] * src[i];
            dst[o] = activate(L->act, (float)s);
        }
        src = dst;
    }
}

void xl_l2_normalize(float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    double norm = sqrt(s);
    if (norm < 1e-12) norm = 1e-12;
    float inv = (float)(1.0 / norm);
    for (int i = 0; i < n; i++) x[i] *= inv;
}
