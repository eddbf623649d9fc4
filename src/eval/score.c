/* Scoring of the evaluation tasks on embeddings: bitext mining (mteb + LASER), STS
 * (mteb's STSEvaluator), retrieval with one relevant document (trec_eval cut-offs) and
 * MEXA's alignment score. Pure functions on arrays; the metrics come from tasks/metrics.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xling.h"
#include "kernels/kernels.h"
#include "util/error.h"

/* Nearest row of d for each row of q (ties: the lowest index; -1 when every score is NaN). */
static xl_status nearest(const float *q, const float *d, size_t n, size_t dim, int threads, int *out) {
    int64_t *idx = malloc(n * sizeof *idx);
    float *sim = malloc(n * sizeof *sim);
    xl_status st = !idx || !sim ? xl_err(XL_ERR_NOMEM, "out of memory") : xl_knn(q, n, d, n, dim, 1, idx, sim, threads, NULL, NULL);
    for (size_t i = 0; !st && i < n; i++) out[i] = (int)idx[i];
    free(idx);
    free(sim);
    return st;
}

xl_status xl_eval_bitext(const float *x, const float *y, size_t n, size_t dim, int threads, xl_bitext_scores *out) {
    memset(out, 0, sizeof *out);
    if (!n) return xl_err(XL_ERR_ARG, "bitext: no sentence pairs");
    if (n > (size_t)1 << 30) return xl_err(XL_ERR_ARG, "bitext: %zu pairs is too many", n);
    int *gold = malloc(n * sizeof *gold), *fwd = malloc(n * sizeof *fwd), *bwd = malloc(n * sizeof *bwd);
    xl_status st = !gold || !fwd || !bwd ? xl_err(XL_ERR_NOMEM, "out of memory") : XL_OK;
    if (!st) st = nearest(x, y, n, dim, threads, fwd);
    if (!st) st = nearest(y, x, n, dim, threads, bwd);
    if (!st) {
        size_t e1 = 0, e2 = 0;
        for (size_t i = 0; i < n; i++) {
            gold[i] = (int)i;
            e1 += fwd[i] != (int)i;
            e2 += bwd[i] != (int)i;
        }
        xl_cls_metrics m;
        st = xl_metrics_classification(gold, fwd, n, &m);
        if (!st) {
            out->accuracy = m.accuracy;
            out->precision = m.precision_weighted;
            out->recall = m.recall_weighted;
            out->f1 = m.f1_weighted;
            out->laser_error_xx_en = (double)e1 / (double)n;
            out->laser_error_en_xx = (double)e2 / (double)n;
        }
    }
    free(gold); free(fwd); free(bwd);
    return st;
}

xl_status xl_eval_sts(const float *a, const float *b, size_t n, size_t dim, const double *gold, xl_sts_scores *out) {
    memset(out, 0, sizeof *out);
    if (n < 2) return xl_err(XL_ERR_ARG, "STS: %zu pairs (need at least 2)", n);
    double *cs = malloc(n * sizeof *cs), *md = malloc(n * sizeof *md), *ed = malloc(n * sizeof *ed);
    if (!cs || !md || !ed) { free(cs); free(md); free(ed); return xl_err(XL_ERR_NOMEM, "out of memory"); }
    for (size_t i = 0; i < n; i++) {
        const float *u = a + i * dim, *v = b + i * dim;
        double uu = 0, vv = 0, man = 0, euc = 0;
        for (size_t k = 0; k < dim; k++) {
            double d = (double)u[k] - v[k];
            uu += (double)u[k] * u[k];
            vv += (double)v[k] * v[k];
            man += fabs(d);
            euc += d * d;
        }
        /* as sklearn's paired_cosine_distances: 1 - |u/|u| - v/|v||^2 / 2 (a zero vector
         * stays zero), so that equal texts tie exactly at 1 */
        double iu = uu > 0 ? 1 / sqrt(uu) : 0, iv = vv > 0 ? 1 / sqrt(vv) : 0, dd = 0;
        for (size_t k = 0; k < dim; k++) {
            double d = u[k] * iu - v[k] * iv;
            dd += d * d;
        }
        cs[i] = 1 - 0.5 * dd;
        md[i] = -man;   /* mteb correlates the gold scores with minus the distances */
        ed[i] = -sqrt(euc);
    }
    out->cosine_pearson = xl_metric_pearson(gold, cs, n);
    out->cosine_spearman = xl_metric_spearman(gold, cs, n);
    out->manhattan_pearson = xl_metric_pearson(gold, md, n);
    out->manhattan_spearman = xl_metric_spearman(gold, md, n);
    out->euclidean_pearson = xl_metric_pearson(gold, ed, n);
    out->euclidean_spearman = xl_metric_spearman(gold, ed, n);
    free(cs); free(md); free(ed);
    return XL_OK;
}

xl_status xl_eval_retrieval(const float *q, size_t nq, const float *d, size_t nd, size_t dim, const size_t *rel,
                            int threads, xl_retrieval_scores *out) {
    memset(out, 0, sizeof *out);
    if (!nq || !nd) return xl_err(XL_ERR_ARG, "retrieval: %zu queries, %zu documents", nq, nd);
    int k = nd < 100 ? (int)nd : 100;
    int64_t *idx = malloc(nq * (size_t)k * sizeof *idx);
    float *sim = malloc(nq * (size_t)k * sizeof *sim);
    double *ranked = malloc((size_t)k * sizeof *ranked);
    xl_status st = !idx || !sim || !ranked ? xl_err(XL_ERR_NOMEM, "out of memory")
                                           : xl_knn(q, nq, d, nd, dim, k, idx, sim, threads, NULL, NULL);
    const double one = 1;
    for (size_t i = 0; !st && i < nq; i++) {
        for (int r = 0; r < k; r++) ranked[r] = idx[i * k + r] == (int64_t)rel[i] ? 1 : 0;
        out->ndcg_at_10 += xl_metric_ndcg(ranked, (size_t)k, &one, 1, 10);
        out->mrr_at_10 += xl_metric_mrr(ranked, (size_t)k, 10);
        out->recall_at_1 += xl_metric_recall(ranked, (size_t)k, 1, 1);
        out->recall_at_10 += xl_metric_recall(ranked, (size_t)k, 1, 10);
        out->recall_at_100 += xl_metric_recall(ranked, (size_t)k, 1, 100);
    }
    if (!st) {
        out->ndcg_at_10 /= (double)nq;
        out->mrr_at_10 /= (double)nq;
        out->recall_at_1 /= (double)nq;
        out->recall_at_10 /= (double)nq;
        out->recall_at_100 /= (double)nq;
    }
    free(idx); free(sim); free(ranked);
    return st;
}

xl_status xl_eval_mexa(const float *x, const float *y, size_t n, size_t dim, int threads, double *score) {
    *score = 0;
    if (!n) return xl_err(XL_ERR_ARG, "MEXA: no sentence pairs");
    if (n > 65536 || dim > (1u << 30)) return xl_err(XL_ERR_ARG, "MEXA: %zu pairs of dimension %zu is too many", n, dim);
    float *xn = malloc(n * dim * sizeof *xn), *yn = malloc(n * dim * sizeof *yn), *c = malloc(n * n * sizeof *c);
    if (!xn || !yn || !c) { free(xn); free(yn); free(c); return xl_err(XL_ERR_NOMEM, "out of memory"); }
    memcpy(xn, x, n * dim * sizeof *xn);
    memcpy(yn, y, n * dim * sizeof *yn);
    xl_l2_normalize_rows(xn, n, dim);
    xl_l2_normalize_rows(yn, n, dim);
    xl_linear_f32(xn, (int)n, (int)dim, yn, (int)n, NULL, c, threads < 1 ? 1 : threads);
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        float dii = c[i * n + i];
        int ok = 1;
        for (size_t j = 0; j < n && ok; j++)
            if (j != i && !(dii > c[i * n + j] && dii > c[j * n + i])) ok = 0;
        hits += ok;
    }
    *score = (double)hits / (double)n;
    free(xn); free(yn); free(c);
    return XL_OK;
}
