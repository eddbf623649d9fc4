#include "tokenizer/tok_pretokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_align.h"
#include "tokenizer/tok_regex.h"
#include "tokenizer/tok_unicode.h"
#include "util/error.h"
#include "util/json.h"
#include "util/utf8.h"

typedef enum {
    P_BERT, P_WHITESPACE, P_WHITESPACE_SPLIT, P_METASPACE, P_BYTELEVEL, P_SPLIT, P_DIGITS,
    P_PUNCTUATION, P_CHAR_DELIMITER, P_FIXED_LENGTH, P_SEQUENCE
} pretok_kind;

typedef enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } prepend_scheme;

struct tk_pretok {
    pretok_kind kind;
    tk_behavior behavior;   /* Split, Punctuation */
    int invert;             /* Split */
    tk_regex *re;           /* Split; ByteLevel (the GPT-2 pattern when use_regex) */
    int32_t ch;             /* Metaspace replacement, CharDelimiterSplit delimiter */
    char ch_utf8[4];
    size_t ch_len;
    prepend_scheme prepend; /* Metaspace */
    int split;              /* Metaspace */
    int add_prefix_space;   /* ByteLevel */
    int individual_digits;  /* Digits */
    size_t length;          /* FixedLength */
    tk_pretok **items;      /* Sequence */
    size_t n_items;
};

/* The pattern the crate's ByteLevel pre-tokenizer splits with (GPT-2). */
static const char GPT2_PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

void tk_pretok_free(tk_pretok *p) {
    if (!p) return;
    tk_regex_free(p->re);
    for (size_t i = 0; i < p->n_items; i++) tk_pretok_free(p->items[i]);
    free(p->items);
    free(p);
}

/* A JSON string holding exactly one character (Metaspace replacement, delimiter). */
static xl_status get_char(const json_t *j, const char *key, int required, int32_t def, tk_pretok *p,
                          const char *what) {
    json_t *v = json_object_get(j, key);
    int32_t c = def;
    if (!v || json_is_null(v)) {
        if (required) return xl_err(XL_ERR_FORMAT, "%s: missing \"%s\"", what, key);
    } else {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v), i = 0;
        if (!s || len == 0 || !xl_utf8_is_valid(s, len)) return xl_err(XL_ERR_FORMAT, "%s: \"%s\" must be one character", what, key);
        c = tk_decode(s, &i);
        if (i != len) return xl_err(XL_ERR_FORMAT, "%s: \"%s\" must be one character", what, key);
    }
    p->ch = c;
    p->ch_len = tk_encode(c, p->ch_utf8);
    return XL_OK;
}

static xl_status get_behavior(const json_t *j, const char *what, int required, tk_behavior def, tk_behavior *out) {
    const char *b;
    xl_status st = xl_json_get_str(j, "behavior", NULL, &b, what);
    if (st) return st;
    if (!b) {
        if (required) return xl_err(XL_ERR_FORMAT, "%s: missing \"behavior\"", what);
        *out = def;
        return XL_OK;
    }
    int k = tk_behavior_parse(b);
    if (k < 0) return xl_err(XL_ERR_UNSUPPORTED, "%s: unknown split behavior \"%s\"", what, b);
    *out = (tk_behavior)k;
    return XL_OK;
}

static xl_status parse_metaspace(const json_t *j, tk_pretok *p, const char *what) {
    xl_status st = get_char(j, "replacement", 1, 0x2581, p, what);
    if (st) return st;
    const char *scheme;
    int aps, has_aps = json_object_get(j, "add_prefix_space") && !json_is_null(json_object_get(j, "add_prefix_space"));
    if ((st = xl_json_get_str(j, "prepend_scheme", NULL, &scheme, what))) return st;
    if ((st = xl_json_get_bool(j, "add_prefix_space", 1, &aps, what))) return st;
    if ((st = xl_json_get_bool(j, "split", 1, &p->split, what))) return st;
    if (!scheme) {
        /* older files: add_prefix_space alone */
        p->prepend = aps ? PREPEND_ALWAYS : PREPEND_NEVER;
        return XL_OK;
    }
    if (!strcmp(scheme, "always")) p->prepend = PREPEND_ALWAYS;
    else if (!strcmp(scheme, "first")) p->prepend = PREPEND_FIRST;
    else if (!strcmp(scheme, "never")) p->prepend = PREPEND_NEVER;
    else return xl_err(XL_ERR_UNSUPPORTED, "%s: unknown prepend_scheme \"%s\"", what, scheme);
    if (has_aps && !aps && p->prepend != PREPEND_NEVER)
        return xl_err(XL_ERR_FORMAT, "%s: add_prefix_space false does not match prepend_scheme \"%s\"", what, scheme);
    return XL_OK;
}

xl_status tk_pretok_parse(const json_t *j, const char *what, tk_pretok **out) {
    *out = NULL;
    if (!json_is_object(j)) return xl_err(XL_ERR_FORMAT, "%s: must be an object", what);
    const char *type;
    xl_status st = xl_json_get_str(j, "type", NULL, &type, what);
    if (st) return st;
    if (!type) return xl_err(XL_ERR_FORMAT, "%s: missing \"type\"", what);
    tk_pretok *p = calloc(1, sizeof *p);
    if (!p) return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    if (!strcmp(type, "BertPreTokenizer")) {
        p->kind = P_BERT;
    } else if (!strcmp(type, "Whitespace")) {
        p->kind = P_WHITESPACE;
    } else if (!strcmp(type, "WhitespaceSplit")) {
        p->kind = P_WHITESPACE_SPLIT;
    } else if (!strcmp(type, "Metaspace")) {
        p->kind = P_METASPACE;
        st = parse_metaspace(j, p, what);
    } else if (!strcmp(type, "ByteLevel")) {
        p->kind = P_BYTELEVEL;
        int use_regex;
        if (!(st = xl_json_get_bool(j, "add_prefix_space", 1, &p->add_prefix_space, what)) &&
            !(st = xl_json_get_bool(j, "use_regex", 1, &use_regex, what)) && use_regex)
            st = tk_regex_compile(GPT2_PATTERN, sizeof GPT2_PATTERN - 1, what, &p->re);
    } else if (!strcmp(type, "Split")) {
        p->kind = P_SPLIT;
        if (!(st = tk_parse_pattern(j, what, &p->re)) && !(st = get_behavior(j, what, 1, TK_REMOVED, &p->behavior)))
            st = xl_json_get_bool(j, "invert", 0, &p->invert, what);
    } else if (!strcmp(type, "Digits")) {
        p->kind = P_DIGITS;
        st = xl_json_get_bool(j, "individual_digits", 0, &p->individual_digits, what);
    } else if (!strcmp(type, "Punctuation")) {
        p->kind = P_PUNCTUATION;
        st = get_behavior(j, what, 0, TK_ISOLATED, &p->behavior);
    } else if (!strcmp(type, "CharDelimiterSplit")) {
        p->kind = P_CHAR_DELIMITER;
        st = get_char(j, "delimiter", 1, ' ', p, what);
    } else if (!strcmp(type, "FixedLength")) {
        p->kind = P_FIXED_LENGTH;
        long long len;
        if (!(st = xl_json_get_int(j, "length", 5, &len, what))) {
            if (len <= 0) st = xl_err(XL_ERR_FORMAT, "%s: \"length\" must be positive", what);
            p->length = (size_t)len;
        }
    } else if (!strcmp(type, "Sequence")) {
        p->kind = P_SEQUENCE;
        json_t *arr = json_object_get(j, "pretokenizers");
        if (!json_is_array(arr)) {
            st = xl_err(XL_ERR_FORMAT, "%s: Sequence needs a \"pretokenizers\" array", what);
        } else {
            p->items = calloc(json_array_size(arr) + 1, sizeof *p->items);
            if (!p->items) st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
            for (size_t i = 0; !st && i < json_array_size(arr); i++) {
                char sub[512];
                snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", what, i);
                st = tk_pretok_parse(json_array_get(arr, i), sub, &p->items[i]);
                if (!st) p->n_items = i + 1;
            }
        }
    } else {
        st = xl_err(XL_ERR_UNSUPPORTED, "%s: unknown pre-tokenizer type \"%s\"", what, type);
    }
    if (st) {
        tk_pretok_free(p);
        return st;
    }
    *out = p;
    return XL_OK;
}

/* ------------------------------------------------------------------ appliers */

/* Per-call scratch shared by the pieces of one apply. */
typedef struct {
    tk_spans spans;
    tk_matches matches;
    xl_buf tmp, tmp2;
    tk_alvec al, al2; /* tracking: alignments of tmp, tmp2 */
} scratch;

static void scratch_free(scratch *sc) {
    tk_spans_free(&sc->spans);
    tk_matches_free(&sc->matches);
    xl_buf_free(&sc->tmp);
    xl_buf_free(&sc->tmp2);
    tk_alvec_free(&sc->al);
    tk_alvec_free(&sc->al2);
}

/* BertPreTokenizer: split on whitespace (removed), then isolate each punctuation
 * character — both passes in one scan. */
static xl_status bert_split(const char *s, size_t len, int first, tk_pieces *out) {
    size_t word = 0;
    xl_status st = XL_OK;
    for (size_t i = 0; i < len && !st;) {
        size_t at = i;
        unsigned char b = (unsigned char)s[i];
        int32_t c = b < 0x80 ? (i++, b) : tk_decode(s, &i);
        int ws = tk_is_whitespace(c);
        if (ws || tk_is_punctuation(c)) {
            st = tk_pieces_add(out, s + word, at - word, first && word == 0);
            if (!st && !ws) st = tk_pieces_add(out, s + at, i - at, first && at == 0);
            word = i;
        }
    }
    if (!st) st = tk_pieces_add(out, s + word, len - word, first && word == 0);
    return st;
}

/* Whitespace: the matches of \w+|[^\w\s]+ are kept, the rest removed. */
static xl_status whitespace_split(const char *s, size_t len, int first, tk_pieces *out) {
    size_t run = 0;
    int run_kind = -1; /* 0 word, 1 other, -1 none */
    xl_status st = XL_OK;
    for (size_t i = 0; i < len && !st;) {
        size_t at = i;
        int32_t c = tk_decode(s, &i);
        int kind = tk_is_word_char(c) ? 0 : tk_is_whitespace(c) ? -1 : 1;
        if (kind != run_kind) {
            if (run_kind >= 0) st = tk_pieces_add(out, s + run, at - run, first && run == 0);
            run = at;
            run_kind = kind;
        }
    }
    if (!st && run_kind >= 0) st = tk_pieces_add(out, s + run, len - run, first && run == 0);
    return st;
}

/* WhitespaceSplit and CharDelimiterSplit: split on a character class, removed. */
static xl_status split_removed(const tk_pretok *p, const char *s, size_t len, int first, tk_pieces *out) {
    size_t word = 0;
    xl_status st = XL_OK;
    for (size_t i = 0; i < len && !st;) {
        size_t at = i;
        int32_t c = tk_decode(s, &i);
        if (p->kind == P_WHITESPACE_SPLIT ? tk_is_whitespace(c) : c == p->ch) {
            st = tk_pieces_add(out, s + word, at - word, first && word == 0);
            word = i;
        }
    }
    if (!st) st = tk_pieces_add(out, s + word, len - word, first && word == 0);
    return st;
}

/* The crate's char-predicate pattern: every matching character is its own match. */
static xl_status char_matches(const tk_pretok *p, const char *s, size_t len, tk_matches *m) {
    m->n = 0;
    size_t last = 0;
    xl_status st = XL_OK;
    for (size_t i = 0; i < len && !st;) {
        size_t at = i;
        int32_t c = tk_decode(s, &i);
        int hit = p->kind == P_DIGITS ? tk_is_numeric(c) : p->kind == P_PUNCTUATION ? tk_is_punctuation(c) : c == p->ch;
        if (!hit) continue;
        if (last < at) st = tk_matches_push(m, last, at, 0);
        if (!st) st = tk_matches_push(m, at, i, 1);
        last = i;
    }
    if (!st && last < len) st = tk_matches_push(m, last, len, 0);
    return st;
}

/* Tracking: the crate's replace(' ' -> replacement) and prepend() give every new
 * character the alignment of the character it replaces or precedes. al is NULL when
 * not tracking. */
static xl_status metaspace_piece(const tk_pretok *p, const char *s, size_t len, const tk_align *al, int first,
                                 scratch *sc, tk_pieces *out) {
    xl_buf *t = &sc->tmp;
    t->n = 0;
    sc->al.n = 0;
    xl_status st = XL_OK;
    int starts = len >= p->ch_len && memcmp(s, p->ch_utf8, p->ch_len) == 0;
    if (p->prepend == PREPEND_ALWAYS || (p->prepend == PREPEND_FIRST && first)) {
        /* the check runs after the spaces were replaced */
        if (!starts && !(len && s[0] == ' ')) {
            st = al ? tk_al_put(t, &sc->al, p->ch, al[0]) : xl_buf_append(t, p->ch_utf8, p->ch_len);
        }
    }
    size_t prev = 0;
    for (size_t i = 0; i < len && !st; i++) {
        if (s[i] != ' ') continue;
        if (al) {
            if (!(st = tk_al_append(t, &sc->al, s + prev, i - prev, al + prev))) st = tk_al_put(t, &sc->al, p->ch, al[i]);
        } else if (!(st = xl_buf_append(t, s + prev, i - prev))) {
            st = xl_buf_append(t, p->ch_utf8, p->ch_len);
        }
        prev = i + 1;
    }
    if (!st) st = al ? tk_al_append(t, &sc->al, s + prev, len - prev, al + prev) : xl_buf_append(t, s + prev, len - prev);
    if (st) return st;
    if (al) tk_pieces_source(out, t->s, t->n, sc->al.v);
    if (!p->split) return tk_pieces_add(out, t->s, t->n, first);
    /* split on the replacement, MergedWithNext: a replacement joins the text after it */
    if ((st = char_matches(p, t->s, t->n, &sc->matches))) return st;
    return tk_split_emit(t->s, t->n, &sc->matches, TK_MERGED_WITH_NEXT, first, out);
}

/* Each byte becomes one character of the byte-level alphabet; tracking: all the
 * characters of one input character keep its alignment (the crate inserts the second
 * and later bytes after the first). */
static xl_status bytelevel_map(const char *s, size_t len, const tk_align *al, int first, scratch *sc, tk_pieces *out) {
    if (!al) { /* straight into the list */
        size_t mark = tk_pieces_mark(out);
        xl_status st = xl_buf_reserve(&out->text, out->text.n + 2 * len);
        for (size_t i = 0; i < len && !st; i++) st = tk_buf_put_cp(&out->text, tk_bytelevel_cp((uint8_t)s[i]));
        return st ? st : tk_pieces_close(out, mark, first);
    }
    xl_buf *t = &sc->tmp2;
    t->n = 0;
    sc->al2.n = 0;
    xl_status st = xl_buf_reserve(t, 2 * len + 1);
    if (!st) st = tk_alvec_reserve(&sc->al2, 2 * len + 1);
    for (size_t i = 0; i < len && !st; i++) st = tk_al_put(t, &sc->al2, tk_bytelevel_cp((uint8_t)s[i]), al[i]);
    if (st) return st;
    tk_pieces_source(out, t->s, t->n, sc->al2.v);
    return tk_pieces_add(out, t->s, t->n, first);
}

static xl_status bytelevel_piece(const tk_pretok *p, const char *s, size_t len, const tk_align *al, int first,
                                 scratch *sc, tk_pieces *out) {
    xl_status st = XL_OK;
    if (p->add_prefix_space && !(len && s[0] == ' ')) {
        xl_buf *t = &sc->tmp;
        t->n = 0;
        sc->al.n = 0;
        if (al) {
            /* the crate's prepend(" "): the space takes the first character's alignment */
            if ((st = tk_al_put(t, &sc->al, ' ', len ? al[0] : (tk_align){0, 0})) ||
                (st = tk_al_append(t, &sc->al, s, len, al)))
                return st;
            al = sc->al.v;
        } else if ((st = xl_buf_append(t, " ", 1)) || (st = xl_buf_append(t, s, len))) {
            return st;
        }
        s = t->s;
        len = t->n;
    }
    if (!p->re) return bytelevel_map(s, len, al, first, sc, out);
    if ((st = tk_regex_find_all(p->re, s, len, &sc->spans))) return st;
    /* Isolated: matches and gaps alike become pieces */
    size_t prev = 0;
    for (size_t i = 0; i < sc->spans.n && !st; i++) {
        tk_span m = sc->spans.v[i];
        if (prev < m.start) st = bytelevel_map(s + prev, m.start - prev, al ? al + prev : NULL, first && prev == 0, sc, out);
        if (!st && m.end > m.start)
            st = bytelevel_map(s + m.start, m.end - m.start, al ? al + m.start : NULL, first && m.start == 0, sc, out);
        prev = m.end;
    }
    if (!st && prev < len) st = bytelevel_map(s + prev, len - prev, al ? al + prev : NULL, first && prev == 0, sc, out);
    return st;
}

static xl_status fixed_length(const tk_pretok *p, const char *s, size_t len, int first, tk_pieces *out) {
    xl_status st = XL_OK;
    size_t start = 0, chars = 0;
    for (size_t i = 0; i < len && !st;) {
        i += tk_cplen((unsigned char)s[i]);
        if (++chars == p->length) {
            st = tk_pieces_add(out, s + start, i - start, first && start == 0);
            start = i;
            chars = 0;
        }
    }
    if (!st) st = tk_pieces_add(out, s + start, len - start, first && start == 0);
    return st;
}

/* al: the piece's alignments when tracking, else NULL (out's source is the piece). */
static xl_status apply_piece(const tk_pretok *p, const char *s, size_t len, const tk_align *al, int first,
                             scratch *sc, tk_pieces *out) {
    xl_status st;
    switch (p->kind) {
    case P_BERT: return bert_split(s, len, first, out);
    case P_WHITESPACE: return whitespace_split(s, len, first, out);
    case P_WHITESPACE_SPLIT:
    case P_CHAR_DELIMITER: return split_removed(p, s, len, first, out);
    case P_METASPACE: return metaspace_piece(p, s, len, al, first, sc, out);
    case P_BYTELEVEL: return bytelevel_piece(p, s, len, al, first, sc, out);
    case P_SPLIT:
        if ((st = tk_regex_find_all(p->re, s, len, &sc->spans))) return st;
        if ((st = tk_matches_from_spans(&sc->spans, len, p->invert, &sc->matches))) return st;
        return tk_split_emit(s, len, &sc->matches, p->behavior, first, out);
    case P_DIGITS:
    case P_PUNCTUATION:
        if ((st = char_matches(p, s, len, &sc->matches))) return st;
        return tk_split_emit(s, len, &sc->matches,
                             p->kind == P_PUNCTUATION ? p->behavior
                             : p->individual_digits   ? TK_ISOLATED
                                                      : TK_CONTIGUOUS,
                             first, out);
    case P_FIXED_LENGTH: return fixed_length(p, s, len, first, out);
    case P_SEQUENCE: break;
    }
    return xl_err(XL_ERR_UNSUPPORTED, "pre-tokenizer kind %d applied per piece", (int)p->kind);
}

static xl_status copy_pieces(const tk_pieces *in, tk_pieces *out) {
    tk_pieces_clear(out);
    xl_status st = XL_OK;
    for (size_t i = 0; i < in->n && !st; i++) {
        const tk_piece *pc = &in->v[i];
        tk_pieces_source_piece(out, in, pc);
        st = pc->token >= 0 ? tk_pieces_copy_token(out, pc) : tk_pieces_add(out, tk_piece_text(in, pc), pc->len, pc->first);
    }
    return st;
}

xl_status tk_pretok_apply(const tk_pretok *p, const tk_pieces *in, tk_pieces *out) {
    if (p->kind == P_SEQUENCE) {
        if (p->n_items == 0) return copy_pieces(in, out);
        tk_pieces tmp[2];
        memset(tmp, 0, sizeof tmp);
        tmp[0].track = tmp[1].track = in->track;
        const tk_pieces *cur = in;
        xl_status st = XL_OK;
        for (size_t i = 0; i < p->n_items && !st; i++) {
            tk_pieces *dst = i + 1 == p->n_items ? out : &tmp[i & 1];
            st = tk_pretok_apply(p->items[i], cur, dst);
            cur = dst;
        }
        tk_pieces_free(&tmp[0]);
        tk_pieces_free(&tmp[1]);
        return st;
    }
    tk_pieces_clear(out);
    scratch sc;
    memset(&sc, 0, sizeof sc);
    xl_status st = xl_buf_reserve(&out->text, in->text.n + in->text.n / 4 + 16);
    for (size_t i = 0; i < in->n && !st; i++) {
        const tk_piece *pc = &in->v[i];
        if (pc->token >= 0) {
            st = tk_pieces_copy_token(out, pc);
            continue;
        }
        tk_pieces_source_piece(out, in, pc);
        st = apply_piece(p, tk_piece_text(in, pc), pc->len, in->track ? tk_piece_al(in, pc) : NULL, pc->first, &sc, out);
    }
    scratch_free(&sc);
    return st;
}
