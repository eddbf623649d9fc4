/* Exact k nearest neighbours by inner product, and bitext mining with margin scoring
 * (LASER's mine_bitexts.py, Artetxe & Schwenk 2019).
 *
 * k-NN: queries and database are cut into blocks; each block pair is one GEMM on the
 * engine's kernels (scores = Q_blk · D_blkᵀ), and every query keeps a running top-k
 * (a sorted array of k entries: a score below the current k-th is rejected by one
 * comparison). Memory is the two blocks' score matrix plus n·k results, whatever the
 * sizes: 10^6 x 10^6 never needs an n x m matrix. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "util/error.h"
#include "xling.h"

#define Q_BLOCK 2048
#define D_BLOCK 4096

/* Inserts (s, j) into the descending top-k list if it beats the k-th entry. Ties keep
 * the earlier index (the database is scanned in order). */
static inline void topk_push(float *sim, int64_t *idx, int k, float s, int64_t j) {
    if (!(s > sim[k - 1])) return;
    int p = k - 1;
    while (p > 0 && s > sim[p - 1]) {
        sim[p] = sim[p - 1];
        idx[p] = idx[p - 1];
        p--;
    }
    sim[p] = s;
    idx[p] = j;
}

xl_status xl_knn(const float *q, size_t nq, const float *d, size_t nd, size_t dim, int k, int64_t *idx, float *sim,
                 int threads, xl_progress_fn progress, void *progress_ctx) {
    if (k <= 0 || (size_t)k > nd) return xl_err(XL_ERR_ARG, "k-NN: k = %d must be between 1 and the %zu database rows", k, nd);
    if (!dim || dim > (1u << 30)) return xl_err(XL_ERR_ARG, "k-NN: dimension %zu", dim);
    if (nq && (!q || !d || !idx || !sim)) return xl_err(XL_ERR_ARG, "k-NN: NULL array");
    if (threads < 1) threads = 1;
    size_t qb = nq < Q_BLOCK ? nq : Q_BLOCK, db = nd < D_BLOCK ? nd : D_BLOCK;
    float *scores = malloc((qb ? qb : 1) * db * sizeof *scores);
    if (!scores) return xl_err(XL_ERR_NOMEM, "k-NN: out of memory (%zu x %zu score block)", qb, db);
    for (size_t i = 0; i < nq * (size_t)k; i++) {
        sim[i] = -INFINITY;
        idx[i] = -1;
    }
    size_t steps = ((nq + qb - 1) / (qb ? qb : 1)) * ((nd + db - 1) / db), step = 0;
    for (size_t q0 = 0; q0 < nq; q0 += qb) {
        int m = (int)(nq - q0 < qb ? nq - q0 : qb);
        for (size_t d0 = 0; d0 < nd; d0 += db) {
            int n = (int)(nd - d0 < db ? nd - d0 : db);
            xl_linear_f32(q + q0 * dim, m, (int)dim, d + d0 * dim, n, NULL, scores, threads);
#pragma omp parallel for num_threads(threads) schedule(static)
            for (int i = 0; i < m; i++) {
                float *s = sim + (q0 + (size_t)i) * k;
                int64_t *x = idx + (q0 + (size_t)i) * k;
                const float *row = scores + (size_t)i * n;
                for (int j = 0; j < n; j++) topk_push(s, x, k, row[j], (int64_t)(d0 + (size_t)j));
            }
            if (progress) progress(progress_ctx, (double)++step / (double)steps);
        }
    }
    free(scores);
    return XL_OK;
}

void xl_l2_normalize_rows(float *x, size_t n, size_t dim) {
    for (size_t i = 0; i < n; i++) {
        float *r = x + i * dim;
        double ss = 0;
        for (size_t k = 0; k < dim; k++) ss += (double)r[k] * r[k];
        if (ss > 0) {
            float inv = (float)(1.0 / sqrt(ss));
            for (size_t k = 0; k < dim; k++) r[k] *= inv;
        }
    }
}

void xl_mine_options_init(xl_mine_options *o) {
    memset(o, 0, sizeof *o);
    o->k = 4;
    o->margin = XL_MARGIN_RATIO;
    o->mode = XL_MINE_MINE;
    o->threshold = -INFINITY;
    o->threads = 1;
}

static double margin(xl_margin m, double a, double b) {
    switch (m) {
    case XL_MARGIN_DISTANCE: return a - b;
    case XL_MARGIN_ABSOLUTE: return a;
    case XL_MARGIN_RATIO: break;
    }
    return a / b;
}

static float dot(const float *a, const float *b, size_t dim) {
    float s = 0;
    for (size_t k = 0; k < dim; k++) s += a[k] * b[k];
    return s;
}

/* One direction's candidates scored by margin: for each row i of a, the best of its k
 * neighbours in b (*best_j) and that score (*best_s); the first best wins ties (numpy
 * argmax). */
static void best_candidates(const float *a, size_t na, const float *b, size_t dim, const int64_t *ind, int k,
                            const double *a_mean, const double *b_mean, xl_margin m, int threads, int64_t *best_j,
                            double *best_s) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < na; i++) {
        double bs = -INFINITY;
        int64_t bj = ind[i * (size_t)k];
        for (int c = 0; c < k; c++) {
            int64_t j = ind[i * (size_t)k + (size_t)c];
            double s = margin(m, dot(a + i * dim, b + (size_t)j * dim, dim), (a_mean[i] + b_mean[j]) / 2);
            if (s > bs) {
                bs = s;
                bj = j;
            }
        }
        best_j[i] = bj;
        best_s[i] = bs;
    }
}

typedef struct {
    double score;
    int64_t src, tgt;
    size_t order; /* position in the candidate list: ties keep it */
} cand;

static int cmp_cand(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

static xl_status check_finite(const float *x, size_t n, size_t dim, const char *what) {
    for (size_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i]))
            return xl_err(XL_ERR_ARG, "%s row %zu holds a non-finite value (%s)", what, i / dim, isnan(x[i]) ? "NaN" : "inf");
    return XL_OK;
}

xl_status xl_mine(const float *x, size_t nx, const float *y, size_t ny, size_t dim, const xl_mine_options *o,
                  xl_mine_pair **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (!nx || !ny) return xl_err(XL_ERR_ARG, "mining needs vectors on both sides (source %zu, target %zu)", nx, ny);
    if (o->k < 1) return xl_err(XL_ERR_ARG, "mining: k must be at least 1 (got %d)", o->k);
    xl_status st = check_finite(x, nx, dim, "source");
    if (!st) st = check_finite(y, ny, dim, "target");
    if (st) return st;
    int threads = o->threads > 0 ? o->threads : 1;
    /* k is capped at the other side's size */
    int kx = (size_t)o->k < ny ? o->k : (int)ny, ky = (size_t)o->k < nx ? o->k : (int)nx;
    float *x2y_sim = malloc(nx * (size_t)kx * sizeof *x2y_sim), *y2x_sim = malloc(ny * (size_t)ky * sizeof *y2x_sim);
    int64_t *x2y_ind = malloc(nx * (size_t)kx * sizeof *x2y_ind), *y2x_ind = malloc(ny * (size_t)ky * sizeof *y2x_ind);
    double *x_mean = malloc(nx * sizeof *x_mean), *y_mean = malloc(ny * sizeof *y_mean);
    double *fwd_s = malloc(nx * sizeof *fwd_s), *bwd_s = malloc(ny * sizeof *bwd_s);
    int64_t *fwd_j = malloc(nx * sizeof *fwd_j), *bwd_j = malloc(ny * sizeof *bwd_j);
    cand *c = malloc((nx + ny) * sizeof *c);
    uint8_t *seen_x = calloc(nx, 1), *seen_y = calloc(ny, 1);
    if (!x2y_sim || !y2x_sim || !x2y_ind || !y2x_ind || !x_mean || !y_mean || !fwd_s || !bwd_s || !fwd_j || !bwd_j ||
        !c || !seen_x || !seen_y) {
        st = xl_err(XL_ERR_NOMEM, "mining: out of memory (%zu x %zu vectors)", nx, ny);
        goto done;
    }
    /* the two k-NN searches, each reporting half of the progress */
    if ((st = xl_knn(x, nx, y, ny, dim, kx, x2y_ind, x2y_sim, threads, o->progress, o->progress_ctx))) goto done;
    if ((st = xl_knn(y, ny, x, nx, dim, ky, y2x_ind, y2x_sim, threads, o->progress, o->progress_ctx))) goto done;
    for (size_t i = 0; i < nx; i++) {
        double s = 0;
        for (int c2 = 0; c2 < kx; c2++) s += x2y_sim[i * (size_t)kx + (size_t)c2];
        x_mean[i] = s / kx;
    }
    for (size_t j = 0; j < ny; j++) {
        double s = 0;
        for (int c2 = 0; c2 < ky; c2++) s += y2x_sim[j * (size_t)ky + (size_t)c2];
        y_mean[j] = s / ky;
    }
    best_candidates(x, nx, y, dim, x2y_ind, kx, x_mean, y_mean, o->margin, threads, fwd_j, fwd_s);
    best_candidates(y, ny, x, dim, y2x_ind, ky, y_mean, x_mean, o->margin, threads, bwd_j, bwd_s);

    size_t n = 0;
    switch (o->mode) {
    case XL_MINE_FORWARD:
        for (size_t i = 0; i < nx; i++) c[n++] = (cand){fwd_s[i], (int64_t)i, fwd_j[i], i};
        break;
    case XL_MINE_BACKWARD:
        for (size_t j = 0; j < ny; j++) c[n++] = (cand){bwd_s[j], bwd_j[j], (int64_t)j, j};
        break;
    case XL_MINE_INTERSECT:
        for (size_t i = 0; i < nx; i++)
            if (bwd_j[fwd_j[i]] == (int64_t)i) c[n++] = (cand){fwd_s[i], (int64_t)i, fwd_j[i], i};
        break;
    case XL_MINE_MINE:
        /* LASER: forward best pairs then backward best pairs, by score, each kept when
         * neither side was kept before (the threshold is applied after that check) */
        for (size_t i = 0; i < nx; i++) c[n++] = (cand){fwd_s[i], (int64_t)i, fwd_j[i], i};
        for (size_t j = 0; j < ny; j++) c[n++] = (cand){bwd_s[j], bwd_j[j], (int64_t)j, nx + j};
        break;
    }
    qsort(c, n, sizeof *c, cmp_cand);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (o->mode == XL_MINE_MINE) {
            if (seen_x[c[i].src] || seen_y[c[i].tgt]) continue;
            seen_x[c[i].src] = seen_y[c[i].tgt] = 1;
        }
        if (c[i].score > o->threshold) c[w++] = c[i];
    }
    xl_mine_pair *pairs = malloc((w ? w : 1) * sizeof *pairs);
    if (!pairs) {
        st = xl_err(XL_ERR_NOMEM, "mining: out of memory (%zu pairs)", w);
        goto done;
    }
    for (size_t i = 0; i < w; i++) pairs[i] = (xl_mine_pair){c[i].score, c[i].src, c[i].tgt};
    *out = pairs;
    *n_out = w;
done:
    free(x2y_sim);
    free(y2x_sim);
    free(x2y_ind);
    free(y2x_ind);
    free(x_mean);
    free(y_mean);
    free(fwd_s);
    free(bwd_s);
    free(fwd_j);
    free(bwd_j);
    free(c);
    free(seen_x);
    free(seen_y);
    return st;
}
