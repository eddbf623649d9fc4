/* The WordPiece model (Hugging Face models/wordpiece): greedy longest-match-first
 * over the vocabulary, continuation pieces carry continuing_subword_prefix; a word
 * longer than max_input_chars_per_word, or one with a part no piece matches, becomes
 * the single unk token. The longest match is one walk down the vocabulary trie; for
 * continuation pieces the walk starts at the trie node of the prefix ("##"). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_cache.h"
#include "tokenizer/tok_model.h"
#include "tokenizer/tok_unicode.h"
#include "tokenizer/tok_vocab.h"
#include "util/error.h"
#include "util/json.h"

typedef struct {
    tk_vocab vocab;
    uint32_t prefix_node;   /* trie node after the prefix, TK_TRIE_NONE if no token has it */
    int32_t unk_id;         /* -1 when unk_token is not in the vocabulary */
    char *unk_token;
    size_t max_chars;
} wordpiece;

static void wp_free(void *impl) {
    wordpiece *m = impl;
    if (!m) return;
    tk_vocab_free(&m->vocab);
    free(m->unk_token);
    free(m);
}

/* The unk token for the whole word s[0..len); its span when spans is not NULL. */
static xl_status push_unk(const wordpiece *m, size_t len, xl_ivec *out, xl_ivec *spans) {
    if (m->unk_id < 0)
        return xl_err(XL_ERR_FORMAT, "WordPiece: unk_token \"%s\" is not in the vocabulary", m->unk_token);
    xl_status st = xl_ivec_push(out, m->unk_id);
    if (!st && spans && !(st = xl_ivec_push(spans, 0))) st = xl_ivec_push(spans, (int32_t)len);
    return st;
}

static xl_status encode_word(const wordpiece *m, const char *s, size_t len, xl_ivec *out, xl_ivec *spans) {
    const tk_trie *t = &m->vocab.trie;
    if (tk_count_chars(s, len) > m->max_chars) return push_unk(m, len, out, spans);
    size_t mark = out->n, smark = spans ? spans->n : 0, start = 0;
    while (start < len) {
        uint32_t node = start == 0 ? 0 : m->prefix_node;
        int32_t best = -1;
        size_t best_end = start;
        for (size_t k = start; k < len && node != TK_TRIE_NONE; k++) {
            node = tk_trie_child(t, node, (uint8_t)s[k]);
            if (node != TK_TRIE_NONE && t->node[node].value >= 0) {
                best = t->node[node].value;
                best_end = k + 1;
            }
        }
        if (best < 0) {
            out->n = mark; /* one unmatched part makes the whole word unknown */
            if (spans) spans->n = smark;
            return push_unk(m, len, out, spans);
        }
        xl_status st = xl_ivec_push(out, best);
        if (!st && spans && !(st = xl_ivec_push(spans, (int32_t)start))) st = xl_ivec_push(spans, (int32_t)best_end);
        if (st) return st;
        start = best_end;
    }
    return XL_OK;
}

static xl_status wp_encode(const void *impl, const char *s, size_t len, xl_ivec *out) {
    return encode_word(impl, s, len, out, NULL);
}

static xl_status wp_encode_spans(const void *impl, const char *s, size_t len, xl_ivec *out, xl_ivec *spans) {
    return encode_word(impl, s, len, out, spans);
}

static int32_t wp_token_to_id(const void *impl, const char *s, size_t len) {
    return tk_vocab_id(&((const wordpiece *)impl)->vocab, s, len);
}

static const char *wp_id_to_token(const void *impl, int32_t id) {
    return tk_vocab_token(&((const wordpiece *)impl)->vocab, id);
}

static size_t wp_vocab_size(const void *impl) { return ((const wordpiece *)impl)->vocab.n_ids; }

static void wp_cache_save(const void *impl, tk_cache_writer *w) {
    tk_vocab_cache_save(&((const wordpiece *)impl)->vocab, w);
}

static const xl_tok_model_ops wordpiece_ops = {
    "WordPiece", wp_free, wp_encode, wp_token_to_id, wp_id_to_token, wp_vocab_size, wp_cache_save, wp_encode_spans,
};

typedef struct {
    const char *unk, *prefix;
    long long max_chars;
} wp_options;

static xl_status load_options(const json_t *model, const char *what, wp_options *o) {
    xl_status st;
    if ((st = xl_json_get_str(model, "unk_token", "[UNK]", &o->unk, what)) ||
        (st = xl_json_get_str(model, "continuing_subword_prefix", "##", &o->prefix, what)) ||
        (st = xl_json_get_int(model, "max_input_chars_per_word", 100, &o->max_chars, what)))
        return st;
    if (o->max_chars < 0) return xl_err(XL_ERR_FORMAT, "%s: max_input_chars_per_word must not be negative", what);
    return XL_OK;
}

/* The lookups that follow from the vocabulary and the options. */
static xl_status finish(wordpiece *m, const wp_options *o, const char *what, xl_tok_model *out) {
    if (!(m->unk_token = strdup(o->unk))) {
        wp_free(m);
        return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    }
    m->unk_id = tk_vocab_id(&m->vocab, o->unk, strlen(o->unk));
    m->prefix_node = tk_trie_walk(&m->vocab.trie, 0, o->prefix, strlen(o->prefix));
    m->max_chars = (size_t)o->max_chars;
    out->ops = &wordpiece_ops;
    out->impl = m;
    return XL_OK;
}

int xl_wordpiece_load_cached(const json_t *model, tk_cache_reader *r, const char *what, xl_tok_model *out) {
    wp_options o;
    if (load_options(model, what, &o)) return 0;
    wordpiece *m = calloc(1, sizeof *m);
    if (!m || !tk_vocab_cache_load(&m->vocab, r)) {
        free(m);
        return 0;
    }
    return finish(m, &o, what, out) == XL_OK;
}

xl_status xl_wordpiece_load(const json_t *model, const char *what, xl_tok_model *out) {
    wp_options o;
    xl_status st = load_options(model, what, &o);
    if (st) return st;
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) return xl_err(XL_ERR_FORMAT, "%s: WordPiece model has no \"vocab\" object", what);

    size_t n = json_object_size(vocab);
    const char **strs = malloc((n ? n : 1) * sizeof *strs);
    uint32_t *lens = malloc((n ? n : 1) * sizeof *lens);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    wordpiece *m = calloc(1, sizeof *m);
    if (!strs || !lens || !ids || !m) st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    size_t k = 0;
    for (void *it = json_object_iter(vocab); it && !st; it = json_object_iter_next(vocab, it)) {
        json_t *v = json_object_iter_value(it);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
            st = xl_err(XL_ERR_FORMAT, "%s: vocab[\"%s\"] must be a non-negative integer id", what, json_object_iter_key(it));
            break;
        }
        strs[k] = json_object_iter_key(it);
        lens[k] = (uint32_t)json_object_iter_key_len(it);
        ids[k++] = (int32_t)json_integer_value(v);
    }
    if (!st) st = tk_vocab_build(&m->vocab, strs, lens, ids, k, what);
    free(strs);
    free(lens);
    free(ids);
    if (st) {
        wp_free(m);
        return st;
    }
    return finish(m, &o, what, out);
}
