/* Token byte offsets (xl_tokenize_offsets) of the six reference tokenizers of
 * ../shared/fixtures/tokenizers against the Rust `tokenizers` crate 0.22.2 itself:
 * tests/data/tokenizer_offsets/<name>.jsonl holds, for every line of corpus.jsonl
 * there (a sample of the shared corpus plus adversarial cases: combining marks, NFKC
 * expansions, full-width, CJK, emoji ZWJ sequences, RTL, empty, whitespace runs and
 * invalid UTF-8), the crate's offsets with special tokens added; gen.js there made
 * them. Every token's offsets must match exactly (they are integers: no tolerance),
 * the ids must be xl_tokenize's, and xl_tokenize must leave offsets NULL. Also:
 * truncation keeps offsets with their tokens, add_special = 0 drops only the (0,0)
 * specials, and bad arguments are errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testlib.h"
#include "util/fileio.h"
#include "util/json.h"
#include "xling.h"

#define SHOW_MISMATCHES 5

typedef struct {
    char id[32];
    char *text;
    size_t len;
} line_t;

typedef struct {
    line_t *v;
    size_t n, cap;
} corpus_t;

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

/* Reads the JSON lines of path into an array (NULL when unreadable). */
static json_t **read_lines(const char *path, size_t *n) {
    char *data;
    size_t len;
    *n = 0;
    if (xl_read_file(path, &data, &len) != XL_OK) return NULL;
    size_t cap = 1024;
    json_t **v = malloc(cap * sizeof *v);
    for (char *p = data, *end = data + len; v && p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l) {
            json_error_t e;
            json_t *j = xl_json_loadb(p, l, &e);
            if (!j) {
                fprintf(stderr, "%s: bad JSON line %zu: %s\n", path, *n + 1, e.text);
                break;
            }
            if (*n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
            v[(*n)++] = j;
        }
        p += l + 1;
    }
    free(data);
    return v;
}

static void load_corpus(const char *path, corpus_t *c) {
    size_t n;
    json_t **lines = read_lines(path, &n);
    c->v = calloc(n ? n : 1, sizeof *c->v);
    for (size_t i = 0; lines && i < n; i++) {
        line_t *l = &c->v[c->n++];
        snprintf(l->id, sizeof l->id, "%s", json_string_value(json_object_get(lines[i], "id")));
        json_t *t = json_object_get(lines[i], "text");
        if (t) {
            l->len = json_string_length(t);
            l->text = malloc(l->len + 1);
            memcpy(l->text, json_string_value(t), l->len + 1);
        } else { /* invalid UTF-8, as hex */
            const char *h = json_string_value(json_object_get(lines[i], "hex"));
            l->len = strlen(h) / 2;
            l->text = malloc(l->len + 1);
            for (size_t k = 0; k < l->len; k++) l->text[k] = (char)(hexval(h[2 * k]) << 4 | hexval(h[2 * k + 1]));
            l->text[l->len] = 0;
        }
        json_decref(lines[i]);
    }
    free(lines);
}

static void show(const char *name, const line_t *l, const xl_encoding *e, const json_t *exp) {
    fprintf(stderr, "  %s %s: text \"%.*s\"\n    expected", name, l->id, (int)(l->len < 120 ? l->len : 120), l->text);
    for (size_t k = 0; k < json_array_size(exp); k += 2)
        fprintf(stderr, " (%lld,%lld)", json_integer_value(json_array_get(exp, k)), json_integer_value(json_array_get(exp, k + 1)));
    fprintf(stderr, "\n    got     ");
    for (size_t k = 0; k < e->n; k++) fprintf(stderr, " (%u,%u)", e->offsets[2 * k], e->offsets[2 * k + 1]);
    fprintf(stderr, "\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run_tokenizer(const char *fixtures, const char *name, const corpus_t *c) {
    char path[8192];
    snprintf(path, sizeof path, "%s/models/%s", fixtures, name);
    xl_tokenizer *tok = NULL;
    if (xl_tokenizer_load(path, &tok) != XL_OK) {
        CHECK_MSG(0, "%s: load failed: %s", name, xl_last_error());
        return;
    }
    snprintf(path, sizeof path, "%s/tests/data/tokenizer_offsets/%s.jsonl", t_repo_dir(), name);
    size_t n;
    json_t **exp = read_lines(path, &n);
    CHECK_MSG(exp && n == c->n, "%s: %zu expected lines for %zu corpus lines", path, n, c->n);
    size_t bad = 0, tokens = 0;
    double t_off = 0, t_plain = 0;
    for (size_t i = 0; exp && i < n && i < c->n; i++) {
        const line_t *l = &c->v[i];
        json_t *offs = json_object_get(exp[i], "offsets");
        xl_encoding e, plain;
        double t0 = now_s();
        xl_status st = xl_tokenize_offsets(tok, l->text, l->len, 1, &e);
        double t1 = now_s();
        xl_status st2 = xl_tokenize(tok, l->text, l->len, 1, &plain);
        t_plain += now_s() - t1;
        t_off += t1 - t0;
        if (st || st2) {
            CHECK_MSG(0, "%s %s: %s", name, l->id, xl_last_error());
            continue;
        }
        int ok = strcmp(json_string_value(json_object_get(exp[i], "id")), l->id) == 0 && e.offsets && !plain.offsets &&
                 e.n == plain.n && !memcmp(e.ids, plain.ids, e.n * sizeof *e.ids) && 2 * e.n == json_array_size(offs);
        for (size_t k = 0; ok && k < 2 * e.n; k++) ok = (json_int_t)e.offsets[k] == json_integer_value(json_array_get(offs, k));
        tokens += e.n;
        if (!ok && bad++ < SHOW_MISMATCHES) show(name, l, &e, offs);
        xl_encoding_free(&e);
        xl_encoding_free(&plain);
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu lines with other offsets than the crate's", name, bad, n);
    fprintf(stderr, "%s: %zu lines, %zu tokens, xl_tokenize_offsets %.1f ms, xl_tokenize %.1f ms\n", name, n, tokens,
            t_off * 1e3, t_plain * 1e3);
    for (size_t i = 0; exp && i < n; i++) json_decref(exp[i]);
    free(exp);
    xl_tokenizer_free(tok);
}

/* Truncation, add_special = 0 and bad arguments on one tokenizer. */
static void check_api(const char *fixtures) {
    char path[8192];
    snprintf(path, sizeof path, "%s/models/bert-wordpiece", fixtures);
    xl_tokenizer *tok = NULL;
    if (xl_tokenizer_load(path, &tok) != XL_OK) {
        CHECK_MSG(0, "load: %s", xl_last_error());
        return;
    }
    const char *text = "Hello, wonderful world";
    xl_encoding e, ns;
    CHECK(xl_tokenize_offsets(tok, text, strlen(text), 1, &e) == XL_OK);
    CHECK(xl_tokenize_offsets(tok, text, strlen(text), 0, &ns) == XL_OK);
    /* [CLS] hello , wonderful world [SEP] */
    static const uint32_t want[] = {0, 0, 0, 5, 5, 6, 7, 16, 17, 22, 0, 0};
    CHECK_EQ_INT(e.n, 6);
    for (size_t k = 0; k < 12 && e.n == 6; k++) CHECK_EQ_INT(e.offsets[k], want[k]);
    CHECK_EQ_INT(ns.n, 4);
    for (size_t k = 0; k < 8 && ns.n == 4; k++) CHECK_EQ_INT(ns.offsets[k], want[k + 2]);
    CHECK(xl_encoding_truncate(&e, 4) == 1);
    /* [CLS] hello , [SEP] */
    static const uint32_t cut[] = {0, 0, 0, 5, 5, 6, 0, 0};
    CHECK_EQ_INT(e.n, 4);
    for (size_t k = 0; k < 8 && e.n == 4; k++) CHECK_EQ_INT(e.offsets[k], cut[k]);
    xl_encoding_free(&e);
    CHECK(e.offsets == NULL);
    xl_encoding_free(&ns);
    CHECK(xl_tokenize_offsets(NULL, text, 3, 1, &e) == XL_ERR_ARG);
    CHECK(xl_tokenize_offsets(tok, text, 3, 1, NULL) == XL_ERR_ARG);
    CHECK(xl_tokenize_offsets(tok, NULL, 3, 1, &e) == XL_ERR_ARG);
    CHECK(xl_tokenize_offsets(tok, NULL, 0, 1, &e) == XL_OK);
    CHECK_EQ_INT(e.n, 2);
    xl_encoding_free(&e);
    xl_tokenizer_free(tok);
}

int main(int argc, char **argv) {
    const char *shared = t_shared_dir();
    if (!shared) {
        t_skip_case("tokenizer offsets", "../shared is absent");
        return test_summary("test_tokenizer_offsets");
    }
    setenv("XLING_TOKENIZER_CACHE", "off", 1); /* nothing written next to the fixtures */
    static char dir[2048];
    snprintf(dir, sizeof dir, "%s/fixtures/tokenizers", shared);
    corpus_t corpus = {0};
    char path[8192];
    snprintf(path, sizeof path, "%s/tests/data/tokenizer_offsets/corpus.jsonl", t_repo_dir());
    load_corpus(path, &corpus);
    CHECK_MSG(corpus.n > 400, "%s: %zu lines", path, corpus.n);
    static const char *const names[] = {"bert-wordpiece", "bert-cased", "xlmr-unigram", "llama3_1", "qwen3", "gemma3"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], names[k]) == 0;
        if (wanted) run_tokenizer(dir, names[k], &corpus);
    }
    check_api(dir);
    for (size_t i = 0; i < corpus.n; i++) free(corpus.v[i].text);
    free(corpus.v);
    return test_summary("test_tokenizer_offsets");
}
