/* The Unigram model (Hugging Face models/unigram, encode_optimized): a Viterbi pass
 * over the byte positions of the pre-token, each step walking the vocabulary trie for
 * every piece that starts there (scores in float64 as the crate keeps them). A
 * character no single piece covers gets an unk node scored min_score - 10; on ties the
 * first candidate found stays (shorter pieces are found first). Consecutive unk nodes
 * are fused into one token, which is then looked up as a string (unk id, or byte
 * fallback pieces <0xXX> when enabled and all present). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_cache.h"
#include "tokenizer/tok_model.h"
#include "tokenizer/tok_unicode.h"
#include "tokenizer/tok_vocab.h"
#include "util/error.h"
#include "util/json.h"

#define UNK_PENALTY 10.0
#define STACK_POSITIONS 256 /* pre-tokens up to this many bytes use a stack buffer */

typedef struct {
    tk_vocab vocab;
    double *score;     /* per id */
    int32_t unk_id;    /* -1: no unk */
    double unk_score;  /* min score - 10 */
    int byte_fallback;
    int32_t byte_ids[256];
} unigram;

/* Best path ending at a byte position: len == 0 means none yet. */
typedef struct {
    double score;
    int32_t id;
    uint32_t len;
} path_node;

static void ug_free(void *impl) {
    unigram *m = impl;
    if (!m) return;
    tk_vocab_free(&m->vocab);
    free(m->score);
    free(m);
}

/* Ids of the fused unk text s[0..len): its own id when it is a piece, else its bytes
 * as <0xXX> pieces (byte_fallback), else the unk id. Appended last first: the
 * caller walks the best path backwards and reverses at the end. */
static xl_status push_unknown(const unigram *m, const char *s, size_t len, xl_ivec *out) {
    int32_t id = tk_vocab_id(&m->vocab, s, len);
    if (id >= 0) return xl_ivec_push(out, id);
    if (m->byte_fallback) {
        size_t i = 0;
        while (i < len && m->byte_ids[(uint8_t)s[i]] >= 0) i++;
        if (i == len) {
            xl_status st = XL_OK;
            for (i = len; i > 0 && !st; i--) st = xl_ivec_push(out, m->byte_ids[(uint8_t)s[i - 1]]);
            return st; /* every byte token spans the whole unknown text, as in the crate */
        }
    }
    if (m->unk_id < 0) return xl_err(XL_ERR_FORMAT, "Unigram: text needs the unk token but the model has no unk_id");
    return xl_ivec_push(out, m->unk_id);
}

/* spans (may be NULL): the span of every token appended, as the crate's cumulative
 * offsets give it. */
static xl_status encode_piece(const void *impl, const char *s, size_t len, xl_ivec *out, xl_ivec *spans) {
    const unigram *m = impl;
    const tk_trie *t = &m->vocab.trie;
    const uint8_t *u = (const uint8_t *)s;
    if (len >= UINT32_MAX) return xl_err(XL_ERR_INPUT, "Unigram: pre-token of %zu bytes is too long", len);
    path_node stack_best[STACK_POSITIONS + 1];
    path_node *best = len <= STACK_POSITIONS ? stack_best : malloc((len + 1) * sizeof *best);
    xl_status st = XL_OK;
    if (!best) {
        st = xl_err(XL_ERR_NOMEM, "Unigram: out of memory for a pre-token of %zu bytes", len);
        goto done;
    }
    memset(best, 0, (len + 1) * sizeof *best);

    for (size_t start = 0; start < len;) {
        double base = best[start].score;
        size_t mblen = tk_cplen(u[start]);
        int has_single = 0;
        uint32_t node = 0;
        for (size_t k = start; k < len; k++) {
            node = tk_trie_child(t, node, u[k]);
            if (node == TK_TRIE_NONE) break;
            int32_t id = t->node[node].value;
            if (id < 0) continue;
            size_t end = k + 1;
            double cand = m->score[id] + base;
            path_node *tg = &best[end];
            if (tg->len == 0 || cand > tg->score) {
                tg->score = cand;
                tg->id = id;
                tg->len = (uint32_t)(end - start);
            }
            if (end - start == mblen) has_single = 1;
        }
        if (!has_single) {
            path_node *tg = &best[start + mblen];
            double cand = m->unk_score + base;
            if (tg->len == 0 || cand > tg->score) {
                if (m->unk_id < 0) {
                    st = xl_err(XL_ERR_FORMAT, "Unigram: a character has no piece and the model has no unk_id");
                    goto done;
                }
                tg->score = cand;
                tg->id = m->unk_id;
                tg->len = (uint32_t)mblen;
            }
        }
        start += mblen;
    }

    /* back-track the best path: ids come out last first, a run of unk nodes is
     * fused into one token; then the appended ids are put in order */
    size_t mark = out->n, smark = spans ? spans->n : 0;
    for (size_t end = len; end > 0 && !st;) {
        const path_node *nd = &best[end];
        size_t start = end - nd->len, before = out->n;
        if (m->unk_id < 0 || nd->id != m->unk_id) {
            st = xl_ivec_push(out, nd->id);
        } else {
            while (start > 0 && best[start].id == m->unk_id) start -= best[start].len;
            st = push_unknown(m, s + start, end - start, out);
        }
        /* pushed end first: reversed with the ids below */
        for (size_t k = before; spans && !st && k < out->n; k++)
            if (!(st = xl_ivec_push(spans, (int32_t)end))) st = xl_ivec_push(spans, (int32_t)start);
        end = start;
    }
    for (size_t i = mark, j = out->n; !st && i + 1 < j; i++, j--) {
        int32_t tmp = out->v[i];
        out->v[i] = out->v[j - 1];
        out->v[j - 1] = tmp;
    }
    for (size_t i = smark, j = spans ? spans->n : 0; spans && !st && i + 1 < j; i++, j--) {
        int32_t tmp = spans->v[i];
        spans->v[i] = spans->v[j - 1];
        spans->v[j - 1] = tmp;
    }
done:
    if (best != stack_best) free(best);
    return st;
}

static xl_status ug_encode(const void *impl, const char *s, size_t len, xl_ivec *out) {
    return encode_piece(impl, s, len, out, NULL);
}

static xl_status ug_encode_spans(const void *impl, const char *s, size_t len, xl_ivec *out, xl_ivec *spans) {
    return encode_piece(impl, s, len, out, spans);
}

static int32_t ug_token_to_id(const void *impl, const char *s, size_t len) {
    return tk_vocab_id(&((const unigram *)impl)->vocab, s, len);
}

static const char *ug_id_to_token(const void *impl, int32_t id) {
    return tk_vocab_token(&((const unigram *)impl)->vocab, id);
}

static size_t ug_vocab_size(const void *impl) { return ((const unigram *)impl)->vocab.n_ids; }

#define SEC_SCORES TK_TAG('U', 'S', 'C', 'R')

static void ug_cache_save(const void *impl, tk_cache_writer *w) {
    const unigram *m = impl;
    tk_vocab_cache_save(&m->vocab, w);
    tk_cache_put_ref(w, SEC_SCORES, m->score, m->vocab.n_ids * sizeof *m->score);
}

static const xl_tok_model_ops unigram_ops = {
    "Unigram", ug_free, ug_encode, ug_token_to_id, ug_id_to_token, ug_vocab_size, ug_cache_save, ug_encode_spans,
};

typedef struct {
    long long unk_id;
    int byte_fallback;
} ug_options;

static xl_status load_options(const json_t *model, const char *what, ug_options *o) {
    xl_status st;
    if ((st = xl_json_get_int(model, "unk_id", -1, &o->unk_id, what)) ||
        (st = xl_json_get_bool(model, "byte_fallback", 0, &o->byte_fallback, what)))
        return st;
    return XL_OK;
}

/* The checks of unk_id against the n pieces of the vocabulary. */
static xl_status check_unk(const ug_options *o, size_t n, const char *what) {
    if (n >= INT32_MAX) return xl_err(XL_ERR_UNSUPPORTED, "%s: vocabulary too large", what);
    if (o->unk_id >= 0 && n == 0) return xl_err(XL_ERR_FORMAT, "%s: Unigram vocabulary is empty", what);
    if (o->unk_id >= (long long)n)
        return xl_err(XL_ERR_FORMAT, "%s: unk_id %lld is not in the vocabulary (%zu pieces)", what, o->unk_id, n);
    return XL_OK;
}

/* What follows from the vocabulary, its n scores and the options. */
static void finish(unigram *m, const ug_options *o, size_t n, xl_tok_model *out) {
    double min_score = INFINITY;
    for (size_t i = 0; i < n; i++)
        if (m->score[i] < min_score) min_score = m->score[i];
    m->unk_id = (int32_t)o->unk_id;
    m->unk_score = min_score - UNK_PENALTY;
    m->byte_fallback = o->byte_fallback;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->byte_ids[b] = tk_vocab_id(&m->vocab, name, 6);
    }
    out->ops = &unigram_ops;
    out->impl = m;
}

int xl_unigram_load_cached(const json_t *model, tk_cache_reader *r, const char *what, xl_tok_model *out) {
    ug_options o;
    if (load_options(model, what, &o)) return 0;
    unigram *m = calloc(1, sizeof *m);
    if (!m) return 0;
    /* the pieces are numbered 0..n-1 as in the file: every id has a score */
    int ok = tk_vocab_cache_load(&m->vocab, r) && check_unk(&o, m->vocab.n_ids, what) == XL_OK &&
             tk_cache_len_is(r, SEC_SCORES, m->vocab.n_ids * sizeof *m->score) &&
             (m->score = malloc((m->vocab.n_ids ? m->vocab.n_ids : 1) * sizeof *m->score)) != NULL &&
             tk_cache_read(r, SEC_SCORES, m->score, m->vocab.n_ids * sizeof *m->score);
    if (!ok) {
        ug_free(m);
        return 0;
    }
    finish(m, &o, m->vocab.n_ids, out);
    return 1;
}

xl_status xl_unigram_load(const json_t *model, const char *what, xl_tok_model *out) {
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_array(vocab)) return xl_err(XL_ERR_FORMAT, "%s: Unigram model has no \"vocab\" list", what);
    ug_options o;
    xl_status st = load_options(model, what, &o);
    if (st) return st;
    size_t n = json_array_size(vocab);
    if ((st = check_unk(&o, n, what))) return st;

    unigram *m = calloc(1, sizeof *m);
    const char **strs = malloc((n ? n : 1) * sizeof *strs);
    uint32_t *lens = malloc((n ? n : 1) * sizeof *lens);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (m) m->score = malloc((n ? n : 1) * sizeof *m->score);
    if (!m || !strs || !lens || !ids || !m->score) st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    for (size_t i = 0; i < n && !st; i++) {
        json_t *e = json_array_get(vocab, i);
        json_t *p = json_array_get(e, 0), *sc = json_array_get(e, 1);
        if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_string(p) || !json_is_number(sc)) {
            st = xl_err(XL_ERR_FORMAT, "%s: vocab[%zu] must be [piece, score]", what, i);
            break;
        }
        strs[i] = json_string_value(p);
        lens[i] = (uint32_t)json_string_length(p);
        ids[i] = (int32_t)i;
        m->score[i] = json_number_value(sc);
    }
    if (!st) st = tk_vocab_build(&m->vocab, strs, lens, ids, n, what);
    free(strs);
    free(lens);
    free(ids);
    if (st) {
        ug_free(m);
        return st;
    }
    finish(m, &o, n, out);
    return XL_OK;
}
