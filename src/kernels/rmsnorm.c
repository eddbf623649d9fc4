/* RMSNorm: x / sqrt(mean(x²) + eps) * (w + w_offset); w_offset = 1 gives Gemma's (1 + w).
 * The mean square is accumulated in double (xl_sum_sq_dev). */
#include <math.h>
#include "kernels/kernels.h"

#define XL_PAR_MIN 16384

void xl_rmsnorm(float *x, int M, int H, const float *w, float w_offset, float eps, int threads) {
    if (M <= 0 || H <= 0) return;
    if (threads < 1) threads = 1;
#pragma omp parallel for num_threads(threads) schedule(static) if ((size_t)M * H >= XL_PAR_MIN && threads > 1)
    for (int m = 0; m < M; m++) {
        float *r = x + (size_t)m * H;
        float s = (float)(1.0 / sqrt(xl_sum_sq_dev(r, H, 0.0) / H + (double)eps));
        /* omp simd: independent lanes, vectorized for each kernel set's registers */
        if (w) {
#pragma omp simd
            for (int i = 0; i < H; i++) r[i] = r[i] * s * (w[i] + w_offset);
        } else {
#pragma omp simd
            for (int i = 0; i < H; i++) r[i] = r[i] * s;
        }
    }
}
