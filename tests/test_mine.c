/* Exact k-NN and LASER margin mining on synthetic vectors with known answers:
 * - k-NN against a brute-force full sort (sizes that cross the GEMM blocks);
 * - a hand-computed 2-D case for every margin (values worked out in the comments);
 * - a planted permutation (y = a noisy permutation of x, plus distractors) that every
 *   mode must recover;
 * - every mode and margin against a direct transcription of mine_bitexts.py (full
 *   sorts, double precision) on random data;
 * - bad input: empty sides, k < 1, NaN / inf rows.
 * Tolerances: similarities 1e-5 (float32 GEMM vs double dot products). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "xling.h"

static uint64_t rng = 88172645463325252ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static float nrand(void) {
    double u = urand() + 1e-12, v = urand();
    return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}
static float *random_unit(size_t n, size_t dim) {
    float *x = malloc(n * dim * sizeof *x);
    for (size_t i = 0; i < n * dim; i++) x[i] = nrand();
    xl_l2_normalize_rows(x, n, dim);
    return x;
}
static double ddot(const float *a, const float *b, size_t dim) {
    double s = 0;
    for (size_t k = 0; k < dim; k++) s += (double)a[k] * b[k];
    return s;
}

/* ---------------------------------------------------------------- k-NN */

typedef struct {
    double s;
    size_t j;
} sj;
static int cmp_sj(const void *a, const void *b) {
    const sj *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

static void test_knn(void) {
    size_t nq = 300, nd = 5000, dim = 37;
    int k = 7;
    float *q = random_unit(nq, dim), *d = random_unit(nd, dim), *sim = malloc(nq * k * sizeof *sim);
    int64_t *idx = malloc(nq * k * sizeof *idx);
    CHECK(xl_knn(q, nq, d, nd, dim, k, idx, sim, 2, NULL, NULL) == XL_OK);
    sj *all = malloc(nd * sizeof *all);
    size_t same = 0;
    double worst = 0;
    for (size_t i = 0; i < nq; i++) {
        for (size_t j = 0; j < nd; j++) all[j] = (sj){ddot(q + i * dim, d + j * dim, dim), j};
        qsort(all, nd, sizeof *all, cmp_sj);
        int ok = 1;
        for (int c = 0; c < k; c++) {
            ok &= idx[i * k + c] == (int64_t)all[c].j;
            double e = fabs(sim[i * k + c] - all[c].s);
            if (e > worst) worst = e;
        }
        same += ok;
    }
    CHECK_MSG(same == nq, "k-NN: %zu of %zu queries have the brute-force neighbours in order", same, nq);
    CHECK_MSG(worst < 1e-5, "k-NN: similarity off by %g", worst);
    /* k = nd: every row, sorted */
    CHECK(xl_knn(q, 1, d, 50, dim, 50, idx, sim, 1, NULL, NULL) == XL_OK);
    int sorted = 1;
    for (int c = 1; c < 50; c++) sorted &= sim[c - 1] >= sim[c];
    CHECK(sorted);
    CHECK(xl_knn(q, 1, d, 50, dim, 51, idx, sim, 1, NULL, NULL) == XL_ERR_ARG);
    CHECK(xl_knn(q, 1, d, 50, dim, 0, idx, sim, 1, NULL, NULL) == XL_ERR_ARG);
    free(all);
    free(q);
    free(d);
    free(sim);
    free(idx);
}

/* -------------------------------------------------------- hand-computed case */

/* x0 = (1, 0), x1 = (0, 1); y0 = (1, 0), y1 = (0.6, 0.8); k = 2.
 * cos: x0y0 1, x0y1 .6, x1y0 0, x1y1 .8.
 * fwd_mean: x0 (1 + .6)/2 = .8, x1 (.8 + 0)/2 = .4; bwd_mean: y0 .5, y1 .7.
 * ratio: x0y0 1/.65 = 1.538462, x0y1 .6/.75 = .8, x1y1 .8/.55 = 1.454545, x1y0 0.
 * distance: x0y0 1-.65 = .35, x1y1 .8-.55 = .25. absolute: x0y0 1, x1y1 .8.
 * Best pairs both ways: (x0, y0), (x1, y1). */
static void test_hand(void) {
    float x[] = {1, 0, 0, 1}, y[] = {1, 0, 0.6f, 0.8f};
    static const double want[3][2] = {{1 / 0.65, 0.8 / 0.55}, {0.35, 0.25}, {1.0, 0.8}};
    for (int m = 0; m < 3; m++) {
        for (int mode = 0; mode < 4; mode++) {
            xl_mine_options o;
            xl_mine_options_init(&o);
            o.k = 2;
            o.margin = (xl_margin)m;
            o.mode = (xl_mine_mode)mode;
            xl_mine_pair *p;
            size_t n;
            CHECK(xl_mine(x, 2, y, 2, 2, &o, &p, &n) == XL_OK);
            CHECK_MSG(n == 2 && p[0].src == 0 && p[0].tgt == 0 && p[1].src == 1 && p[1].tgt == 1,
                      "margin %d mode %d: %zu pairs", m, mode, n);
            if (n == 2) {
                CHECK_NEAR(p[0].score, want[m][0], 1e-5);
                CHECK_NEAR(p[1].score, want[m][1], 1e-5);
            }
            free(p);
        }
    }
    /* threshold between the two scores keeps the best pair only */
    xl_mine_options o;
    xl_mine_options_init(&o);
    o.k = 2;
    o.threshold = 1.5;
    xl_mine_pair *p;
    size_t n;
    CHECK(xl_mine(x, 2, y, 2, 2, &o, &p, &n) == XL_OK);
    CHECK(n == 1 && p[0].src == 0 && p[0].tgt == 0);
    free(p);
    /* k above the other side's size is capped (k = 10 acts as k = 2) */
    o.threshold = -INFINITY;
    o.k = 10;
    CHECK(xl_mine(x, 2, y, 2, 2, &o, &p, &n) == XL_OK);
    CHECK(n == 2 && fabs(p[0].score - 1 / 0.65) < 1e-5);
    free(p);
}

/* ---------------------------------------------------- planted permutation */

static void test_planted(void) {
    size_t n = 400, extra = 150, dim = 64;
    float *x = random_unit(n, dim), *y = malloc((n + extra) * dim * sizeof *y);
    size_t *perm = malloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(urand() * (double)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    /* y[perm[i]] = x[i] + noise; rows n.. are unrelated distractors */
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < dim; k++) y[perm[i] * dim + k] = x[i * dim + k] + 0.05f * nrand();
    for (size_t i = n * dim; i < (n + extra) * dim; i++) y[i] = nrand();
    xl_l2_normalize_rows(y, n + extra, dim);
    for (int mode = 0; mode < 4; mode++) {
        xl_mine_options o;
        xl_mine_options_init(&o);
        o.mode = (xl_mine_mode)mode;
        o.threads = 2;
        if (mode == XL_MINE_BACKWARD) o.threshold = 1.1; /* drops the distractors' best matches */
        xl_mine_pair *p;
        size_t np, right = 0;
        CHECK(xl_mine(x, n, y, n + extra, dim, &o, &p, &np) == XL_OK);
        int sorted = 1;
        for (size_t i = 0; i < np; i++) {
            right += p[i].src >= 0 && (size_t)p[i].src < n && (size_t)p[i].tgt == perm[p[i].src];
            if (i) sorted &= p[i - 1].score >= p[i].score;
        }
        CHECK_MSG(sorted, "mode %d: pairs not sorted by score", mode);
        CHECK_MSG(right == n && np == n, "mode %d: %zu of %zu pairs right (%zu returned)", mode, right, n, np);
        free(p);
    }
    free(x);
    free(y);
    free(perm);
}

/* -------------------------------- against a transcription of mine_bitexts.py */

static double margin_of(int m, double a, double b) { return m == 0 ? a / b : m == 1 ? a - b : a; }

/* knn by full sort; returns neighbours [n][k] and means */
static void ref_knn(const float *a, size_t na, const float *b, size_t nb, size_t dim, int k, size_t *ind,
                    double *mean) {
    sj *all = malloc(nb * sizeof *all);
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb; j++) all[j] = (sj){ddot(a + i * dim, b + j * dim, dim), j};
        qsort(all, nb, sizeof *all, cmp_sj);
        mean[i] = 0;
        for (int c = 0; c < k; c++) {
            ind[i * k + c] = all[c].j;
            mean[i] += all[c].s / k;
        }
    }
    free(all);
}

static void test_reference(void) {
    size_t nx = 120, ny = 90, dim = 16;
    int k = 4;
    float *x = random_unit(nx, dim), *y = random_unit(ny, dim);
    size_t *xi = malloc(nx * k * sizeof *xi), *yi = malloc(ny * k * sizeof *yi);
    double *xm = malloc(nx * sizeof *xm), *ym = malloc(ny * sizeof *ym);
    ref_knn(x, nx, y, ny, dim, k, xi, xm);
    ref_knn(y, ny, x, nx, dim, k, yi, ym);
    for (int m = 0; m < 3; m++) {
        /* best candidates both ways (first maximum wins, as numpy argmax) */
        size_t fb[120], bb[90];
        double fs[120], bs[90];
        for (size_t i = 0; i < nx; i++) {
            fs[i] = -INFINITY;
            for (int c = 0; c < k; c++) {
                size_t j = xi[i * k + c];
                double s = margin_of(m, ddot(x + i * dim, y + j * dim, dim), (xm[i] + ym[j]) / 2);
                if (s > fs[i]) fs[i] = s, fb[i] = j;
            }
        }
        for (size_t j = 0; j < ny; j++) {
            bs[j] = -INFINITY;
            for (int c = 0; c < k; c++) {
                size_t i = yi[j * k + c];
                double s = margin_of(m, ddot(y + j * dim, x + i * dim, dim), (ym[j] + xm[i]) / 2);
                if (s > bs[j]) bs[j] = s, bb[j] = i;
            }
        }
        for (int mode = 0; mode < 4; mode++) {
            xl_mine_options o;
            xl_mine_options_init(&o);
            o.k = k;
            o.margin = (xl_margin)m;
            o.mode = (xl_mine_mode)mode;
            xl_mine_pair *p;
            size_t np;
            CHECK(xl_mine(x, nx, y, ny, dim, &o, &p, &np) == XL_OK);
            /* expected set: mode by mode, as the script prints it */
            size_t want = 0, found = 0;
            int seen_x[120] = {0}, seen_y[90] = {0};
            for (size_t r = 0; r < np; r++) {
                size_t i = (size_t)p[r].src, j = (size_t)p[r].tgt;
                int ok = 0;
                if (mode == XL_MINE_FORWARD) ok = fb[i] == j && fabs(fs[i] - p[r].score) < 1e-5;
                if (mode == XL_MINE_BACKWARD) ok = bb[j] == i && fabs(bs[j] - p[r].score) < 1e-5;
                if (mode == XL_MINE_INTERSECT) ok = fb[i] == j && bb[j] == i && fabs(fs[i] - p[r].score) < 1e-5;
                if (mode == XL_MINE_MINE) {
                    ok = !seen_x[i] && !seen_y[j] &&
                         ((fb[i] == j && fabs(fs[i] - p[r].score) < 1e-5) || (bb[j] == i && fabs(bs[j] - p[r].score) < 1e-5));
                    seen_x[i] = seen_y[j] = 1;
                }
                found += ok;
            }
            if (mode == XL_MINE_FORWARD) want = nx;
            if (mode == XL_MINE_BACKWARD) want = ny;
            if (mode == XL_MINE_INTERSECT)
                for (size_t i = 0; i < nx; i++) want += bb[fb[i]] == i;
            if (mode == XL_MINE_MINE) {
                /* greedy over all 2n candidates by score: count what it keeps */
                size_t nc = nx + ny;
                sj *c = malloc(nc * sizeof *c);
                for (size_t i = 0; i < nx; i++) c[i] = (sj){fs[i], i};
                for (size_t j = 0; j < ny; j++) c[nx + j] = (sj){bs[j], nx + j};
                qsort(c, nc, sizeof *c, cmp_sj);
                int sx[120] = {0}, sy[90] = {0};
                for (size_t r = 0; r < nc; r++) {
                    size_t i = c[r].j < nx ? c[r].j : bb[c[r].j - nx], j = c[r].j < nx ? fb[c[r].j] : c[r].j - nx;
                    if (sx[i] || sy[j]) continue;
                    sx[i] = sy[j] = 1;
                    want++;
                }
                free(c);
            }
            CHECK_MSG(found == np && np == want, "margin %d mode %d: %zu of %zu pairs as the script, want %zu", m, mode,
                      found, np, want);
            free(p);
        }
    }
    free(x);
    free(y);
    free(xi);
    free(yi);
    free(xm);
    free(ym);
}

static void test_bad_input(void) {
    float x[] = {1, 0}, y[] = {NAN, 1}, z[] = {1, INFINITY};
    xl_mine_options o;
    xl_mine_options_init(&o);
    xl_mine_pair *p;
    size_t n;
    CHECK(xl_mine(x, 0, x, 1, 2, &o, &p, &n) == XL_ERR_ARG);
    CHECK(xl_mine(x, 1, x, 0, 2, &o, &p, &n) == XL_ERR_ARG);
    CHECK(xl_mine(x, 1, y, 1, 2, &o, &p, &n) == XL_ERR_ARG);
    CHECK_MSG(strstr(xl_last_error(), "target row 0") && strstr(xl_last_error(), "NaN"), "message: %s", xl_last_error());
    CHECK(xl_mine(z, 1, x, 1, 2, &o, &p, &n) == XL_ERR_ARG);
    CHECK_MSG(strstr(xl_last_error(), "source row 0") != NULL, "message: %s", xl_last_error());
    o.k = 0;
    CHECK(xl_mine(x, 1, x, 1, 2, &o, &p, &n) == XL_ERR_ARG);
}

int main(void) {
    test_knn();
    test_hand();
    test_planted();
    test_reference();
    test_bad_input();
    return test_summary("test_mine");
}
