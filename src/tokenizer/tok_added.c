#include "tokenizer/tok_added.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_unicode.h"
#include "util/error.h"
#include "util/json.h"
#include "util/utf8.h"

void tk_added_free(tk_added *a) {
    for (size_t i = 0; i < a->n; i++) free(a->tok[i].content);
    free(a->tok);
    tk_trie_free(&a->raw);
    tk_trie_free(&a->norm);
    tk_trie_free(&a->by_content);
    memset(a, 0, sizeof *a);
}

static int cmp_id(const void *pa, const void *pb) {
    const tk_added_token *a = pa, *b = pb;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int cmp_content(const void *pa, const void *pb, void *arg) {
    const tk_added_token *t = arg;
    uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
    const tk_added_token *a = &t[ia], *b = &t[ib];
    size_t m = a->len < b->len ? a->len : b->len;
    int r = memcmp(a->content, b->content, m);
    if (r) return r;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return ia < ib ? -1 : ia > ib;
}

static xl_status parse_token(const json_t *o, size_t k, const char *what, tk_added_token *t) {
    char where[300];
    snprintf(where, sizeof where, "%s: added_tokens[%zu]", what, k);
    if (!json_is_object(o)) return xl_err(XL_ERR_FORMAT, "%s must be an object", where);
    json_t *c = json_object_get(o, "content");
    if (!json_is_string(c)) return xl_err(XL_ERR_FORMAT, "%s: \"content\" must be a string", where);
    long long id;
    int special, lstrip, rstrip, single, normalized;
    xl_status st;
    if ((st = xl_json_get_int(o, "id", -1, &id, where))) return st;
    if (id < 0 || id > INT32_MAX) return xl_err(XL_ERR_FORMAT, "%s: missing or invalid \"id\"", where);
    if ((st = xl_json_get_bool(o, "special", 0, &special, where)) ||
        (st = xl_json_get_bool(o, "lstrip", 0, &lstrip, where)) ||
        (st = xl_json_get_bool(o, "rstrip", 0, &rstrip, where)) ||
        (st = xl_json_get_bool(o, "single_word", 0, &single, where)) ||
        (st = xl_json_get_bool(o, "normalized", !special, &normalized, where)))
        return st;
    if (!xl_utf8_is_valid(json_string_value(c), json_string_length(c)))
        return xl_err(XL_ERR_FORMAT, "%s: \"content\" is not valid UTF-8", where);
    t->len = json_string_length(c);
    t->content = malloc(t->len + 1);
    if (!t->content) return xl_err(XL_ERR_NOMEM, "%s: out of memory", where);
    memcpy(t->content, json_string_value(c), t->len + 1);
    t->id = (int32_t)id;
    t->special = (uint8_t)special;
    t->lstrip = (uint8_t)lstrip;
    t->rstrip = (uint8_t)rstrip;
    t->single_word = (uint8_t)single;
    t->normalized = (uint8_t)normalized;
    return XL_OK;
}

/* Builds one pattern trie: keys[i] -> value index[i]. */
static xl_status build_set(tk_trie *t, uint8_t *start, char **keys, uint32_t *lens, int32_t *vals, size_t n,
                           const char *what) {
    for (size_t i = 0; i < n; i++) start[(uint8_t)keys[i][0]] = 1;
    return tk_trie_build(t, (const char *const *)keys, lens, vals, n, what);
}

xl_status tk_added_load(tk_added *a, const json_t *arr, const tk_normalizer *norm, const xl_tok_model *model,
                        const char *what) {
    memset(a, 0, sizeof *a);
    xl_status st = XL_OK;
    size_t n = 0;
    if (arr && !json_is_null(arr)) {
        if (!json_is_array(arr)) return xl_err(XL_ERR_FORMAT, "%s: \"added_tokens\" must be an array", what);
        n = json_array_size(arr);
    }
    a->tok = calloc(n ? n : 1, sizeof *a->tok);
    char **keys = calloc(n ? n : 1, sizeof *keys);
    uint32_t *lens = calloc(n ? n : 1, sizeof *lens);
    int32_t *vals = calloc(n ? n : 1, sizeof *vals);
    char **normed = calloc(n ? n : 1, sizeof *normed);
    if (!a->tok || !keys || !lens || !vals || !normed) st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);

    /* Tokens in file order; an empty content is ignored and a repeated content keeps
     * its first id, as AddedVocabulary::add_tokens does. */
    for (size_t k = 0; k < n && !st; k++) {
        tk_added_token t = {0};
        if ((st = parse_token(json_array_get(arr, k), k, what, &t))) break;
        if (!t.len) {
            free(t.content);
            continue;
        }
        int32_t mid = model->ops->token_to_id(model->impl, t.content, t.len);
        if (mid >= 0) t.id = mid;
        a->tok[a->n++] = t;
    }
    if (!st && a->n > 1) {
        /* find repeated contents: order by (content, file position) */
        uint32_t *ord = malloc(a->n * sizeof *ord);
        if (!ord) st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
        for (size_t i = 0; ord && i < a->n; i++) ord[i] = (uint32_t)i;
        if (ord) qsort_r(ord, a->n, sizeof *ord, cmp_content, a->tok);
        for (size_t i = 1, head = 0; ord && i < a->n; i++) {
            const tk_added_token *x = &a->tok[ord[head]], *y = &a->tok[ord[i]];
            if (x->len == y->len && memcmp(x->content, y->content, x->len) == 0) {
                free(a->tok[ord[i]].content);
                a->tok[ord[i]].content = NULL; /* a later duplicate of the run's first */
            } else {
                head = i;
            }
        }
        free(ord);
        size_t w = 0;
        for (size_t i = 0; i < a->n; i++)
            if (a->tok[i].content) a->tok[w++] = a->tok[i];
        a->n = w;
    }
    if (!st && a->n > 1) qsort(a->tok, a->n, sizeof *a->tok, cmp_id);

    /* content lookup */
    for (size_t i = 0; i < a->n && !st; i++) {
        keys[i] = a->tok[i].content;
        lens[i] = (uint32_t)a->tok[i].len;
        vals[i] = (int32_t)i;
    }
    if (!st) st = tk_trie_build(&a->by_content, (const char *const *)keys, lens, vals, a->n, what);

    /* raw patterns */
    size_t m = 0;
    for (size_t i = 0; i < a->n && !st; i++) {
        if (a->tok[i].normalized) continue;
        keys[m] = a->tok[i].content;
        lens[m] = (uint32_t)a->tok[i].len;
        vals[m++] = (int32_t)i;
    }
    if (!st && m) {
        st = build_set(&a->raw, a->raw_start, keys, lens, vals, m, what);
        a->has_raw = !st;
    }

    /* normalized patterns: the content passed through the normalizer */
    m = 0;
    for (size_t i = 0; i < a->n && !st; i++) {
        if (!a->tok[i].normalized) continue;
        const char *key = a->tok[i].content;
        size_t klen = a->tok[i].len;
        if (norm) {
            xl_buf b = {0};
            int dropped = 0;
            st = tk_normalizer_apply(norm, key, klen, &b, &dropped);
            if (st) {
                xl_buf_free(&b);
                xl_err_prefix("%s: normalizing added token \"%s\"", what, a->tok[i].content);
                break;
            }
            if (!b.n) {
                xl_buf_free(&b);
                continue; /* a pattern that normalizes to nothing can never match */
            }
            normed[m] = b.s;
            key = b.s;
            klen = b.n;
        }
        keys[m] = (char *)key;
        lens[m] = (uint32_t)klen;
        vals[m++] = (int32_t)i;
    }
    if (!st && m) {
        st = build_set(&a->norm, a->norm_start, keys, lens, vals, m, what);
        a->has_norm = !st;
    }
    for (size_t i = 0; i < n; i++) free(normed ? normed[i] : NULL);
    free(normed);
    free(keys);
    free(lens);
    free(vals);
    if (st) tk_added_free(a);
    return st;
}

/* Index where the run of whitespace that ends s[0..end) starts. */
static size_t leftmost_space_at_end(const char *s, size_t end) {
    while (end > 0) {
        size_t k = end - 1;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
        size_t j = k;
        if (!tk_is_whitespace(tk_decode(s, &j))) break;
        end = k;
    }
    return end;
}

/* Length of the run of whitespace that starts s[0..len). */
static size_t space_run_at_start(const char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        if (!tk_is_whitespace(tk_decode(s, &j))) break;
        i = j;
    }
    return i;
}

static int ends_with_word(const char *s, size_t end) {
    if (!end) return 0;
    size_t k = end - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    return tk_is_word_char(tk_decode(s, &k));
}

xl_status tk_added_split(const tk_added *a, int normalized, const char *s, size_t len, int first, tk_pieces *out) {
    if (!tk_added_has(a, normalized)) return tk_pieces_add(out, s, len, first);
    const tk_trie *t = normalized ? &a->norm : &a->raw;
    const uint8_t *can_start = normalized ? a->norm_start : a->raw_start;
    const unsigned char *u = (const unsigned char *)s;
    size_t start_offset = 0, pos = 0;
    xl_status st = XL_OK;
    while (pos < len && !st) {
        if (!can_start[u[pos]]) {
            pos++;
            continue;
        }
        /* leftmost-longest: the longest pattern starting at the leftmost position */
        uint32_t node = 0;
        int32_t best = -1;
        size_t best_end = 0;
        for (size_t k = pos; k < len; k++) {
            node = tk_trie_child(t, node, u[k]);
            if (node == TK_TRIE_NONE) break;
            if (t->node[node].value >= 0) {
                best = t->node[node].value;
                best_end = k + 1;
            }
        }
        if (best < 0) {
            pos++;
            continue;
        }
        size_t ms = pos, me = best_end;
        pos = me; /* the next match is searched after this one, kept or not */
        const tk_added_token *tok = &a->tok[best];
        if (tok->single_word) {
            int start_space = ms == 0 || !ends_with_word(s, ms);
            size_t j = me;
            int stop_space = me == len || !tk_is_word_char(tk_decode(s, &j));
            if (!start_space || !stop_space) continue;
        }
        size_t start = ms, stop = me;
        if (tok->lstrip) {
            size_t ns = leftmost_space_at_end(s, ms);
            start = ns > start_offset ? ns : start_offset;
        }
        if (tok->rstrip) stop += space_run_at_start(s + me, len - me);
        if (start_offset < start) st = tk_pieces_add(out, s + start_offset, start - start_offset, first && start_offset == 0);
        if (!st) st = tk_pieces_add_token_at(out, tok->id, s + start, stop - start);
        start_offset = stop;
    }
    if (!st && start_offset < len) st = tk_pieces_add(out, s + start_offset, len - start_offset, first && start_offset == 0);
    return st;
}

int32_t tk_added_id(const tk_added *a, const char *s, size_t len) {
    if (!a->n) return -1;
    int32_t k = tk_trie_get(&a->by_content, s, len);
    return k < 0 ? -1 : a->tok[k].id;
}

const char *tk_added_content(const tk_added *a, int32_t id) {
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->tok[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < a->n && a->tok[lo].id == id ? a->tok[lo].content : NULL;
}

int32_t tk_added_max_id(const tk_added *a) { return a->n ? a->tok[a->n - 1].id : -1; }
