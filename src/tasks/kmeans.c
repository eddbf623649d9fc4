/* k-means (Lloyd) with greedy k-means++ seeding, as scikit-learn's KMeans does it:
 * each new centre is the best of 2 + ln(k) candidates drawn with probability
 * proportional to the squared distance to the nearest chosen centre; Lloyd iterations
 * until no point changes cluster (or max_iter); an emptied cluster takes the point
 * farthest from its centre; the best of `restarts` runs by inertia. Distances come
 * from one GEMM per iteration (|x|² - 2 x·c + |c|²). Deterministic for a seed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "util/error.h"
#include "xling.h"

typedef struct {
    uint64_t s;
} rng_t;

static double rng_uniform(rng_t *r) {
    /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static double sqdist(const float *a, const float *b, size_t dim) {
    double s = 0;
    for (size_t k = 0; k < dim; k++) {
        double d = (double)a[k] - b[k];
        s += d * d;
    }
    return s;
}

/* Squared norms of rows v[rows][dim] (the |x|² and |c|² terms of every distance). */
static void row_norms(const float *v, size_t rows, size_t dim, double *norms) {
    for (size_t j = 0; j < rows; j++) {
        double s = 0;
        for (size_t d = 0; d < dim; d++) s += (double)v[j * dim + d] * v[j * dim + d];
        norms[j] = s;
    }
}

/* Index drawn with probability w[i] / total (total > 0). */
static size_t draw(const double *w, size_t n, double total, rng_t *r) {
    double u = rng_uniform(r) * total, acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc += w[i];
        if (u < acc) return i;
    }
    for (size_t i = n; i-- > 0;)
        if (w[i] > 0) return i;
    return 0;
}

static void seed_plusplus(const float *x, size_t n, size_t dim, int k, rng_t *r, float *c, double *closest,
                          double *cand_d) {
    size_t first = (size_t)(rng_uniform(r) * (double)n);
    if (first >= n) first = n - 1;
    memcpy(c, x + first * dim, dim * sizeof *c);
    double pot = 0;
    for (size_t i = 0; i < n; i++) pot += closest[i] = sqdist(x + i * dim, c, dim);
    int trials = 2 + (int)log((double)k);
    for (int j = 1; j < k; j++) {
        size_t best = 0;
        double best_pot = INFINITY;
        for (int t = 0; t < trials; t++) {
            size_t cand = pot > 0 ? draw(closest, n, pot, r) : (size_t)(rng_uniform(r) * (double)n) % n;
            double p = 0;
            for (size_t i = 0; i < n; i++) {
                double d = sqdist(x + i * dim, x + cand * dim, dim);
                cand_d[i] = d < closest[i] ? d : closest[i];
                p += cand_d[i];
            }
            if (p < best_pot) {
                best_pot = p;
                best = cand;
            }
        }
        memcpy(c + (size_t)j * dim, x + best * dim, dim * sizeof *c);
        pot = 0;
        for (size_t i = 0; i < n; i++) {
            double d = sqdist(x + i * dim, c + (size_t)j * dim, dim);
            if (d < closest[i]) closest[i] = d;
            pot += closest[i];
        }
    }
}

/* One run from seeded centres c; returns the inertia, labels in lab. */
static double lloyd(const float *x, size_t n, size_t dim, int k, int max_iter, float *c, int *lab, float *dots,
                    double *xx, double *sums, size_t *cnt, int threads) {
    for (size_t i = 0; i < n; i++) lab[i] = -1;
    double inertia = 0;
    for (int it = 0; it < max_iter; it++) {
        xl_linear_f32(x, (int)n, (int)dim, c, k, NULL, dots, threads);
        size_t changed = 0;
        inertia = 0;
        for (size_t i = 0; i < n; i++) {
            int best = 0;
            double bd = INFINITY;
            for (int j = 0; j < k; j++) {
                double d = xx[i] - 2.0 * dots[i * (size_t)k + (size_t)j] + sums[(size_t)k * dim + (size_t)j];
                if (d < bd) {
                    bd = d;
                    best = j;
                }
            }
            changed += lab[i] != best;
            lab[i] = best;
            inertia += bd > 0 ? bd : 0;
        }
        if (!changed) break;
        /* new centres: the means; an empty cluster takes the farthest point */
        memset(sums, 0, (size_t)k * dim * sizeof *sums);
        memset(cnt, 0, (size_t)k * sizeof *cnt);
        for (size_t i = 0; i < n; i++) {
            cnt[lab[i]]++;
            for (size_t d = 0; d < dim; d++) sums[(size_t)lab[i] * dim + d] += x[i * dim + d];
        }
        for (int j = 0; j < k; j++) {
            if (cnt[j]) {
                for (size_t d = 0; d < dim; d++) c[(size_t)j * dim + d] = (float)(sums[(size_t)j * dim + d] / (double)cnt[j]);
                continue;
            }
            size_t far = 0;
            double fd = -1;
            for (size_t i = 0; i < n; i++) {
                double d = sqdist(x + i * dim, c + (size_t)lab[i] * dim, dim);
                if (cnt[lab[i]] > 1 && d > fd) {
                    fd = d;
                    far = i;
                }
            }
            cnt[lab[far]]--;
            lab[far] = j;
            cnt[j] = 1;
            memcpy(c + (size_t)j * dim, x + far * dim, dim * sizeof *c);
        }
        row_norms(c, (size_t)k, dim, sums + (size_t)k * dim);
    }
    return inertia;
}

xl_status xl_kmeans(const float *x, size_t n, size_t dim, int k, const xl_kmeans_options *o, int *labels,
                    float *centroids, double *inertia_out) {
    if (k < 1 || (size_t)k > n) return xl_err(XL_ERR_ARG, "k-means: k = %d must be between 1 and the %zu points", k, n);
    if (!dim) return xl_err(XL_ERR_ARG, "k-means: dimension 0");
    for (size_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i])) return xl_err(XL_ERR_ARG, "k-means: point %zu holds a non-finite value", i / dim);
    int restarts = o && o->restarts > 0 ? o->restarts : 1, max_iter = o && o->max_iter > 0 ? o->max_iter : 300;
    int threads = o && o->threads > 0 ? o->threads : 1;
    rng_t r = {o ? o->seed : 0};
    float *c = malloc((size_t)k * dim * sizeof *c), *dots = malloc(n * (size_t)k * sizeof *dots);
    double *xx = malloc(n * sizeof *xx), *closest = malloc(n * sizeof *closest), *cand = malloc(n * sizeof *cand);
    double *sums = malloc(((size_t)k * dim + (size_t)k) * sizeof *sums);
    size_t *cnt = malloc((size_t)k * sizeof *cnt);
    int *lab = malloc(n * sizeof *lab);
    if (!c || !dots || !xx || !closest || !cand || !sums || !cnt || !lab) {
        free(c), free(dots), free(xx), free(closest), free(cand), free(sums), free(cnt), free(lab);
        return xl_err(XL_ERR_NOMEM, "k-means: out of memory (%zu points, k = %d)", n, k);
    }
    row_norms(x, n, dim, xx);
    double best = INFINITY;
    for (int run = 0; run < restarts; run++) {
        seed_plusplus(x, n, dim, k, &r, c, closest, cand);
        row_norms(c, (size_t)k, dim, sums + (size_t)k * dim);
        double in = lloyd(x, n, dim, k, max_iter, c, lab, dots, xx, sums, cnt, threads);
        if (in < best) {
            best = in;
            memcpy(labels, lab, n * sizeof *labels);
            if (centroids) memcpy(centroids, c, (size_t)k * dim * sizeof *c);
        }
    }
    if (inertia_out) *inertia_out = best;
    free(c), free(dots), free(xx), free(closest), free(cand), free(sums), free(cnt), free(lab);
    return XL_OK;
}
