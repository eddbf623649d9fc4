#include "tokenizer/tok_normalizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_align.h"
#include "tokenizer/tok_charsmap.h"
#include "tokenizer/tok_regex.h"
#include "tokenizer/tok_unicode.h"
#include "util/error.h"
#include "util/json.h"

typedef enum {
    N_BERT, N_STRIP, N_STRIP_ACCENTS, N_NFC, N_NFD, N_NFKC, N_NFKD, N_LOWERCASE, N_NMT,
    N_PRECOMPILED, N_REPLACE, N_PREPEND, N_BYTELEVEL, N_SEQUENCE
} norm_kind;

struct tk_normalizer {
    norm_kind kind;
    /* BertNormalizer */
    int clean_text, chinese, strip_accents, lowercase;
    /* Strip */
    int left, right;
    /* Replace: pattern -> content; Prepend: content */
    tk_regex *re;
    char *content;
    size_t content_len;
    /* Precompiled (NULL: an empty charsmap, the identity) */
    tk_charsmap *charsmap;
    /* Sequence */
    tk_normalizer **items;
    size_t n_items;
};

void tk_normalizer_free(tk_normalizer *n) {
    if (!n) return;
    tk_regex_free(n->re);
    free(n->content);
    tk_charsmap_free(n->charsmap);
    for (size_t i = 0; i < n->n_items; i++) tk_normalizer_free(n->items[i]);
    free(n->items);
    free(n);
}

static xl_status get_bool(const json_t *j, const char *key, int def, int *out, const char *what) {
    return xl_json_get_bool(j, key, def, out, what);
}

static xl_status dup_string(const json_t *j, const char *key, char **out, size_t *len, const char *what) {
    json_t *v = json_object_get(j, key);
    if (!json_is_string(v)) return xl_err(XL_ERR_FORMAT, "%s: \"%s\" must be a string", what, key);
    *len = json_string_length(v);
    *out = malloc(*len + 1);
    if (!*out) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    memcpy(*out, json_string_value(v), *len + 1);
    return XL_OK;
}

xl_status tk_normalizer_parse(const json_t *j, const char *what, tk_normalizer **out) {
    *out = NULL;
    if (!json_is_object(j)) return xl_err(XL_ERR_FORMAT, "%s: must be an object", what);
    const char *type;
    xl_status st = xl_json_get_str(j, "type", NULL, &type, what);
    if (st) return st;
    if (!type) return xl_err(XL_ERR_FORMAT, "%s: missing \"type\"", what);
    tk_normalizer *n = calloc(1, sizeof *n);
    if (!n) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    if (!strcmp(type, "BertNormalizer")) {
        n->kind = N_BERT;
        if (!(st = get_bool(j, "clean_text", 1, &n->clean_text, what)) &&
            !(st = get_bool(j, "handle_chinese_chars", 1, &n->chinese, what)) &&
            !(st = get_bool(j, "lowercase", 1, &n->lowercase, what)))
            /* strip_accents: null follows lowercase */
            st = get_bool(j, "strip_accents", n->lowercase, &n->strip_accents, what);
    } else if (!strcmp(type, "Strip")) {
        n->kind = N_STRIP;
        if (!(st = get_bool(j, "strip_left", 1, &n->left, what))) st = get_bool(j, "strip_right", 1, &n->right, what);
    } else if (!strcmp(type, "StripAccents")) {
        n->kind = N_STRIP_ACCENTS;
    } else if (!strcmp(type, "NFC")) {
        n->kind = N_NFC;
    } else if (!strcmp(type, "NFD")) {
        n->kind = N_NFD;
    } else if (!strcmp(type, "NFKC")) {
        n->kind = N_NFKC;
    } else if (!strcmp(type, "NFKD")) {
        n->kind = N_NFKD;
    } else if (!strcmp(type, "Lowercase")) {
        n->kind = N_LOWERCASE;
    } else if (!strcmp(type, "Nmt")) {
        n->kind = N_NMT;
    } else if (!strcmp(type, "ByteLevel")) {
        n->kind = N_BYTELEVEL;
    } else if (!strcmp(type, "Precompiled")) {
        n->kind = N_PRECOMPILED;
        json_t *m = json_object_get(j, "precompiled_charsmap");
        if (json_is_string(m)) {
            if (json_string_length(m)) st = tk_charsmap_load(json_string_value(m), json_string_length(m), what, &n->charsmap);
        } else if (m && !json_is_null(m)) {
            st = xl_err(XL_ERR_FORMAT, "%s: \"precompiled_charsmap\" must be a base64 string", what);
        }
    } else if (!strcmp(type, "Replace")) {
        n->kind = N_REPLACE;
        if (!(st = tk_parse_pattern(j, what, &n->re))) st = dup_string(j, "content", &n->content, &n->content_len, what);
    } else if (!strcmp(type, "Prepend")) {
        n->kind = N_PREPEND;
        st = dup_string(j, "prepend", &n->content, &n->content_len, what);
    } else if (!strcmp(type, "Sequence")) {
        n->kind = N_SEQUENCE;
        json_t *arr = json_object_get(j, "normalizers");
        if (!json_is_array(arr)) {
            st = xl_err(XL_ERR_FORMAT, "%s: Sequence needs a \"normalizers\" array", what);
        } else {
            n->items = calloc(json_array_size(arr) + 1, sizeof *n->items);
            if (!n->items) st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
            for (size_t i = 0; !st && i < json_array_size(arr); i++) {
                char sub[512];
                snprintf(sub, sizeof sub, "%s.normalizers[%zu]", what, i);
                st = tk_normalizer_parse(json_array_get(arr, i), sub, &n->items[i]);
                if (!st) n->n_items = i + 1;
            }
        }
    } else {
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: unknown normalizer type \"%s\"", what, type);
    }
    if (st) {
        tk_normalizer_free(n);
        return st;
    }
    *out = n;
    return XL_OK;
}

/* The per-character passes below write straight into a buffer reserved for the
 * worst case: no character grows by more than 2x (a CJK ideograph of 3 bytes gains
 * two spaces; a lowercase mapping adds at most one byte per 2-byte character). */
static inline void put_cp(xl_buf *out, int32_t c) {
    if (c < 0x80) out->s[out->n++] = (char)c;
    else out->n += tk_encode(c, out->s + out->n);
}

/* clean_text and handle_chinese_chars in one pass. */
static xl_status bert_clean(const tk_normalizer *n, const char *s, size_t len, xl_buf *out, int *lead_dropped) {
    xl_status st = xl_buf_reserve(out, out->n + 2 * len + 8);
    if (st) return st;
    int kept_any = 0;
    for (size_t i = 0; i < len;) {
        unsigned char b = (unsigned char)s[i];
        int32_t c = b < 0x80 ? (i++, b) : tk_decode(s, &i);
        if (n->clean_text) {
            if (c == 0 || c == 0xFFFD || (c != '\t' && c != '\n' && c != '\r' && tk_is_other(c))) {
                if (!kept_any) *lead_dropped = 1;
                continue;
            }
            if (tk_is_whitespace(c)) c = ' ';
        }
        kept_any = 1;
        if (n->chinese && c >= 0x3400 && tk_is_chinese_char(c)) {
            out->s[out->n++] = ' ';
            put_cp(out, c);
            out->s[out->n++] = ' ';
        } else {
            put_cp(out, c);
        }
    }
    out->s[out->n] = '\0';
    return XL_OK;
}

/* Drops Mn characters (when strip) and lowercases (when lower), in one pass. */
static xl_status strip_lower(const char *s, size_t len, int strip, int lower, xl_buf *out, int *lead_dropped) {
    xl_status st = xl_buf_reserve(out, out->n + 2 * len + 8);
    if (st) return st;
    int kept_any = 0;
    for (size_t i = 0; i < len;) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            out->s[out->n++] = (char)((lower && b >= 'A' && b <= 'Z') ? b + 32 : b);
            kept_any = 1;
            i++;
            continue;
        }
        int32_t c = tk_decode(s, &i);
        if (strip && tk_is_mark_nonspacing(c)) {
            if (!kept_any) *lead_dropped = 1;
            continue;
        }
        kept_any = 1;
        if (lower) {
            int32_t lc[2];
            int k = tk_to_lower(c, lc);
            for (int q = 0; q < k; q++) put_cp(out, lc[q]);
        } else {
            put_cp(out, c);
        }
    }
    out->s[out->n] = '\0';
    return XL_OK;
}

static xl_status apply_bert(const tk_normalizer *n, const char *s, size_t len, xl_buf *out, int *lead_dropped) {
    xl_buf a = {0}, b = {0};
    xl_status st = XL_OK;
    if (n->clean_text || n->chinese) {
        st = bert_clean(n, s, len, &a, lead_dropped);
        s = a.s ? a.s : "";
        len = a.n;
    }
    if (!st && n->strip_accents) {
        st = tk_unicode_form(s, len, TK_NFD, &b);
        s = b.s ? b.s : "";
        len = b.n;
    }
    if (!st) {
        if (n->strip_accents || n->lowercase) st = strip_lower(s, len, n->strip_accents, n->lowercase, out, lead_dropped);
        else st = xl_buf_append(out, s, len);
    }
    xl_buf_free(&a);
    xl_buf_free(&b);
    return st;
}

static xl_status apply_strip(const tk_normalizer *n, const char *s, size_t len, xl_buf *out, int *lead_dropped) {
    size_t a = 0, e = len;
    if (n->left) {
        while (a < len) {
            size_t j = a;
            if (!tk_is_whitespace(tk_decode(s, &j))) break;
            a = j;
        }
        if (a > 0 && a < len) *lead_dropped = 1;
    }
    if (n->right) {
        while (e > a) {
            size_t k = e - 1;
            while (k > a && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
            size_t j = k;
            if (!tk_is_whitespace(tk_decode(s, &j))) break;
            e = k;
        }
    }
    return xl_buf_append(out, s + a, e - a);
}

/* Per-character filter + map of the Nmt and StripAccents normalizers. */
static xl_status apply_filter(norm_kind kind, const char *s, size_t len, xl_buf *out, int *lead_dropped) {
    xl_status st = xl_buf_reserve(out, out->n + len);
    int kept_any = 0;
    for (size_t i = 0; i < len && !st;) {
        size_t at = i;
        int32_t c = tk_decode(s, &i);
        int drop;
        if (kind == N_NMT) {
            drop = (c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F ||
                   c == 0x9F;
            if (!drop && (c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 || (c >= 0x200B && c <= 0x200F) ||
                          c == 0x2028 || c == 0x2029 || c == 0x2581 || c == 0xFEFF || c == 0xFFFD)) {
                st = xl_buf_append(out, " ", 1);
                kept_any = 1;
                continue;
            }
        } else {
            drop = tk_is_mark(c);
        }
        if (drop) {
            if (!kept_any) *lead_dropped = 1;
            continue;
        }
        kept_any = 1;
        st = xl_buf_append(out, s + at, i - at);
    }
    return st;
}

static xl_status apply_lowercase(const char *s, size_t len, xl_buf *out) {
    int unused = 0;
    return strip_lower(s, len, 0, 1, out, &unused);
}

static xl_status apply_replace(const tk_normalizer *n, const char *s, size_t len, xl_buf *out, int *lead_dropped) {
    tk_spans sp = {0};
    xl_status st = tk_regex_find_all(n->re, s, len, &sp);
    size_t prev = 0;
    for (size_t i = 0; i < sp.n && !st; i++) {
        if (sp.v[i].start == 0 && tk_count_chars(s, sp.v[i].end) > 1) *lead_dropped = 1;
        st = xl_buf_append(out, s + prev, sp.v[i].start - prev);
        if (!st) st = xl_buf_append(out, n->content, n->content_len);
        prev = sp.v[i].end;
    }
    if (!st) st = xl_buf_append(out, s + prev, len - prev);
    tk_spans_free(&sp);
    return st;
}

static xl_status apply_bytelevel(const char *s, size_t len, xl_buf *out) {
    xl_status st = xl_buf_reserve(out, out->n + 2 * len);
    for (size_t i = 0; i < len && !st; i++) st = tk_buf_put_cp(out, tk_bytelevel_cp((uint8_t)s[i]));
    return st;
}

xl_status tk_normalizer_apply(const tk_normalizer *n, const char *s, size_t len, xl_buf *out, int *lead_dropped) {
    out->n = 0;
    if (out->s) out->s[0] = '\0';
    switch (n->kind) {
    case N_BERT: return apply_bert(n, s, len, out, lead_dropped);
    case N_STRIP: return apply_strip(n, s, len, out, lead_dropped);
    case N_STRIP_ACCENTS:
    case N_NMT: return apply_filter(n->kind, s, len, out, lead_dropped);
    case N_NFC: return tk_unicode_form(s, len, TK_NFC, out);
    case N_NFD: return tk_unicode_form(s, len, TK_NFD, out);
    case N_NFKC: return tk_unicode_form(s, len, TK_NFKC, out);
    case N_NFKD: return tk_unicode_form(s, len, TK_NFKD, out);
    case N_LOWERCASE: return apply_lowercase(s, len, out);
    case N_BYTELEVEL: return apply_bytelevel(s, len, out);
    case N_PRECOMPILED:
        return n->charsmap ? tk_charsmap_normalize(n->charsmap, s, len, out) : xl_buf_append(out, s, len);
    case N_REPLACE: return apply_replace(n, s, len, out, lead_dropped);
    case N_PREPEND:
        if (len) {
            xl_status st = xl_buf_append(out, n->content, n->content_len);
            if (st) return st;
        }
        return xl_buf_append(out, s, len);
    case N_SEQUENCE: {
        if (n->n_items == 0) return xl_buf_append(out, s, len);
        /* ping-pong between two scratch buffers; the last step writes to out */
        xl_buf tmp[2] = {{0}, {0}};
        xl_status st = XL_OK;
        for (size_t i = 0; i < n->n_items && !st; i++) {
            xl_buf *dst = i + 1 == n->n_items ? out : &tmp[i & 1];
            st = tk_normalizer_apply(n->items[i], s, len, dst, lead_dropped);
            s = dst->s ? dst->s : "";
            len = dst->n;
        }
        xl_buf_free(&tmp[0]);
        xl_buf_free(&tmp[1]);
        return st;
    }
    }
    return xl_err(XL_ERR_UNSUPPORTED, "unknown normalizer");
}

/* ------------------------------------------------------------------ alignments */

/* Output so far and its alignments: the per-character passes below map each input
 * character to zero or more output characters that all take its alignment (the
 * crate's filter, map, lowercase and chinese-character spacing all come to that). */
typedef struct {
    xl_buf *out;
    tk_alvec *al;
} al_out;

static xl_status al_bert_clean_lower(const tk_normalizer *n, int pass, const char *s, size_t len, const tk_align *al,
                                     al_out o) {
    xl_status st = XL_OK;
    for (size_t i = 0; i < len && !st;) {
        size_t at = i;
        int32_t c = tk_decode(s, &i);
        tk_align a = al[at];
        if (pass == 0) { /* clean_text and handle_chinese_chars */
            if (n->clean_text) {
                if (c == 0 || c == 0xFFFD || (c != '\t' && c != '\n' && c != '\r' && tk_is_other(c))) continue;
                if (tk_is_whitespace(c)) c = ' ';
            }
            if (n->chinese && c >= 0x3400 && tk_is_chinese_char(c)) {
                if (!(st = tk_al_put(o.out, o.al, ' ', a)) && !(st = tk_al_put(o.out, o.al, c, a)))
                    st = tk_al_put(o.out, o.al, ' ', a);
                continue;
            }
            st = tk_al_put(o.out, o.al, c, a);
        } else { /* strip accents (after NFD) and lowercase */
            if (n->strip_accents && tk_is_mark_nonspacing(c)) continue;
            if (n->lowercase) {
                int32_t lc[2];
                int k = tk_to_lower(c, lc);
                for (int q = 0; q < k && !st; q++) st = tk_al_put(o.out, o.al, lc[q], a);
            } else {
                st = tk_al_put(o.out, o.al, c, a);
            }
        }
    }
    return st;
}

/* Runs a stream of changes over s into o. */
static xl_status al_stream(const char *s, size_t len, const tk_align *al, uint32_t shift, const tk_changes *c,
                           al_out o) {
    return tk_xf_apply(s, len, al, shift, c, 0, o.out, o.al);
}

static xl_status al_form(const char *s, size_t len, const tk_align *al, uint32_t shift, tk_form form, al_out o) {
    tk_changes c = {0};
    xl_status st = tk_unicode_form_changes(s, len, (int)form, &c);
    if (!st) st = al_stream(s, len, al, shift, &c, o);
    tk_changes_free(&c);
    return st;
}

static xl_status al_replace(const tk_normalizer *n, const char *s, size_t len, const tk_align *al, al_out o) {
    tk_spans sp = {0};
    xl_status st = tk_regex_find_all(n->re, s, len, &sp);
    size_t prev = 0;
    for (size_t i = 0; i < sp.n && !st; i++) {
        size_t a = sp.v[i].start, b = sp.v[i].end;
        st = tk_al_append(o.out, o.al, s + prev, a - prev, al + prev);
        /* the content is inserted after the match is removed: it takes the alignment
         * of the match's last byte */
        tk_align at = b > 0 ? al[b - 1] : al[0];
        for (size_t k = 0; k < n->content_len && !st;) st = tk_al_put(o.out, o.al, tk_decode(n->content, &k), at);
        prev = b;
    }
    if (!st) st = tk_al_append(o.out, o.al, s + prev, len - prev, al + prev);
    tk_spans_free(&sp);
    return st;
}

static xl_status al_simple(const tk_normalizer *n, const char *s, size_t len, const tk_align *al, al_out o) {
    xl_status st = XL_OK;
    switch (n->kind) {
    case N_STRIP: {
        size_t a = 0, e = len;
        while (n->left && a < len) {
            size_t j = a;
            if (!tk_is_whitespace(tk_decode(s, &j))) break;
            a = j;
        }
        while (n->right && e > a) {
            size_t k = e - 1;
            while (k > a && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
            size_t j = k;
            if (!tk_is_whitespace(tk_decode(s, &j))) break;
            e = k;
        }
        return tk_al_append(o.out, o.al, s + a, e - a, al + a);
    }
    case N_PREPEND:
        /* the crate's prepend: every new character takes the first one's alignment */
        for (size_t k = 0; len && k < n->content_len && !st;) st = tk_al_put(o.out, o.al, tk_decode(n->content, &k), al[0]);
        if (!st) st = tk_al_append(o.out, o.al, s, len, al);
        return st;
    default:
        break;
    }
    for (size_t i = 0; i < len && !st;) {
        size_t at = i;
        int32_t c = tk_decode(s, &i);
        tk_align a = al[at];
        if (n->kind == N_BYTELEVEL) {
            for (size_t b = at; b < i && !st; b++) st = tk_al_put(o.out, o.al, tk_bytelevel_cp((uint8_t)s[b]), a);
        } else if (n->kind == N_LOWERCASE) {
            int32_t lc[2];
            int k = tk_to_lower(c, lc);
            for (int q = 0; q < k && !st; q++) st = tk_al_put(o.out, o.al, lc[q], a);
        } else if (n->kind == N_NMT) {
            int drop = (c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F ||
                       c == 0x9F;
            if (drop) continue;
            if (c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 || (c >= 0x200B && c <= 0x200F) ||
                c == 0x2028 || c == 0x2029 || c == 0x2581 || c == 0xFEFF || c == 0xFFFD)
                c = ' ';
            st = tk_al_put(o.out, o.al, c, a);
        } else { /* N_STRIP_ACCENTS */
            if (!tk_is_mark(c)) st = tk_al_put(o.out, o.al, c, a);
        }
    }
    return st;
}

xl_status tk_normalizer_align(const tk_normalizer *n, const char *s, size_t len, const tk_align *al, uint32_t shift,
                              xl_buf *out, tk_alvec *out_al) {
    out->n = 0;
    out_al->n = 0;
    al_out o = {out, out_al};
    xl_status st = XL_OK;
    switch (n->kind) {
    case N_NFC: return al_form(s, len, al, shift, TK_NFC, o);
    case N_NFD: return al_form(s, len, al, shift, TK_NFD, o);
    case N_NFKC: return al_form(s, len, al, shift, TK_NFKC, o);
    case N_NFKD: return al_form(s, len, al, shift, TK_NFKD, o);
    case N_REPLACE: return al_replace(n, s, len, al, o);
    case N_PRECOMPILED: {
        tk_changes c = {0};
        int modified = 0;
        if (n->charsmap) st = tk_charsmap_changes(n->charsmap, s, len, &c, &modified);
        if (!st) st = modified ? al_stream(s, len, al, shift, &c, o) : tk_al_append(out, out_al, s, len, al);
        tk_changes_free(&c);
        return st;
    }
    case N_BERT:
    case N_SEQUENCE: {
        /* a chain of passes, ping-ponging between scratch buffers; the last one writes o */
        xl_buf tb[2] = {{0}, {0}};
        tk_alvec ta[2] = {{0}, {0}};
        size_t steps = n->kind == N_SEQUENCE ? n->n_items : 3;
        if (steps == 0) return tk_al_append(out, out_al, s, len, al);
        for (size_t i = 0; i < steps && !st; i++) {
            al_out d = i + 1 == steps ? o : (al_out){&tb[i & 1], &ta[i & 1]};
            d.out->n = 0;
            d.al->n = 0;
            if (n->kind == N_SEQUENCE) st = tk_normalizer_align(n->items[i], s, len, al, shift, d.out, d.al);
            else if (i == 0) st = n->clean_text || n->chinese ? al_bert_clean_lower(n, 0, s, len, al, d) : tk_al_append(d.out, d.al, s, len, al);
            else if (i == 1) st = n->strip_accents ? al_form(s, len, al, shift, TK_NFD, d) : tk_al_append(d.out, d.al, s, len, al);
            else st = n->strip_accents || n->lowercase ? al_bert_clean_lower(n, 1, s, len, al, d) : tk_al_append(d.out, d.al, s, len, al);
            s = d.out->s ? d.out->s : "";
            len = d.out->n;
            al = d.al->v;
        }
        for (int k = 0; k < 2; k++) {
            xl_buf_free(&tb[k]);
            tk_alvec_free(&ta[k]);
        }
        return st;
    }
    default:
        return al_simple(n, s, len, al, o);
    }
}
