/* Rotary position embeddings (rotate_half layout). Frequencies and angles are
 * computed in double: a float32 product pos * inv_freq loses ~1e-3 rad at positions
 * in the thousands, while the reference (and long inputs) want the exact angle. */
#include "kernels/rope.h"
#include <math.h>
#include <stddef.h>

/* Below this many values a parallel region costs more than it saves. */
#define PAR_MIN 16384L

void xl_rope_inv_freq(const xl_rope_params *p, int head_dim, double *inv_freq) {
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) inv_freq[i] = 1.0 / pow(p->theta, (2.0 * i) / head_dim);
    if (p->kind == XL_ROPE_LINEAR) {
        for (int i = 0; i < half; i++) inv_freq[i] /= p->factor;
    } else if (p->kind == XL_ROPE_LLAMA3) {
        /* Wavelengths longer than original_max_pos / low_freq_factor are slowed down by
         * `factor`; those shorter than original_max_pos / high_freq_factor are kept; in
         * between, a linear blend in original_max_pos / wavelen. */
        const double two_pi = 6.283185307179586476925286766559;
        double low_wavelen = p->original_max_pos / p->low_freq_factor;
        double high_wavelen = p->original_max_pos / p->high_freq_factor;
        for (int i = 0; i < half; i++) {
            double f = inv_freq[i];
            double wavelen = two_pi / f;
            if (wavelen > low_wavelen) {
                inv_freq[i] = f / p->factor;
            } else if (wavelen >= high_wavelen) {
                double smooth = (p->original_max_pos / wavelen - p->low_freq_factor) /
                                (p->high_freq_factor - p->low_freq_factor);
                inv_freq[i] = (1.0 - smooth) * f / p->factor + smooth * f;
            }
        }
    }
}

void xl_rope_tables(const double *inv_freq, int half, int n_pos, float *cos_t, float *sin_t) {
    for (int pos = 0; pos < n_pos; pos++) {
        for (int i = 0; i < half; i++) {
            double a = (double)pos * inv_freq[i];
            cos_t[(size_t)pos * half + i] = (float)cos(a);
            sin_t[(size_t)pos * half + i] = (float)sin(a);
        }
    }
}

void xl_rope_apply(float *x, int B, int T, int stride, int n_heads, int head_dim, const float *cos_t,
                   const float *sin_t, int threads) {
    int half = head_dim / 2;
    long rows = (long)B * T;
#pragma omp parallel for num_threads(threads > 0 ? threads : 1) schedule(static) \
    if (threads > 1 && rows * n_heads * head_dim >= PAR_MIN)
    for (long r = 0; r < rows; r++) {
        int pos = (int)(r % T);
        const float *c = cos_t + (size_t)pos * half;
        const float *s = sin_t + (size_t)pos * half;
        float *row = x + (size_t)r * stride;
        for (int h = 0; h < n_heads; h++) {
            float *a = row + (size_t)h * head_dim;
            float *b = a + half;
            /* (a, b) -> (a cos - b sin, b cos + a sin): x*cos + rotate_half(x)*sin.
             * omp simd: the lanes are independent; vectorized for each kernel set's
             * registers (-O2 alone leaves a loop of unknown length scalar). */
#pragma omp simd
            for (int i = 0; i < half; i++) {
                float ai = a[i], bi = b[i];
                a[i] = ai * c[i] - bi * s[i];
                b[i] = bi * c[i] + ai * s[i];
            }
        }
    }
}
