/* Token byte offsets (xl_tokenize_offsets) of the six reference tokenizers of
 * ../shared/fixtures/tokenizers against the Rust `tokenizers` crate 0.22.2 itself:
 * tests/data/tokenizer_offsets/<name>.jsonl holds, for every line of corpus.jsonl
 * there (a sample of the shared corpus plus adversarial cases: combining marks, NFKC
 * expansions, full-width, CJK, emoji ZWJ sequences, RTL, empty, whitespace runs and
 * invalid UTF-8), the crate's offsets with special tokens added; gen.js there made
 * them. Every token's offsets must match exactly (they are integers: no tolerance),
 * the ids must be xl_tokenize's, and xl_tokenize must leave offsets NULL. The
 * variants of variants.json (other normalizers, pre-tokenizers and post-processors on
 * the fixtures' vocabularies) are checked the same way, ids included. Also:
 * truncation keeps offsets with their tokens, add_special = 0 drops only the (0,0)
 * specials, and bad arguments are errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "util/fileio.h"
#include "util/utf8.h"
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

/* Pseudo-random texts built from pieces that stress the pipeline (marks, NFKC
 * expansions, CJK, emoji, invalid bytes, special-token text, whitespace runs): ids must
 * be xl_tokenize's, specials (0,0), every other span inside the text and on the
 * boundaries of its characters (or of the invalid runs a U+FFFD replaced). */
static void check_random(const xl_tokenizer *tok, const char *name) {
    static const char *const parts[] = {"a", "Hello", " ", "  ", "\t\n", "e\xcc\x81", "\xcc\x81", "\xef\xac\x81",
                                        "\xe2\x91\xa0", "\xe4\xb8\xad\xe6\x96\x87", "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9",
                                        "\xff", "\xe4\xb8", "\xc0\xaf", "\xed\xa0\x80", "<s>", "[CLS]", "<mask>",
                                        "<|im_start|>", "<bos>", "123", "\xd9\x85\xd8\xb1", "\xef\xbd\x88", "\xe3\x80\x80",
                                        "\xc3\x9f", "\xc4\xb0", "\x00", "\xe2\x96\x81", "!?", "don't"};
    const size_t np = sizeof parts / sizeof *parts;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    size_t bad = 0;
    for (int round = 0; round < 300; round++) {
        char text[512];
        size_t len = 0;
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        int k = (int)(rng >> 59) + 1;
        for (int q = 0; q < k; q++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            const char *pt = parts[(rng >> 33) % np];
            size_t pl = pt[0] ? strlen(pt) : 1; /* "\x00" is one NUL byte */
            if (len + pl < sizeof text) memcpy(text + len, pt, pl), len += pl;
        }
        uint8_t boundary[513] = {0};
        for (size_t i = 0; i < len; i += xl_utf8_unit_len((const unsigned char *)text + i, len - i)) boundary[i] = 1;
        boundary[len] = 1;
        xl_encoding e, plain;
        if (xl_tokenize_offsets(tok, text, len, 1, &e) != XL_OK || xl_tokenize(tok, text, len, 1, &plain) != XL_OK) {
            CHECK_MSG(0, "%s: random text %d: %s", name, round, xl_last_error());
            continue;
        }
        int ok = e.n == plain.n && !memcmp(e.ids, plain.ids, e.n * sizeof *e.ids);
        for (size_t i = 0; ok && i < e.n; i++) {
            uint32_t a = e.offsets[2 * i], b = e.offsets[2 * i + 1];
            ok = e.special[i] ? !a && !b : a <= b && b <= len && boundary[a] && boundary[b];
        }
        if (!ok && bad++ < SHOW_MISMATCHES) fprintf(stderr, "  %s: random text %d has bad offsets\n", name, round);
        xl_encoding_free(&e);
        xl_encoding_free(&plain);
    }
    CHECK_MSG(bad == 0, "%s: %zu of 300 random texts with bad offsets", name, bad);
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
    check_random(tok, name);
    fprintf(stderr, "%s: %zu lines, %zu tokens, xl_tokenize_offsets %.1f ms, xl_tokenize %.1f ms\n", name, n, tokens,
            t_off * 1e3, t_plain * 1e3);
    for (size_t i = 0; exp && i < n; i++) json_decref(exp[i]);
    free(exp);
    xl_tokenizer_free(tok);
}

static const line_t *find_line(const corpus_t *c, const char *id) {
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].id, id)) return &c->v[i];
    return NULL;
}

/* The variants of variants.json: a fixture tokenizer with other components, written
 * to a temporary folder; ids and offsets against variants/<name>.jsonl. */
static void run_variants(const char *fixtures, const corpus_t *c) {
    char path[8192];
    snprintf(path, sizeof path, "%s/tests/data/tokenizer_offsets/variants.json", t_repo_dir());
    json_error_t err;
    json_t *vars = json_load_file(path, 0, &err);
    CHECK_MSG(json_is_array(vars) && json_array_size(vars) >= 10, "%s: %s", path, err.text);
    static char tmp[] = "/tmp/xl_test_offsets_XXXXXX";
    if (!mkdtemp(tmp)) {
        t_skip_case("offset variants", "cannot create a temporary folder");
        json_decref(vars);
        return;
    }
    for (size_t v = 0; v < json_array_size(vars); v++) {
        json_t *var = json_array_get(vars, v);
        const char *name = json_string_value(json_object_get(var, "name"));
        snprintf(path, sizeof path, "%s/models/%s/tokenizer.json", fixtures, json_string_value(json_object_get(var, "base")));
        json_t *root = json_load_file(path, 0, &err);
        if (!CHECK_MSG(root != NULL, "%s: %s", path, err.text)) continue;
        static const char *const keys[] = {"normalizer", "pre_tokenizer", "post_processor"};
        for (int k = 0; k < 3; k++)
            if (json_object_get(var, keys[k])) json_object_set(root, keys[k], json_object_get(var, keys[k]));
        snprintf(path, sizeof path, "%s/%s.json", tmp, name);
        int dumped = json_dump_file(root, path, JSON_COMPACT) == 0;
        json_decref(root);
        xl_tokenizer *tok = NULL;
        if (!CHECK_MSG(dumped && xl_tokenizer_load(path, &tok) == XL_OK, "%s: %s", name, xl_last_error())) continue;
        remove(path);
        snprintf(path, sizeof path, "%s/tests/data/tokenizer_offsets/variants/%s.jsonl", t_repo_dir(), name);
        size_t n, bad = 0;
        json_t **exp = read_lines(path, &n);
        CHECK_MSG(exp && n > 50, "%s: %zu lines", path, n);
        for (size_t i = 0; exp && i < n; i++) {
            const line_t *l = find_line(c, json_string_value(json_object_get(exp[i], "id")));
            json_t *ids = json_object_get(exp[i], "ids"), *offs = json_object_get(exp[i], "offsets");
            xl_encoding e;
            if (!l || xl_tokenize_offsets(tok, l->text, l->len, 1, &e) != XL_OK) {
                CHECK_MSG(0, "%s line %zu: %s", name, i, l ? xl_last_error() : "id not in the corpus");
                continue;
            }
            int ok = e.n == json_array_size(ids) && 2 * e.n == json_array_size(offs);
            for (size_t k = 0; ok && k < e.n; k++) ok = e.ids[k] == json_integer_value(json_array_get(ids, k));
            for (size_t k = 0; ok && k < 2 * e.n; k++) ok = (json_int_t)e.offsets[k] == json_integer_value(json_array_get(offs, k));
            if (!ok && bad++ < SHOW_MISMATCHES) show(name, l, &e, offs);
            xl_encoding_free(&e);
            json_decref(exp[i]);
        }
        free(exp);
        CHECK_MSG(bad == 0, "%s: %zu of %zu lines with other ids or offsets than the crate's", name, bad, n);
        xl_tokenizer_free(tok);
    }
    rmdir(tmp);
    json_decref(vars);
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
    CHECK_MSG(corpus.n > 300, "%s: %zu lines", path, corpus.n);
    static const char *const names[] = {"bert-wordpiece", "bert-cased", "xlmr-unigram", "llama3_1", "qwen3", "gemma3"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], names[k]) == 0;
        if (wanted) run_tokenizer(dir, names[k], &corpus);
    }
    if (argc < 2) run_variants(dir, &corpus);
    check_api(dir);
    for (size_t i = 0; i < corpus.n; i++) free(corpus.v[i].text);
    free(corpus.v);
    return test_summary("test_tokenizer_offsets");
}
