/* Text pairs (xl_tokenize_pair) against the Rust `tokenizers` crate: ids and type ids
 * of tests/fixtures/tokenizers/pairs.jsonl (made by tests/tools/gen_pair_fixture.js
 * with the crate 0.22.2), for the six reference tokenizers of ../shared and two
 * variants of bert-wordpiece with BertProcessing / RobertaProcessing in place of its
 * TemplateProcessing; with and without special tokens, and with longest_first
 * truncation to 24 and 9 tokens. Exact: ids and type ids are integers. Also: single
 * texts get type ids 0, bad arguments get clear errors. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "xling.h"

#define N_TOK 8
static const char *const names[N_TOK] = {"bert-wordpiece", "bert-cased", "xlmr-unigram", "llama3_1", "qwen3",
                                         "gemma3", "bert-wordpiece+BertProcessing",
                                         "bert-wordpiece+RobertaProcessing"};
static xl_tokenizer *toks[N_TOK];

/* bert-wordpiece's tokenizer.json with another post_processor, in a temporary file. */
static xl_tokenizer *load_variant(const char *dir, const char *kind) {
    char path[4200];
    snprintf(path, sizeof path, "%.4000s/models/bert-wordpiece/tokenizer.json", dir);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) return NULL;
    json_t *pp = json_pack("{s:s, s:[s,i], s:[s,i]}", "type", kind, "sep", "[SEP]", 102, "cls", "[CLS]", 101);
    json_object_set_new(j, "post_processor", pp);
    char tmp[] = "/tmp/xl_pair_variant_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) {
        json_decref(j);
        return NULL;
    }
    close(fd);
    xl_tokenizer *t = NULL;
    if (json_dump_file(j, tmp, 0) == 0 && xl_tokenizer_load(tmp, &t) != XL_OK) t = NULL;
    unlink(tmp);
    json_decref(j);
    return t;
}

static int find(const char *name) {
    for (int i = 0; i < N_TOK; i++)
        if (!strcmp(names[i], name)) return i;
    return -1;
}

static int ints_equal(const int32_t *v, size_t n, const json_t *arr) {
    if (!json_is_array(arr) || json_array_size(arr) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (json_integer_value(json_array_get(arr, i)) != v[i]) return 0;
    return 1;
}

static void check_fixture(void) {
    const char *path = t_path(t_repo_dir(), "tests/fixtures/tokenizers/pairs.jsonl");
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0, n_lines = 0, per[N_TOK] = {0}, ok_per[N_TOK] = {0};
    int shown = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        if (!j) continue;
        n_lines++;
        int k = find(json_string_value(json_object_get(j, "tokenizer")));
        if (k < 0 || !toks[k]) {
            json_decref(j);
            continue;
        }
        const char *a = json_string_value(json_object_get(j, "a"));
        const char *b = json_string_value(json_object_get(j, "b"));
        int special = json_is_true(json_object_get(j, "special"));
        size_t max_len = (size_t)json_integer_value(json_object_get(j, "max_len"));
        xl_encoding enc;
        xl_status st = xl_tokenize_pair(toks[k], a, strlen(a), b, strlen(b), special, max_len, &enc);
        per[k]++;
        int ok = st == XL_OK && ints_equal(enc.ids, enc.n, json_object_get(j, "ids")) &&
                 ints_equal(enc.type_ids, enc.n, json_object_get(j, "type_ids"));
        if (ok) {
            ok_per[k]++;
        } else if (shown++ < 6) {
            fprintf(stderr, "  %s pair %lld special %d max %zu: %s\n    got ids", names[k],
                    json_integer_value(json_object_get(j, "pair")), special, max_len,
                    st ? xl_last_error() : "ids or type ids differ");
            for (size_t i = 0; !st && i < enc.n; i++) fprintf(stderr, " %d/%d", enc.ids[i], enc.type_ids[i]);
            fprintf(stderr, "\n");
        }
        if (!st) xl_encoding_free(&enc);
        json_decref(j);
    }
    free(line);
    fclose(f);
    CHECK_MSG(n_lines == 320, "%s: %zu lines, want 320", path, n_lines);
    for (int k = 0; k < N_TOK; k++) {
        if (!toks[k]) continue;
        printf("%-34s %zu/%zu pair encodings match the crate\n", names[k], ok_per[k], per[k]);
        CHECK_MSG(per[k] == 40 && ok_per[k] == per[k], "%s: %zu of %zu pair encodings match", names[k], ok_per[k],
                  per[k]);
    }
}

/* Single texts: type ids all 0, same ids as before; errors name the problem. */
static void check_single_and_errors(void) {
    xl_tokenizer *t = toks[0];
    if (!t) return;
    xl_encoding enc;
    CHECK(xl_tokenize(t, "hello world", 11, 1, &enc) == XL_OK);
    int zeros = enc.type_ids != NULL;
    for (size_t i = 0; zeros && i < enc.n; i++) zeros &= enc.type_ids[i] == 0;
    CHECK_MSG(zeros, "single text: type ids must all be 0");
    CHECK(xl_encoding_truncate(&enc, 3) == 1);
    CHECK_EQ_INT(enc.n, 3);
    CHECK(enc.ids[0] == 101 && enc.ids[2] == 102 && enc.type_ids[2] == 0);
    xl_encoding_free(&enc);
    CHECK_EQ_INT(xl_tokenizer_num_special(t, 0), 2);
    CHECK_EQ_INT(xl_tokenizer_num_special(t, 1), 3);
    if (toks[2]) CHECK_EQ_INT(xl_tokenizer_num_special(toks[2], 1), 4);
    if (toks[4]) CHECK_EQ_INT(xl_tokenizer_num_special(toks[4], 1), 0);
    /* a max length below the pair's special tokens */
    CHECK(xl_tokenize_pair(t, "a", 1, "b", 1, 1, 2, &enc) == XL_ERR_ARG);
    CHECK_MSG(strstr(xl_last_error(), "special tokens") != NULL, "message: %s", xl_last_error());
    CHECK(enc.n == 0 && enc.ids == NULL);
    /* exactly the specials: both texts cut to nothing */
    CHECK(xl_tokenize_pair(t, "hello", 5, "world", 5, 1, 3, &enc) == XL_OK);
    CHECK(enc.n == 3 && enc.ids[0] == 101 && enc.ids[1] == 102 && enc.ids[2] == 102 && enc.type_ids[2] == 1);
    xl_encoding_free(&enc);
    CHECK(xl_tokenize_pair(NULL, "a", 1, "b", 1, 1, 0, &enc) == XL_ERR_ARG);
    CHECK(xl_tokenize_pair(t, NULL, 3, "b", 1, 1, 0, &enc) == XL_ERR_ARG);
    /* invalid UTF-8 in the second text is repaired as in single texts */
    CHECK(xl_tokenize_pair(t, "ok", 2, "x\xff", 2, 1, 0, &enc) == XL_OK);
    xl_encoding fixed;
    CHECK(xl_tokenize_pair(t, "ok", 2, "x\xef\xbf\xbd", 4, 1, 0, &fixed) == XL_OK);
    CHECK(enc.n == fixed.n && enc.n > 4 && !memcmp(enc.ids, fixed.ids, enc.n * sizeof *enc.ids));
    xl_encoding_free(&fixed);
    xl_encoding_free(&enc);
}

int main(void) {
    const char *shared = t_shared_dir();
    if (!shared) {
        t_skip_case("tokenizer pairs", "../shared is absent");
        return test_summary("test_tokenizer_pairs");
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fixtures/tokenizers", shared);
    for (int k = 0; k < N_TOK; k++) {
        if (strchr(names[k], '+')) {
            toks[k] = load_variant(dir, strchr(names[k], '+') + 1);
        } else {
            char path[4200];
            snprintf(path, sizeof path, "%s/models/%s", dir, names[k]);
            if (xl_tokenizer_load(path, &toks[k]) != XL_OK) toks[k] = NULL;
        }
        CHECK_MSG(toks[k] != NULL, "%s: load failed: %s", names[k], xl_last_error());
    }
    check_fixture();
    check_single_and_errors();
    for (int k = 0; k < N_TOK; k++) xl_tokenizer_free(toks[k]);
    return test_summary("test_tokenizer_pairs");
}
