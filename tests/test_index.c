/* The persistent search index (src/tasks/index.c) on synthetic vectors:
 * - exact search against a brute-force double-precision ranking (scores 1e-5);
 * - ids: given strings and integers kept apart, new integer ids, skip / replace,
 *   resume keys of id-less lines; metadata filters (strings, numbers, booleans);
 * - HNSW: recall@10 >= 0.95 against exact on 2000 random vectors, the graph written
 *   by flush and reloaded, caught up after adds that were never flushed (a crash), and
 *   rebuilt when DB.hnsw is missing or damaged;
 * - bad input: NaN vectors, a missing file, a file that is not SQLite, an SQLite file
 *   that is not an index, an existing path for create, another model's identity. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "xling.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static float *random_vecs(size_t n, size_t dim) {
    float *x = malloc(n * dim * sizeof *x);
    for (size_t i = 0; i < n * dim; i++) x[i] = (float)(urand() * 2 - 1);
    return x;
}

static char dir[256];
static char *path_in(const char *name) {
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static xl_index *make(const char *name, int dim, xl_ann ann) {
    xl_index_settings s = {.model_path = "/models/m", .architecture = "BertModel", .fingerprint = "0123456789abcdef",
                           .dim = dim, .doc_prompt_name = "passage", .doc_prompt = "passage: ",
                           .query_prompt_name = "query", .query_prompt = "query: ", .ann = ann};
    if (!CHECK_MSG(xl_index_create(path_in(name), &s) == XL_OK, "create: %s", xl_last_error())) return NULL;
    xl_index *ix = NULL;
    CHECK_MSG(xl_index_open(path_in(name), 1, &ix) == XL_OK, "open: %s", xl_last_error());
    return ix;
}

/* brute-force top-k indices by cosine, double precision */
static void brute(const float *q, const float *d, size_t n, size_t dim, int k, size_t *top, double *sc) {
    double qn = 0;
    for (size_t j = 0; j < dim; j++) qn += (double)q[j] * q[j];
    for (int t = 0; t < k; t++) { top[t] = (size_t)-1; sc[t] = -2; }
    for (size_t i = 0; i < n; i++) {
        double s = 0, dn = 0;
        for (size_t j = 0; j < dim; j++) { s += (double)q[j] * d[i * dim + j]; dn += (double)d[i * dim + j] * d[i * dim + j]; }
        s /= sqrt(qn * dn);
        for (int t = 0; t < k; t++)
            if (s > sc[t]) {
                for (int u = k - 1; u > t; u--) { sc[u] = sc[u - 1]; top[u] = top[u - 1]; }
                sc[t] = s;
                top[t] = i;
                break;
            }
    }
}

static void test_exact_and_ids(void) {
    const size_t n = 300, dim = 24;
    xl_index *ix = make("exact.db", (int)dim, XL_ANN_NONE);
    if (!ix) return;
    float *v = random_vecs(n, dim);
    xl_index_item *it = calloc(n, sizeof *it);
    char (*ids)[16] = calloc(n, sizeof *ids);
    char (*meta)[64] = calloc(n, sizeof *meta);
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "doc%zu", i);
        snprintf(meta[i], sizeof meta[i], "{\"lang\":\"%s\",\"n\":%zu,\"even\":%s}", i % 3 ? "en" : "de", i % 5,
                 i % 2 ? "false" : "true");
        it[i] = (xl_index_item){.text = ids[i], .id = ids[i], .meta = meta[i]};
    }
    size_t a, r, s;
    /* two transactions of 150 */
    CHECK(xl_index_add(ix, it, 150, v, 0, &a, &r, &s) == XL_OK && a == 150);
    CHECK(xl_index_add(ix, it + 150, 150, v + 150 * dim, 0, &a, &r, &s) == XL_OK && a == 150);
    size_t cnt;
    CHECK(xl_index_count(ix, &cnt) == XL_OK && cnt == n);
    /* a rerun skips every stored id */
    CHECK(xl_index_add(ix, it, n, v, 0, &a, &r, &s) == XL_OK && a == 0 && s == n);
    CHECK_EQ_INT(xl_index_contains(ix, &it[17]), 1);

    const int k = 7, nq = 5;
    float *q = random_vecs((size_t)nq, dim);
    int64_t rows[5 * 7];
    float sc[5 * 7];
    int nh[5];
    xl_index_search_options o = {.k = k};
    CHECK(xl_index_search(ix, q, (size_t)nq, &o, rows, sc, nh) == XL_OK);
    int ok = 1;
    for (int i = 0; i < nq; i++) {
        size_t top[7];
        double bs[7];
        brute(q + (size_t)i * dim, v, n, dim, k, top, bs);
        ok &= nh[i] == k;
        for (int j = 0; j < k && ok; j++) {
            const char *id, *text, *m;
            int is_int;
            ok &= xl_index_row(ix, rows[i * k + j], &id, &is_int, &text, &m) == XL_OK && !is_int;
            ok &= ok && !strcmp(id, ids[top[j]]) && fabs(sc[i * k + j] - bs[j]) < 1e-5;
        }
    }
    CHECK_MSG(ok, "exact search equals the brute-force ranking");

    /* filters: lang=de (i % 3 == 0), n=2 (number), even=true (boolean) */
    xl_index_where w[3] = {{"lang", "de"}, {"n", "2"}, {"even", "true"}};
    o.where = w;
    o.n_where = 3;
    o.k = 50;
    int64_t frows[50];
    float fsc[50];
    int fnh;
    CHECK(xl_index_search(ix, q, 1, &o, frows, fsc, &fnh) == XL_OK);
    /* i % 3 == 0, i % 5 == 2, i even: i = 12 mod 30, 10 of 300 */
    ok = fnh == 10;
    for (int j = 0; j < fnh && ok; j++) {
        const char *id, *text, *m;
        int is_int;
        ok = xl_index_row(ix, frows[j], &id, &is_int, &text, &m) == XL_OK && atoi(id + 3) % 30 == 12;
        ok &= j == 0 || fsc[j] <= fsc[j - 1];
    }
    CHECK_MSG(ok, "filtered search: %d hits", fnh);
    xl_index_where w2[1] = {{"lang", "fr"}};
    o.where = w2;
    o.n_where = 1;
    CHECK(xl_index_search(ix, q, 1, &o, frows, fsc, &fnh) == XL_OK && fnh == 0);
    xl_index_where w3[1] = {{"la\"ng", "x"}};
    o.where = w3;
    CHECK(xl_index_search(ix, q, 1, &o, frows, fsc, &fnh) == XL_ERR_INPUT);

    /* replace: doc5 gets the query's vector, so it becomes the best hit with score 1 */
    xl_index_item rep = {.text = "replaced", .id = "doc5"};
    CHECK(xl_index_add(ix, &rep, 1, q, 1, &a, &r, &s) == XL_OK && r == 1 && a == 0);
    o = (xl_index_search_options){.k = 1};
    CHECK(xl_index_search(ix, q, 1, &o, frows, fsc, &fnh) == XL_OK && fnh == 1 && fabs(fsc[0] - 1) < 1e-5);
    const char *id, *text, *m;
    int is_int;
    CHECK(xl_index_row(ix, frows[0], &id, &is_int, &text, &m) == XL_OK && !strcmp(id, "doc5") && !strcmp(text, "replaced") && !m);

    /* integer ids: "7" and 7 are different; new integer ids skip taken ones */
    xl_index_item num[4] = {{.text = "int seven", .id = "7", .id_is_int = 1}, {.text = "str seven", .id = "7"},
                            {.text = "auto a", .line_key = 11}, {.text = "taken 0", .id = "0", .id_is_int = 1}};
    CHECK(xl_index_add(ix, num, 2, v, 0, &a, &r, &s) == XL_OK && a == 2);
    CHECK(xl_index_add(ix, num + 3, 1, v, 0, &a, &r, &s) == XL_OK && a == 1);
    CHECK(xl_index_add(ix, num + 2, 1, v, 0, &a, &r, &s) == XL_OK && a == 1);
    const float *vv;
    const int64_t *vr;
    size_t nv;
    CHECK(xl_index_vectors(ix, &vv, &vr, &nv) == XL_OK && nv == n + 4);
    CHECK(xl_index_row(ix, vr[nv - 1], &id, &is_int, &text, &m) == XL_OK && is_int && !strcmp(id, "1") &&
          !strcmp(text, "auto a"));
    /* the same line key again: skipped (resume) */
    CHECK(xl_index_add(ix, num + 2, 1, v, 0, &a, &r, &s) == XL_OK && a == 0 && s == 1);
    /* stored vectors are unit length */
    double nn = 0;
    for (size_t j = 0; j < dim; j++) nn += (double)vv[j] * vv[j];
    CHECK_NEAR(nn, 1.0, 1e-5);

    /* bad input */
    float bad[24];
    memcpy(bad, v, sizeof bad);
    bad[3] = NAN;
    xl_index_item nb = {.text = "nan", .id = "nan"};
    CHECK(xl_index_add(ix, &nb, 1, bad, 0, &a, &r, &s) == XL_ERR_INPUT && strstr(xl_last_error(), "NaN"));
    CHECK(xl_index_search(ix, bad, 1, &o, frows, fsc, &fnh) == XL_ERR_INPUT);
    xl_index_item badmeta = {.text = "x", .id = "m", .meta = "[1,2]"};
    CHECK(xl_index_add(ix, &badmeta, 1, v, 0, &a, &r, &s) == XL_ERR_INPUT && strstr(xl_last_error(), "meta"));
    CHECK(xl_index_count(ix, &cnt) == XL_OK && cnt == n + 4);
    CHECK(xl_index_check_model(ix, "/m", "BertModel", (int)dim, "0123456789abcdef") == XL_OK);
    CHECK(xl_index_check_model(ix, "/other", "BertModel", 32, "0123456789abcdef") == XL_ERR_INPUT &&
          strstr(xl_last_error(), "dim 32") && strstr(xl_last_error(), "dim 24"));
    CHECK(xl_index_check_model(ix, "/other", "BertModel", (int)dim, "ffffffffffffffff") == XL_ERR_INPUT &&
          strstr(xl_last_error(), "ffffffffffffffff") && strstr(xl_last_error(), "0123456789abcdef"));
    xl_index_close(ix);
    free(v);
    free(q);
    free(it);
    free(ids);
    free(meta);
}

static double recall_vs_exact(xl_index *ix, const float *q, size_t nq, int k, int ef) {
    int64_t *ra = malloc(nq * (size_t)k * sizeof *ra), *re = malloc(nq * (size_t)k * sizeof *re);
    float *sa = malloc(nq * (size_t)k * sizeof *sa), *se = malloc(nq * (size_t)k * sizeof *se);
    int *na = malloc(nq * sizeof *na), *ne = malloc(nq * sizeof *ne);
    xl_index_search_options oa = {.k = k, .ef = ef}, oe = {.k = k, .exact = 1};
    double rec = -1;
    if (xl_index_search(ix, q, nq, &oa, ra, sa, na) == XL_OK && xl_index_search(ix, q, nq, &oe, re, se, ne) == XL_OK) {
        size_t hit = 0;
        for (size_t i = 0; i < nq; i++)
            for (int a = 0; a < na[i]; a++)
                for (int e = 0; e < ne[i]; e++) hit += ra[i * (size_t)k + (size_t)a] == re[i * (size_t)k + (size_t)e];
        rec = (double)hit / (double)(nq * (size_t)k);
    }
    free(ra); free(re); free(sa); free(se); free(na); free(ne);
    return rec;
}

static void test_hnsw(void) {
    const size_t n = 2000, dim = 32, nq = 50;
    xl_index *ix = make("ann.db", (int)dim, XL_ANN_HNSW);
    if (!ix) return;
    float *v = random_vecs(n, dim), *q = random_vecs(nq, dim);
    xl_index_item *it = calloc(n, sizeof *it);
    for (size_t i = 0; i < n; i++) it[i] = (xl_index_item){.text = "t", .line_key = i + 1};
    CHECK(xl_index_add(ix, it, 1500, v, 0, NULL, NULL, NULL) == XL_OK);
    CHECK(xl_index_flush(ix) == XL_OK);
    CHECK_EQ_INT(xl_index_ann_lag(ix), 0);
    double rec = recall_vs_exact(ix, q, nq, 10, 0);
    CHECK_MSG(rec >= 0.95, "HNSW recall@10 = %.3f", rec);
    /* an add that is never flushed (a process killed after its commits) */
    CHECK(xl_index_add(ix, it + 1500, 500, v + 1500 * dim, 0, NULL, NULL, NULL) == XL_OK);
    xl_index_close(ix);
    CHECK(xl_index_open(path_in("ann.db"), 1, &ix) == XL_OK);
    if (!ix) return;
    CHECK_EQ_INT(xl_index_ann_lag(ix), 500);
    /* the graph answers for all 2000 rows: the query equal to row 1900 finds it */
    int64_t row;
    float sc;
    int nh;
    xl_index_search_options o = {.k = 1};
    CHECK(xl_index_search(ix, v + 1900 * dim, 1, &o, &row, &sc, &nh) == XL_OK && nh == 1 && fabs(sc - 1) < 1e-5);
    const float *vv;
    const int64_t *vr;
    size_t nv;
    CHECK(xl_index_vectors(ix, &vv, &vr, &nv) == XL_OK && nv == n && row == vr[1900]);
    CHECK_EQ_INT(xl_index_ann_lag(ix), 0); /* search, being able to write, saved the caught-up graph */
    rec = recall_vs_exact(ix, q, nq, 10, 0);
    CHECK_MSG(rec >= 0.95, "HNSW recall@10 after catching up = %.3f", rec);
    xl_index_close(ix);
    /* a damaged graph file is rebuilt from the rows */
    FILE *f = fopen(path_in("ann.db.hnsw"), "r+b");
    if (f) { fputs("garbage garbage garbage", f); fclose(f); }
    CHECK(xl_index_open(path_in("ann.db"), 1, &ix) == XL_OK);
    if (!ix) return;
    CHECK(xl_index_search(ix, v + 10 * dim, 1, &o, &row, &sc, &nh) == XL_OK && nh == 1 && fabs(sc - 1) < 1e-5);
    rec = recall_vs_exact(ix, q, nq, 10, 0);
    CHECK_MSG(rec >= 0.95, "HNSW recall@10 after a rebuild = %.3f", rec);
    xl_index_close(ix);
    /* and a missing one too, read-only */
    unlink(path_in("ann.db.hnsw"));
    CHECK(xl_index_open(path_in("ann.db"), 0, &ix) == XL_OK);
    if (!ix) return;
    CHECK(xl_index_search(ix, v + 20 * dim, 1, &o, &row, &sc, &nh) == XL_OK && nh == 1 && fabs(sc - 1) < 1e-5);
    CHECK(access(path_in("ann.db.hnsw"), F_OK) != 0); /* read-only: nothing written */
    xl_index_close(ix);
    free(v);
    free(q);
    free(it);
}

static void test_bad_files(void) {
    xl_index *ix = NULL;
    CHECK(xl_index_open(path_in("missing.db"), 0, &ix) == XL_ERR_IO && strstr(xl_last_error(), "does not exist"));
    FILE *f = fopen(path_in("text.db"), "w");
    if (f) { fputs("this is not a database, just some text long enough to fill a header......", f); fclose(f); }
    CHECK(xl_index_open(path_in("text.db"), 0, &ix) == XL_ERR_FORMAT && strstr(xl_last_error(), "not an SQLite database"));
    xl_index_settings s = {.dim = 4};
    CHECK(xl_index_create(path_in("text.db"), &s) == XL_ERR_IO && strstr(xl_last_error(), "already exists"));
    s.dim = 0;
    CHECK(xl_index_create(path_in("zero.db"), &s) == XL_ERR_ARG && access(path_in("zero.db"), F_OK) != 0);
    CHECK(ix == NULL);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/xl_index_test_XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    test_exact_and_ids();
    test_hnsw();
    test_bad_files();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_summary("test_index");
}
