/* The six reference tokenizers of ../shared/fixtures/tokenizers on the whole corpus
 * (3026 strings), with and without special tokens: ids must match the expected
 * files exactly (no tolerance: token ids are integers). The expected ids come from
 * the Rust `tokenizers` crate 0.22.2 itself (what transformers and sentence-transformers
 * run), so there is no list of accepted divergences: every line must match. Prints the first
 * mismatches (text, expected, got), the load time of each tokenizer and its speed.
 * Each tokenizer is checked twice: loaded from JSON (which writes the compiled cache,
 * into a temporary folder) and then loaded from that cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "tokenizer/tok_cache.h"
#include "util/fileio.h"
#include "util/json.h"
#include "xling.h"

#define SHOW_MISMATCHES 4

typedef struct {
    int32_t *v;
    size_t n;
} ids_t;

typedef struct {
    char *text;
    size_t len;
} line_t;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Calls fn(obj, ctx) on each JSON line of a file; returns the line count or -1. */
static long for_each_line(const char *path, void (*fn)(json_t *, void *), void *ctx) {
    char *data;
    size_t len;
    if (xl_read_file(path, &data, &len) != XL_OK) return -1;
    long n = 0;
    for (char *p = data, *end = data + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l) {
            json_error_t e;
            json_t *j = xl_json_loadb(p, l, &e);
            if (!j) {
                fprintf(stderr, "%s: bad JSON line %ld: %s\n", path, n + 1, e.text);
                free(data);
                return -1;
            }
            fn(j, ctx);
            json_decref(j);
            n++;
        }
        p += l + 1;
    }
    free(data);
    return n;
}

static ids_t ids_from_json(const json_t *a) {
    ids_t r = {0};
    r.n = json_array_size(a);
    r.v = malloc((r.n ? r.n : 1) * sizeof *r.v);
    for (size_t i = 0; i < r.n; i++) r.v[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return r;
}

typedef struct {
    line_t *v;
    size_t n;
} corpus_t;

static void add_line(json_t *j, void *ctx) {
    corpus_t *c = ctx;
    json_t *t = json_object_get(j, "text");
    line_t *l = &c->v[c->n++];
    l->len = json_string_length(t);
    l->text = malloc(l->len + 1);
    memcpy(l->text, json_string_value(t), l->len + 1);
}

typedef struct {
    ids_t *v;
    size_t n;
} expected_t;

static void add_expected(json_t *j, void *ctx) {
    expected_t *e = ctx;
    e->v[e->n++] = ids_from_json(json_object_get(j, "ids"));
}

static int ids_eq(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void print_ids(const char *label, const int32_t *v, size_t n) {
    fprintf(stderr, "    %s [", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "%s%d", i ? "," : "", v[i]);
    fprintf(stderr, "]\n");
}

/* The corpus through tok, with or without special tokens, against the expected ids. */
static void check_corpus(const xl_tokenizer *tok, const char *name, const char *how, const corpus_t *corpus,
                         const expected_t exp[2]) {
    size_t n_tokens = 0;
    double run_s = 0;
    for (int k = 0; k < 2; k++) {
        int add_special = k == 0;
        size_t match = 0, shown = 0;
        double t1 = now_s();
        for (size_t i = 0; i < corpus->n && i < exp[k].n; i++) {
            xl_encoding enc;
            xl_status st = xl_tokenize(tok, corpus->v[i].text, corpus->v[i].len, add_special, &enc);
            if (st != XL_OK) {
                if (shown++ < SHOW_MISMATCHES) fprintf(stderr, "  %s line %zu: error %s\n", name, i, xl_last_error());
                continue;
            }
            if (add_special) n_tokens += enc.n;
            const ids_t *e = &exp[k].v[i];
            int ok = ids_eq(enc.ids, enc.n, e->v, e->n);
            if (ok) {
                match++;
            } else if (shown++ < SHOW_MISMATCHES) {
                fprintf(stderr, "  %s%s line %zu: text \"%.300s\"\n", name, add_special ? "" : " (nospecial)", i,
                        corpus->v[i].text);
                print_ids("expected", e->v, e->n);
                print_ids("got     ", enc.ids, enc.n);
            }
            xl_encoding_free(&enc);
        }
        if (add_special) run_s = now_s() - t1;
        printf("%-15s %-10s %-6s %s: %zu/%zu lines match\n", name, xl_tokenizer_type(tok), how,
               add_special ? "special  " : "nospecial", match, corpus->n);
        CHECK_MSG(match == corpus->n, "%s %s (%s): %zu of %zu lines differ", name, how,
                  add_special ? "special" : "nospecial", corpus->n - match, corpus->n);
    }
    printf("%-15s %-6s %.0f tokens/s (%zu tokens in %.3f s)\n", name, how, run_s > 0 ? n_tokens / run_s : 0.0,
           n_tokens, run_s);
}

static void run_tokenizer(const char *dir, const char *name, const corpus_t *corpus) {
    char path[8192];
    expected_t exp[2];
    for (int k = 0; k < 2; k++) {
        exp[k].v = calloc(corpus->n, sizeof *exp[k].v);
        exp[k].n = 0;
        snprintf(path, sizeof path, "%.4000s/expected/%.100s%s.jsonl", dir, name, k ? ".nospecial" : "");
        long got = for_each_line(path, add_expected, &exp[k]);
        CHECK_MSG(got == (long)corpus->n, "%s: %ld expected lines, corpus has %zu", path, got, corpus->n);
    }
    snprintf(path, sizeof path, "%.4000s/models/%.100s", dir, name);
    double load_s[2] = {0, 0};
    /* pass 0 parses the JSON and writes the cache, pass 1 loads from the cache */
    for (int pass = 0; pass < 2; pass++) {
        double t0 = now_s();
        xl_tokenizer *tok = NULL;
        xl_status st = xl_tokenizer_load(path, &tok);
        load_s[pass] = now_s() - t0;
        if (st != XL_OK) {
            CHECK_MSG(st == XL_OK, "%s: load failed: %s", name, xl_last_error());
            break;
        }
        const tk_cache_report *rep = tk_cache_last();
        if (pass == 0)
            CHECK_MSG(rep->outcome == TK_CACHE_ABSENT && rep->written, "%s: the first load wrote no cache (outcome %d)",
                      name, (int)rep->outcome);
        else
            CHECK_MSG(rep->outcome == TK_CACHE_HIT, "%s: the second load did not use the cache (outcome %d)", name,
                      (int)rep->outcome);
        check_corpus(tok, name, pass ? "cached" : "json", corpus, exp);
        xl_tokenizer_free(tok);
    }
    printf("%-15s load %.3f s from JSON, %.3f s from the cache\n", name, load_s[0], load_s[1]);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < exp[k].n; i++) free(exp[k].v[i].v);
        free(exp[k].v);
    }
}

int main(int argc, char **argv) {
    const char *shared = t_shared_dir();
    if (!shared) {
        t_skip_case("tokenizer corpus", "../shared is absent");
        return test_summary("test_tokenizer");
    }
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s/fixtures/tokenizers", shared);
    corpus_t corpus = {calloc(4096, sizeof(line_t)), 0};
    long n = for_each_line(t_path(dir, "corpus.jsonl"), add_line, &corpus);
    CHECK_MSG(n == 3026, "corpus.jsonl: %ld lines", n);

    /* the caches go to a temporary folder (never next to the shared fixtures) */
    static char cache_dir[] = "/tmp/xl_test_tokenizer_XXXXXX";
    if (!mkdtemp(cache_dir)) {
        t_skip_case("tokenizer corpus", "cannot create a temporary folder");
        return test_summary("test_tokenizer");
    }
    setenv("XLING_TOKENIZER_CACHE", cache_dir, 1);

    static const char *const names[] = {"bert-wordpiece", "bert-cased", "xlmr-unigram", "llama3_1", "qwen3", "gemma3"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        /* a name on the command line restricts the run to it */
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], names[k]) == 0;
        if (wanted) run_tokenizer(dir, names[k], &corpus);
    }

    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    if (system(cmd) != 0) fprintf(stderr, "test_tokenizer: could not remove %s\n", cache_dir);
    for (size_t i = 0; i < corpus.n; i++) free(corpus.v[i].text);
    free(corpus.v);
    return test_summary("test_tokenizer");
}
