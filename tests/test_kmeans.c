/* k-means on synthetic data with known answers: well-separated Gaussian blobs are
 * recovered exactly (V-measure 1), the result is deterministic for a seed, more
 * restarts never raise the inertia, k = n puts every point alone (inertia 0), a
 * hand-checked 1-D case, and bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "xling.h"

static uint64_t rs = 12345;
static double ur(void) {
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rs >> 11) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(ur() + 1e-12)) * cos(2 * M_PI * ur()); }

int main(void) {
    enum { K = 5, PER = 60, DIM = 8 };
    size_t n = K * PER;
    float *x = malloc(n * DIM * sizeof *x), centers[K][DIM];
    int *gold = malloc(n * sizeof *gold), *lab = malloc(n * sizeof *lab), *lab2 = malloc(n * sizeof *lab2);
    for (int c = 0; c < K; c++)
        for (int d = 0; d < DIM; d++) centers[c][d] = (float)(10 * gauss());
    for (size_t i = 0; i < n; i++) {
        gold[i] = (int)(i % K);
        for (int d = 0; d < DIM; d++) x[i * DIM + d] = centers[gold[i]][d] + (float)(0.3 * gauss());
    }
    xl_kmeans_options o = {.seed = 7, .restarts = 3, .threads = 2};
    double inertia, inertia1, v;
    CHECK(xl_kmeans(x, n, DIM, K, &o, lab, NULL, &inertia) == XL_OK);
    CHECK(xl_metric_v_measure(gold, lab, n, &v) == XL_OK);
    CHECK_NEAR(v, 1.0, 1e-12);
    /* inertia of the true partition ~ n * DIM * 0.09 */
    CHECK_MSG(inertia < n * DIM * 0.09 * 1.3, "inertia %g", inertia);
    /* deterministic */
    CHECK(xl_kmeans(x, n, DIM, K, &o, lab2, NULL, NULL) == XL_OK);
    CHECK(memcmp(lab, lab2, n * sizeof *lab) == 0);
    /* one restart is never better than the best of 3 that starts with the same seed */
    o.restarts = 1;
    CHECK(xl_kmeans(x, n, DIM, K, &o, lab2, NULL, &inertia1) == XL_OK);
    CHECK(inertia <= inertia1 + 1e-6);
    /* labels in range, every cluster used */
    int used[K] = {0}, in_range = 1;
    for (size_t i = 0; i < n; i++) {
        in_range &= lab[i] >= 0 && lab[i] < K;
        if (lab[i] >= 0 && lab[i] < K) used[lab[i]] = 1;
    }
    CHECK(in_range && used[0] && used[1] && used[2] && used[3] && used[4]);

    /* 1-D by hand: {0, 1, 10, 11} with k = 2 -> {0, 1} and {10, 11}, centres 0.5 and
     * 10.5, inertia 4 * 0.25 = 1 */
    float p[] = {0, 1, 10, 11}, cen[2];
    int l4[4];
    o.restarts = 4;
    CHECK(xl_kmeans(p, 4, 1, 2, &o, l4, cen, &inertia) == XL_OK);
    CHECK(l4[0] == l4[1] && l4[2] == l4[3] && l4[0] != l4[2]);
    CHECK_NEAR(inertia, 1.0, 1e-5);
    CHECK_NEAR(fmin(cen[0], cen[1]), 0.5, 1e-6);
    CHECK_NEAR(fmax(cen[0], cen[1]), 10.5, 1e-6);
    /* k = n: every point alone */
    CHECK(xl_kmeans(p, 4, 1, 4, &o, l4, NULL, &inertia) == XL_OK);
    CHECK_NEAR(inertia, 0.0, 1e-9);
    CHECK(l4[0] != l4[1] && l4[1] != l4[2] && l4[2] != l4[3] && l4[0] != l4[3]);
    /* duplicates: 3 identical points and k = 2 still gives two non-empty clusters */
    float dup[] = {1, 1, 1};
    CHECK(xl_kmeans(dup, 3, 1, 2, &o, l4, NULL, &inertia) == XL_OK);
    CHECK((l4[0] != l4[1]) || (l4[1] != l4[2]));
    /* bad input */
    CHECK(xl_kmeans(p, 4, 1, 5, &o, l4, NULL, NULL) == XL_ERR_ARG);
    CHECK(xl_kmeans(p, 4, 1, 0, &o, l4, NULL, NULL) == XL_ERR_ARG);
    p[2] = NAN;
    CHECK(xl_kmeans(p, 4, 1, 2, &o, l4, NULL, NULL) == XL_ERR_ARG);
    CHECK_MSG(strstr(xl_last_error(), "point 2") != NULL, "message: %s", xl_last_error());
    free(x), free(gold), free(lab), free(lab2);
    return test_summary("test_kmeans");
}
