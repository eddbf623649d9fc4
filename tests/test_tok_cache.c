/* The compiled tokenizer cache (src/tokenizer/tok_cache.h): where it is written, that
 * the next load uses it, that it is invalidated when tokenizer.json or
 * tokenizer_config.json change, that corrupted, truncated or forged cache files are
 * never trusted (the load falls back to JSON with identical results), that
 * XLING_TOKENIZER_CACHE=0 is honoured and that an unwritable cache folder is
 * harmless. "Identical results" is exact: the same ids, special flags, vocabulary
 * size, id <-> token tables and model_max_length as a load with the cache off (token
 * ids are integers: no tolerance).
 *
 * Three small tokenizers (BPE with byte fallback, Unigram, WordPiece) are generated
 * into a temporary folder, with their mtime set in the past (a file modified within
 * the last TK_CACHE_SETTLE_S seconds is not cached yet). XDG_CACHE_HOME and HOME
 * point into that folder, so nothing is written elsewhere; one shared fixture (read
 * only) checks the fallback folder. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "tokenizer/tok_cache.h"
#include "tokenizer/tok_trie.h"
#include "xling.h"

static char g_tmp[256];

static const char *const TEXTS[] = {
    "hello world",
    "the tokenizer cache",
    "Hello World!",
    "cached merge xling",
    "  leading and trailing spaces  ",
    "<s>hello</s> <mask> world",
    "unknown \xe2\x98\x83 snowman and \xf0\x9f\x98\x80 emoji",
    "tokenizertokenizertokenizer",
    "a",
    "",
    "x y z 1 2 3 . , ! ?",
    "THE TOKEN CACHE",
    "\xe4\xb8\xad\xe6\x96\x87 text",
};
#define N_TEXTS (sizeof TEXTS / sizeof *TEXTS)

/* ------------------------------------------------------------------ files */

static const char *in_tmp(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_tmp, name);
    return buf;
}

static int write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(len > 0 ? (size_t)len : 1);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) *n = (size_t)len;
    return p;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* Sets a file's atime and mtime to `seconds` ago (past the settle time). */
static void set_mtime_ago(const char *path, long seconds) {
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= seconds;
    ts[1] = ts[0];
    CHECK_MSG(utimensat(AT_FDCWD, path, ts, 0) == 0, "utimensat %s", path);
}

static void make_dir(const char *path) { mkdir(path, 0755); }

/* Writes dir/tokenizer.json (and dir/tokenizer_config.json when config is not NULL),
 * both dated `age` seconds ago. */
static void write_tokenizer(const char *dir, const char *json, const char *config, long age) {
    char p[512];
    make_dir(dir);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    CHECK(write_bytes(p, json, strlen(json)));
    if (age) set_mtime_ago(p, age);
    if (config) {
        snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
        CHECK(write_bytes(p, config, strlen(config)));
        if (age) set_mtime_ago(p, age);
    }
}

/* ------------------------------------------------------- synthetic tokenizers */

static void add_token(json_t *vocab, const char *tok, int *next_id) {
    if (!json_object_get(vocab, tok)) json_object_set_new(vocab, tok, json_integer((*next_id)++));
}

static json_t *added_token(int id, const char *content, int normalized, int special) {
    return json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", id, "content", content, "single_word", 0, "lstrip", 0,
                     "rstrip", 0, "normalized", normalized, "special", special);
}

static json_t *template_post(const char *first, int first_id, const char *last, int last_id) {
    json_t *single = json_array(), *special = json_object();
    json_array_append_new(single, json_pack("{s:{s:s, s:i}}", "SpecialToken", "id", first, "type_id", 0));
    json_array_append_new(single, json_pack("{s:{s:s, s:i}}", "Sequence", "id", "A", "type_id", 0));
    json_object_set_new(special, first, json_pack("{s:s, s:[i], s:[s]}", "id", first, "ids", first_id, "tokens", first));
    if (last) {
        json_array_append_new(single, json_pack("{s:{s:s, s:i}}", "SpecialToken", "id", last, "type_id", 0));
        json_object_set_new(special, last, json_pack("{s:s, s:[i], s:[s]}", "id", last, "ids", last_id, "tokens", last));
    }
    return json_pack("{s:s, s:o, s:[], s:o}", "type", "TemplateProcessing", "single", single, "pair", "special_tokens",
                     special);
}

static char *dump(json_t *root) {
    char *s = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    return s;
}

static const char *const WORDS[] = {"the", "hello", "world", "token", "tokenizer", "cache", "merge", "xling", "cached"};

/* Gemma-like BPE: normalizer maps spaces to U+2581 and prepends one, no pre-tokenizer
 * (the whole text is one pre-token), byte fallback, merges that spell WORDS.
 * variant 1 leaves out the last word ("cached"), so its content differs. */
static char *bpe_json(int variant) {
    json_t *vocab = json_object(), *merges = json_array();
    int id = 0;
    char tok[64];
    add_token(vocab, "<unk>", &id);
    add_token(vocab, "<s>", &id);
    add_token(vocab, "</s>", &id);
    for (int b = 0; b < 256; b++) {
        snprintf(tok, sizeof tok, "<0x%02X>", b);
        add_token(vocab, tok, &id);
    }
    add_token(vocab, "\xe2\x96\x81", &id);
    for (int c = 33; c < 127; c++) {
        tok[0] = (char)c;
        tok[1] = '\0';
        add_token(vocab, tok, &id);
    }
    size_t n_words = sizeof WORDS / sizeof *WORDS - (variant == 1);
    for (size_t w = 0; w < n_words; w++) {
        char cur[64] = "\xe2\x96\x81", next[64];
        for (const char *c = WORDS[w]; *c; c++) {
            char piece[2] = {*c, 0};
            size_t n = strlen(cur);
            memcpy(next, cur, n);
            memcpy(next + n, piece, 2);
            if (!json_object_get(vocab, next)) {
                add_token(vocab, next, &id);
                json_array_append_new(merges, json_pack("[s, s]", cur, piece));
            }
            snprintf(cur, sizeof cur, "%s", next);
        }
    }
    json_t *added = json_array();
    json_array_append_new(added, added_token(1, "<s>", 0, 1));
    json_array_append_new(added, added_token(2, "</s>", 0, 1));
    json_array_append_new(added, added_token(id, "<mask>", 0, 1));
    json_t *model = json_pack("{s:s, s:n, s:s, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout",
                              "unk_token", "<unk>", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 1,
                              "byte_fallback", 1, "ignore_merges", 0, "vocab", vocab, "merges", merges);
    json_t *norm = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}]}", "type", "Sequence", "normalizers", "type",
                             "Prepend", "prepend", "\xe2\x96\x81", "type", "Replace", "pattern", "String", " ", "content",
                             "\xe2\x96\x81");
    return dump(json_pack("{s:s, s:n, s:n, s:o, s:o, s:n, s:o, s:n, s:o}", "version", "1.0", "truncation", "padding",
                          "added_tokens", added, "normalizer", norm, "pre_tokenizer", "post_processor",
                          template_post("<s>", 1, NULL, 0), "decoder", "model", model));
}

/* XLM-R-like Unigram: Metaspace pre-tokenizer, scored pieces, unk id 0. */
static char *unigram_json(void) {
    json_t *vocab = json_array();
    json_array_append_new(vocab, json_pack("[s, f]", "<unk>", 0.0));
    json_array_append_new(vocab, json_pack("[s, f]", "<s>", 0.0));
    json_array_append_new(vocab, json_pack("[s, f]", "</s>", 0.0));
    json_array_append_new(vocab, json_pack("[s, f]", "\xe2\x96\x81", -2.5));
    char tok[64];
    for (int c = 33; c < 127; c++) {
        tok[0] = (char)c;
        tok[1] = '\0';
        json_array_append_new(vocab, json_pack("[s, f]", tok, -4.0 - c / 100.0));
    }
    for (size_t w = 0; w < sizeof WORDS / sizeof *WORDS; w++) {
        snprintf(tok, sizeof tok, "\xe2\x96\x81%s", WORDS[w]);
        json_array_append_new(vocab, json_pack("[s, f]", tok, -1.0 - w / 10.0));
        json_array_append_new(vocab, json_pack("[s, f]", WORDS[w] + 1, -3.0 - w / 7.0));
    }
    int n = (int)json_array_size(vocab);
    json_t *added = json_array();
    json_array_append_new(added, added_token(0, "<unk>", 0, 1));
    json_array_append_new(added, added_token(1, "<s>", 0, 1));
    json_array_append_new(added, added_token(2, "</s>", 0, 1));
    json_array_append_new(added, added_token(n, "<mask>", 0, 1));
    json_t *model = json_pack("{s:s, s:i, s:o, s:b}", "type", "Unigram", "unk_id", 0, "vocab", vocab, "byte_fallback", 0);
    json_t *pre = json_pack("{s:s, s:s, s:s, s:b}", "type", "Metaspace", "replacement", "\xe2\x96\x81", "prepend_scheme",
                            "always", "split", 1);
    return dump(json_pack("{s:s, s:o, s:n, s:o, s:o, s:o}", "version", "1.0", "added_tokens", added, "normalizer",
                          "pre_tokenizer", pre, "post_processor", template_post("<s>", 1, "</s>", 2), "model", model));
}

/* BERT-like WordPiece (uncased, continuation pieces "##"). */
static char *wordpiece_json(void) {
    json_t *vocab = json_object();
    int id = 0;
    char tok[64];
    add_token(vocab, "[PAD]", &id);
    add_token(vocab, "[UNK]", &id);
    add_token(vocab, "[CLS]", &id);
    add_token(vocab, "[SEP]", &id);
    add_token(vocab, "[MASK]", &id);
    for (int c = 33; c < 127; c++) {
        if (c >= 'A' && c <= 'Z') continue;
        snprintf(tok, sizeof tok, "%c", c);
        add_token(vocab, tok, &id);
        snprintf(tok, sizeof tok, "##%c", c);
        add_token(vocab, tok, &id);
    }
    for (size_t w = 0; w < sizeof WORDS / sizeof *WORDS; w++) {
        add_token(vocab, WORDS[w], &id);
        snprintf(tok, sizeof tok, "##%s", WORDS[w] + 2);
        add_token(vocab, tok, &id);
    }
    json_t *added = json_array();
    const char *specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++) json_array_append_new(added, added_token(i, specials[i], 0, 1));
    json_t *model = json_pack("{s:s, s:s, s:s, s:i, s:o}", "type", "WordPiece", "unk_token", "[UNK]",
                              "continuing_subword_prefix", "##", "max_input_chars_per_word", 100, "vocab", vocab);
    return dump(json_pack("{s:s, s:o, s:{s:s, s:b}, s:{s:s}, s:o, s:o}", "version", "1.0", "added_tokens", added,
                          "normalizer", "type", "BertNormalizer", "lowercase", 1, "pre_tokenizer", "type",
                          "BertPreTokenizer", "post_processor", template_post("[CLS]", 2, "[SEP]", 3), "model", model));
}

/* ------------------------------------------------------------ loading, comparing */

static xl_tokenizer *load(const char *path, tk_cache_outcome *outcome, int *written) {
    xl_tokenizer *tok = NULL;
    xl_status st = xl_tokenizer_load(path, &tok);
    CHECK_MSG(st == XL_OK, "load %s: %s", path, xl_last_error());
    if (outcome) *outcome = tk_cache_last()->outcome;
    if (written) *written = tk_cache_last()->written;
    return tok;
}

/* A load with the cache off: the reference behaviour. */
static xl_tokenizer *load_reference(const char *path) {
    setenv("XLING_TOKENIZER_CACHE", "0", 1);
    xl_tokenizer *tok = load(path, NULL, NULL);
    CHECK(tk_cache_last()->outcome == TK_CACHE_OFF);
    unsetenv("XLING_TOKENIZER_CACHE");
    return tok;
}

/* 1 when a and b behave the same on everything observable; prints the first difference. */
static int same_behaviour(const xl_tokenizer *a, const xl_tokenizer *b, const char *label) {
    if (!a || !b) return 0;
    if (strcmp(xl_tokenizer_type(a), xl_tokenizer_type(b)) || xl_tokenizer_vocab_size(a) != xl_tokenizer_vocab_size(b) ||
        xl_tokenizer_model_max_length(a) != xl_tokenizer_model_max_length(b)) {
        fprintf(stderr, "  %s: type / vocab size / model_max_length differ (%zu vs %zu, %zu vs %zu)\n", label,
                xl_tokenizer_vocab_size(a), xl_tokenizer_vocab_size(b), xl_tokenizer_model_max_length(a),
                xl_tokenizer_model_max_length(b));
        return 0;
    }
    for (int32_t id = -1; id < (int32_t)xl_tokenizer_vocab_size(a) + 3; id++) {
        const char *ta = xl_tokenizer_id_to_token(a, id), *tb = xl_tokenizer_id_to_token(b, id);
        if ((ta == NULL) != (tb == NULL) || (ta && strcmp(ta, tb))) {
            fprintf(stderr, "  %s: token of id %d differs\n", label, id);
            return 0;
        }
        if (ta && xl_tokenizer_token_to_id(a, ta) != xl_tokenizer_token_to_id(b, tb)) {
            fprintf(stderr, "  %s: id of token \"%s\" differs\n", label, ta);
            return 0;
        }
    }
    for (size_t i = 0; i < N_TEXTS; i++)
        for (int sp = 0; sp < 2; sp++) {
            xl_encoding ea, eb;
            xl_status sa = xl_tokenize(a, TEXTS[i], strlen(TEXTS[i]), sp, &ea);
            xl_status sb = xl_tokenize(b, TEXTS[i], strlen(TEXTS[i]), sp, &eb);
            int ok = sa == sb && ea.n == eb.n && (ea.n == 0 || (memcmp(ea.ids, eb.ids, ea.n * sizeof *ea.ids) == 0 &&
                                                                memcmp(ea.special, eb.special, ea.n) == 0));
            xl_encoding_free(&ea);
            xl_encoding_free(&eb);
            if (!ok) {
                fprintf(stderr, "  %s: ids of \"%s\" differ\n", label, TEXTS[i]);
                return 0;
            }
        }
    return 1;
}

/* ----------------------------------------------------------- the test cases */

typedef struct {
    const char *name;
    char dir[300], json[320], cache[340];
} case_t;

static void setup_case(case_t *c, const char *name, const char *json_text) {
    char dir[300], json[320];
    c->name = name;
    in_tmp(dir, sizeof dir, name);
    snprintf(json, sizeof json, "%s/tokenizer.json", dir);
    memcpy(c->dir, dir, sizeof dir);
    memcpy(c->json, json, sizeof json);
    snprintf(c->cache, sizeof c->cache, "%s.xlcache", json);
    write_tokenizer(c->dir, json_text, "{\"model_max_length\": 77}", 3600);
}

/* First load writes the cache next to tokenizer.json, the second uses it; both equal
 * the reference, whether the folder or the file is named. */
static void test_roundtrip(case_t *c) {
    xl_tokenizer *ref = load_reference(c->dir);
    CHECK(!exists(c->cache));
    tk_cache_outcome out;
    int written;
    xl_tokenizer *cold = load(c->dir, &out, &written);
    CHECK_MSG(out == TK_CACHE_ABSENT && written, "%s: first load: outcome %d written %d", c->name, (int)out, written);
    CHECK_MSG(strcmp(tk_cache_last()->file, c->cache) == 0, "%s: cache at %s, want %s", c->name, tk_cache_last()->file,
              c->cache);
    CHECK(exists(c->cache));
    xl_tokenizer *warm = load(c->dir, &out, &written);
    CHECK_MSG(out == TK_CACHE_HIT && !written, "%s: second load: outcome %d written %d", c->name, (int)out, written);
    xl_tokenizer *by_file = load(c->json, &out, NULL);
    CHECK_MSG(out == TK_CACHE_HIT, "%s: load by file name: outcome %d", c->name, (int)out);
    CHECK_MSG(same_behaviour(ref, cold, c->name), "%s: JSON load with the cache on", c->name);
    CHECK_MSG(same_behaviour(ref, warm, c->name), "%s: cached load", c->name);
    CHECK_MSG(same_behaviour(ref, by_file, c->name), "%s: cached load by file name", c->name);
    CHECK_EQ_INT(xl_tokenizer_model_max_length(warm), 77);
    xl_tokenizer_free(ref);
    xl_tokenizer_free(cold);
    xl_tokenizer_free(warm);
    xl_tokenizer_free(by_file);
}

/* A file modified just now is not cached (it may change again within the same
 * timestamp tick); once it is older, it is; so is one dated in the future. */
static void test_settle(void) {
    char dir[300], json[320], cache[340];
    in_tmp(dir, sizeof dir, "fresh");
    snprintf(json, sizeof json, "%s/tokenizer.json", dir);
    snprintf(cache, sizeof cache, "%s.xlcache", json);
    char *text = wordpiece_json();
    write_tokenizer(dir, text, NULL, 0);
    free(text);
    tk_cache_outcome out;
    int written;
    xl_tokenizer_free(load(dir, &out, &written));
    CHECK(out == TK_CACHE_ABSENT && !written && !exists(cache));
    set_mtime_ago(json, 10);
    xl_tokenizer_free(load(dir, &out, &written));
    CHECK(out == TK_CACHE_ABSENT && written && exists(cache));
    xl_tokenizer_free(load(dir, &out, &written));
    CHECK(out == TK_CACHE_HIT);
    set_mtime_ago(json, -3600); /* far in the future (clock skew): safe to cache */
    xl_tokenizer_free(load(dir, &out, &written));
    CHECK(out == TK_CACHE_STALE && written);
    xl_tokenizer_free(load(dir, &out, &written));
    CHECK(out == TK_CACHE_HIT);
}

/* Loads c and expects a stale cache replaced by a new one, then a hit; the result
 * must equal a reference load of the current files. */
static void expect_stale(case_t *c, const char *what) {
    xl_tokenizer *ref = load_reference(c->dir);
    tk_cache_outcome out;
    int written;
    xl_tokenizer *tok = load(c->dir, &out, &written);
    CHECK_MSG(out == TK_CACHE_STALE && written, "%s: after %s: outcome %d written %d", c->name, what, (int)out, written);
    CHECK_MSG(same_behaviour(ref, tok, what), "%s: after %s", c->name, what);
    xl_tokenizer_free(tok);
    tok = load(c->dir, &out, NULL);
    CHECK_MSG(out == TK_CACHE_HIT, "%s: after %s, the rebuilt cache is used (outcome %d)", c->name, what, (int)out);
    CHECK_MSG(same_behaviour(ref, tok, what), "%s: after %s, cached", c->name, what);
    xl_tokenizer_free(tok);
    xl_tokenizer_free(ref);
}

static void test_invalidation(case_t *c) {
    char cfg[340];
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", c->dir);
    xl_tokenizer *before = load_reference(c->dir);

    set_mtime_ago(c->json, 7200); /* touch: only the mtime changes */
    expect_stale(c, "a new mtime");

    char *v1 = bpe_json(1); /* new content: "cached" has no merges any more */
    CHECK(write_bytes(c->json, v1, strlen(v1)));
    set_mtime_ago(c->json, 5400);
    free(v1);
    expect_stale(c, "new content");
    xl_tokenizer *after = load(c->dir, NULL, NULL);
    xl_encoding ea, eb;
    CHECK(xl_tokenize(before, "cached", 6, 0, &ea) == XL_OK && xl_tokenize(after, "cached", 6, 0, &eb) == XL_OK);
    CHECK_MSG(ea.n != eb.n, "the new content tokenizes differently (%zu vs %zu ids)", ea.n, eb.n);
    xl_encoding_free(&ea);
    xl_encoding_free(&eb);
    xl_tokenizer_free(after);
    xl_tokenizer_free(before);

    /* the same content under a new inode (replaced by rename) with the same mtime */
    struct stat st;
    CHECK(stat(c->json, &st) == 0);
    char tmp[400], *data;
    size_t n;
    snprintf(tmp, sizeof tmp, "%s.new", c->json);
    data = (char *)read_bytes(c->json, &n);
    CHECK(data && write_bytes(tmp, data, n));
    free(data);
    struct timespec ts[2] = {st.st_mtim, st.st_mtim};
    CHECK(utimensat(AT_FDCWD, tmp, ts, 0) == 0 && rename(tmp, c->json) == 0);
    expect_stale(c, "a replaced file");

    CHECK(write_bytes(cfg, "{\"model_max_length\": 99}", 24));
    set_mtime_ago(cfg, 3600);
    expect_stale(c, "a new tokenizer_config.json");
    xl_tokenizer *tok = load(c->dir, NULL, NULL);
    CHECK_EQ_INT(xl_tokenizer_model_max_length(tok), 99);
    xl_tokenizer_free(tok);
    CHECK(unlink(cfg) == 0);
    expect_stale(c, "tokenizer_config.json removed");
    CHECK(write_bytes(cfg, "{\"model_max_length\": 77}", 24));
    set_mtime_ago(cfg, 3600);
    expect_stale(c, "tokenizer_config.json back");

    /* errors are the ones a load without the cache gives */
    CHECK(write_bytes(cfg, "{\"model_max_length\": ", 21));
    set_mtime_ago(cfg, 3600);
    xl_tokenizer *bad = NULL;
    setenv("XLING_TOKENIZER_CACHE", "0", 1);
    xl_status want = xl_tokenizer_load(c->dir, &bad);
    char want_msg[1024];
    snprintf(want_msg, sizeof want_msg, "%s", xl_last_error());
    unsetenv("XLING_TOKENIZER_CACHE");
    xl_status got = xl_tokenizer_load(c->dir, &bad);
    CHECK(want == XL_ERR_FORMAT && got == want && bad == NULL);
    CHECK_MSG(strcmp(xl_last_error(), want_msg) == 0, "error \"%s\", want \"%s\"", xl_last_error(), want_msg);
    CHECK(write_bytes(cfg, "{\"model_max_length\": 77}", 24));
    set_mtime_ago(cfg, 3600);
    expect_stale(c, "tokenizer_config.json fixed");
}

/* ------------------------------------------------------------- corruption */

typedef struct {
    unsigned char *v;
    size_t n;
} bytes_t;

static tk_cache_header *hdr(bytes_t *b) { return (tk_cache_header *)b->v; }
static tk_cache_dirent *dirents(bytes_t *b) { return (tk_cache_dirent *)(b->v + sizeof(tk_cache_header)); }

static tk_cache_dirent *section(bytes_t *b, uint32_t tag) {
    for (uint32_t i = 0; i < hdr(b)->n_sections; i++)
        if (dirents(b)[i].tag == tag) return &dirents(b)[i];
    return NULL;
}

/* Recomputes the checksums as the writer does, so that only the structural checks
 * stand between a forged file and the tables. */
static void reseal(bytes_t *b) {
    tk_cache_header *h = hdr(b);
    uint32_t ns = h->n_sections < TK_CACHE_MAX_SECTIONS ? h->n_sections : TK_CACHE_MAX_SECTIONS;
    for (uint32_t i = 0; i < ns; i++) {
        tk_cache_dirent *d = &dirents(b)[i];
        if (d->off <= b->n && d->len <= b->n - d->off) d->check = tk_checksum(b->v + d->off, d->len);
    }
    h->check = 0;
    h->check = tk_checksum(b->v, sizeof *h + ns * sizeof(tk_cache_dirent));
}

static bytes_t copy_of(const bytes_t *b) {
    bytes_t c = {malloc(b->n), b->n};
    memcpy(c.v, b->v, b->n);
    return c;
}

/* Writes a damaged cache file, loads: never a hit, results equal the reference, and the
 * cache is rebuilt. want: the expected outcome, or -1 for "any miss". */
static void expect_miss(case_t *c, const xl_tokenizer *ref, const void *data, size_t n, int want, const char *what) {
    CHECK(write_bytes(c->cache, data, n));
    tk_cache_outcome out;
    int written;
    xl_tokenizer *tok = load(c->dir, &out, &written);
    CHECK_MSG(out != TK_CACHE_HIT && (want < 0 || (int)out == want) && written,
              "%s: %s: outcome %d (want %d), written %d", c->name, what, (int)out, want, written);
    CHECK_MSG(same_behaviour(ref, tok, what), "%s: %s", c->name, what);
    xl_tokenizer_free(tok);
}

/* Forges a section (vlen bytes at offset `at` of it replaced by value), reseals, and
 * expects a miss (want: the outcome). */
static void forge_as(case_t *c, const xl_tokenizer *ref, const bytes_t *pristine, uint32_t tag, size_t at,
                     const void *value, size_t vlen, int want, const char *what) {
    bytes_t b = copy_of(pristine);
    tk_cache_dirent *d = section(&b, tag);
    if (CHECK_MSG(d && at + vlen <= d->len, "%s: section for %s", c->name, what)) {
        memcpy(b.v + d->off + at, value, vlen);
        reseal(&b);
        expect_miss(c, ref, b.v, b.n, want, what);
    }
    free(b.v);
}

static void forge(case_t *c, const xl_tokenizer *ref, const bytes_t *pristine, uint32_t tag, size_t at,
                  const void *value, size_t vlen, const char *what) {
    forge_as(c, ref, pristine, tag, at, value, vlen, TK_CACHE_INVALID, what);
}

static void forge_u64(case_t *c, const xl_tokenizer *ref, const bytes_t *p, uint32_t tag, size_t at, uint64_t v,
                      const char *what) {
    forge(c, ref, p, tag, at, &v, sizeof v, what);
}

static void forge_u32(case_t *c, const xl_tokenizer *ref, const bytes_t *p, uint32_t tag, size_t at, uint32_t v,
                      const char *what) {
    forge(c, ref, p, tag, at, &v, sizeof v, what);
}

/* Damage common to every cache file: truncation, flipped bytes in the header and in
 * every section, forged header and directory fields. */
static void test_generic_damage(case_t *c, const xl_tokenizer *ref, const bytes_t *pristine) {
    const size_t head = sizeof(tk_cache_header) + hdr((bytes_t *)pristine)->n_sections * sizeof(tk_cache_dirent);
    const size_t cuts[] = {0, 1, sizeof(tk_cache_header) - 1, sizeof(tk_cache_header), head, pristine->n / 2,
                           pristine->n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu bytes", cuts[i]);
        expect_miss(c, ref, pristine->v, cuts[i], TK_CACHE_INVALID, what);
    }
    /* one flipped byte in each section: start, middle, end */
    bytes_t b = copy_of(pristine);
    for (uint32_t s = 0; s < hdr(&b)->n_sections; s++) {
        tk_cache_dirent d = dirents(&b)[s];
        if (!d.len) continue;
        size_t at[3] = {0, d.len / 2, d.len - 1};
        for (int k = 0; k < 3; k++) {
            char what[64];
            snprintf(what, sizeof what, "byte %zu of section %.4s flipped", at[k], (const char *)&d.tag);
            b.v[d.off + at[k]] ^= 0x20;
            expect_miss(c, ref, b.v, b.n, TK_CACHE_INVALID, what);
            b.v[d.off + at[k]] ^= 0x20;
        }
    }
    /* header fields, unsealed and sealed */
    struct {
        size_t off;
        int want, sealed;
        const char *what;
    } fields[] = {
        {offsetof(tk_cache_header, magic), TK_CACHE_INVALID, 0, "wrong magic"},
        {offsetof(tk_cache_header, format), TK_CACHE_STALE, 0, "wrong format version"},
        {offsetof(tk_cache_header, format), TK_CACHE_STALE, 1, "wrong format version, resealed"},
        {offsetof(tk_cache_header, endian), TK_CACHE_STALE, 0, "wrong byte order"},
        {offsetof(tk_cache_header, build) + 3, TK_CACHE_STALE, 1, "other build"},
        {offsetof(tk_cache_header, source) + offsetof(tk_file_id, size), TK_CACHE_INVALID, 0, "source size, unsealed"},
        {offsetof(tk_cache_header, source) + offsetof(tk_file_id, mtime_ns), TK_CACHE_STALE, 1, "source mtime"},
        {offsetof(tk_cache_header, source) + offsetof(tk_file_id, ino), TK_CACHE_STALE, 1, "source inode"},
        {offsetof(tk_cache_header, config) + offsetof(tk_file_id, present), TK_CACHE_STALE, 1, "config presence"},
        {offsetof(tk_cache_header, file_size), TK_CACHE_INVALID, 1, "file size"},
        {offsetof(tk_cache_header, n_sections), TK_CACHE_INVALID, 1, "section count"},
        {offsetof(tk_cache_header, check), TK_CACHE_INVALID, 0, "header checksum"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        bytes_t f = copy_of(pristine);
        f.v[fields[i].off] ^= 0x41;
        if (fields[i].sealed) reseal(&f);
        expect_miss(c, ref, f.v, f.n, fields[i].want, fields[i].what);
        free(f.v);
    }
    /* absurd directory entries, sealed */
    for (int k = 0; k < 5; k++) {
        bytes_t f = copy_of(pristine);
        tk_cache_dirent *d = &dirents(&f)[hdr(&f)->n_sections - 1];
        const char *what = "";
        switch (k) {
        case 0: d->off += 1; what = "unaligned section"; break;
        case 1: d->off = (uint64_t)1 << 62; what = "section past the end"; break;
        case 2: d->len = UINT64_MAX - 8; what = "absurd section length"; break;
        case 3: d->tag = dirents(&f)[0].tag; what = "repeated section"; break;
        case 4: hdr(&f)->n_sections = 1u << 30; what = "absurd section count"; break;
        }
        reseal(&f);
        expect_miss(c, ref, f.v, f.n, TK_CACHE_INVALID, what);
        free(f.v);
    }
    /* forged pipeline sections: JSON that does not describe a tokenizer, a bad length */
    bytes_t f = copy_of(pristine);
    tk_cache_dirent *js = section(&f, TK_SEC_JSON);
    if (CHECK(js && js->len > 2)) {
        memset(f.v + js->off, ' ', js->len);
        memcpy(f.v + js->off, "{}", 2);
        reseal(&f);
        expect_miss(c, ref, f.v, f.n, TK_CACHE_INVALID, "JSON without a model");
        memset(f.v + js->off, '[', js->len);
        reseal(&f);
        expect_miss(c, ref, f.v, f.n, TK_CACHE_INVALID, "JSON that does not parse");
    }
    free(f.v);
    f = copy_of(pristine);
    tk_cache_dirent *pipe = section(&f, TK_SEC_PIPE);
    if (CHECK(pipe && pipe->len >= 1)) {
        pipe->len -= 1;
        reseal(&f);
        expect_miss(c, ref, f.v, f.n, TK_CACHE_INVALID, "short pipeline section");
    }
    free(f.v);
    forge_as(c, ref, pristine, TK_SEC_PATH, 0, "Z", 1, TK_CACHE_STALE, "another source path");
    free(b.v);
}

/* Offsets of the model tables' records (bpe.c, tok_vocab.c, tok_trie.h), to forge
 * counts and entries that the checksums no longer guard. */
enum { BMET_ARENA = 8, BMET_VCAP = 16, BMET_NVOCAB = 24, BMET_NBYID = 32, BMET_MCAP = 40, BMET_NMERGES = 48,
       BMET_DENSE = 56 };
enum { VMET_POOL = 8, VMET_NIDS = 16, VMET_NNODES = 24, VMET_NDENSE = 28 };

static void test_bpe_forgery(case_t *c, const xl_tokenizer *ref, const bytes_t *p) {
    const uint32_t META = TK_TAG('B', 'M', 'E', 'T'), ARENA = TK_TAG('B', 'A', 'R', 'N'),
                   VOCAB = TK_TAG('B', 'V', 'O', 'C'), BYID = TK_TAG('B', 'B', 'I', 'D'),
                   MERGES = TK_TAG('B', 'M', 'R', 'G');
    forge_u64(c, ref, p, META, 0, 12345, "other table layout");
    forge_u64(c, ref, p, META, BMET_ARENA, (uint64_t)1 << 40, "absurd arena length");
    forge_u64(c, ref, p, META, BMET_VCAP, 3, "vocabulary capacity not a power of two");
    forge_u64(c, ref, p, META, BMET_VCAP, (uint64_t)1 << 31, "huge vocabulary capacity");
    forge_u64(c, ref, p, META, BMET_NVOCAB, (uint64_t)1 << 40, "absurd vocabulary count");
    forge_u64(c, ref, p, META, BMET_NVOCAB, 3, "wrong vocabulary count");
    forge_u64(c, ref, p, META, BMET_NBYID, (uint64_t)1 << 40, "absurd id-table count");
    forge_u64(c, ref, p, META, BMET_MCAP, (uint64_t)1 << 33, "absurd merge capacity");
    forge_u64(c, ref, p, META, BMET_NMERGES, 0, "merge ranks past the merge count");
    forge_u32(c, ref, p, META, BMET_DENSE, 7, "absurd dense flag");
    const tk_cache_dirent *ar = section((bytes_t *)p, ARENA), *vo = section((bytes_t *)p, VOCAB);
    forge(c, ref, p, ARENA, ar->len - 1, "x", 1, "arena not NUL-terminated");
    /* the first filled vocabulary slot: {hash, len, off, id} */
    size_t slot = 0;
    while (slot * 16 < vo->len && *(const uint32_t *)(p->v + vo->off + slot * 16) == 0) slot++;
    forge_u32(c, ref, p, VOCAB, slot * 16 + 8, 0xFFFFFFF0u, "vocabulary string offset past the arena");
    forge_u32(c, ref, p, VOCAB, slot * 16 + 4, 0x7FFFFFFFu, "vocabulary string length past the arena");
    forge_u32(c, ref, p, VOCAB, slot * 16 + 12, 0x7FFFFFFFu, "vocabulary id past the id table");
    {
        bytes_t f = copy_of(p); /* every slot filled: a probe would never end */
        tk_cache_dirent *d = section(&f, VOCAB);
        for (size_t i = 0; i < d->len / 16; i++) {
            uint32_t *e = (uint32_t *)(f.v + d->off + i * 16);
            if (!e[0]) e[0] = 0x1234567u, e[1] = 0, e[2] = 0, e[3] = 0;
        }
        reseal(&f);
        expect_miss(c, ref, f.v, f.n, TK_CACHE_INVALID, "vocabulary without an empty slot");
        free(f.v);
    }
    forge_u32(c, ref, p, BYID, 8 * 5, 6, "id table entry under the wrong id");
    forge_u32(c, ref, p, BYID, 8 * 5 + 4, 0xFFFFFF00u, "id table string past the arena");
    const tk_cache_dirent *mg = section((bytes_t *)p, MERGES);
    size_t ms = 0; /* the first filled merge slot: {key, rank, new_id} */
    while (ms * 16 < mg->len && *(const uint32_t *)(p->v + mg->off + ms * 16 + 8) == UINT32_MAX) ms++;
    forge_u32(c, ref, p, MERGES, ms * 16 + 12, (uint32_t)-2, "negative merged id");
    forge_u32(c, ref, p, MERGES, ms * 16 + 12, 0x7FFFFF00u, "merged id past the id table");
    forge_u32(c, ref, p, MERGES, ms * 16 + 8, 0x7FFFFFF0u, "merge rank past the merge count");
    {
        bytes_t f = copy_of(p);
        tk_cache_dirent *d = section(&f, MERGES);
        for (size_t i = 0; i < d->len / 16; i++) {
            uint32_t *e = (uint32_t *)(f.v + d->off + i * 16);
            if (e[2] == UINT32_MAX) e[2] = 0;
        }
        reseal(&f);
        expect_miss(c, ref, f.v, f.n, TK_CACHE_INVALID, "merges without an empty slot");
        free(f.v);
    }
}

static void test_vocab_forgery(case_t *c, const xl_tokenizer *ref, const bytes_t *p) {
    const uint32_t META = TK_TAG('V', 'M', 'E', 'T'), POOL = TK_TAG('V', 'P', 'O', 'L'), OFF = TK_TAG('V', 'O', 'F', 'F'),
                   NODES = TK_TAG('T', 'N', 'O', 'D'), DENSE = TK_TAG('T', 'D', 'N', 'S');
    forge_u64(c, ref, p, META, 0, 12345, "other table layout");
    forge_u64(c, ref, p, META, VMET_POOL, (uint64_t)1 << 40, "absurd pool length");
    forge_u64(c, ref, p, META, VMET_NIDS, (uint64_t)1 << 40, "absurd id count");
    forge_u32(c, ref, p, META, VMET_NNODES, 0, "no trie nodes");
    forge_u32(c, ref, p, META, VMET_NNODES, 0xFFFFFFF0u, "absurd trie node count");
    forge_u32(c, ref, p, META, VMET_NDENSE, 0x7FFFFFF0u, "absurd dense row count");
    const tk_cache_dirent *po = section((bytes_t *)p, POOL), *no = section((bytes_t *)p, NODES),
                          *de = section((bytes_t *)p, DENSE);
    forge(c, ref, p, POOL, po->len - 1, "x", 1, "pool not NUL-terminated");
    forge_u32(c, ref, p, OFF, 4 * 3, (uint32_t)po->len + 5, "token offset past the pool");
    uint32_t n_nodes = (uint32_t)(no->len / sizeof(tk_trie_node));
    /* node 1 (a child of the root): {first, n, value, label} */
    const size_t nd = sizeof(tk_trie_node);
    {
        uint32_t v[2] = {n_nodes - 1, 2};
        forge(c, ref, p, NODES, nd, v, sizeof v, "children past the last node");
    }
    {
        uint32_t v[2] = {1, 0x7FFFFFF0u};
        forge(c, ref, p, NODES, nd, v, sizeof v, "absurd child count");
    }
    forge_u32(c, ref, p, NODES, nd + 4, TK_DENSE | 0xFFFFu, "dense row past the rows");
    forge_u32(c, ref, p, NODES, nd + 8, 0x7FFFFFF0u, "trie value past the ids");
    forge_u32(c, ref, p, NODES, nd + 8, (uint32_t)-7, "negative trie value");
    forge_u32(c, ref, p, NODES, nd + 12, 300, "trie label past a byte");
    if (CHECK(de->len >= 1024)) forge_u32(c, ref, p, DENSE, 4 * 'a', n_nodes + 10, "dense child past the nodes");
}

static void test_corruption(case_t *c, int kind) {
    xl_tokenizer *ref = load_reference(c->dir);
    xl_tokenizer_free(load(c->dir, NULL, NULL)); /* a valid cache */
    bytes_t pristine;
    pristine.v = read_bytes(c->cache, &pristine.n);
    if (!CHECK_MSG(pristine.v && pristine.n > sizeof(tk_cache_header), "%s: cache file %s", c->name, c->cache)) {
        xl_tokenizer_free(ref);
        return;
    }
    test_generic_damage(c, ref, &pristine);
    if (kind == 0) test_bpe_forgery(c, ref, &pristine);
    else test_vocab_forgery(c, ref, &pristine);
    if (kind == 1) {
        const tk_cache_dirent *sc = section(&pristine, TK_TAG('U', 'S', 'C', 'R'));
        if (CHECK(sc != NULL)) {
            bytes_t f = copy_of(&pristine);
            section(&f, TK_TAG('U', 'S', 'C', 'R'))->len -= 8; /* one score short */
            reseal(&f);
            expect_miss(c, ref, f.v, f.n, TK_CACHE_INVALID, "one score short");
            free(f.v);
        }
    }
    /* after all that, the rebuilt cache is valid again */
    tk_cache_outcome out;
    xl_tokenizer *tok = load(c->dir, &out, NULL);
    CHECK_MSG(out == TK_CACHE_HIT && same_behaviour(ref, tok, "rebuilt"), "%s: rebuilt cache", c->name);
    xl_tokenizer_free(tok);
    xl_tokenizer_free(ref);
    free(pristine.v);
}

/* XLING_TOKENIZER_CACHE=0 (and "off"): the cache is neither read nor written. */
static void test_env_off(case_t *c) {
    struct stat before, after;
    CHECK(stat(c->cache, &before) == 0);
    const char *values[] = {"0", "off", "FALSE", "no"};
    for (int i = 0; i < 4; i++) {
        setenv("XLING_TOKENIZER_CACHE", values[i], 1);
        tk_cache_outcome out;
        int written;
        xl_tokenizer_free(load(c->dir, &out, &written));
        CHECK_MSG(out == TK_CACHE_OFF && !written, "XLING_TOKENIZER_CACHE=%s: outcome %d", values[i], (int)out);
    }
    CHECK(stat(c->cache, &after) == 0 && after.st_ino == before.st_ino && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    CHECK(unlink(c->cache) == 0);
    xl_tokenizer_free(load(c->dir, NULL, NULL));
    CHECK(!exists(c->cache));
    unsetenv("XLING_TOKENIZER_CACHE");
    xl_tokenizer_free(load(c->dir, NULL, NULL));
    CHECK(exists(c->cache));
}

/* Where the cache goes when the tokenizer's folder is read-only, and what happens
 * when no cache folder is writable. */
static void test_locations(void) {
    char dir[300], json[340], xdg[300], forced[300], home[300], expect[600];
    in_tmp(dir, sizeof dir, "readonly");
    in_tmp(xdg, sizeof xdg, "xdg");
    in_tmp(forced, sizeof forced, "forced");
    in_tmp(home, sizeof home, "home");
    snprintf(json, sizeof json, "%s/tokenizer.json", dir);
    char *text = unigram_json();
    write_tokenizer(dir, text, NULL, 3600);
    free(text);
    CHECK(chmod(dir, 0555) == 0); /* no write bit: read-only even for root */
    xl_tokenizer *ref = load_reference(dir);
    /* the name hashes the real paths of tokenizer.json and tokenizer_config.json (here
     * absent: the path as the loader builds it), NUL-separated */
    char *real = realpath(json, NULL), key[800], name[64], cfg[340];
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    size_t lr = strlen(real), lc = strlen(cfg);
    memcpy(key, real, lr + 1);
    memcpy(key + lr + 1, cfg, lc + 1);
    snprintf(name, sizeof name, "tokenizer.json-%016llx.xlcache", (unsigned long long)tk_checksum(key, lr + lc + 1));
    free(real);

    tk_cache_outcome out;
    int written;
    xl_tokenizer *tok = load(dir, &out, &written);
    snprintf(expect, sizeof expect, "%s/xling/%s", xdg, name);
    CHECK_MSG(written && strcmp(tk_cache_last()->file, expect) == 0, "read-only folder: cache at %s (written %d), want %s",
              tk_cache_last()->file, written, expect);
    CHECK(exists(expect));
    char beside[400];
    snprintf(beside, sizeof beside, "%s.xlcache", json);
    CHECK(!exists(beside));
    xl_tokenizer_free(tok);
    tok = load(dir, &out, NULL);
    CHECK(out == TK_CACHE_HIT && same_behaviour(ref, tok, "fallback folder"));
    xl_tokenizer_free(tok);

    /* without XDG_CACHE_HOME (or with a relative one): ~/.cache/xling */
    setenv("XDG_CACHE_HOME", "relative/cache", 1);
    tok = load(dir, &out, &written);
    snprintf(expect, sizeof expect, "%s/.cache/xling/%s", home, name);
    CHECK_MSG(written && strcmp(tk_cache_last()->file, expect) == 0, "cache at %s, want %s", tk_cache_last()->file, expect);
    xl_tokenizer_free(tok);

    /* XLING_TOKENIZER_CACHE=/folder */
    setenv("XLING_TOKENIZER_CACHE", forced, 1);
    tok = load(dir, &out, &written);
    snprintf(expect, sizeof expect, "%s/%s", forced, name);
    CHECK_MSG(written && strcmp(tk_cache_last()->file, expect) == 0, "cache at %s, want %s", tk_cache_last()->file, expect);
    xl_tokenizer_free(tok);
    unsetenv("XLING_TOKENIZER_CACHE");

    /* no writable cache folder: loads work, nothing is written, no error */
    char ro_xdg[300], ro_xling[340];
    in_tmp(ro_xdg, sizeof ro_xdg, "ro_xdg");
    make_dir(ro_xdg);
    snprintf(ro_xling, sizeof ro_xling, "%s/xling", ro_xdg);
    make_dir(ro_xling);
    CHECK(chmod(ro_xling, 0555) == 0);
    const char *unwritable[] = {ro_xdg, "/dev/null/not-a-folder"};
    for (int i = 0; i < 2; i++) {
        setenv("XDG_CACHE_HOME", unwritable[i], 1);
        for (int k = 0; k < 2; k++) {
            tok = load(dir, &out, &written);
            CHECK_MSG(tok && out == TK_CACHE_ABSENT && !written, "unwritable %s: outcome %d written %d", unwritable[i],
                      (int)out, written);
            CHECK(same_behaviour(ref, tok, "unwritable cache folder"));
            xl_tokenizer_free(tok);
        }
    }
    size_t n_left = 0;
    DIR *d = opendir(ro_xling);
    for (struct dirent *e; d && (e = readdir(d));) n_left += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    CHECK_MSG(d && n_left == 0, "the read-only cache folder holds %zu files (no temporary files left)", n_left);
    chmod(ro_xling, 0755);
    setenv("XDG_CACHE_HOME", xdg, 1);

    /* two read-only model folders linking one tokenizer.json, with their own
     * tokenizer_config.json: one cache each, both used */
    char files[2][4096];
    for (int round = 0; round < 2; round++)
        for (int k = 0; k < 2; k++) {
            char link_dir[320], p[400], cfg_text[64];
            snprintf(link_dir, sizeof link_dir, "%s/link%d", g_tmp, k);
            if (round == 0) {
                make_dir(link_dir);
                snprintf(p, sizeof p, "%s/tokenizer.json", link_dir);
                CHECK(symlink("../readonly/tokenizer.json", p) == 0);
                snprintf(p, sizeof p, "%s/tokenizer_config.json", link_dir);
                snprintf(cfg_text, sizeof cfg_text, "{\"model_max_length\": %d}", 11 * (k + 1));
                CHECK(write_bytes(p, cfg_text, strlen(cfg_text)));
                set_mtime_ago(p, 3600);
                CHECK(chmod(link_dir, 0555) == 0);
            }
            tok = load(link_dir, &out, &written);
            CHECK_MSG(round == 0 ? out == TK_CACHE_ABSENT && written : out == TK_CACHE_HIT,
                      "linked folder %d, load %d: outcome %d written %d", k, round, (int)out, written);
            CHECK_EQ_INT(xl_tokenizer_model_max_length(tok), 11 * (k + 1));
            if (round == 0) snprintf(files[k], sizeof files[k], "%s", tk_cache_last()->file);
            xl_tokenizer_free(tok);
        }
    CHECK(strcmp(files[0], files[1]) != 0);
    chmod(dir, 0755);
    xl_tokenizer_free(ref);
}

/* Copies src to dst; 1 on success. */
static int copy_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb"), *out = in ? fopen(dst, "wb") : NULL;
    char buf[65536];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    if (in) fclose(in);
    if (out && fclose(out) != 0) ok = 0;
    return ok;
}

/* A real tokenizer from the shared fixtures, copied into a folder of our own made
 * read-only (whatever the mode of ../shared and whoever runs the test): the cache goes
 * to the fallback folder and gives the same results on the corpus. */
static void test_fixture(void) {
    const char *shared = t_shared_dir();
    if (!shared) {
        t_skip_case("shared fixture", "../shared is absent");
        return;
    }
    char dir[600], beside[700], corpus[600], src[600], dst[700];
    in_tmp(dir, sizeof dir, "fixture");
    make_dir(dir);
    snprintf(src, sizeof src, "%s/fixtures/tokenizers/models/bert-wordpiece/tokenizer.json", shared);
    snprintf(dst, sizeof dst, "%s/tokenizer.json", dir);
    CHECK_MSG(copy_file(src, dst), "cannot copy %s", src);
    set_mtime_ago(dst, 3600); /* settled: a fresh file is not cached */
    snprintf(src, sizeof src, "%s/fixtures/tokenizers/models/bert-wordpiece/tokenizer_config.json", shared);
    snprintf(dst, sizeof dst, "%s/tokenizer_config.json", dir);
    if (access(src, R_OK) == 0) {
        CHECK_MSG(copy_file(src, dst), "cannot copy %s", src);
        set_mtime_ago(dst, 3600);
    }
    CHECK(chmod(dir, 0555) == 0); /* no write bit: read-only even for root */
    snprintf(beside, sizeof beside, "%s/tokenizer.json.xlcache", dir);
    snprintf(corpus, sizeof corpus, "%s/fixtures/tokenizers/corpus.jsonl", shared);
    xl_tokenizer *ref = load_reference(dir);
    tk_cache_outcome out;
    int written;
    xl_tokenizer *cold = load(dir, &out, &written);
    char xdg_prefix[300];
    in_tmp(xdg_prefix, sizeof xdg_prefix, "xdg/xling/");
    CHECK_MSG(strncmp(tk_cache_last()->file, xdg_prefix, strlen(xdg_prefix)) == 0,
              "fixture cache at %s, want it under %s", tk_cache_last()->file, xdg_prefix);
    CHECK(written && !exists(beside));
    xl_tokenizer *warm = load(dir, &out, NULL);
    CHECK(out == TK_CACHE_HIT);
    CHECK(same_behaviour(ref, warm, "bert-wordpiece"));
    /* every corpus line */
    FILE *f = fopen(corpus, "r");
    size_t lines = 0, same = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (f && (len = getline(&line, &cap, f)) > 0) {
        json_error_t e;
        json_t *j = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &e);
        json_t *t = json_object_get(j, "text");
        if (json_is_string(t)) {
            xl_encoding a, b;
            lines++;
            if (xl_tokenize(ref, json_string_value(t), json_string_length(t), 1, &a) == XL_OK) {
                if (xl_tokenize(warm, json_string_value(t), json_string_length(t), 1, &b) == XL_OK) {
                    same += a.n == b.n && (a.n == 0 || memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);
                    xl_encoding_free(&b);
                }
                xl_encoding_free(&a);
            }
        }
        json_decref(j);
    }
    free(line);
    if (f) fclose(f);
    CHECK_MSG(lines == 3026 && same == lines, "corpus: %zu of %zu lines equal", same, lines);
    chmod(dir, 0755);
    xl_tokenizer_free(ref);
    xl_tokenizer_free(cold);
    xl_tokenizer_free(warm);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/xl_tok_cache_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        t_skip_case("tokenizer cache", "cannot create a temporary folder");
        return test_summary("test_tok_cache");
    }
    char xdg[300], home[300];
    in_tmp(xdg, sizeof xdg, "xdg");
    in_tmp(home, sizeof home, "home");
    make_dir(home);
    setenv("XDG_CACHE_HOME", xdg, 1);
    setenv("HOME", home, 1);
    unsetenv("XLING_TOKENIZER_CACHE");

    case_t cases[3];
    char *texts[3] = {bpe_json(0), unigram_json(), wordpiece_json()};
    const char *names[3] = {"bpe", "unigram", "wordpiece"};
    for (int k = 0; k < 3; k++) {
        setup_case(&cases[k], names[k], texts[k]);
        free(texts[k]);
        test_roundtrip(&cases[k]);
    }
    test_settle();
    test_invalidation(&cases[0]);
    for (int k = 0; k < 3; k++) test_corruption(&cases[k], k);
    test_env_off(&cases[2]);
    test_locations();
    test_fixture();

    char cmd[600];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s' 2>/dev/null; rm -rf '%s'", g_tmp, g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "test_tok_cache: could not remove %s\n", g_tmp);
    return test_summary("test_tok_cache");
}
