/* L2-regularised logistic regression on embeddings, trained by liblinear (the solver
 * scikit-learn's LogisticRegression(solver="liblinear") runs): one-vs-rest for more
 * than two classes, as liblinear does it. The trained weights are copied out of
 * liblinear into xl_logreg, and probabilities are computed as liblinear's
 * predict_probability computes them (sigmoid of each decision value; for several
 * classes the sigmoids normalised to sum 1), so a saved classifier needs no liblinear
 * model file. */
#include <linear.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "xling.h"

static void quiet(const char *s) { (void)s; }

xl_status xl_logreg_train(const float *x, size_t n, size_t dim, const int *y, double C, xl_logreg *out) {
    memset(out, 0, sizeof *out);
    if (n < 2) return xl_err(XL_ERR_ARG, "logistic regression: need at least 2 training items (got %zu)", n);
    if (!dim || dim > (1u << 24)) return xl_err(XL_ERR_ARG, "logistic regression: dimension %zu", dim);
    if (!(C > 0) || !isfinite(C)) return xl_err(XL_ERR_ARG, "logistic regression: C must be a positive number");
    for (size_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i])) return xl_err(XL_ERR_ARG, "logistic regression: item %zu holds a non-finite value", i / dim);
    int distinct = 0;
    for (size_t i = 1; i < n && !distinct; i++) distinct = y[i] != y[0];
    if (!distinct) return xl_err(XL_ERR_ARG, "logistic regression: the training data hold a single class");
    /* dense rows in liblinear's sparse format: dim features (1-based), bias, terminator */
    struct feature_node *nodes = malloc(n * (dim + 2) * sizeof *nodes);
    struct feature_node **rows = malloc(n * sizeof *rows);
    double *yy = malloc(n * sizeof *yy);
    if (!nodes || !rows || !yy) {
        free(nodes), free(rows), free(yy);
        return xl_err(XL_ERR_NOMEM, "logistic regression: out of memory (%zu x %zu)", n, dim);
    }
    for (size_t i = 0; i < n; i++) {
        struct feature_node *r = rows[i] = nodes + i * (dim + 2);
        for (size_t k = 0; k < dim; k++) r[k] = (struct feature_node){(int)k + 1, x[i * dim + k]};
        r[dim] = (struct feature_node){(int)dim + 1, 1.0}; /* the bias feature */
        r[dim + 1] = (struct feature_node){-1, 0};
        yy[i] = y[i];
    }
    struct problem prob = {.l = (int)n, .n = (int)dim + 1, .y = yy, .x = rows, .bias = 1.0};
    struct parameter param = {.solver_type = L2R_LR, .eps = 0.01, .C = C};
    xl_status st = XL_OK;
    const char *bad = check_parameter(&prob, &param);
    if (bad) {
        st = xl_err(XL_ERR_ARG, "logistic regression: %s", bad);
    } else {
        set_print_string_function(quiet);
        struct model *m = train(&prob, &param);
        if (!m) {
            st = xl_err(XL_ERR_NOMEM, "logistic regression: liblinear failed to train");
        } else {
            int nc = get_nr_class(m), nw = nc == 2 ? 1 : nc;
            out->n_classes = nc;
            out->n_weights = nw;
            out->dim = (int)dim;
            out->labels = malloc((size_t)nc * sizeof *out->labels);
            out->w = malloc((size_t)nw * (dim + 1) * sizeof *out->w);
            if (!out->labels || !out->w) {
                st = xl_err(XL_ERR_NOMEM, "logistic regression: out of memory");
            } else {
                get_labels(m, out->labels);
                for (int c = 0; c < nw; c++) {
                    for (size_t k = 0; k < dim; k++) out->w[(size_t)c * (dim + 1) + k] = get_decfun_coef(m, (int)k + 1, c);
                    out->w[(size_t)c * (dim + 1) + dim] = get_decfun_bias(m, c);
                }
            }
            free_and_destroy_model(&m);
        }
    }
    free(nodes), free(rows), free(yy);
    if (st) xl_logreg_free(out);
    return st;
}

void xl_logreg_predict(const xl_logreg *c, const float *x, double *prob) {
    int nc = c->n_classes, nw = c->n_weights;
    size_t dim = (size_t)c->dim;
    double dec[nw > 0 ? nw : 1];
    for (int j = 0; j < nw; j++) {
        const double *w = c->w + (size_t)j * (dim + 1);
        double s = w[dim];
        for (size_t k = 0; k < dim; k++) s += w[k] * x[k];
        dec[j] = s;
    }
    if (nc == 2) {
        prob[0] = 1 / (1 + exp(-dec[0]));
        prob[1] = 1 - prob[0];
        return;
    }
    double sum = 0;
    for (int j = 0; j < nc; j++) sum += prob[j] = 1 / (1 + exp(-dec[j]));
    for (int j = 0; j < nc; j++) prob[j] /= sum;
}

void xl_logreg_free(xl_logreg *c) {
    if (!c) return;
    free(c->labels);
    free(c->w);
    memset(c, 0, sizeof *c);
}
