/* Evaluation metrics against values published with the reference tools' own
 * documentation and worked examples (scikit-learn, scipy, the nDCG example of
 * Wikipedia) and hand-computed cases. Tolerance 1e-9 unless said (the references are
 * printed to 10+ digits). */
#include <math.h>
#include <string.h>

#include "testlib.h"
#include "xling.h"

#define TOL 1e-9

static void test_classification(void) {
    /* scikit-learn's f1_score / precision_score / recall_score docstring example */
    int y_true[] = {0, 1, 2, 0, 1, 2}, y_pred[] = {0, 2, 1, 0, 0, 1};
    xl_cls_metrics m;
    CHECK(xl_metrics_classification(y_true, y_pred, 6, &m) == XL_OK);
    CHECK_NEAR(m.accuracy, 2.0 / 6, TOL);
    CHECK_NEAR(m.f1_macro, 0.26666666666666666, TOL);
    CHECK_NEAR(m.f1_weighted, 0.26666666666666666, TOL);
    CHECK_NEAR(m.precision_macro, 0.2222222222222222, TOL);
    CHECK_NEAR(m.precision_weighted, 0.2222222222222222, TOL);
    CHECK_NEAR(m.recall_macro, 0.3333333333333333, TOL);
    CHECK_NEAR(m.recall_weighted, 0.3333333333333333, TOL);

    /* by hand: a label only predicted (9) counts in macro (as 0) and weighs 0 in
     * weighted; labels need not be 0..n-1.
     * true 5 5 5 7 7, pred 5 5 7 7 9:
     *   5: tp 2, pred 2, sup 3 -> p 1, r 2/3, f 0.8
     *   7: tp 1, pred 2, sup 2 -> p 1/2, r 1/2, f 1/2
     *   9: tp 0, pred 1, sup 0 -> p 0, r 0, f 0 */
    int t2[] = {5, 5, 5, 7, 7}, p2[] = {5, 5, 7, 7, 9};
    CHECK(xl_metrics_classification(t2, p2, 5, &m) == XL_OK);
    CHECK_NEAR(m.accuracy, 0.6, TOL);
    CHECK_NEAR(m.precision_macro, 1.5 / 3, TOL);
    CHECK_NEAR(m.recall_macro, (2.0 / 3 + 0.5) / 3, TOL);
    CHECK_NEAR(m.f1_macro, 1.3 / 3, TOL);
    CHECK_NEAR(m.precision_weighted, (3 * 1.0 + 2 * 0.5) / 5, TOL);
    CHECK_NEAR(m.recall_weighted, 0.6, TOL); /* weighted recall = accuracy */
    CHECK_NEAR(m.f1_weighted, (3 * 0.8 + 2 * 0.5) / 5, TOL);

    CHECK(xl_metrics_classification(t2, p2, 0, &m) == XL_ERR_ARG);
    CHECK(xl_metrics_classification(NULL, p2, 5, &m) == XL_ERR_ARG);
}

static void test_correlation(void) {
    /* scipy.stats.spearmanr docstring: spearmanr([1,2,3,4,5], [5,6,7,8,7]) */
    double a[] = {1, 2, 3, 4, 5}, b[] = {5, 6, 7, 8, 7};
    CHECK_NEAR(xl_metric_spearman(a, b, 5), 0.8207826816681233, TOL);
    /* scipy.stats.pearsonr docstring example */
    double x[] = {1, 2, 3, 4, 5, 6, 7}, y[] = {10, 9, 2.5, 6, 4, 3, 2};
    CHECK_NEAR(xl_metric_pearson(x, y, 7), -0.828503883588428, TOL);
    /* perfect monotone but not linear: rho 1, r < 1 */
    double u[] = {1, 2, 3, 4}, v[] = {1, 4, 9, 100};
    CHECK_NEAR(xl_metric_spearman(u, v, 4), 1.0, TOL);
    CHECK(xl_metric_pearson(u, v, 4) < 0.95);
    /* ties: ranks of {1, 1, 2} are {1.5, 1.5, 3}; against {1, 2, 3}:
     * r = cov / sd = 1.5 / sqrt(1.5 * 2) = 0.8660254037844387 */
    double t[] = {1, 1, 2}, s[] = {1, 2, 3};
    CHECK_NEAR(xl_metric_spearman(t, s, 3), 0.8660254037844387, TOL);
    double c[] = {2, 2, 2};
    CHECK(isnan(xl_metric_pearson(c, s, 3)));
    CHECK(isnan(xl_metric_spearman(c, s, 3)));
    CHECK(isnan(xl_metric_pearson(s, s, 1)));
}

static void test_retrieval(void) {
    /* Wikipedia's "Discounted cumulative gain" example: grades 3 2 3 0 1 2 retrieved,
     * the ideal list 3 3 3 2 2 2 1 0; DCG6 = 6.861, IDCG6 = 8.740, nDCG6 = 0.785 */
    double ranked[] = {3, 2, 3, 0, 1, 2}, rels[] = {3, 3, 3, 2, 2, 2, 1};
    double dcg = 3 + 2 / log2(3) + 3 / log2(4) + 0 + 1 / log2(6) + 2 / log2(7);
    double idcg = 3 + 3 / log2(3) + 3 / log2(4) + 2 / log2(5) + 2 / log2(6) + 2 / log2(7);
    CHECK_NEAR(dcg, 6.861, 5e-4);
    CHECK_NEAR(idcg, 8.740, 5e-4);
    CHECK_NEAR(xl_metric_ndcg(ranked, 6, rels, 7, 6), dcg / idcg, TOL);
    CHECK_NEAR(xl_metric_ndcg(ranked, 6, rels, 7, 6), 0.785, 5e-4);
    /* cut at 1: 3 / 3 */
    CHECK_NEAR(xl_metric_ndcg(ranked, 6, rels, 7, 1), 1.0, TOL);
    /* nothing relevant retrieved */
    double none[] = {0, 0, 0};
    CHECK_NEAR(xl_metric_ndcg(none, 3, rels, 7, 10), 0.0, TOL);
    CHECK_NEAR(xl_metric_mrr(none, 3, 10), 0.0, TOL);

    /* binary: relevant at ranks 1, 3, 6 of 4 relevant documents */
    double bin[] = {1, 0, 1, 0, 0, 1};
    CHECK_NEAR(xl_metric_mrr(bin, 6, 10), 1.0, TOL);
    CHECK_NEAR(xl_metric_mrr(bin + 1, 5, 10), 0.5, TOL);
    CHECK_NEAR(xl_metric_mrr(bin + 1, 5, 1), 0.0, TOL);
    CHECK_NEAR(xl_metric_recall(bin, 6, 4, 1), 0.25, TOL);
    CHECK_NEAR(xl_metric_recall(bin, 6, 4, 3), 0.5, TOL);
    CHECK_NEAR(xl_metric_recall(bin, 6, 4, 100), 0.75, TOL);
    CHECK_NEAR(xl_metric_map(bin, 6, 4, 0), (1.0 + 2.0 / 3 + 3.0 / 6) / 4, TOL);
    CHECK_NEAR(xl_metric_map(bin, 6, 4, 3), (1.0 + 2.0 / 3) / 4, TOL);
    /* one relevant document at rank 2: nDCG = (1 / log2 3) / 1 */
    double one[] = {0, 1}, onerel[] = {1};
    CHECK_NEAR(xl_metric_ndcg(one, 2, onerel, 1, 10), 1 / log2(3), TOL);
    CHECK_NEAR(xl_metric_recall(one, 2, 0, 10), 0.0, TOL);
}

static void test_v_measure(void) {
    /* scikit-learn's v_measure_score docstring */
    double v;
    int a[] = {0, 0, 1, 1}, b[] = {0, 0, 1, 2}, c[] = {0, 1, 2, 3}, z[] = {0, 0, 0, 0};
    CHECK(xl_metric_v_measure(a, a, 4, &v) == XL_OK);
    CHECK_NEAR(v, 1.0, TOL);
    int a2[] = {1, 1, 0, 0}; /* label names do not matter */
    CHECK(xl_metric_v_measure(a, a2, 4, &v) == XL_OK);
    CHECK_NEAR(v, 1.0, TOL);
    CHECK(xl_metric_v_measure(a, b, 4, &v) == XL_OK);
    CHECK_NEAR(v, 0.8, TOL);
    CHECK(xl_metric_v_measure(a, c, 4, &v) == XL_OK);
    CHECK_NEAR(v, 0.6666666666666666, TOL);
    CHECK(xl_metric_v_measure(c, a, 4, &v) == XL_OK);
    CHECK_NEAR(v, 0.6666666666666666, TOL);
    CHECK(xl_metric_v_measure(a, z, 4, &v) == XL_OK);
    CHECK_NEAR(v, 0.0, TOL);
    CHECK(xl_metric_v_measure(z, c, 4, &v) == XL_OK);
    CHECK_NEAR(v, 0.0, TOL);
    CHECK(xl_metric_v_measure(z, z, 4, &v) == XL_OK); /* one class, one cluster */
    CHECK_NEAR(v, 1.0, TOL);
    CHECK(xl_metric_v_measure(a, b, 0, &v) == XL_ERR_ARG);
}

int main(void) {
    test_classification();
    test_correlation();
    test_retrieval();
    test_v_measure();
    return test_summary("test_metrics");
}
