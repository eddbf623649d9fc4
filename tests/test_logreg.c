/* Logistic regression (liblinear): separable synthetic classes are learned (accuracy 1
 * on held-out points), and the probabilities xl_logreg_predict computes from the
 * copied weights equal liblinear's own predict_probability on the same problem
 * (max abs 1e-9), for two and for four classes with arbitrary label values; bad input. */
#include <linear.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "xling.h"

static uint64_t rs = 99;
static double ur(void) {
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rs >> 11) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(ur() + 1e-12)) * cos(2 * M_PI * ur()); }
static void quiet(const char *s) { (void)s; }

static void run_case(int n_classes, const int *label_values) {
    enum { DIM = 6, PER = 40 };
    size_t n = (size_t)n_classes * PER;
    float *x = malloc(2 * n * DIM * sizeof *x);
    int *y = malloc(2 * n * sizeof *y);
    double centers[8][DIM];
    for (int c = 0; c < n_classes; c++)
        for (int d = 0; d < DIM; d++) centers[c][d] = 4 * gauss();
    for (size_t i = 0; i < 2 * n; i++) { /* first n: train, next n: test */
        int c = (int)(i % (size_t)n_classes);
        y[i] = label_values[c];
        for (int d = 0; d < DIM; d++) x[i * DIM + d] = (float)(centers[c][d] + 0.3 * gauss());
    }
    xl_logreg clf;
    CHECK(xl_logreg_train(x, n, DIM, y, 1.0, &clf) == XL_OK);
    CHECK_EQ_INT(clf.n_classes, n_classes);
    CHECK_EQ_INT(clf.n_weights, n_classes == 2 ? 1 : n_classes);
    /* the same problem trained by liblinear directly */
    struct feature_node *nodes = malloc(2 * n * (DIM + 2) * sizeof *nodes);
    struct feature_node **rows = malloc(2 * n * sizeof *rows);
    double *yy = malloc(n * sizeof *yy);
    for (size_t i = 0; i < 2 * n; i++) {
        rows[i] = nodes + i * (DIM + 2);
        for (int k = 0; k < DIM; k++) rows[i][k] = (struct feature_node){k + 1, x[i * DIM + k]};
        rows[i][DIM] = (struct feature_node){DIM + 1, 1.0};
        rows[i][DIM + 1] = (struct feature_node){-1, 0};
        if (i < n) yy[i] = y[i];
    }
    struct problem prob = {.l = (int)n, .n = DIM + 1, .y = yy, .x = rows, .bias = 1.0};
    struct parameter param = {.solver_type = L2R_LR, .eps = 0.01, .C = 1.0};
    set_print_string_function(quiet);
    struct model *m = train(&prob, &param);
    int lab[8];
    get_labels(m, lab);
    CHECK(memcmp(lab, clf.labels, (size_t)n_classes * sizeof *lab) == 0);
    size_t correct = 0;
    double worst = 0, sum_err = 0;
    for (size_t i = n; i < 2 * n; i++) {
        double p[8], q[8];
        xl_logreg_predict(&clf, x + i * DIM, p);
        predict_probability(m, rows[i], q);
        int best = 0;
        double s = 0;
        for (int c = 0; c < n_classes; c++) {
            if (fabs(p[c] - q[c]) > worst) worst = fabs(p[c] - q[c]);
            if (p[c] > p[best]) best = c;
            s += p[c];
        }
        sum_err = fmax(sum_err, fabs(s - 1));
        correct += clf.labels[best] == y[i];
    }
    CHECK_MSG(worst < 1e-9, "%d classes: probabilities differ from liblinear's by %g", n_classes, worst);
    CHECK_MSG(sum_err < 1e-12, "%d classes: probabilities sum to 1 +- %g", n_classes, sum_err);
    CHECK_MSG(correct == n, "%d classes: %zu of %zu held-out points right", n_classes, correct, n);
    free_and_destroy_model(&m);
    xl_logreg_free(&clf);
    free(nodes), free(rows), free(yy), free(x), free(y);
}

int main(void) {
    int two[] = {7, -3}, four[] = {10, 20, 30, 5};
    run_case(2, two);
    run_case(4, four);
    /* bad input */
    float x[] = {1, 2, 3, 4}, bad[] = {1, NAN, 3, 4};
    int y1[] = {1, 1}, y2[] = {0, 1};
    xl_logreg c;
    CHECK(xl_logreg_train(x, 2, 2, y1, 1.0, &c) == XL_ERR_ARG);
    CHECK_MSG(strstr(xl_last_error(), "single class") != NULL, "message: %s", xl_last_error());
    CHECK(xl_logreg_train(bad, 2, 2, y2, 1.0, &c) == XL_ERR_ARG);
    CHECK(xl_logreg_train(x, 1, 2, y2, 1.0, &c) == XL_ERR_ARG);
    CHECK(xl_logreg_train(x, 2, 2, y2, 0.0, &c) == XL_ERR_ARG);
    CHECK(c.labels == NULL && c.w == NULL);
    return test_summary("test_logreg");
}
