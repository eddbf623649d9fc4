/* Unit tests of the tokenizer pipeline components on small hand-written
 * tokenizer.json files. Every expected id list follows from the Hugging Face
 * `tokenizers` semantics, worked out in the comment next to it. The vocabularies are
 * chosen so that each pre-token that should come out whole is itself a vocabulary
 * entry: the ids then show where the pipeline cut the text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "xling.h"

#define END INT32_MIN /* ends an expected id list */

static char g_dir[256];
static int g_seq;

/* Writes text to <g_dir>/<name> (creating sub-folders one level deep). */
static const char *write_file(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    char *slash = strrchr(path, '/');
    if (slash && slash > path + strlen(g_dir)) {
        *slash = '\0';
        mkdir(path, 0700);
        *slash = '/';
    }
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads a tokenizer.json given as text; NULL (and a failed check) if it does not load. */
static xl_tokenizer *load_text(const char *json, int line) {
    char name[64];
    snprintf(name, sizeof name, "t%d.json", g_seq++);
    const char *path = write_file(name, json);
    xl_tokenizer *tok = NULL;
    xl_status st = path ? xl_tokenizer_load(path, &tok) : XL_ERR_IO;
    if (!t_check(st == XL_OK, __FILE__, line, "tokenizer loads")) fprintf(stderr, "    %s\n", xl_last_error());
    return st == XL_OK ? tok : NULL;
}

/* A tokenizer.json from its parts (JSON text; "null" for none). */
static char *tokenizer_json(const char *model, const char *normalizer, const char *pretok, const char *post,
                            const char *added) {
    size_t n = strlen(model) + strlen(normalizer) + strlen(pretok) + strlen(post) + strlen(added) + 256;
    char *s = malloc(n);
    snprintf(s, n,
             "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, \"added_tokens\": %s, "
             "\"normalizer\": %s, \"pre_tokenizer\": %s, \"post_processor\": %s, \"decoder\": null, \"model\": %s}",
             added, normalizer, pretok, post, model);
    return s;
}

static xl_tokenizer *make_at(int line, const char *model, const char *normalizer, const char *pretok,
                             const char *post, const char *added) {
    char *j = tokenizer_json(model, normalizer, pretok, post, added);
    xl_tokenizer *tok = load_text(j, line);
    free(j);
    return tok;
}
#define MAKE(...) make_at(__LINE__, __VA_ARGS__)

/* Loads a tokenizer.json that must fail with status want and a message containing needle. */
static void expect_load_error_at(int line, const char *json, xl_status want, const char *needle) {
    char name[64];
    snprintf(name, sizeof name, "bad%d.json", g_seq++);
    const char *path = write_file(name, json);
    xl_tokenizer *tok = NULL;
    xl_status st = xl_tokenizer_load(path, &tok);
    if (!t_check(st == want, __FILE__, line, "load fails with the expected status"))
        fprintf(stderr, "    got %s (%s), want %s\n", xl_status_name(st), xl_last_error(), xl_status_name(want));
    if (!t_check(strstr(xl_last_error(), needle) != NULL, __FILE__, line, "error message names the problem"))
        fprintf(stderr, "    message \"%s\" lacks \"%s\"\n", xl_last_error(), needle);
    t_check(tok == NULL, __FILE__, line, "no handle on failure");
    xl_tokenizer_free(tok);
}
#define EXPECT_LOAD_ERROR(json, st, needle) expect_load_error_at(__LINE__, json, st, needle)

static void expect_ids_at(int line, const xl_tokenizer *tok, const char *text, size_t len, int add_special,
                          const int32_t *want) {
    size_t n = 0;
    while (want[n] != END) n++;
    if (!tok) {
        t_check(0, __FILE__, line, "tokenizer available");
        return;
    }
    xl_encoding enc;
    xl_status st = xl_tokenize(tok, text, len, add_special, &enc);
    if (!t_check(st == XL_OK, __FILE__, line, "xl_tokenize succeeds")) {
        fprintf(stderr, "    %s\n", xl_last_error());
        return;
    }
    int ok = enc.n == n;
    for (size_t i = 0; ok && i < n; i++) ok = enc.ids[i] == want[i];
    if (!t_check(ok, __FILE__, line, "ids match")) {
        fprintf(stderr, "    text \"%s\": got [", text);
        for (size_t i = 0; i < enc.n; i++) fprintf(stderr, "%s%d", i ? "," : "", enc.ids[i]);
        fprintf(stderr, "], want [");
        for (size_t i = 0; i < n; i++) fprintf(stderr, "%s%d", i ? "," : "", want[i]);
        fprintf(stderr, "]\n");
    }
    xl_encoding_free(&enc);
}
#define IDS(tok, text, special, ...)                                              \
    do {                                                                          \
        static const int32_t want_[] = {__VA_ARGS__, END};                        \
        expect_ids_at(__LINE__, tok, text, sizeof(text) - 1, special, want_);     \
    } while (0)

/* ------------------------------------------------------------------ fixtures */

/* A WordPiece vocabulary whose entries are the pre-tokens the tests expect. */
static const char *WP_VOCAB =
    "{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"hello\":3,\"world\":4,\"a\":5,\"b\":6,\"c\":7,\"-\":8,\",\":9,"
    "\"!\":10,\"a-\":11,\"-b\":12,\"b-\":13,\"-c\":14,\"--\":15,\"1\":16,\"2\":17,\"3\":18,\"123\":19,"
    "\"un\":20,\"##aff\":21,\"##able\":22,\"hello  \":23,\"  hello\":24,\"\u2581hello\":25,\"a\u2581b\":26,"
    "\"a b\":27,\"fi\":28,\"e\":29,\"elan\":30,\"\u4e2d\":31,\"[MASK]\":32,\"there\":33,\"Hello\":34,\"##!\":35,"
    "\"ab\":36,\"cd\":37,\"xab\":38,\"a  \":39,\"  b\":40,\"hello,\":41,\"\u0120hello\":42,\"\u0120world\":43,"
    "\"hello\u0120world\":44,\"\u00c3\u00a9\":45,\"x\":46,\"##x\":47,\"\ufffd\":48,\"##s\":49,\"\u00e9\":50,"
    "\"i\u0307\":51,\"X\":52,\"aC\":53,\"@@x\":54,\"ab_\":55,\"world!\":56,\"aB\":57}";

static char *wp_model(const char *extra) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
             "\"max_input_chars_per_word\":100%s,\"vocab\":%s}", extra, WP_VOCAB);
    return buf;
}

static const char *BERT_TEMPLATE =
    "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},"
    "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],"
    "\"pair\":[],\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[1],\"tokens\":[\"[CLS]\"]},"
    "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[2],\"tokens\":[\"[SEP]\"]}}}";

static const char *WS_SPLIT = "{\"type\":\"WhitespaceSplit\"}";

/* -------------------------------------------------------------------- models */

static void test_wordpiece(void) {
    xl_tokenizer *t = MAKE(wp_model(""), "null", WS_SPLIT, "null", "[]");
    IDS(t, "unaffable", 0, 20, 21, 22);       /* un ##aff ##able: longest match first */
    IDS(t, "hello world", 0, 3, 4);
    IDS(t, "hellox", 0, 3, 47);               /* hello ##x */
    IDS(t, "helloz", 0, 0);                   /* ##z missing: the whole word is [UNK] */
    IDS(t, "zzz hello", 0, 0, 3);
    IDS(t, "##x", 0, 47);                     /* at the start the prefix is plain text */
    xl_tokenizer_free(t);

    /* max_input_chars_per_word counts characters: 5 allows "hello", not "hellox" */
    char model[4200];
    snprintf(model, sizeof model, "%s", wp_model(""));
    char *p = strstr(model, "\"max_input_chars_per_word\":100");
    memcpy(p, "\"max_input_chars_per_word\":  5", 30);
    t = MAKE(model, "null", WS_SPLIT, "null", "[]");
    IDS(t, "hello", 0, 3);
    IDS(t, "hellox", 0, 0);
    IDS(t, "\u00e9\u00e9\u00e9\u00e9\u00e9 hello", 0, 0, 3); /* 5 chars (10 bytes): looked up, no piece -> [UNK] */
    xl_tokenizer_free(t);

    /* another continuing_subword_prefix */
    snprintf(model, sizeof model, "%s", wp_model(""));
    p = strstr(model, "\"continuing_subword_prefix\":\"##\"");
    memcpy(p, "\"continuing_subword_prefix\":\"@@\"", 32);
    t = MAKE(model, "null", WS_SPLIT, "null", "[]");
    IDS(t, "hellox", 0, 3, 54); /* hello @@x */
    xl_tokenizer_free(t);

    /* an unk_token missing from the vocabulary fails only when it is needed */
    snprintf(model, sizeof model, "%s", wp_model(""));
    p = strstr(model, "\"unk_token\":\"[UNK]\"");
    memcpy(p, "\"unk_token\":\"[UNQ]\"", 19);
    t = MAKE(model, "null", WS_SPLIT, "null", "[]");
    IDS(t, "hello", 0, 3);
    xl_encoding enc;
    CHECK(t && xl_tokenize(t, "zzz", 3, 0, &enc) == XL_ERR_FORMAT);
    CHECK(strstr(xl_last_error(), "[UNQ]") != NULL);
    CHECK(t && xl_tokenize(t, "zzz", 3, 0, &enc) != XL_OK && enc.ids == NULL && enc.n == 0);
    xl_tokenizer_free(t);
}

static const char *UNIGRAM_VOCAB =
    "[[\"<unk>\",0.0],[\"a\",-1.0],[\"b\",-1.0],[\"ab\",-2.0],[\"c\",-1.5],[\"<0x78>\",-1.0],[\"<0x79>\",-1.0],"
    "[\"\u2581\",-5.0],[\"\u2581hello\",-1.0],[\"\u2581world\",-1.0],[\"hello\",-2.0],[\"world\",-2.0],"
    "[\"\u2581hello\u2581world\",-1.0],[\"<s>\",0.0],[\"q\",-9.0],[\"qq\",-17.0]]";

static void test_unigram(void) {
    char model[2048];
    snprintf(model, sizeof model, "{\"type\":\"Unigram\",\"unk_id\":0,\"byte_fallback\":false,\"vocab\":%s}", UNIGRAM_VOCAB);
    xl_tokenizer *t = MAKE(model, "null", "null", "null", "[]");
    /* a+b and ab both score -2: the first path to reach the end (ab, found at
     * position 0) stays, as encode_optimized keeps the earlier node on ties */
    IDS(t, "ab", 0, 3);
    IDS(t, "abc", 0, 3, 4);
    /* x and y have no piece: unk nodes, fused into one token */
    IDS(t, "xyc", 0, 0, 4);
    IDS(t, "cxyc", 0, 4, 0, 4);
    /* qq (-17) beats q+q (-18) */
    IDS(t, "qq", 0, 15);
    IDS(t, "", 0, END);
    xl_tokenizer_free(t);

    /* byte_fallback: a fused unknown run becomes its <0xXX> pieces when all exist */
    snprintf(model, sizeof model, "{\"type\":\"Unigram\",\"unk_id\":0,\"byte_fallback\":true,\"vocab\":%s}", UNIGRAM_VOCAB);
    t = MAKE(model, "null", "null", "null", "[]");
    IDS(t, "xyc", 0, 5, 6, 4); /* <0x78> <0x79> c */
    IDS(t, "xzc", 0, 0, 4);    /* no <0x7A>: the run stays one unk */
    xl_tokenizer_free(t);

    /* no unk_id: an uncovered character is an error */
    snprintf(model, sizeof model, "{\"type\":\"Unigram\",\"unk_id\":null,\"vocab\":%s}", UNIGRAM_VOCAB);
    t = MAKE(model, "null", "null", "null", "[]");
    IDS(t, "ab", 0, 3);
    xl_encoding enc;
    CHECK(t && xl_tokenize(t, "xy", 2, 0, &enc) != XL_OK);
    xl_tokenizer_free(t);

    EXPECT_LOAD_ERROR("{\"model\":{\"type\":\"Unigram\",\"unk_id\":99,\"vocab\":[[\"a\",-1.0]]}}", XL_ERR_FORMAT, "unk_id");
    EXPECT_LOAD_ERROR("{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"a\"]]}}", XL_ERR_FORMAT, "vocab[0]");
}

/* --------------------------------------------------------------- normalizers */

static void test_bert_normalizer(void) {
    const char *norm = "{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,"
                       "\"strip_accents\":null,\"lowercase\":true}";
    xl_tokenizer *t = MAKE(wp_model(""), norm, "{\"type\":\"BertPreTokenizer\"}", BERT_TEMPLATE, "[]");
    /* lowercase, and strip_accents null follows lowercase: H\u00c9LLO -> hello */
    IDS(t, "H\u00c9LLO, World!", 1, 1, 3, 9, 4, 10, 2);
    IDS(t, "H\u00c9LLO, World!", 0, 3, 9, 4, 10);
    IDS(t, "hel\x01lo", 0, 3);                       /* clean_text drops controls */
    IDS(t, "hel\x00lo\xef\xbf\xbd", 0, 3);             /* ... NUL and U+FFFD too */
    IDS(t, "hello\tworld\nhello", 0, 3, 4, 3);       /* tab / newline are whitespace */
    IDS(t, "a\u4e2db", 0, 5, 31, 6);                 /* CJK isolated: "a \u4e2d b" */
    IDS(t, "", 1, 1, 2);                             /* empty text: only the specials */
    IDS(t, "\u0130", 0, 0);                          /* \u0130 -> NFD I+U+0307 -> strip -> "i" (no piece) */
    xl_tokenizer_free(t);

    /* cased: nothing lowercased, no accent stripped */
    t = MAKE(wp_model(""), "{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,"
             "\"strip_accents\":null,\"lowercase\":false}", "{\"type\":\"BertPreTokenizer\"}", "null", "[]");
    IDS(t, "Hello", 0, 34);
    IDS(t, "\u00e9", 0, 50);
    xl_tokenizer_free(t);

    /* strip_accents alone */
    t = MAKE(wp_model(""), "{\"type\":\"BertNormalizer\",\"clean_text\":false,\"handle_chinese_chars\":false,"
             "\"strip_accents\":true,\"lowercase\":false}", "{\"type\":\"BertPreTokenizer\"}", "null", "[]");
    IDS(t, "\u00e9", 0, 29);
    IDS(t, "a\u4e2db", 0, 0);  /* not isolated: "a\u4e2db" is one word with no piece */
    IDS(t, "hel\x01lo", 0, 0); /* the control stays inside the word */
    xl_tokenizer_free(t);
}

static void test_unicode_normalizers(void) {
    xl_tokenizer *t = MAKE(wp_model(""), "{\"type\":\"NFKC\"}", WS_SPLIT, "null", "[]");
    IDS(t, "\ufb01", 0, 28); /* \ufb01 -> fi */
    xl_tokenizer_free(t);
    t = MAKE(wp_model(""), "{\"type\":\"NFKD\"}", WS_SPLIT, "null", "[]");
    IDS(t, "\ufb01", 0, 28);
    xl_tokenizer_free(t);
    t = MAKE(wp_model(""), "{\"type\":\"NFC\"}", WS_SPLIT, "null", "[]");
    IDS(t, "e\u0301", 0, 50); /* composed to \u00e9 */
    IDS(t, "\ufb01", 0, 0);   /* NFC keeps the ligature */
    xl_tokenizer_free(t);
    t = MAKE(wp_model(""), "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFD\"},{\"type\":\"StripAccents\"},"
             "{\"type\":\"Lowercase\"}]}", WS_SPLIT, "null", "[]");
    IDS(t, "\u00c9lan", 0, 30); /* NFD, drop the mark, lowercase: elan */
    IDS(t, "\u00e9", 0, 29);
    xl_tokenizer_free(t);
    t = MAKE(wp_model(""), "{\"type\":\"Lowercase\"}", WS_SPLIT, "null", "[]");
    IDS(t, "\u0130", 0, 51); /* full lowercase mapping: i + U+0307 */
    IDS(t, "HELLO", 0, 3);
    xl_tokenizer_free(t);
    t = MAKE(wp_model(""), "{\"type\":\"Nmt\"}", "null", "null", "[]");
    IDS(t, "a\u200bb", 0, 27); /* U+200B -> space: "a b" */
    xl_tokenizer_free(t);
    t = MAKE(wp_model(""), "{\"type\":\"ByteLevel\"}", "null", "null", "[]");
    IDS(t, "\u00e9", 0, 45); /* bytes C3 A9 -> \u00c3\u00a9 */
    xl_tokenizer_free(t);
}

static void test_strip_prepend_replace(void) {
    /* no pre-tokenizer: the whole normalized text is one word */
    xl_tokenizer *t = MAKE(wp_model(""), "{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true}", "null", "null", "[]");
    IDS(t, "  hello  ", 0, 3);
    xl_tokenizer_free(t);
    t = MAKE(wp_model(""), "{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":false}", "null", "null", "[]");
    IDS(t, "  hello  ", 0, 23);
    xl_tokenizer_free(t);
    t = MAKE(wp_model(""), "{\"type\":\"Strip\",\"strip_left\":false,\"strip_right\":true}", "null", "null", "[]");
    IDS(t, "  hello  ", 0, 24);
    IDS(t, "   ", 0, END); /* everything stripped: no token */
    xl_tokenizer_free(t);

    t = MAKE(wp_model(""), "{\"type\":\"Prepend\",\"prepend\":\"\u2581\"}", "null", "null", "[]");
    IDS(t, "hello", 0, 25);
    IDS(t, "", 0, END); /* nothing is prepended to empty text */
    xl_tokenizer_free(t);

    t = MAKE(wp_model(""), "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\u2581\"}", "null", "null", "[]");
    IDS(t, "a b", 0, 26);
    xl_tokenizer_free(t);
    t = MAKE(wp_model(""), "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\" \"}", "null", "null", "[]");
    IDS(t, "a   b", 0, 27);
    IDS(t, "a b", 0, 27);
    xl_tokenizer_free(t);
    /* a String pattern is literal: "." is not a wildcard */
    t = MAKE(wp_model(""), "{\"type\":\"Replace\",\"pattern\":{\"String\":\".\"},\"content\":\"b\"}", "null", "null", "[]");
    IDS(t, "a.", 0, 36);
    IDS(t, "ax", 0, 5, 47);
    xl_tokenizer_free(t);
}

/* A darts-clone double array holding a few keys, built the simple way: each node
 * gets the first unused base whose child slots (and value slot) are free. Bases
 * are unique, as darts-clone makes them: a lookup only checks labels, so a shared
 * base would let a key's tail match from another node. Returns the
 * base64 precompiled_charsmap: [u32 size][units][replacement strings]. */
static char *build_charsmap(const char *const *keys, const char *const *values, int n) {
    enum { MAXN = 64, CAP = 4096 };
    /* the trie of the keys */
    int child[MAXN][256], leaf[MAXN], nn = 1;
    memset(child, -1, sizeof child);
    for (int i = 0; i < MAXN; i++) leaf[i] = -1;
    char strings[1024];
    int slen = 0;
    for (int k = 0; k < n; k++) {
        int node = 0;
        for (const unsigned char *p = (const unsigned char *)keys[k]; *p; p++) {
            if (child[node][*p] < 0) child[node][*p] = nn++;
            node = child[node][*p];
        }
        leaf[node] = slen;
        size_t l = strlen(values[k]);
        memcpy(strings + slen, values[k], l + 1);
        slen += (int)l + 1;
    }
    static uint32_t unit[CAP];
    static char used[CAP], base_used[CAP];
    memset(unit, 0, sizeof unit);
    memset(used, 0, sizeof used);
    memset(base_used, 0, sizeof base_used);
    int pos[MAXN], size = 1;
    pos[0] = 0;
    used[0] = 1;
    for (int node = 0; node < nn; node++) { /* children have larger numbers: BFS-safe */
        int base = 1;
        for (;; base++) {
            int ok = !base_used[base] && !(leaf[node] >= 0 && used[base]);
            for (int c = 1; c < 256 && ok; c++)
                if (child[node][c] >= 0 && used[base ^ c]) ok = 0;
            if (ok) break;
        }
        base_used[base] = 1;
        uint32_t offset = (uint32_t)(pos[node] ^ base);
        unit[pos[node]] |= offset << 10 | (leaf[node] >= 0 ? 1u << 8 : 0);
        if (leaf[node] >= 0) {
            used[base] = 1;
            unit[base] = 1u << 31 | (uint32_t)leaf[node];
            if (base + 1 > size) size = base + 1;
        }
        for (int c = 1; c < 256; c++) {
            if (child[node][c] < 0) continue;
            int q = base ^ c;
            used[q] = 1;
            unit[q] = (uint32_t)c;
            pos[child[node][c]] = q;
            if (q + 1 > size) size = q + 1;
        }
    }
    size_t blen = 4 + (size_t)size * 4 + (size_t)slen;
    unsigned char *blob = malloc(blen);
    uint32_t tsize = (uint32_t)size * 4;
    for (int i = 0; i < 4; i++) blob[i] = (unsigned char)(tsize >> (8 * i));
    for (int u = 0; u < size; u++)
        for (int i = 0; i < 4; i++) blob[4 + 4 * u + i] = (unsigned char)(unit[u] >> (8 * i));
    memcpy(blob + 4 + 4 * (size_t)size, strings, (size_t)slen);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(blen / 3 * 4 + 8), *o = out;
    for (size_t i = 0; i < blen; i += 3) {
        uint32_t v = (uint32_t)blob[i] << 16 | (i + 1 < blen ? (uint32_t)blob[i + 1] << 8 : 0) | (i + 2 < blen ? blob[i + 2] : 0);
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < blen ? b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < blen ? b64[v & 63] : '=';
    }
    *o = '\0';
    free(blob);
    return out;
}

static void test_precompiled(void) {
    static const char *const keys[] = {"A", "AB", "\xef\xac\x81", "e\xcc\x81"};
    static const char *const vals[] = {"a", "X", "fi", "\xc3\xa9"};
    char *map = build_charsmap(keys, vals, 4);
    char norm[4096];
    snprintf(norm, sizeof norm, "{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"%s\"}", map);
    xl_tokenizer *t = MAKE(wp_model(""), norm, WS_SPLIT, "null", "[]");
    /* the crate's rule: grapheme by grapheme, so the key "AB" spanning two graphemes
     * never applies (sentencepiece's longest match would give X) */
    IDS(t, "AB", 0, 57);         /* A -> a, B has no key: aB */
    IDS(t, "AC", 0, 53);         /* A -> a, C has no key: aC */
    /* a grapheme under 6 bytes whose prefix is a key is replaced whole by that key's
     * string: the combining mark goes with it */
    IDS(t, "A\u0301", 0, 5);     /* A + U+0301 -> a */
    IDS(t, "\ufb01\u0301", 0, 28); /* U+FB01 + U+0301 (5 bytes) -> fi */
    IDS(t, "\ufb01", 0, 28);     /* \ufb01 -> fi */
    IDS(t, "e\u0301", 0, 50);    /* e + U+0301 -> \u00e9 */
    IDS(t, "hello", 0, 3);       /* untouched */
    xl_tokenizer_free(t);
    /* in a Sequence, before Replace (the XLM-R layout) */
    snprintf(norm, sizeof norm, "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"%s\"},"
             "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\" \"}]}", map);
    t = MAKE(wp_model(""), norm, "null", "null", "[]");
    IDS(t, "A   b", 0, 27); /* "a b" */
    xl_tokenizer_free(t);
    free(map);
    EXPECT_LOAD_ERROR("{\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"@@@@\"},"
                      "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", XL_ERR_FORMAT, "base64");
    EXPECT_LOAD_ERROR("{\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"/////w==\"},"
                      "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", XL_ERR_FORMAT, "trie size");
}

/* ------------------------------------------------------------ pre-tokenizers */

static void test_split(void) {
    static const char *const behaviors[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    xl_tokenizer *t[5];
    for (int b = 0; b < 5; b++) {
        char pre[256];
        snprintf(pre, sizeof pre, "{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"%s\",\"invert\":false}", behaviors[b]);
        t[b] = MAKE(wp_model(""), "null", pre, "null", "[]");
    }
    IDS(t[0], "a-b-c", 0, 5, 6, 7);         /* a b c */
    IDS(t[1], "a-b-c", 0, 5, 8, 6, 8, 7);   /* a - b - c */
    IDS(t[2], "a-b-c", 0, 11, 13, 7);       /* a- b- c */
    IDS(t[3], "a-b-c", 0, 5, 12, 14);       /* a -b -c */
    IDS(t[4], "a--b", 0, 5, 15, 6);         /* a -- b: the two matches merge */
    IDS(t[1], "a--b", 0, 5, 8, 8, 6);       /* a - - b */
    IDS(t[2], "a--b", 0, 11, 8, 6);         /* a- - b: only a match right after text joins it */
    IDS(t[3], "a--b", 0, 5, 8, 12);         /* a - -b */
    for (int b = 0; b < 5; b++) xl_tokenizer_free(t[b]);

    /* invert: the regex matches are what is kept */
    xl_tokenizer *inv = MAKE(wp_model(""), "null",
                             "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[a-z]+\"},\"behavior\":\"Removed\",\"invert\":true}", "null", "[]");
    IDS(inv, "ab-cd", 0, 36, 37);
    xl_tokenizer_free(inv);

    /* Oniguruma classes: \s includes U+0085 (NEL) */
    xl_tokenizer *ws = MAKE(wp_model(""), "null",
                            "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"Removed\",\"invert\":false}", "null", "[]");
    IDS(ws, "hello\xc2\x85world", 0, 3, 4);
    IDS(ws, "hello \t\n world", 0, 3, 4);
    xl_tokenizer_free(ws);

    /* the Llama 3 pattern compiles and splits contractions case-insensitively */
    xl_tokenizer *l3 = MAKE(wp_model(""), "null",
                            "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|"
                            "\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
                            "\"behavior\":\"Isolated\",\"invert\":false}", "null", "[]");
    IDS(l3, "hello123", 0, 3, 19);          /* hello 123 */
    IDS(l3, "hello1234", 0, 3, 19, 0);      /* digits in groups of three: 123 4 (no piece "4") */
    xl_tokenizer_free(l3);

    EXPECT_LOAD_ERROR("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Sideways\",\"invert\":false},"
                      "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", XL_ERR_UNSUPPORTED, "Sideways");
    EXPECT_LOAD_ERROR("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Removed\",\"invert\":false},"
                      "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", XL_ERR_UNSUPPORTED, "pattern");
}

static void test_simple_pretokenizers(void) {
    xl_tokenizer *t = MAKE(wp_model(""), "null", "{\"type\":\"Whitespace\"}", "null", "[]");
    IDS(t, "hello, world!!", 0, 3, 9, 4, 10, 35); /* \w+|[^\w\s]+ : hello , world !! (! ##!) */
    IDS(t, "a-b", 0, 5, 8, 6);
    xl_tokenizer_free(t);

    t = MAKE(wp_model(""), "null", WS_SPLIT, "null", "[]");
    IDS(t, "hello,  world", 0, 41, 4);
    xl_tokenizer_free(t);

    t = MAKE(wp_model(""), "null", "{\"type\":\"BertPreTokenizer\"}", "null", "[]");
    IDS(t, "hello,world!", 0, 3, 9, 4, 10);
    xl_tokenizer_free(t);

    t = MAKE(wp_model(""), "null", "{\"type\":\"Digits\",\"individual_digits\":true}", "null", "[]");
    IDS(t, "a123", 0, 5, 16, 17, 18);
    xl_tokenizer_free(t);
    t = MAKE(wp_model(""), "null", "{\"type\":\"Digits\",\"individual_digits\":false}", "null", "[]");
    IDS(t, "a123", 0, 5, 19);
    xl_tokenizer_free(t);

    t = MAKE(wp_model(""), "null", "{\"type\":\"Punctuation\"}", "null", "[]");
    IDS(t, "hello,world!", 0, 3, 9, 4, 10); /* Isolated by default */
    xl_tokenizer_free(t);
    t = MAKE(wp_model(""), "null", "{\"type\":\"Punctuation\",\"behavior\":\"MergedWithPrevious\"}", "null", "[]");
    IDS(t, "hello,world!", 0, 41, 56);
    xl_tokenizer_free(t);

    t = MAKE(wp_model(""), "null", "{\"type\":\"CharDelimiterSplit\",\"delimiter\":\"-\"}", "null", "[]");
    IDS(t, "a-b-c", 0, 5, 6, 7);
    xl_tokenizer_free(t);

    t = MAKE(wp_model(""), "null", "{\"type\":\"Sequence\",\"pretokenizers\":[" "{\"type\":\"WhitespaceSplit\"},"
             "{\"type\":\"Digits\",\"individual_digits\":true}]}", "null", "[]");
    IDS(t, "a12 hello", 0, 5, 16, 17, 3);
    xl_tokenizer_free(t);
}

static void test_metaspace(void) {
    char model[2048];
    snprintf(model, sizeof model, "{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":%s}", UNIGRAM_VOCAB);
    const char *added = "[{\"id\":13,\"content\":\"<s>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
                        "\"normalized\":false,\"special\":true}]";
    xl_tokenizer *always = MAKE(model, "null", "{\"type\":\"Metaspace\",\"replacement\":\"\u2581\",\"prepend_scheme\":\"always\",\"split\":true}", "null", added);
    xl_tokenizer *nosplit = MAKE(model, "null", "{\"type\":\"Metaspace\",\"replacement\":\"\u2581\",\"prepend_scheme\":\"always\",\"split\":false}", "null", added);
    xl_tokenizer *never = MAKE(model, "null", "{\"type\":\"Metaspace\",\"replacement\":\"\u2581\",\"prepend_scheme\":\"never\",\"split\":true}", "null", added);
    xl_tokenizer *first = MAKE(model, "null", "{\"type\":\"Metaspace\",\"replacement\":\"\u2581\",\"prepend_scheme\":\"first\",\"split\":true}", "null", added);
    xl_tokenizer *legacy = MAKE(model, "null", "{\"type\":\"Metaspace\",\"replacement\":\"\u2581\",\"add_prefix_space\":false}", "null", added);
    IDS(always, "hello world", 0, 8, 9);   /* \u2581hello | \u2581world */
    IDS(nosplit, "hello world", 0, 12);    /* one pre-token: the piece \u2581hello\u2581world (-1) beats two (-2) */
    IDS(never, "hello world", 0, 10, 9);   /* hello | \u2581world */
    IDS(legacy, "hello world", 0, 10, 9);  /* add_prefix_space false = never */
    IDS(always, "<s>hello", 0, 13, 8);     /* every piece gets the prefix */
    IDS(first, "<s>hello", 0, 13, 10);     /* only the piece at offset 0 does */
    IDS(first, "hello<s>", 0, 8, 13);
    IDS(always, " hello", 0, 8);           /* already starts with a space: no second \u2581 */
    IDS(always, "hello  world", 0, 8, 7, 9); /* \u2581hello | \u2581 | \u2581world */
    xl_tokenizer_free(always);
    xl_tokenizer_free(nosplit);
    xl_tokenizer_free(never);
    xl_tokenizer_free(first);
    xl_tokenizer_free(legacy);
    EXPECT_LOAD_ERROR("{\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\u2581\",\"prepend_scheme\":\"sometimes\"},"
                      "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", XL_ERR_UNSUPPORTED, "sometimes");
    EXPECT_LOAD_ERROR("{\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"ab\"},"
                      "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", XL_ERR_FORMAT, "replacement");
}

static void test_bytelevel(void) {
    xl_tokenizer *t = MAKE(wp_model(""), "null", "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}", "null", "[]");
    IDS(t, "hello world", 0, 42, 43); /* " hello" " world" -> \u0120hello \u0120world */
    xl_tokenizer_free(t);
    t = MAKE(wp_model(""), "null", "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}", "null", "[]");
    IDS(t, "hello world", 0, 3, 43);
    IDS(t, "\u00e9", 0, 45);          /* bytes C3 A9 -> \u00c3 \u00a9 */
    xl_tokenizer_free(t);
    t = MAKE(wp_model(""), "null", "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}", "null", "[]");
    IDS(t, "hello world", 0, 44);     /* no regex: one pre-token hello\u0120world */
    xl_tokenizer_free(t);
}

/* -------------------------------------------------------------- added tokens */

static void test_added_tokens(void) {
    const char *added =
        "[{\"id\":32,\"content\":\"[MASK]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
        "{\"id\":100,\"content\":\"Xyz\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":true,\"special\":false},"
        "{\"id\":101,\"content\":\"<m>\",\"single_word\":false,\"lstrip\":true,\"rstrip\":false,\"normalized\":false,\"special\":true},"
        "{\"id\":102,\"content\":\"<n>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
        "{\"id\":103,\"content\":\"<r>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":true,\"normalized\":false,\"special\":true},"
        "{\"id\":104,\"content\":\"zz\",\"single_word\":true,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":false},"
        "{\"id\":105,\"content\":\"<a>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
        "{\"id\":106,\"content\":\"<a><b>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
        "{\"id\":107,\"content\":\"hello\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":false}]";
    /* Lowercase + WhitespaceSplit: raw tokens are matched before lowercasing,
     * normalized ones after. "hello" is in the model vocabulary: it keeps id 3. */
    xl_tokenizer *t = MAKE(wp_model(""), "{\"type\":\"Lowercase\"}", WS_SPLIT, BERT_TEMPLATE, added);
    IDS(t, "HELLO [MASK]", 0, 3, 32);
    IDS(t, "HELLO [MASK]", 1, 1, 3, 32, 2);    /* split out whether or not specials are added */
    IDS(t, "[mask]", 0, 0);                    /* raw pattern: the lowercase text does not match */
    IDS(t, "a XYZ b", 0, 5, 100, 6);           /* "Xyz" normalized -> "xyz" matches "xyz" */
    IDS(t, "<a><b><a>", 0, 106, 105);          /* leftmost-longest */
    IDS(t, "zz cd", 0, 104, 37);               /* single word */
    IDS(t, "xzz cd", 0, 0, 37);                /* inside a word: not split out ("xzz" has no piece) */
    IDS(t, "zz_", 0, 0);                       /* '_' is a word character */
    IDS(t, "zz\u00e9", 0, 0);                  /* so is a letter outside ASCII */
    IDS(t, "cd,zz", 0, 0, 104);                /* after a comma: split out; "cd," has no piece */
    xl_tokenizer_free(t);

    /* lstrip / rstrip, without a pre-tokenizer so that spaces stay visible */
    t = MAKE(wp_model(""), "null", "null", "null", added);
    IDS(t, "a  <m>", 0, 5, 101);   /* lstrip eats the spaces before */
    IDS(t, "a  <n>", 0, 39, 102);  /* no lstrip: "a  " stays */
    IDS(t, "<r>  b", 0, 103, 6);   /* rstrip eats the spaces after */
    IDS(t, "<n>  b", 0, 102, 40);
    IDS(t, "hello", 0, 3);         /* an added token with a model id keeps it */
    xl_tokenizer_free(t);

    /* a content listed three times keeps its first id; an empty content is ignored */
    t = MAKE(wp_model(""), "null", WS_SPLIT, "null",
             "[{\"id\":120,\"content\":\"<d>\",\"special\":true,\"normalized\":false},"
             "{\"id\":121,\"content\":\"<d>\",\"special\":true,\"normalized\":false},"
             "{\"id\":122,\"content\":\"<d>\",\"special\":true,\"normalized\":false},"
             "{\"id\":123,\"content\":\"\",\"special\":true,\"normalized\":false}]");
    IDS(t, "a<d>b", 0, 5, 120, 6);
    if (t) CHECK_EQ_INT(xl_tokenizer_vocab_size(t), 121);
    xl_tokenizer_free(t);
}

/* ----------------------------------------------------------- post-processors */

static void test_postprocessors(void) {
    const char *multi = "{\"type\":\"TemplateProcessing\",\"single\":[\"[CLS]\",\"$A\",\"[SEP]:0\"],\"pair\":[],"
                        "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[1,7],\"tokens\":[\"[CLS]\",\"c\"]},"
                        "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[2],\"tokens\":[\"[SEP]\"]}}}";
    xl_tokenizer *t = MAKE(wp_model(""), "null", WS_SPLIT, multi, "[]");
    IDS(t, "hello", 1, 1, 7, 3, 2);
    IDS(t, "hello", 0, 3);
    xl_encoding enc;
    if (t && xl_tokenize(t, "hello world", 11, 1, &enc) == XL_OK) {
        static const uint8_t want[] = {1, 1, 0, 0, 1};
        CHECK_EQ_INT(enc.n, 5);
        CHECK(enc.n == 5 && memcmp(enc.special, want, 5) == 0);
        /* truncation keeps the specials and cuts content from the end */
        CHECK_EQ_INT(xl_encoding_truncate(&enc, 10), 0);
        CHECK_EQ_INT(enc.n, 5);
        CHECK_EQ_INT(xl_encoding_truncate(&enc, 4), 1);
        CHECK(enc.n == 4 && enc.ids[0] == 1 && enc.ids[1] == 7 && enc.ids[2] == 3 && enc.ids[3] == 2);
        CHECK_EQ_INT(xl_encoding_truncate(&enc, 3), 1);
        CHECK(enc.n == 3 && enc.ids[0] == 1 && enc.ids[1] == 7 && enc.ids[2] == 2);
        CHECK_EQ_INT(xl_encoding_truncate(&enc, 2), 1);
        CHECK(enc.n == 2 && enc.ids[0] == 1 && enc.ids[1] == 7);
        xl_encoding_free(&enc);
    } else {
        CHECK(!"tokenize for truncation");
    }
    xl_tokenizer_free(t);

    t = MAKE(wp_model(""), "null", WS_SPLIT, "{\"type\":\"TemplateProcessing\",\"single\":\"[CLS] $A [SEP]\","
             "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[1],\"tokens\":[\"[CLS]\"]},"
             "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[2],\"tokens\":[\"[SEP]\"]}}}", "[]");
    IDS(t, "hello", 1, 1, 3, 2);
    xl_tokenizer_free(t);

    t = MAKE(wp_model(""), "null", WS_SPLIT, "{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",2],\"cls\":[\"[CLS]\",1]}", "[]");
    IDS(t, "hello world", 1, 1, 3, 4, 2);
    IDS(t, "hello world", 0, 3, 4);
    xl_tokenizer_free(t);

    t = MAKE(wp_model(""), "null", WS_SPLIT, "{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",9],\"cls\":[\"<s>\",8],"
             "\"trim_offsets\":true,\"add_prefix_space\":true}", "[]");
    IDS(t, "hello", 1, 8, 3, 9);
    xl_tokenizer_free(t);

    char seq[2048];
    snprintf(seq, sizeof seq, "{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
             "\"trim_offsets\":false,\"use_regex\":true},%s]}", BERT_TEMPLATE);
    t = MAKE(wp_model(""), "null", WS_SPLIT, seq, "[]");
    IDS(t, "hello", 1, 1, 3, 2);
    xl_tokenizer_free(t);

    t = MAKE(wp_model(""), "null", WS_SPLIT, "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false}", "[]");
    IDS(t, "hello", 1, 3);
    xl_tokenizer_free(t);

    EXPECT_LOAD_ERROR("{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[X]\",\"type_id\":0}}],"
                      "\"special_tokens\":{}},\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", XL_ERR_FORMAT, "[X]");
    EXPECT_LOAD_ERROR("{\"post_processor\":{\"type\":\"Mystery\"},\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}",
                      XL_ERR_UNSUPPORTED, "Mystery");
}

/* --------------------------------------------------------------------- misc */

static void test_errors(void) {
    EXPECT_LOAD_ERROR("{\"normalizer\":{\"type\":\"Foo\"},\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", XL_ERR_UNSUPPORTED, "Foo");
    EXPECT_LOAD_ERROR("{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Foo\"}]},"
                      "\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", XL_ERR_UNSUPPORTED, "normalizers[1]");
    EXPECT_LOAD_ERROR("{\"pre_tokenizer\":{\"type\":\"Bar\"},\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", XL_ERR_UNSUPPORTED, "Bar");
    EXPECT_LOAD_ERROR("{\"model\":{\"type\":\"WordPiece\",\"vocab\":", XL_ERR_FORMAT, "invalid JSON");
    EXPECT_LOAD_ERROR("{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\"}}", XL_ERR_FORMAT, "vocab");
    EXPECT_LOAD_ERROR("{\"model\":{\"type\":\"Unigram\"}}", XL_ERR_FORMAT, "vocab");
    EXPECT_LOAD_ERROR("{\"model\":{\"type\":\"Mystery\",\"vocab\":{}}}", XL_ERR_UNSUPPORTED, "Mystery");
    EXPECT_LOAD_ERROR("{\"normalizer\":null}", XL_ERR_FORMAT, "model");
    EXPECT_LOAD_ERROR("{\"version\":\"2.0\",\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", XL_ERR_UNSUPPORTED, "2.0");
    EXPECT_LOAD_ERROR("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":\"zero\"}}}", XL_ERR_FORMAT, "vocab");
    EXPECT_LOAD_ERROR("{\"added_tokens\":[{\"id\":1}],\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", XL_ERR_FORMAT, "added_tokens[0]");
    EXPECT_LOAD_ERROR("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":4000000000}}}", XL_ERR_FORMAT, "vocab");

    xl_tokenizer *t = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/missing/tokenizer.json", g_dir);
    CHECK_EQ_INT(xl_tokenizer_load(path, &t), XL_ERR_IO);
    CHECK(t == NULL && strstr(xl_last_error(), "missing") != NULL);
    CHECK_EQ_INT(xl_tokenizer_load(NULL, &t), XL_ERR_ARG);
}

static void test_input_repair(void) {
    xl_tokenizer *t = MAKE(wp_model(""), "null", WS_SPLIT, "null", "[]");
    IDS(t, "a \xff b", 0, 5, 48, 6);       /* invalid byte -> U+FFFD (a piece here) */
    IDS(t, "a \xe2\x82 b", 0, 5, 48, 6);   /* truncated sequence -> one U+FFFD */
    IDS(t, "a \xc0\xaf b", 0, 5, 0, 6);    /* overlong: two U+FFFD, no such piece: [UNK] */
    xl_encoding enc;
    CHECK_EQ_INT(xl_tokenize(t, NULL, 3, 0, &enc), XL_ERR_ARG);
    CHECK_EQ_INT(xl_tokenize(t, NULL, 0, 0, &enc), XL_OK);
    CHECK_EQ_INT(enc.n, 0);
    xl_encoding_free(&enc);
    xl_tokenizer_free(t);
}

static void test_api_and_files(void) {
    char dir1[512], dir2[512], path[600];
    snprintf(dir1, sizeof dir1, "%s/model1", g_dir);
    snprintf(dir2, sizeof dir2, "%s/model2", g_dir);
    mkdir(dir1, 0700);
    mkdir(dir2, 0700);
    const char *added = "[{\"id\":57,\"content\":\"<extra>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
                        "\"normalized\":false,\"special\":true}]";
    char *json = tokenizer_json(wp_model(""), "null", WS_SPLIT, BERT_TEMPLATE, added);
    write_file("model1/tokenizer.json", json);
    free(json);
    write_file("model1/tokenizer_config.json", "{\"model_max_length\": 512, \"do_lower_case\": true}");

    xl_tokenizer *t = NULL;
    CHECK_EQ_INT(xl_tokenizer_load(dir1, &t), XL_OK); /* a folder */
    if (t) {
        CHECK_EQ_INT(xl_tokenizer_model_max_length(t), 512);
        CHECK_STR(xl_tokenizer_type(t), "WordPiece");
        CHECK_EQ_INT(xl_tokenizer_vocab_size(t), 58); /* ids 0..56 + the added 57 */
        CHECK_STR(xl_tokenizer_id_to_token(t, 3), "hello");
        CHECK_STR(xl_tokenizer_id_to_token(t, 57), "<extra>");
        CHECK(xl_tokenizer_id_to_token(t, 58) == NULL && xl_tokenizer_id_to_token(t, -1) == NULL);
        CHECK_EQ_INT(xl_tokenizer_token_to_id(t, "##aff"), 21);
        CHECK_EQ_INT(xl_tokenizer_token_to_id(t, "<extra>"), 57);
        CHECK_EQ_INT(xl_tokenizer_token_to_id(t, "nope"), -1);
        IDS(t, "hello<extra>", 1, 1, 3, 57, 2);
    }
    xl_tokenizer_free(t);

    /* a "text symlink" (a file holding a relative path), and 1e30 = no limit */
    write_file("model2/tokenizer.json", "../model1/tokenizer.json");
    write_file("model2/tokenizer_config.json", "{\"model_max_length\": 1000000000000000019884624838656}");
    t = NULL;
    CHECK_EQ_INT(xl_tokenizer_load(dir2, &t), XL_OK);
    if (t) {
        CHECK_EQ_INT(xl_tokenizer_model_max_length(t), 0);
        IDS(t, "hello", 1, 1, 3, 2);
    }
    xl_tokenizer_free(t);

    /* a real symlink to the file; the config beside the link is read */
    snprintf(path, sizeof path, "%s/model3", g_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/model3/tokenizer.json", g_dir);
    CHECK(symlink("../model1/tokenizer.json", path) == 0);
    write_file("model3/tokenizer_config.json", "{\"model_max_length\": 128}");
    t = NULL;
    CHECK_EQ_INT(xl_tokenizer_load(path, &t), XL_OK);
    if (t) CHECK_EQ_INT(xl_tokenizer_model_max_length(t), 128);
    xl_tokenizer_free(t);
    unlink(path);
}

/* Memory and time stay linear: a 10 MB single line, and a 1 MB run without spaces. */
static void test_big_input(void) {
    xl_tokenizer *t = MAKE(wp_model(""), "{\"type\":\"BertNormalizer\",\"lowercase\":true}", "{\"type\":\"BertPreTokenizer\"}", "null", "[]");
    size_t reps = 10 * 1000 * 1000 / 12, len = reps * 12;
    char *text = malloc(len + 1);
    for (size_t i = 0; i < reps; i++) memcpy(text + 12 * i, "Hello world ", 12);
    text[len] = '\0';
    xl_encoding enc;
    if (t && xl_tokenize(t, text, len, 0, &enc) == XL_OK) {
        CHECK_EQ_INT(enc.n, 2 * reps);
        CHECK(enc.ids[0] == 3 && enc.ids[1] == 4 && enc.ids[enc.n - 1] == 4);
        xl_encoding_free(&enc);
    } else {
        CHECK(!"10 MB input tokenizes");
    }
    xl_tokenizer_free(t);
    free(text);

    char model[2048];
    snprintf(model, sizeof model, "{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":%s}", UNIGRAM_VOCAB);
    t = MAKE(model, "null", "{\"type\":\"Metaspace\",\"replacement\":\"\u2581\",\"prepend_scheme\":\"always\",\"split\":true}", "null", "[]");
    len = 1000 * 1000;
    text = malloc(len + 1);
    memset(text, 'b', len);
    text[len] = '\0';
    if (t && xl_tokenize(t, text, len, 0, &enc) == XL_OK) {
        CHECK_EQ_INT(enc.n, len + 1); /* \u2581 then one b per byte */
        CHECK(enc.ids[0] == 7 && enc.ids[1] == 2 && enc.ids[enc.n - 1] == 2);
        xl_encoding_free(&enc);
    } else {
        CHECK(!"1 MB word tokenizes");
    }
    xl_tokenizer_free(t);
    free(text);
}

static void remove_tree(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/xl_tok_units_XXXXXX");
    if (!mkdtemp(g_dir)) {
        t_skip_case("tokenizer units", "cannot create a temporary folder");
        return test_summary("test_tokenizer_units");
    }
    test_wordpiece();
    test_unigram();
    test_bert_normalizer();
    test_unicode_normalizers();
    test_strip_prepend_replace();
    test_precompiled();
    test_split();
    test_simple_pretokenizers();
    test_metaspace();
    test_bytelevel();
    test_added_tokens();
    test_postprocessors();
    test_errors();
    test_input_repair();
    test_api_and_files();
    test_big_input();
    remove_tree(g_dir);
    return test_summary("test_tokenizer_units");
}
