/* Tests of the BPE model (src/tokenizer/bpe.c) against the semantics of the Hugging
 * Face `tokenizers` crate (models/bpe/model.rs merge_word + word.rs merge_all):
 *   - hand-made vocabularies where the expected ids follow from those rules (the
 *     reason is given next to each case);
 *   - the real Llama 3.1, Qwen3 and Gemma 3 models on corpus lines whose pre-tokens
 *     are easy to derive without the pipeline, against the reference ids in
 *     expected/<name>.nospecial.jsonl (exact match: ids are integers);
 *   - long pre-tokens cut into pieces against merging them whole. */
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "tokenizer/tok_model.h"
#include "util/error.h"
#include "util/json.h"

/* Loads a BPE model from JSON text; returns the status. */
static xl_status load_text(const char *json, xl_tok_model *m) {
    json_error_t e;
    json_t *j = xl_json_loadb(json, strlen(json), &e);
    if (!j) {
        fprintf(stderr, "bad test JSON: %s\n", e.text);
        return XL_ERR_FORMAT;
    }
    xl_status st = xl_bpe_load(j, "test.json", m);
    json_decref(j); /* the model copies what it keeps */
    return st;
}

/* Encodes s and compares with want[0..n). */
static void expect_ids(const xl_tok_model *m, const char *s, const int32_t *want, size_t n, const char *what) {
    xl_ivec v = {0};
    xl_status st = m->ops->encode(m->impl, s, strlen(s), &v);
    CHECK_MSG(st == XL_OK, "%s: encode failed: %s", what, xl_last_error());
    int same = v.n == n;
    for (size_t i = 0; same && i < n; i++) same = v.v[i] == want[i];
    CHECK_MSG(same, "%s: \"%s\" gave %zu ids (first %d), want %zu", what, s, v.n, v.n ? v.v[0] : -1, n);
    if (!same) {
        fprintf(stderr, "    got:");
        for (size_t i = 0; i < v.n && i < 20; i++) fprintf(stderr, " %d", v.v[i]);
        fprintf(stderr, "\n    want:");
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
    }
    xl_ivec_free(&v);
}
#define EXPECT(m, s, what, ...)                                                   \
    do {                                                                          \
        const int32_t want_[] = {__VA_ARGS__};                                    \
        expect_ids(m, s, want_, sizeof want_ / sizeof want_[0], what);            \
    } while (0)

static void expect_load_error(const char *json, xl_status want, const char *needle, const char *what) {
    xl_tok_model m;
    xl_status st = load_text(json, &m);
    CHECK_MSG(st == want, "%s: status %s, want %s", what, xl_status_name(st), xl_status_name(want));
    CHECK_MSG(strstr(xl_last_error(), needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, xl_last_error(), needle);
    if (st == XL_OK) m.ops->free(m.impl);
}

#define ABC_VOCAB "\"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, \"bc\": 4, \"abc\": 5}"

static void test_merge_order(void) {
    xl_tok_model m;
    /* (b,c) has rank 0, so it merges first; (a,bc) has no merge: [a, bc]. */
    CHECK(load_text("{\"type\": \"BPE\", " ABC_VOCAB ", \"merges\": [\"b c\", \"a b\"]}", &m) == XL_OK);
    EXPECT(&m, "abc", "rank order b c first", 0, 4);
    CHECK_STR(m.ops->type, "BPE");
    CHECK_EQ_INT(m.ops->vocab_size(m.impl), 6);
    CHECK_EQ_INT(m.ops->token_to_id(m.impl, "bc", 2), 4);
    CHECK_EQ_INT(m.ops->token_to_id(m.impl, "cb", 2), -1);
    CHECK_STR(m.ops->id_to_token(m.impl, 5), "abc");
    CHECK(m.ops->id_to_token(m.impl, 6) == NULL);
    CHECK(m.ops->id_to_token(m.impl, -1) == NULL);
    m.ops->free(m.impl);
    /* Swapped ranks: (a,b) first, then (ab,c) has no merge: [ab, c]. */
    CHECK(load_text("{" ABC_VOCAB ", \"merges\": [\"a b\", \"b c\"]}", &m) == XL_OK);
    EXPECT(&m, "abc", "rank order a b first", 3, 2);
    /* Characters without merges stay single symbols; repeated ones merge pairwise. */
    EXPECT(&m, "cab", "merge at the end", 2, 3);
    m.ops->free(m.impl);
    /* Chained: (a,b) rank 0, then (ab,c) rank 2 beats nothing else: [abc]. */
    CHECK(load_text("{" ABC_VOCAB ", \"merges\": [[\"a\", \"b\"], [\"b\", \"c\"], [\"ab\", \"c\"]]}", &m) == XL_OK);
    EXPECT(&m, "abc", "chained merges", 5);
    EXPECT(&m, "abcabc", "chained merges twice", 5, 5);
    m.ops->free(m.impl);
    /* A pair listed twice keeps its last rank (the crate collects the merges into a
     * map, later entries overwrite): (a,b) has rank 2 > (b,c) rank 1 -> [a, bc]. */
    CHECK(load_text("{" ABC_VOCAB ", \"merges\": [\"a b\", \"b c\", \"a b\"]}", &m) == XL_OK);
    EXPECT(&m, "abc", "duplicate merge takes the last rank", 0, 4);
    m.ops->free(m.impl);
}

static void test_ties(void) {
    xl_tok_model m;
    CHECK(load_text("{\"vocab\": {\"a\": 0, \"aa\": 1, \"aaaa\": 2}, \"merges\": [\"a a\", \"aa aa\"]}", &m) == XL_OK);
    /* Equal ranks merge leftmost first: "aaa" -> (a,a) at 0 wins over (a,a) at 1. */
    EXPECT(&m, "aaa", "leftmost tie", 1, 0);
    /* "aaaaa": aa|aa|a after rank 0 (the entry at position 1 went stale), then (aa,aa). */
    EXPECT(&m, "aaaaa", "stale entries skipped", 2, 0);
    EXPECT(&m, "a", "single char", 0);
    /* 100001 a's: rank 0 pairs them left to right (50000 aa + a), rank 1 pairs the aa
     * (25000 aaaa + a). Also checks a long word merges in reasonable time. */
    size_t n = 100001;
    char *s = malloc(n + 1);
    memset(s, 'a', n);
    s[n] = '\0';
    xl_ivec v = {0};
    CHECK(m.ops->encode(m.impl, s, n, &v) == XL_OK);
    CHECK_EQ_INT(v.n, 25001);
    int ok = v.n == 25001;
    for (size_t i = 0; ok && i < 25000; i++) ok = v.v[i] == 2;
    CHECK(ok && v.v[25000] == 0);
    xl_ivec_free(&v);
    free(s);
    m.ops->free(m.impl);
}

static void test_merges_formats(void) {
    /* The same merges as "a b" strings and as ["a", "b"] pairs give the same result;
     * a legacy "#version" line is skipped and takes no rank. */
    const char *legacy = "{" ABC_VOCAB ", \"merges\": [\"#version: 0.2\", \"b c\", \"a b\", \"a bc\"]}";
    const char *pairs = "{" ABC_VOCAB ", \"merges\": [[\"b\", \"c\"], [\"a\", \"b\"], [\"a\", \"bc\"]]}";
    xl_tok_model m1, m2;
    CHECK(load_text(legacy, &m1) == XL_OK);
    CHECK(load_text(pairs, &m2) == XL_OK);
    EXPECT(&m1, "abc", "legacy merges", 5);
    EXPECT(&m2, "abc", "pair merges", 5);
    EXPECT(&m1, "abab", "legacy merges 2", 3, 3);
    EXPECT(&m2, "abab", "pair merges 2", 3, 3);
    m1.ops->free(m1.impl);
    m2.ops->free(m2.impl);
    /* Tokens may contain spaces in the pair format only. */
    CHECK(load_text("{\"vocab\": {\"a\": 0, \" \": 1, \"a \": 2}, \"merges\": [[\"a\", \" \"]]}", &m1) == XL_OK);
    EXPECT(&m1, "a a ", "space tokens", 2, 2);
    m1.ops->free(m1.impl);
}

static void test_ignore_merges(void) {
    const char *vocab = "\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"abb\": 3}, \"merges\": [\"a b\"]";
    char json[256];
    xl_tok_model m;
    /* "abb" is in the vocabulary but no merge builds it: with ignore_merges it is
     * emitted whole, without it the merges give [ab, b]. */
    snprintf(json, sizeof json, "{%s, \"ignore_merges\": true}", vocab);
    CHECK(load_text(json, &m) == XL_OK);
    EXPECT(&m, "abb", "ignore_merges whole word", 3);
    EXPECT(&m, "abab", "ignore_merges falls back to merges", 2, 2);
    m.ops->free(m.impl);
    snprintf(json, sizeof json, "{%s, \"ignore_merges\": false}", vocab);
    CHECK(load_text(json, &m) == XL_OK);
    EXPECT(&m, "abb", "merges only", 2, 1);
    m.ops->free(m.impl);
}

static void test_unk(void) {
    xl_tok_model m;
    const char *vocab = "\"vocab\": {\"<unk>\": 0, \"a\": 1, \"b\": 2, \"ab\": 3}, \"merges\": [\"a b\"]";
    char json[256];
    /* Unknown characters become <unk>; fuse_unk fuses consecutive ones. Merges still
     * apply around them. */
    snprintf(json, sizeof json, "{%s, \"unk_token\": \"<unk>\", \"fuse_unk\": true}", vocab);
    CHECK(load_text(json, &m) == XL_OK);
    EXPECT(&m, "xy\xC3\xA9" "ab", "fused unk", 0, 3);
    EXPECT(&m, "axyb", "fused unk between", 1, 0, 2);
    EXPECT(&m, "abz", "unk at end", 3, 0);
    m.ops->free(m.impl);
    snprintf(json, sizeof json, "{%s, \"unk_token\": \"<unk>\", \"fuse_unk\": false}", vocab);
    CHECK(load_text(json, &m) == XL_OK);
    EXPECT(&m, "xy\xC3\xA9" "ab", "unfused unk", 0, 0, 0, 3);
    m.ops->free(m.impl);
    /* Without unk_token the crate drops unknown characters. */
    snprintf(json, sizeof json, "{%s, \"unk_token\": null}", vocab);
    CHECK(load_text(json, &m) == XL_OK);
    EXPECT(&m, "xaby", "no unk_token: dropped", 3);
    /* Dropping a character makes its neighbours adjacent: "a?b" merges to ab. */
    EXPECT(&m, "a?b", "dropped char joins neighbours", 3);
    xl_ivec v = {0};
    CHECK(m.ops->encode(m.impl, "xyz", 3, &v) == XL_OK && v.n == 0);
    xl_ivec_free(&v);
    m.ops->free(m.impl);
    /* An unk_token missing from the vocabulary only fails when it is needed (as in
     * the crate, where the lookup happens inside merge_word). */
    snprintf(json, sizeof json, "{%s, \"unk_token\": \"[UNK]\"}", vocab);
    CHECK(load_text(json, &m) == XL_OK);
    EXPECT(&m, "ab", "unused bad unk", 3);
    CHECK(m.ops->encode(m.impl, "x", 1, &v) == XL_ERR_FORMAT);
    CHECK(strstr(xl_last_error(), "[UNK]") != NULL && strstr(xl_last_error(), "test.json") != NULL);
    xl_ivec_free(&v);
    m.ops->free(m.impl);
}

static void test_byte_fallback(void) {
    xl_tok_model m;
    /* byte_fallback: an unknown character becomes its UTF-8 bytes as <0xXX> tokens
     * (upper-case hex, the crate's format!("<{b:#04X}>")), if all of them exist;
     * otherwise it is <unk>. é = C3 A9, ü = C3 BC (no <0xBC> here). */
    CHECK(load_text("{\"vocab\": {\"<unk>\": 0, \"a\": 1, \"<0xC3>\": 2, \"<0xA9>\": 3, \"<0x0A>\": 4, \"\xC3\xA9\": 5},"
                    " \"merges\": [], \"unk_token\": \"<unk>\", \"byte_fallback\": true, \"fuse_unk\": true}", &m) == XL_OK);
    EXPECT(&m, "a\xC3\xA9", "known char, no fallback", 1, 5);
    m.ops->free(m.impl);
    CHECK(load_text("{\"vocab\": {\"<unk>\": 0, \"a\": 1, \"<0xC3>\": 2, \"<0xA9>\": 3, \"<0x0A>\": 4},"
                    " \"merges\": [], \"unk_token\": \"<unk>\", \"byte_fallback\": true, \"fuse_unk\": true}", &m) == XL_OK);
    EXPECT(&m, "a\xC3\xA9", "byte fallback", 1, 2, 3);
    EXPECT(&m, "\n", "byte fallback 0x0A", 4);
    EXPECT(&m, "a\xC3\xBC" "a", "missing byte -> unk", 1, 0, 1);
    /* The crate adds byte-fallback tokens without flushing a pending <unk> first, so
     * "üé" gives the bytes of é, then the <unk> of ü (model.rs merge_word). */
    EXPECT(&m, "\xC3\xBC\xC3\xA9", "pending unk after byte fallback", 2, 3, 0);
    m.ops->free(m.impl);
}

static void test_prefix_suffix(void) {
    xl_tok_model m;
    /* continuing_subword_prefix "##": every character but the first is looked up as
     * "##c"; the merge ("a", "##b") yields "a" + "b" (the prefix's length is cut from
     * the right token). (##b, ##c) -> "##bc" has rank 0; (a, ##bc) has no merge. */
    const char *vocab = "\"vocab\": {\"a\": 0, \"##b\": 1, \"##c\": 2, \"ab\": 3, \"##bc\": 4, \"abc\": 5, \"b\": 6}";
    char json[512];
    snprintf(json, sizeof json, "{%s, \"merges\": [\"##b ##c\", \"a ##b\", \"ab ##c\"], \"continuing_subword_prefix\": \"##\"}", vocab);
    CHECK(load_text(json, &m) == XL_OK);
    EXPECT(&m, "abc", "prefix merges", 0, 4);
    EXPECT(&m, "ab", "prefix merge a ##b", 3);
    EXPECT(&m, "bc", "first char without prefix", 6, 2);
    m.ops->free(m.impl);
    snprintf(json, sizeof json, "{%s, \"merges\": [\"a ##b\", \"ab ##c\"], \"continuing_subword_prefix\": \"##\"}", vocab);
    CHECK(load_text(json, &m) == XL_OK);
    EXPECT(&m, "abc", "prefix merges chained", 5);
    m.ops->free(m.impl);
    /* end_of_word_suffix "</w>": the last character is looked up as "c</w>". */
    CHECK(load_text("{\"vocab\": {\"a\": 0, \"b\": 1, \"a</w>\": 2, \"b</w>\": 3, \"ab</w>\": 4},"
                    " \"merges\": [\"a b</w>\"], \"end_of_word_suffix\": \"</w>\"}", &m) == XL_OK);
    EXPECT(&m, "ab", "suffix merge", 4);
    EXPECT(&m, "ba", "suffix on last char", 1, 2);
    EXPECT(&m, "a", "single char gets the suffix", 2);
    m.ops->free(m.impl);
    /* "" and null mean no prefix/suffix (Qwen3 writes ""). */
    CHECK(load_text("{" ABC_VOCAB ", \"merges\": [\"a b\"], \"continuing_subword_prefix\": \"\", \"end_of_word_suffix\": \"\"}", &m) == XL_OK);
    EXPECT(&m, "abc", "empty prefix and suffix", 3, 2);
    m.ops->free(m.impl);
}

static void test_load_errors(void) {
    /* Dropout is random: rejected when > 0; null and 0 are deterministic. */
    expect_load_error("{" ABC_VOCAB ", \"merges\": [], \"dropout\": 0.1}", XL_ERR_UNSUPPORTED, "dropout", "dropout 0.1");
    expect_load_error("{" ABC_VOCAB ", \"merges\": [], \"dropout\": 1.5}", XL_ERR_FORMAT, "dropout", "dropout 1.5");
    expect_load_error("{" ABC_VOCAB ", \"merges\": [], \"dropout\": 0}", XL_OK, "", "dropout 0");
    expect_load_error("{" ABC_VOCAB ", \"merges\": [], \"dropout\": null}", XL_OK, "", "dropout null");
    /* Merges with tokens outside the vocabulary name the entry and the token. */
    expect_load_error("{" ABC_VOCAB ", \"merges\": [\"a b\", \"a z\"]}", XL_ERR_FORMAT, "model.merges[1] \"a z\": token \"z\"", "unknown right token");
    expect_load_error("{" ABC_VOCAB ", \"merges\": [[\"q\", \"b\"]]}", XL_ERR_FORMAT, "model.merges[0] \"q b\": token \"q\"", "unknown left token");
    expect_load_error("{" ABC_VOCAB ", \"merges\": [\"a c\"]}", XL_ERR_FORMAT, "merged token \"ac\"", "unknown merged token");
    expect_load_error("{" ABC_VOCAB ", \"merges\": [\"a b c\"]}", XL_ERR_FORMAT, "model.merges[0]", "three parts");
    expect_load_error("{" ABC_VOCAB ", \"merges\": [\"ab\"]}", XL_ERR_FORMAT, "model.merges[0]", "one part");
    expect_load_error("{" ABC_VOCAB ", \"merges\": [\"a b\", [\"b\", \"c\"]]}", XL_ERR_FORMAT, "model.merges[1]", "mixed formats");
    expect_load_error("{" ABC_VOCAB ", \"merges\": [[\"a\"]]}", XL_ERR_FORMAT, "model.merges[0]", "short pair");
    expect_load_error("{" ABC_VOCAB "}", XL_ERR_FORMAT, "model.merges", "no merges");
    expect_load_error("{\"merges\": []}", XL_ERR_FORMAT, "model.vocab", "no vocab");
    expect_load_error("{\"vocab\": {\"a\": -1}, \"merges\": []}", XL_ERR_FORMAT, "model.vocab[\"a\"]", "negative id");
    expect_load_error("{\"vocab\": {\"a\": \"0\"}, \"merges\": []}", XL_ERR_FORMAT, "model.vocab[\"a\"]", "string id");
    expect_load_error("{\"type\": \"WordPiece\", " ABC_VOCAB ", \"merges\": []}", XL_ERR_FORMAT, "model.type", "wrong type");
    expect_load_error("{" ABC_VOCAB ", \"merges\": [], \"fuse_unk\": 1}", XL_ERR_FORMAT, "fuse_unk", "bad bool");
    expect_load_error("{" ABC_VOCAB ", \"merges\": [], \"unk_token\": 3}", XL_ERR_FORMAT, "unk_token", "bad unk");
    expect_load_error("{\"vocab\": {\"a\": 0, \"#\": 1}, \"merges\": [\"a #\"], \"continuing_subword_prefix\": \"##\"}",
                      XL_ERR_FORMAT, "continuing_subword_prefix", "right token shorter than prefix");
    /* The error names the file given by the caller. */
    expect_load_error("{" ABC_VOCAB ", \"merges\": [\"a z\"]}", XL_ERR_FORMAT, "test.json", "file named");
}

static void test_sparse_ids(void) {
    /* Ids need not be dense; two tokens may share an id (id_to_token gives the first). */
    xl_tok_model m;
    CHECK(load_text("{\"vocab\": {\"a\": 7, \"b\": 2000000000, \"ab\": 5, \"x\": 5}, \"merges\": [\"a b\"]}", &m) == XL_OK);
    EXPECT(&m, "ab", "sparse ids", 5);
    EXPECT(&m, "ba", "sparse ids 2", 2000000000, 7);
    CHECK_STR(m.ops->id_to_token(m.impl, 2000000000), "b");
    CHECK_STR(m.ops->id_to_token(m.impl, 5), "ab");
    CHECK(m.ops->id_to_token(m.impl, 6) == NULL);
    CHECK_EQ_INT(m.ops->vocab_size(m.impl), 4);
    m.ops->free(m.impl);
}

/* Random vocabularies over {a, b, c}, checked against the definition of BPE encoding
 * written the slow way: repeatedly merge the adjacent pair of lowest rank, leftmost
 * first. (The crate's heap also skips a stale entry unless the pair now there merges
 * into the same id; concatenations only grow, so with one id per string that never
 * accepts a pair the slow way would not merge.) */
#define RV_MAX 64
typedef struct {
    char tok[RV_MAX][16];
    int n_tok;
    int ma[RV_MAX], mb[RV_MAX], mnew[RV_MAX], n_merge;
} rand_vocab;

static unsigned rv_next(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7FFF;
}

static int rv_find(const rand_vocab *v, const char *s) {
    for (int i = 0; i < v->n_tok; i++)
        if (strcmp(v->tok[i], s) == 0) return i;
    return -1;
}

static void rv_build(rand_vocab *v, unsigned *seed) {
    memset(v, 0, sizeof *v);
    for (int i = 0; i < 3; i++) v->tok[v->n_tok++][0] = (char)('a' + i);
    for (int tries = 0; tries < 200 && v->n_merge < 40 && v->n_tok < RV_MAX; tries++) {
        int a = (int)(rv_next(seed) % (unsigned)v->n_tok), b = (int)(rv_next(seed) % (unsigned)v->n_tok);
        char cat[32];
        if (strlen(v->tok[a]) + strlen(v->tok[b]) > 8) continue;
        snprintf(cat, sizeof cat, "%s%s", v->tok[a], v->tok[b]);
        int dup = 0;
        for (int k = 0; k < v->n_merge; k++) dup |= v->ma[k] == a && v->mb[k] == b;
        if (dup) continue;
        int c = rv_find(v, cat);
        if (c < 0) {
            c = v->n_tok++;
            memcpy(v->tok[c], cat, strlen(cat) + 1); /* at most 8 characters */
        }
        v->ma[v->n_merge] = a;
        v->mb[v->n_merge] = b;
        v->mnew[v->n_merge++] = c;
    }
}

static size_t rv_slow_encode(const rand_vocab *v, const char *s, int32_t *ids) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) ids[i] = s[i] - 'a';
    for (;;) {
        int best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < n; i++)
            for (int k = 0; k < v->n_merge; k++)
                if (v->ma[k] == ids[i] && v->mb[k] == ids[i + 1] && (best < 0 || k < best)) {
                    best = k;
                    at = i;
                }
        if (best < 0) return n;
        ids[at] = v->mnew[best];
        memmove(ids + at + 1, ids + at + 2, (n - at - 2) * sizeof *ids);
        n--;
    }
}

static void test_random_vocabularies(void) {
    unsigned seed = 12345;
    int bad = 0, words = 0;
    for (int round = 0; round < 40; round++) {
        rand_vocab v;
        rv_build(&v, &seed);
        json_t *vocab = json_object(), *merges = json_array();
        for (int i = 0; i < v.n_tok; i++) json_object_set_new(vocab, v.tok[i], json_integer(i));
        for (int k = 0; k < v.n_merge; k++) json_array_append_new(merges, json_pack("[ss]", v.tok[v.ma[k]], v.tok[v.mb[k]]));
        json_t *model = json_pack("{s:o, s:o}", "vocab", vocab, "merges", merges);
        xl_tok_model m;
        xl_status st = xl_bpe_load(model, "random", &m);
        json_decref(model);
        CHECK_MSG(st == XL_OK, "random vocabulary %d: %s", round, xl_last_error());
        if (st) continue;
        for (int w = 0; w < 50; w++) {
            char s[200];
            int len = 1 + (int)(rv_next(&seed) % (w < 45 ? 24u : 190u));
            for (int i = 0; i < len; i++) s[i] = (char)('a' + rv_next(&seed) % 3);
            s[len] = '\0';
            int32_t want[200];
            size_t nw = rv_slow_encode(&v, s, want);
            xl_ivec got = {0};
            st = m.ops->encode(m.impl, s, (size_t)len, &got);
            words++;
            if (st || got.n != nw || memcmp(got.v, want, nw * sizeof *want) != 0) {
                if (bad++ < 3) fprintf(stderr, "  random vocabulary %d: \"%s\" differs from the slow definition\n", round, s);
            }
            xl_ivec_free(&got);
        }
        m.ops->free(m.impl);
    }
    CHECK_MSG(bad == 0, "%d of %d random words differ", bad, words);
}

/* Long pre-tokens are cut into pieces where no merge can join the two sides (bpe.c):
 * the ids must be those of merging the whole pre-token with one heap. Random
 * vocabularies over a, b, c and the separator "_" (tokens may hold "_" inside, which
 * forbids some cuts), with a character outside the vocabulary ("z": byte fallback or
 * unk, fused or not, which merges with "_") that must never be cut after; every allowed cut is taken
 * (segment_min 1), and the cuts must really happen. */
static void test_long_pretokens(void) {
    unsigned seed = 777;
    int bad = 0, words = 0;
    size_t pieces = 0, uncut = 0;
    for (int round = 0; round < 24; round++) {
        const char *alpha[] = {"a", "b", "c", "_"};
        char tok[64][8];
        int n_tok = 0;
        for (int i = 0; i < 4; i++) snprintf(tok[n_tok++], sizeof tok[0], "%s", alpha[i]);
        json_t *vocab = json_object(), *merges = json_array();
        for (int tries = 0; tries < 300 && n_tok < 60; tries++) {
            int a = (int)(rv_next(&seed) % (unsigned)n_tok), b = (int)(rv_next(&seed) % (unsigned)n_tok);
            char cat[16];
            if (strlen(tok[a]) + strlen(tok[b]) > 6) continue;
            snprintf(cat, sizeof cat, "%s%s", tok[a], tok[b]);
            if (strchr(cat + 1, '_') && rv_next(&seed) % 4) continue; /* "_" inside: rarer */
            int have = 0;
            for (int k = 0; k < n_tok; k++) have |= strcmp(tok[k], cat) == 0;
            if (!have) memcpy(tok[n_tok++], cat, strlen(cat) + 1); /* at most 6 characters */
            json_array_append_new(merges, json_pack("[ss]", tok[a], tok[b]));
        }
        for (int i = 0; i < n_tok; i++) json_object_set_new(vocab, tok[i], json_integer(i));
        int fallback = round % 3 == 0, fuse = round % 2;
        json_object_set_new(vocab, "<unk>", json_integer(n_tok));
        if (fallback) json_object_set_new(vocab, "<0x7A>", json_integer(n_tok + 1));
        /* a merge of the stand-in for "z" with the separator: never cut after a "z" */
        const char *zs = fallback ? "<0x7A>" : "<unk>";
        char zcat[16];
        snprintf(zcat, sizeof zcat, "%s_", zs);
        json_object_set_new(vocab, zcat, json_integer(n_tok + 2));
        json_array_insert_new(merges, 0, json_pack("[ss]", zs, "_"));
        if (round == 5) json_object_set_new(vocab, "dup", json_integer(3)); /* two tokens with id 3: no cuts */
        json_t *model = json_pack("{s:s, s:b, s:b, s:o, s:o}", "unk_token", "<unk>", "fuse_unk", fuse, "byte_fallback",
                                  fallback, "vocab", vocab, "merges", merges);
        xl_tok_model m;
        xl_status st = xl_bpe_load(model, "long", &m);
        json_decref(model);
        CHECK_MSG(st == XL_OK, "long pre-token vocabulary %d: %s", round, xl_last_error());
        if (st) continue;
        for (int w = 0; w < 12; w++) {
            size_t len = 50 + rv_next(&seed) % 3000;
            char *s = malloc(len + 1);
            for (size_t i = 0; i < len; i++) {
                unsigned r = rv_next(&seed) % 100;
                s[i] = r < 25 ? '_' : r < 28 ? 'z' : (char)('a' + r % 3);
            }
            s[len] = '\0';
            xl_ivec whole = {0}, cut = {0};
            size_t np = 0;
            xl_status a = xl_bpe_encode_segmented(&m, s, len, 0, &whole, NULL);
            xl_status b = xl_bpe_encode_segmented(&m, s, len, 1, &cut, &np);
            words++;
            pieces += np;
            uncut += np == 1;
            if (round == 5) CHECK_MSG(np == 1, "a vocabulary with a shared id was cut into %zu pieces", np);
            if (a || b || whole.n != cut.n || memcmp(whole.v, cut.v, whole.n * sizeof *whole.v) != 0) {
                if (bad++ < 3) fprintf(stderr, "  long pre-token %d/%d (%zu bytes, %zu pieces) differs when cut\n", round, w, len, np);
            }
            xl_ivec_free(&whole);
            xl_ivec_free(&cut);
            free(s);
        }
        m.ops->free(m.impl);
    }
    CHECK_MSG(bad == 0, "%d of %d long pre-tokens differ when cut", bad, words);
    CHECK_MSG(pieces > 20 * (size_t)words, "only %zu pieces for %d long pre-tokens", pieces, words);
    CHECK(uncut >= 12); /* the shared-id vocabulary at least */
    printf("long pre-tokens: %d words, %zu pieces, %zu not cut\n", words, pieces, uncut);
}

/* ------------------------------------------------------------ real models */

typedef struct {
    char *text;
    size_t len;
    int32_t *ids;
    size_t n;
} ref_line;

/* Reads corpus.jsonl and expected/<name>.nospecial.jsonl (same order). */
static ref_line *read_refs(const char *dir, const char *name, size_t *n_out) {
    char exp_name[128];
    snprintf(exp_name, sizeof exp_name, "expected/%s.nospecial.jsonl", name);
    FILE *fc = fopen(t_path(dir, "corpus.jsonl"), "r"), *fe = fopen(t_path(dir, exp_name), "r");
    ref_line *r = NULL;
    size_t n = 0, cap = 0;
    char *l1 = NULL, *l2 = NULL;
    size_t c1 = 0, c2 = 0;
    ssize_t n1, n2;
    while (fc && fe && (n1 = getline(&l1, &c1, fc)) > 0 && (n2 = getline(&l2, &c2, fe)) > 0) {
        json_error_t e;
        json_t *jc = xl_json_loadb(l1, (size_t)n1, &e), *je = xl_json_loadb(l2, (size_t)n2, &e);
        const json_t *text = json_object_get(jc, "text"), *ids = json_object_get(je, "ids");
        if (json_is_string(text) && json_is_array(ids)) {
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                r = realloc(r, cap * sizeof *r);
            }
            ref_line *x = &r[n++];
            x->len = json_string_length(text);
            x->text = malloc(x->len + 1);
            memcpy(x->text, json_string_value(text), x->len + 1);
            x->n = json_array_size(ids);
            x->ids = malloc((x->n + 1) * sizeof *x->ids);
            for (size_t i = 0; i < x->n; i++) x->ids[i] = (int32_t)json_integer_value(json_array_get(ids, i));
        }
        json_decref(jc);
        json_decref(je);
    }
    free(l1);
    free(l2);
    if (fc) fclose(fc);
    if (fe) fclose(fe);
    *n_out = n;
    return r;
}

static void free_refs(ref_line *r, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(r[i].text);
        free(r[i].ids);
    }
    free(r);
}

static int load_fixture(const char *dir, const char *name, json_t **root, xl_tok_model *m) {
    char rel[128];
    snprintf(rel, sizeof rel, "models/%s/tokenizer.json", name);
    const char *path = t_path(dir, rel);
    if (xl_json_load_file(path, root) != XL_OK) {
        CHECK_MSG(0, "%s: %s", path, xl_last_error());
        return 0;
    }
    xl_status st = xl_bpe_load(json_object_get(*root, "model"), path, m);
    CHECK_MSG(st == XL_OK, "%s: %s", path, xl_last_error());
    if (st) json_decref(*root);
    return st == XL_OK;
}

static int ids_equal(const xl_ivec *v, const ref_line *r) {
    if (v->n != r->n) return 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i] != r->ids[i]) return 0;
    return 1;
}

/* Llama 3.1 / Qwen3: lines made of ASCII words separated by single spaces, with an
 * optional final . ? or !. Their pre-tokenizer regex gives: the first word, each
 * following word with its leading space, then the punctuation mark; ByteLevel maps
 * the space to "Ġ" (U+0120) and leaves ASCII letters as they are. */
static int simple_words_line(const char *s, size_t len) {
    if (len == 0 || len > 400) return 0;
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))) i++;
        if (i == start) return 0;
        if (i == len) return 1;
        if (s[i] == ' ') { i++; continue; }
        return i + 1 == len && (s[i] == '.' || s[i] == '?' || s[i] == '!');
    }
}

static xl_status encode_byte_level_words(const xl_tok_model *m, const char *s, size_t len, xl_ivec *out) {
    char buf[1024];
    size_t i = 0;
    while (i < len) {
        size_t k = 0;
        if (s[i] == ' ') { memcpy(buf, "\xC4\xA0", 2); k = 2; i++; }
        size_t start = i;
        while (i < len && s[i] != ' ' && s[i] != '.' && s[i] != '?' && s[i] != '!') i++;
        if (i == start) i++; /* the final punctuation mark alone */
        memcpy(buf + k, s + start, i - start);
        xl_status st = m->ops->encode(m->impl, buf, k + (i - start), out);
        if (st) return st;
    }
    return XL_OK;
}

static void test_byte_level_fixture(const char *dir, const char *name) {
    json_t *root;
    xl_tok_model m;
    if (!load_fixture(dir, name, &root, &m)) return;
    size_t n;
    ref_line *refs = read_refs(dir, name, &n);
    CHECK_MSG(n == 3026, "%s: %zu reference lines", name, n);
    int tried = 0, same = 0;
    for (size_t i = 0; i < n; i++) {
        if (!simple_words_line(refs[i].text, refs[i].len)) continue;
        xl_ivec v = {0};
        xl_status st = encode_byte_level_words(&m, refs[i].text, refs[i].len, &v);
        tried++;
        if (st == XL_OK && ids_equal(&v, &refs[i])) same++;
        else fprintf(stderr, "  %s mismatch on \"%s\"\n", name, refs[i].text);
        xl_ivec_free(&v);
    }
    CHECK_MSG(tried >= 20, "%s: only %d simple lines", name, tried);
    CHECK_MSG(same == tried, "%s: %d of %d simple lines match", name, same, tried);
    printf("%s: %d/%d simple word lines match\n", name, same, tried);
    /* Llama 3 sets ignore_merges: "Ġunbelievable" is a vocabulary entry and comes out
     * whole; the ids are the vocabulary's own. */
    int32_t id = m.ops->token_to_id(m.impl, "\xC4\xA0" "unbelievable", 13);
    if (id >= 0) {
        xl_ivec v = {0};
        CHECK(m.ops->encode(m.impl, "\xC4\xA0" "unbelievable", 13, &v) == XL_OK && v.n == 1 && v.v[0] == id);
        xl_ivec_free(&v);
    }
    free_refs(refs, n);
    m.ops->free(m.impl);
    json_decref(root);
}

/* Gemma 3: the normalizer turns " " into "▁" and the Split pre-tokenizer on " " then
 * has nothing left to split, so a line without added-token text is one pre-token.
 * Printable ASCII lines without '<' or '[' contain none of Gemma's added tokens. */
static int gemma_simple_line(const char *s, size_t len) {
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 32 || s[i] > 126 || s[i] == '<' || s[i] == '[') return 0;
    return 1;
}

static char *gemma_normalize(const char *s, size_t len, size_t *out_len) {
    char *o = malloc(3 * len + 1);
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') { memcpy(o + k, "\xE2\x96\x81", 3); k += 3; }
        else o[k++] = s[i];
    }
    *out_len = k;
    return o;
}

static void test_gemma_fixture(const char *dir) {
    json_t *root;
    xl_tok_model m;
    if (!load_fixture(dir, "gemma3", &root, &m)) return;
    size_t n;
    ref_line *refs = read_refs(dir, "gemma3", &n);
    CHECK_MSG(n == 3026, "gemma3: %zu reference lines", n);
    int tried = 0, same = 0;
    size_t *pick = malloc(n * sizeof *pick);
    for (size_t i = 0; i < n; i++) {
        if (!gemma_simple_line(refs[i].text, refs[i].len)) continue;
        size_t nl;
        char *pre = gemma_normalize(refs[i].text, refs[i].len, &nl);
        xl_ivec v = {0};
        xl_status st = m.ops->encode(m.impl, pre, nl, &v);
        pick[tried++] = i;
        if (st == XL_OK && ids_equal(&v, &refs[i])) same++;
        else fprintf(stderr, "  gemma3 mismatch on \"%s\"\n", refs[i].text);
        xl_ivec_free(&v);
        free(pre);
    }
    CHECK_MSG(tried >= 500, "gemma3: only %d simple lines", tried);
    CHECK_MSG(same == tried, "gemma3: %d of %d simple lines match", same, tried);
    printf("gemma3: %d/%d simple lines match\n", same, tried);

    /* byte_fallback on a real vocabulary: U+10FFFF (not in the vocabulary) becomes its
     * four UTF-8 bytes F4 8F BF BF as <0xF4> <0x8F> <0xBF> <0xBF>. */
    {
        xl_ivec v = {0};
        CHECK(m.ops->encode(m.impl, "\xF4\x8F\xBF\xBF", 4, &v) == XL_OK);
        const char *want[] = {"<0xF4>", "<0x8F>", "<0xBF>", "<0xBF>"};
        CHECK_EQ_INT(v.n, 4);
        for (size_t i = 0; i < 4 && i < v.n; i++) CHECK_EQ_INT(v.v[i], m.ops->token_to_id(m.impl, want[i], 6));
        xl_ivec_free(&v);
    }

    /* One model handle shared by threads (the cache is the only shared mutable
     * state): every thread must get the sequential result. */
    int bad = 0;
#pragma omp parallel for num_threads(4) schedule(dynamic, 8) reduction(+ : bad)
    for (int t = 0; t < 4 * tried; t++) {
        const ref_line *r = &refs[pick[t % tried]];
        size_t nl;
        char *pre = gemma_normalize(r->text, r->len, &nl);
        xl_ivec v = {0};
        if (m.ops->encode(m.impl, pre, nl, &v) != XL_OK || !ids_equal(&v, r)) bad++;
        xl_ivec_free(&v);
        free(pre);
    }
    CHECK_EQ_INT(bad, 0);

    /* Many lines joined by "▁" make one long pre-token (as a paragraph does): cut into
     * pieces (ops->encode) it must give the ids of merging it whole. */
    {
        xl_buf para = {0};
        for (int k = 0; k < tried && para.n < 65536; k++) {
            size_t nl;
            char *pre = gemma_normalize(refs[pick[k]].text, refs[pick[k]].len, &nl);
            if (k) xl_buf_append(&para, "\xE2\x96\x81", 3);
            xl_buf_append(&para, pre, nl);
            free(pre);
        }
        xl_ivec whole = {0}, cut = {0};
        size_t np = 0;
        CHECK(xl_bpe_encode_segmented(&m, para.s, para.n, 0, &whole, NULL) == XL_OK);
        CHECK(m.ops->encode(m.impl, para.s, para.n, &cut) == XL_OK);
        CHECK(whole.n > 10000 && whole.n == cut.n && memcmp(whole.v, cut.v, whole.n * sizeof *whole.v) == 0);
        xl_ivec_free(&cut);
        CHECK(xl_bpe_encode_segmented(&m, para.s, para.n, 1, &cut, &np) == XL_OK);
        CHECK_MSG(np > 2000 && whole.n == cut.n && memcmp(whole.v, cut.v, whole.n * sizeof *whole.v) == 0,
                  "gemma3: a %zu-byte pre-token in %zu pieces", para.n, np);
        printf("gemma3: a %zu-byte pre-token: %zu ids, cut into %zu pieces\n", para.n, whole.n, np);
        xl_ivec_free(&whole);
        xl_ivec_free(&cut);
        xl_buf_free(&para);
    }
    free(pick);
    free_refs(refs, n);
    m.ops->free(m.impl);
    json_decref(root);
}

int main(void) {
    test_merge_order();
    test_ties();
    test_merges_formats();
    test_ignore_merges();
    test_unk();
    test_byte_fallback();
    test_prefix_suffix();
    test_load_errors();
    test_sparse_ids();
    test_random_vocabularies();
    test_long_pretokens();

    const char *shared = t_shared_dir();
    if (!shared) {
        t_skip_case("real tokenizers", "../shared not found");
    } else {
        char dir[4096]; /* t_path's buffers rotate: keep a copy */
        snprintf(dir, sizeof dir, "%s", t_path(shared, "fixtures/tokenizers"));
        test_byte_level_fixture(dir, "llama3_1");
        test_byte_level_fixture(dir, "qwen3");
        test_gemma_fixture(dir);
    }
    return test_summary("test_bpe");
}
