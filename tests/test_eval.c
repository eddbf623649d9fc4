/* Scoring of the evaluation tasks on hand-computed cases (bitext mining with sklearn's
 * weighted averages, STS correlations, retrieval cut-offs, MEXA), the position-weighted
 * pooling, distinct texts, the data readers (CSV quoting, aligned files) and their errors.
 * Tolerance 1e-6 unless stated (hand values to 5 digits: 1e-4). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embed/pooling.h"
#include "xling.h"
#include "testlib.h"

static void test_bitext(void) {
    /* x1 is closest to y0, so predictions are 0, 0, 2: labels {0,1,2} with support 1
     * each; precision 0.5/0/1, recall 1/0/1, F1 2/3/0/1. Backward: y1 is closest to x0. */
    float x[] = {1, 0, 0.9f, 0.1f, 0, 1}, y[] = {1, 0, -0.6f, -0.8f, 0, 1};
    xl_l2_normalize_rows(x, 3, 2);
    xl_bitext_scores s;
    CHECK(xl_eval_bitext(x, y, 3, 2, 1, &s) == XL_OK);
    CHECK_NEAR(s.accuracy, 2.0 / 3, 1e-9);
    CHECK_NEAR(s.precision, 0.5, 1e-9);
    CHECK_NEAR(s.recall, 2.0 / 3, 1e-9);
    CHECK_NEAR(s.f1, 5.0 / 9, 1e-9);
    CHECK_NEAR(s.laser_error_xx_en, 1.0 / 3, 1e-9);
    CHECK_NEAR(s.laser_error_en_xx, 1.0 / 3, 1e-9);
    /* identical target rows: the tie goes to the lowest index, as a stable top-1 */
    float yt[] = {1, 0, 1, 0, 0, 1};
    CHECK(xl_eval_bitext(x, yt, 3, 2, 1, &s) == XL_OK);
    CHECK_NEAR(s.accuracy, 2.0 / 3, 1e-9);
    CHECK(xl_eval_bitext(x, y, 0, 2, 1, &s) == XL_ERR_ARG);
}

static void test_sts(void) {
    /* cosines 1, 0.70711, 0; Manhattan 0, 1, 2; Euclidean 0, 1, 1.41421; gold 5, 3, 1 */
    float a[] = {1, 0, 1, 0, 1, 0}, b[] = {1, 0, 1, 1, 0, 1};
    double gold[] = {5, 3, 1};
    xl_sts_scores s;
    CHECK(xl_eval_sts(a, b, 3, 2, gold, &s) == XL_OK);
    CHECK_NEAR(s.cosine_pearson, 0.97258, 1e-4);
    CHECK_NEAR(s.cosine_spearman, 1.0, 1e-9);
    CHECK_NEAR(s.manhattan_pearson, 1.0, 1e-9);
    CHECK_NEAR(s.manhattan_spearman, 1.0, 1e-9);
    CHECK_NEAR(s.euclidean_pearson, 0.97256, 1e-4);
    CHECK_NEAR(s.euclidean_spearman, 1.0, 1e-9);
    CHECK(xl_eval_sts(a, b, 1, 2, gold, &s) == XL_ERR_ARG);
}

static void test_retrieval(void) {
    /* query 0 finds its document first; query 1 finds it second */
    float q[] = {1, 0, 0.8f, 0.6f}, d[] = {1, 0, 0, 1, -1, 0};
    size_t rel[] = {0, 1};
    xl_retrieval_scores s;
    CHECK(xl_eval_retrieval(q, 2, d, 3, 2, rel, 1, &s) == XL_OK);
    CHECK_NEAR(s.ndcg_at_10, (1 + 1 / log2(3)) / 2, 1e-9);
    CHECK_NEAR(s.mrr_at_10, 0.75, 1e-9);
    CHECK_NEAR(s.recall_at_1, 0.5, 1e-9);
    CHECK_NEAR(s.recall_at_10, 1.0, 1e-9);
    CHECK_NEAR(s.recall_at_100, 1.0, 1e-9);
}

static void test_mexa(void) {
    /* C = [[1,0,-1],[0,1,0],[.707,.707,-.707]]: rows 0 and 1 win their row and column */
    float x[] = {1, 0, 0, 1, 0.7f, 0.7f}, y[] = {1, 0, 0, 2, -1, 0};
    double s;
    CHECK(xl_eval_mexa(x, y, 3, 2, 1, &s) == XL_OK);
    CHECK_NEAR(s, 2.0 / 3, 1e-12);
    CHECK(xl_eval_mexa(x, x, 3, 2, 1, &s) == XL_OK);
    CHECK_NEAR(s, 1.0, 1e-12);
    /* a tie is not a win */
    float t[] = {1, 0, 1, 0};
    CHECK(xl_eval_mexa(t, t, 2, 2, 1, &s) == XL_OK);
    CHECK_NEAR(s, 0.0, 1e-12);
}

static void test_weighted_pool(void) {
    float h[] = {1, 10, 2, 20, 4, 40}, out[2];
    xl_pool_weighted_mean(h, 3, 2, 0, out);
    CHECK_NEAR(out[0], 17.0 / 6, 1e-6);
    CHECK_NEAR(out[1], 170.0 / 6, 1e-5);
    xl_pool_weighted_mean(h, 3, 2, 1, out);   /* the prompt token left out, positions restart */
    CHECK_NEAR(out[0], 10.0 / 3, 1e-6);
    xl_pool_weighted_mean(h, 1, 2, 0, out);
    CHECK_NEAR(out[0], 1.0, 1e-7);
}

static void test_textset(void) {
    xl_textset *t = xl_textset_new();
    size_t a, b, c;
    CHECK(t && xl_textset_add(t, "hello", 5, &a) == XL_OK);
    CHECK(xl_textset_add(t, "world", 5, &b) == XL_OK);
    CHECK(xl_textset_add(t, "hello", 5, &c) == XL_OK);
    CHECK(a == 0 && b == 1 && c == 0);
    CHECK(xl_textset_add(t, "hel\0lo", 6, &c) == XL_OK && c == 2);
    int bad = 0;
    for (int i = 0; i < 5000 && !bad; i++) {   /* growth keeps every id */
        char s[16];
        int k = snprintf(s, sizeof s, "t%d", i % 2500);
        bad = xl_textset_add(t, s, (size_t)k, &c) != XL_OK || c != (size_t)(3 + i % 2500);
        if (bad) CHECK_MSG(0, "id %zu for %s", c, s);
    }
    CHECK(!bad);
    CHECK_EQ_INT(xl_textset_count(t), 2503);
    CHECK_STR(xl_textset_texts(t)[1], "world");
    xl_textset_free(t);
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_data(void) {
    char dir[] = "/tmp/xl_test_eval_XXXXXX";
    if (!mkdtemp(dir)) { CHECK_MSG(0, "mkdtemp"); return; }
    char p[512];
    snprintf(p, sizeof p, "%s/stsb-multi-mt", dir); mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/stsb-multi-mt/data", dir); mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/stsb-multi-mt/data/stsb-en-test.csv", dir);
    put(p, "\"A man, a plan\",B said \"\"no\"\",2.5\r\n\"Say \"\"hi\"\"\",x,5.0\n");
    xl_sts_set s;
    CHECK(xl_stsb_load(dir, "en", &s) == XL_OK);
    CHECK(s.s1.n == 2);
    CHECK_STR(s.s1.v[0], "A man, a plan");
    CHECK_STR(s.s2.v[0], "B said \"\"no\"\"");   /* quotes only pair up inside a quoted field */
    CHECK_STR(s.s1.v[1], "Say \"hi\"");
    CHECK_NEAR(s.score[0], 2.5, 0);
    CHECK_NEAR(s.score[1], 5.0, 0);
    xl_sts_set_free(&s);
    put(p, "a,b,2\nonly,two\n");
    CHECK(xl_stsb_load(dir, "en", &s) == XL_ERR_FORMAT);
    CHECK_MSG(strstr(xl_last_error(), "line 2") != NULL, "%s", xl_last_error());
    put(p, "a,b,7\n");
    CHECK(xl_stsb_load(dir, "en", &s) == XL_ERR_FORMAT);
    put(p, "\"a,b,1\n");
    CHECK(xl_stsb_load(dir, "en", &s) == XL_ERR_FORMAT);
    CHECK(xl_stsb_load(dir, "de", &s) == XL_ERR_IO);

    char (*codes)[8];
    size_t n;
    CHECK(xl_tatoeba_codes(dir, &codes, &n) == XL_ERR_IO);
    snprintf(p, sizeof p, "%s/tatoeba", dir); mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/tatoeba/v1", dir); mkdir(p, 0777);
    const char *files[][2] = {{"tatoeba.fra-eng.fra", "un\ndeux\n"}, {"tatoeba.fra-eng.eng", "one\ntwo\n"},
                              {"tatoeba.deu-eng.deu", "eins\n"}, {"tatoeba.deu-eng.eng", "one\ntwo\n"},
                              {"README.md", "x"}};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/tatoeba/v1/%s", dir, files[i][0]);
        put(p, files[i][1]);
    }
    CHECK(xl_tatoeba_codes(dir, &codes, &n) == XL_OK);
    CHECK(n == 2 && !strcmp(codes[0], "deu") && !strcmp(codes[1], "fra"));
    free(codes);
    xl_lines a, b;
    CHECK(xl_tatoeba_load(dir, "fra", 0, &a, &b) == XL_OK);
    CHECK(a.n == 2 && !strcmp(a.v[1], "deux") && !strcmp(b.v[1], "two"));
    xl_lines_free(&a); xl_lines_free(&b);
    CHECK(xl_tatoeba_load(dir, "fra", 1, &a, &b) == XL_OK && a.n == 1);
    xl_lines_free(&a); xl_lines_free(&b);
    CHECK(xl_tatoeba_load(dir, "deu", 0, &a, &b) == XL_ERR_FORMAT);   /* 1 line vs 2 */
    CHECK_MSG(strstr(xl_last_error(), "aligned") != NULL, "%s", xl_last_error());
    CHECK_STR(xl_tatoeba_script("cmn"), "Hans");
    CHECK_STR(xl_tatoeba_script("deu"), "Latn");

    /* the data hash changes with a file's bytes and with its name */
    char h1[17], h2[17];
    char f1[512], f2[512];
    snprintf(f1, sizeof f1, "%s/tatoeba/v1/tatoeba.fra-eng.fra", dir);
    snprintf(f2, sizeof f2, "%s/tatoeba/v1/tatoeba.fra-eng.eng", dir);
    const char *ps[] = {f1, f2};
    CHECK(xl_files_hash(ps, 2, h1) == XL_OK && strlen(h1) == 16);
    put(f2, "one\ntwo!\n");
    CHECK(xl_files_hash(ps, 2, h2) == XL_OK && strcmp(h1, h2) != 0);
    const char *missing[] = {"/nonexistent/x"};
    CHECK(xl_files_hash(missing, 1, h2) == XL_ERR_IO);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(void) {
    test_bitext();
    test_sts();
    test_retrieval();
    test_mexa();
    test_weighted_pool();
    test_textset();
    test_data();
    return test_summary("test_eval");
}
