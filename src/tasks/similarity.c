/* Cosine similarity between sets of embeddings. */
#include <math.h>
#include <stddef.h>

#include "xling.h"

void xl_cosine_similarity(const float *a, size_t na, const float *b, size_t nb, size_t dim, float *out) {
    for (size_t i = 0; i < na; i++) {
        const float *x = a + i * dim;
        double xx = 0;
        for (size_t k = 0; k < dim; k++) xx += (double)x[k] * x[k];
        for (size_t j = 0; j < nb; j++) {
            const float *y = b + j * dim;
            double xy = 0, yy = 0;
            for (size_t k = 0; k < dim; k++) {
                xy += (double)x[k] * y[k];
                yy += (double)y[k] * y[k];
            }
            double den = sqrt(xx) * sqrt(yy);
            out[i * nb + j] = (float)(den > 0 ? xy / den : 0.0);
        }
    }
}
