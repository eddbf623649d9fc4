/* Evaluation metrics as the tools people compare against compute them: scikit-learn's
 * classification scores and v_measure_score, scipy's Pearson and Spearman, and the
 * retrieval scores of trec_eval (pytrec_eval, what mteb reports). Pure functions on
 * arrays, double precision throughout. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "xling.h"

/* ------------------------------------------------------------ classification */

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Index of v in the sorted array labels[n] (present by construction). */
static size_t label_index(const int *labels, size_t n, int v) {
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (labels[mid] <= v) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* The sorted distinct values of a[na] and b[nb] (b may be NULL) into a malloc'd array. */
static int *distinct_labels(const int *a, size_t na, const int *b, size_t nb, size_t *n_out) {
    int *l = malloc((na + nb + 1) * sizeof *l);
    if (!l) return NULL;
    memcpy(l, a, na * sizeof *l);
    if (b) memcpy(l + na, b, nb * sizeof *l);
    qsort(l, na + nb, sizeof *l, cmp_int);
    size_t n = 0;
    for (size_t i = 0; i < na + nb; i++)
        if (!n || l[n - 1] != l[i]) l[n++] = l[i];
    *n_out = n;
    return l;
}

xl_status xl_metrics_classification(const int *y_true, const int *y_pred, size_t n, xl_cls_metrics *out) {
    memset(out, 0, sizeof *out);
    if (!n) return xl_err(XL_ERR_ARG, "classification metrics: no items");
    if (!y_true || !y_pred) return xl_err(XL_ERR_ARG, "classification metrics: labels are NULL");
    size_t nl;
    int *labels = distinct_labels(y_true, n, y_pred, n, &nl);
    size_t *cnt = labels ? calloc(3 * nl, sizeof *cnt) : NULL; /* tp, predicted, support */
    if (!cnt) {
        free(labels);
        return xl_err(XL_ERR_NOMEM, "classification metrics: out of memory");
    }
    size_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        size_t t = label_index(labels, nl, y_true[i]), p = label_index(labels, nl, y_pred[i]);
        cnt[3 * p + 1]++;
        cnt[3 * t + 2]++;
        if (t == p) {
            cnt[3 * t]++;
            correct++;
        }
    }
    /* per label, with scikit-learn's zero_division=0: a ratio with a zero denominator is 0 */
    double sum_w = 0;
    for (size_t k = 0; k < nl; k++) {
        double tp = (double)cnt[3 * k], pred = (double)cnt[3 * k + 1], sup = (double)cnt[3 * k + 2];
        double p = pred > 0 ? tp / pred : 0, r = sup > 0 ? tp / sup : 0;
        double f = (pred + sup) > 0 ? 2 * tp / (pred + sup) : 0;
        out->precision_macro += p / (double)nl;
        out->recall_macro += r / (double)nl;
        out->f1_macro += f / (double)nl;
        out->precision_weighted += p * sup;
        out->recall_weighted += r * sup;
        out->f1_weighted += f * sup;
        sum_w += sup;
    }
    out->precision_weighted /= sum_w;
    out->recall_weighted /= sum_w;
    out->f1_weighted /= sum_w;
    out->accuracy = (double)correct / (double)n;
    free(cnt);
    free(labels);
    return XL_OK;
}

/* --------------------------------------------------------------- correlation */

double xl_metric_pearson(const double *x, const double *y, size_t n) {
    if (n < 2) return NAN;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (sxx == 0 || syy == 0) return NAN; /* scipy: a constant input has no correlation */
    double r = sxy / sqrt(sxx * syy);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

typedef struct {
    double v;
    size_t i;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* 1-based ranks, ties given their average rank (scipy.stats.rankdata "average"). */
static int average_ranks(const double *x, size_t n, double *rank) {
    ranked *r = malloc((n ? n : 1) * sizeof *r);
    if (!r) return -1;
    for (size_t i = 0; i < n; i++) r[i] = (ranked){x[i], i};
    qsort(r, n, sizeof *r, cmp_ranked);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && r[j + 1].v == r[i].v) j++;
        double avg = (double)(i + j) / 2 + 1;
        for (size_t k = i; k <= j; k++) rank[r[k].i] = avg;
        i = j + 1;
    }
    free(r);
    return 0;
}

double xl_metric_spearman(const double *x, const double *y, size_t n) {
    if (n < 2) return NAN;
    double *rx = malloc(2 * n * sizeof *rx);
    if (!rx) return NAN;
    double *ry = rx + n, r = NAN;
    if (!average_ranks(x, n, rx) && !average_ranks(y, n, ry)) r = xl_metric_pearson(rx, ry, n);
    free(rx);
    return r;
}

/* ----------------------------------------------------------------- retrieval */

/* k <= 0 means no cut-off. */
static size_t cut(size_t n, int k) { return k > 0 && (size_t)k < n ? (size_t)k : n; }

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

double xl_metric_ndcg(const double *rel_ranked, size_t n_ranked, const double *rels, size_t n_rels, int k) {
    double dcg = 0, idcg = 0;
    size_t m = cut(n_ranked, k);
    for (size_t i = 0; i < m; i++)
        if (rel_ranked[i] > 0) dcg += rel_ranked[i] / log2((double)i + 2);
    double *ideal = malloc((n_rels ? n_rels : 1) * sizeof *ideal);
    if (!ideal) return NAN;
    memcpy(ideal, rels, n_rels * sizeof *ideal);
    qsort(ideal, n_rels, sizeof *ideal, cmp_desc);
    size_t mi = cut(n_rels, k);
    for (size_t i = 0; i < mi; i++)
        if (ideal[i] > 0) idcg += ideal[i] / log2((double)i + 2);
    free(ideal);
    return idcg > 0 ? dcg / idcg : 0;
}

double xl_metric_mrr(const double *rel_ranked, size_t n_ranked, int k) {
    size_t m = cut(n_ranked, k);
    for (size_t i = 0; i < m; i++)
        if (rel_ranked[i] > 0) return 1.0 / (double)(i + 1);
    return 0;
}

double xl_metric_recall(const double *rel_ranked, size_t n_ranked, size_t n_relevant, int k) {
    if (!n_relevant) return 0;
    size_t m = cut(n_ranked, k), hit = 0;
    for (size_t i = 0; i < m; i++) hit += rel_ranked[i] > 0;
    return (double)hit / (double)n_relevant;
}

double xl_metric_map(const double *rel_ranked, size_t n_ranked, size_t n_relevant, int k) {
    if (!n_relevant) return 0;
    size_t m = cut(n_ranked, k), hit = 0;
    double sum = 0;
    for (size_t i = 0; i < m; i++)
        if (rel_ranked[i] > 0) sum += (double)++hit / (double)(i + 1);
    return sum / (double)n_relevant;
}

/* ---------------------------------------------------------------- clustering */

/* Entropy (nats) of counts c[n] summing to total. */
static double entropy(const size_t *c, size_t n, double total) {
    double h = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i]) h -= (double)c[i] / total * log((double)c[i] / total);
    return h;
}

xl_status xl_metric_v_measure(const int *labels_true, const int *labels_pred, size_t n, double *v) {
    *v = NAN;
    if (!n) return xl_err(XL_ERR_ARG, "v-measure: no items");
    size_t nc, nk;
    int *cl = distinct_labels(labels_true, n, NULL, 0, &nc);
    int *kl = distinct_labels(labels_pred, n, NULL, 0, &nk);
    size_t *cont = cl && kl ? calloc(nc * nk + nc + nk, sizeof *cont) : NULL;
    if (!cont) {
        free(cl);
        free(kl);
        return xl_err(XL_ERR_NOMEM, "v-measure: out of memory (%zu x %zu contingency table)", nc, nk);
    }
    size_t *ca = cont + nc * nk, *ka = ca + nc;
    for (size_t i = 0; i < n; i++) {
        size_t c = label_index(cl, nc, labels_true[i]), k = label_index(kl, nk, labels_pred[i]);
        cont[c * nk + k]++;
        ca[c]++;
        ka[k]++;
    }
    double N = (double)n, hc = entropy(ca, nc, N), hk = entropy(ka, nk, N), mi = 0;
    for (size_t c = 0; c < nc; c++)
        for (size_t k = 0; k < nk; k++) {
            double nij = (double)cont[c * nk + k];
            if (nij > 0) mi += nij / N * log(nij * N / ((double)ca[c] * (double)ka[k]));
        }
    /* scikit-learn: homogeneity 1 when the classes have no entropy, completeness 1 when
     * the clusters have none */
    double h = hc > 0 ? mi / hc : 1, c = hk > 0 ? mi / hk : 1;
    *v = h + c > 0 ? 2 * h * c / (h + c) : 0;
    free(cont);
    free(cl);
    free(kl);
    return XL_OK;
}
