/* bge-m3's heads against the shared bge-m3-tiny fixture (F16 weights and heads:
 * tolerance 2e-3, as for the other half-precision fixtures): dense, sparse weights
 * (the same ids; a weight under the tolerance may be on one side only), ColBERT vectors
 * (n - 1 per text, the final </s> included), every pair's dense / lexical / ColBERT /
 * combined score and each rerank order, from texts and from the reference ids, one at
 * a time and batched; the error paths of loading and scoring. Run under every kernel
 * set by tests/run_tests.sh. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "xling.h"

#define TOL 2e-3

static json_t *ref;

static double num(const json_t *v) { return json_number_value(v); }

static void check_vectors(size_t i, const json_t *in, const xl_m3_vectors *v, const char *how) {
    const json_t *dense = json_object_get(in, "dense"), *sparse = json_object_get(in, "sparse"),
                 *colbert = json_object_get(in, "colbert");
    /* dense */
    double dd = 0;
    CHECK_MSG(v->dense && (size_t)v->dense_dim == json_array_size(dense), "%s input %zu: dense dim %d", how, i, v->dense_dim);
    for (size_t k = 0; v->dense && k < json_array_size(dense) && k < (size_t)v->dense_dim; k++)
        dd = fmax(dd, fabs(v->dense[k] - num(json_array_get(dense, k))));
    CHECK_MSG(dd <= TOL, "%s input %zu: dense off by %g", how, i, dd);
    /* sparse: every reference id (weight above the tolerance) present and close; every
     * id we give is in the reference or under the tolerance */
    double ds = 0;
    int missing = 0, extra = 0;
    const char *key;
    const json_t *w;
    json_object_foreach((json_t *)sparse, key, w) {
        long id = strtol(key, NULL, 10);
        size_t k = 0;
        while (k < v->n_sparse && v->sparse_ids[k] != id) k++;
        if (k == v->n_sparse) missing += num(w) > TOL;
        else ds = fmax(ds, fabs(v->sparse_weights[k] - num(w)));
    }
    for (size_t k = 0; k < v->n_sparse; k++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", v->sparse_ids[k]);
        if (!json_object_get(sparse, buf)) extra += v->sparse_weights[k] > TOL;
        if (k) CHECK(v->sparse_ids[k] > v->sparse_ids[k - 1]);
        CHECK(v->sparse_weights[k] > 0);
        CHECK(v->sparse_ids[k] > 3); /* cls, pad, eos, unk left out */
    }
    CHECK_MSG(!missing && !extra && ds <= TOL, "%s input %zu: sparse %d missing, %d extra, off by %g", how, i, missing,
              extra, ds);
    /* ColBERT */
    size_t nc = json_array_size(colbert);
    CHECK_MSG(v->colbert && v->n_colbert == nc && v->colbert_dim == 32, "%s input %zu: %zu ColBERT vectors (want %zu)",
              how, i, v->n_colbert, nc);
    double dc = 0;
    for (size_t r = 0; v->colbert && r < nc && r < v->n_colbert; r++) {
        const json_t *row = json_array_get(colbert, r);
        for (size_t k = 0; k < json_array_size(row); k++)
            dc = fmax(dc, fabs(v->colbert[r * 32 + k] - num(json_array_get(row, k))));
    }
    CHECK_MSG(dc <= TOL, "%s input %zu: ColBERT off by %g", how, i, dc);
}

int main(void) {
    const char *shared = t_shared_dir();
    const char *dir = shared ? t_path(shared, "fixtures/models/bge-m3-tiny") : NULL;
    if (!dir || access(t_path(dir, "reference.json"), R_OK)) {
        t_skip_case("bge-m3-tiny", "../shared/fixtures not found");
        return test_summary("test_m3");
    }
    json_error_t jerr;
    ref = json_load_file(t_path(dir, "reference.json"), 0, &jerr);
    CHECK_MSG(ref != NULL, "reference.json: %s", jerr.text);
    if (!ref) return test_summary("test_m3");
    xl_model *m;
    xl_status st = xl_model_load(dir, NULL, &m);
    CHECK_MSG(st == XL_OK, "load: %s", xl_last_error());
    if (st) return test_summary("test_m3");
    xl_m3 *h;
    st = xl_m3_load(m, &h);
    CHECK_MSG(st == XL_OK, "m3 load: %s", xl_last_error());
    if (st) return test_summary("test_m3");
    CHECK_EQ_INT(xl_m3_heads(h), XL_M3_ALL);
    CHECK_EQ_INT(xl_m3_colbert_dim(h), 32);

    const json_t *inputs = json_object_get(ref, "inputs");
    size_t n = json_array_size(inputs);
    CHECK(n >= 5);
    const char **texts = calloc(n, sizeof *texts);
    const int32_t **ids = calloc(n, sizeof *ids);
    size_t *lens = calloc(n, sizeof *lens);
    for (size_t i = 0; i < n; i++) {
        const json_t *in = json_array_get(inputs, i), *a = json_object_get(in, "input_ids");
        texts[i] = json_string_value(json_object_get(in, "text"));
        lens[i] = json_array_size(a);
        int32_t *v = malloc(lens[i] * sizeof *v);
        for (size_t k = 0; k < lens[i]; k++) v[k] = (int32_t)json_integer_value(json_array_get(a, k));
        ids[i] = v;
    }
    /* batched, from texts (the tokenizer gives the reference ids: checked through the
     * number of ColBERT vectors) and from ids; one at a time */
    xl_m3_vectors *vt = calloc(n, sizeof *vt), *vi = calloc(n, sizeof *vi), one;
    st = xl_m3_embed_texts(h, texts, NULL, n, XL_M3_ALL, NULL, vt, NULL);
    CHECK_MSG(st == XL_OK, "texts: %s", xl_last_error());
    st = xl_m3_embed_ids(h, ids, lens, n, XL_M3_ALL, NULL, vi, NULL);
    CHECK_MSG(st == XL_OK, "ids: %s", xl_last_error());
    for (size_t i = 0; i < n; i++) {
        const json_t *in = json_array_get(inputs, i);
        check_vectors(i, in, &vt[i], "texts");
        check_vectors(i, in, &vi[i], "ids");
        if (xl_m3_embed_texts(h, &texts[i], NULL, 1, XL_M3_ALL, NULL, &one, NULL) == XL_OK) {
            check_vectors(i, in, &one, "single");
            xl_m3_vectors_free(&one);
        } else CHECK_MSG(0, "single %zu: %s", i, xl_last_error());
    }
    /* one head alone gives the same vectors and leaves the others NULL */
    st = xl_m3_embed_texts(h, texts, NULL, 1, XL_M3_SPARSE, NULL, &one, NULL);
    CHECK(st == XL_OK && !one.dense && !one.colbert && one.n_sparse == vt[0].n_sparse &&
          !memcmp(one.sparse_weights, vt[0].sparse_weights, one.n_sparse * sizeof(float)));
    xl_m3_vectors_free(&one);

    /* heads not loaded or not heads at all */
    st = xl_m3_embed_texts(h, texts, NULL, 1, 0, NULL, &one, NULL);
    CHECK_MSG(st == XL_ERR_ARG && !one.dense, "no heads: %s", xl_last_error());
    st = xl_m3_embed_texts(h, texts, NULL, 1, 8, NULL, &one, NULL);
    CHECK_MSG(st == XL_ERR_ARG, "unknown head bit: %s", xl_last_error());

    /* pair scores */
    const json_t *pairs = json_object_get(ref, "pairs");
    CHECK(json_array_size(pairs) >= 3);
    for (size_t p = 0; p < json_array_size(pairs); p++) {
        const json_t *pr = json_array_get(pairs, p);
        size_t qi = (size_t)json_integer_value(json_object_get(pr, "query_index"));
        size_t di = (size_t)json_integer_value(json_object_get(pr, "doc_index"));
        if (qi >= n || di >= n) { CHECK(0); continue; }
        xl_m3_scores s;
        st = xl_m3_score(&vt[qi], &vt[di], NULL, &s);
        CHECK_MSG(st == XL_OK, "score: %s", xl_last_error());
        CHECK_NEAR(s.dense, num(json_object_get(pr, "dense")), TOL);
        CHECK_NEAR(s.lexical, num(json_object_get(pr, "lexical")), TOL);
        CHECK_NEAR(s.colbert, num(json_object_get(pr, "colbert")), TOL);
        CHECK_NEAR(s.combined, num(json_object_get(pr, "combined")), TOL);
        CHECK_NEAR(xl_m3_dense_score(&vt[qi], &vt[di]), s.dense, 0);
        /* weights only on one head give that head's score */
        double w[3] = {0, 0, 2};
        xl_m3_scores s2;
        CHECK(xl_m3_score(&vt[qi], &vt[di], w, &s2) == XL_OK && fabs(s2.combined - s.colbert) < 1e-12);
    }
    /* rerank orders */
    const json_t *rr = json_object_get(ref, "rerank");
    for (size_t r = 0; r < json_array_size(rr); r++) {
        const json_t *q = json_array_get(rr, r);
        size_t qi = (size_t)json_integer_value(json_object_get(q, "query_index"));
        const json_t *docs = json_object_get(q, "doc_indices"), *scores = json_object_get(q, "scores"),
                     *order = json_object_get(q, "order");
        size_t nd = json_array_size(docs);
        double got[16];
        for (size_t k = 0; k < nd && k < 16; k++) {
            xl_m3_scores s;
            size_t di = (size_t)json_integer_value(json_array_get(docs, k));
            got[k] = di < n && xl_m3_score(&vt[qi], &vt[di], NULL, &s) == XL_OK ? s.combined : NAN;
            CHECK_NEAR(got[k], num(json_array_get(scores, k)), TOL);
        }
        for (size_t k = 1; k < json_array_size(order); k++) {
            size_t a = (size_t)json_integer_value(json_array_get(order, k - 1));
            size_t b = (size_t)json_integer_value(json_array_get(order, k));
            CHECK(a < nd && b < nd && got[a] >= got[b]);
        }
    }
    /* scoring errors: a head missing from one side, bad weights */
    xl_m3_vectors nosparse = vt[0];
    nosparse.sparse_ids = NULL;
    xl_m3_scores s;
    st = xl_m3_score(&nosparse, &vt[1], NULL, &s);
    CHECK_MSG(st == XL_ERR_ARG && strstr(xl_last_error(), "sparse"), "missing head: %s", xl_last_error());
    double w0[3] = {1, 0, 0};
    CHECK(xl_m3_score(&nosparse, &vt[1], w0, &s) == XL_OK);
    double wneg[3] = {-1, 1, 1}, wzero[3] = {0, 0, 0};
    CHECK(xl_m3_score(&vt[0], &vt[1], wneg, &s) == XL_ERR_ARG);
    CHECK(xl_m3_score(&vt[0], &vt[1], wzero, &s) == XL_ERR_ARG);
    /* an empty input fails as a whole, naming it, and leaves nothing allocated */
    const char *bad[2] = {"fine", ""};
    size_t blens[2] = {4, 0};
    const int32_t *bid[2] = {ids[0], ids[0]};
    size_t bidl[2] = {lens[0], 0};
    for (size_t i = 0; i < 2; i++) xl_m3_vectors_free(&vi[i]);
    st = xl_m3_embed_ids(h, bid, bidl, 2, XL_M3_ALL, NULL, vi, NULL);
    CHECK_MSG(st != XL_OK && strstr(xl_last_error(), "input 2") && !vi[0].dense, "empty ids: %s", xl_last_error());
    st = xl_m3_embed_texts(h, bad, blens, 2, XL_M3_ALL, NULL, vi, NULL);
    CHECK_MSG(st == XL_OK && vi[1].n_colbert == 1, "empty text (specials only): %s", xl_last_error());
    for (size_t i = 0; i < 2; i++) xl_m3_vectors_free(&vi[i]);

    for (size_t i = 0; i < n; i++) {
        xl_m3_vectors_free(&vt[i]);
        xl_m3_vectors_free(&vi[i]);
        free((void *)ids[i]);
    }
    free(vt); free(vi); free(texts); free(ids); free(lens);
    xl_m3_free(h);
    xl_model_free(m);

    /* a folder without the heads: xl_m3_load refuses it */
    st = xl_model_load(t_path(t_repo_dir(), "tests/fixtures/models/xlmr-tiny"), NULL, &m);
    CHECK(st == XL_OK);
    if (!st) {
        st = xl_m3_load(m, &h);
        CHECK_MSG(st == XL_ERR_UNSUPPORTED && strstr(xl_last_error(), "not a bge-m3 folder"), "no heads: %s", xl_last_error());
        xl_model_free(m);
    }
    json_decref(ref);
    return test_summary("test_m3");
}
