#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/tok_regex.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_unicode.h"
#include "util/error.h"
#include "util/vec.h"

struct tk_regex {
    pcre2_code *code;
};

xl_status tk_spans_push(tk_spans *a, size_t start, size_t end) {
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        tk_span *p = realloc(a->v, nc * sizeof *p);
        if (!p) return xl_err(XL_ERR_NOMEM, "out of memory (%zu spans)", nc);
        a->v = p;
        a->cap = nc;
    }
    a->v[a->n++] = (tk_span){start, end};
    return XL_OK;
}

void tk_spans_free(tk_spans *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* Oniguruma's Unicode classes written for PCRE2 (without the brackets). */
#define ONIG_SPACE "\\s\\x{85}"
#define ONIG_WORD "\\p{L}\\p{M}\\p{Nd}\\p{Nl}\\p{Pc}\\x{200C}\\x{200D}"
#define ONIG_HEX "0-9a-fA-F"

static xl_status put(xl_buf *b, const char *s) { return xl_buf_append(b, s, strlen(s)); }

/* Rewrites the escapes whose meaning differs between Oniguruma and PCRE2 (UCP). */
static xl_status translate(const char *p, size_t len, xl_buf *out) {
    int in_class = 0;
    xl_status st = XL_OK;
    for (size_t i = 0; i < len && !st; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < len) {
            char e = p[++i];
            const char *cls = NULL;
            int neg = 0;
            if (e == 's' || e == 'S') cls = ONIG_SPACE, neg = e == 'S';
            else if (e == 'w' || e == 'W') cls = ONIG_WORD, neg = e == 'W';
            else if (e == 'h' || e == 'H') cls = ONIG_HEX, neg = e == 'H';
            if (!cls || (in_class && neg)) {
                /* Kept as is (a negated class inside a class has no simple form). */
                char two[2] = {'\\', e};
                st = xl_buf_append(out, two, 2);
            } else if (in_class) {
                st = put(out, cls);
            } else {
                st = put(out, neg ? "[^" : "[");
                if (!st) st = put(out, cls);
                if (!st) st = put(out, "]");
            }
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            st = xl_buf_append(out, &c, 1);
            /* "[^]..." and "[]...": a leading ']' is literal */
            if (!st && i + 1 < len && p[i + 1] == '^') st = xl_buf_append(out, &p[++i], 1);
            if (!st && i + 1 < len && p[i + 1] == ']') st = xl_buf_append(out, &p[++i], 1);
            continue;
        }
        if (in_class && c == '[' && i + 1 < len && p[i + 1] == ':') {
            /* POSIX class [:name:] inside a bracket expression */
            const char *end = NULL;
            for (size_t k = i + 2; k + 1 < len; k++)
                if (p[k] == ':' && p[k + 1] == ']') { end = p + k + 2; break; }
            if (end) {
                st = xl_buf_append(out, p + i, (size_t)(end - (p + i)));
                i = (size_t)(end - p) - 1;
                continue;
            }
        }
        if (in_class && c == ']') in_class = 0;
        st = xl_buf_append(out, &c, 1);
    }
    return st;
}

static xl_status compile(const char *pat, size_t len, uint32_t extra, const char *what, const char *shown,
                         tk_regex **out) {
    int errcode;
    PCRE2_SIZE erroff;
    /* UCP only matters for (and is only allowed with) real patterns */
    uint32_t opts = PCRE2_UTF | (extra & PCRE2_LITERAL ? 0 : PCRE2_UCP) | extra;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, len, opts, &errcode, &erroff, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        return xl_err(XL_ERR_UNSUPPORTED, "%s: cannot compile pattern \"%.200s\": %s at offset %zu", what, shown,
                      (const char *)msg, (size_t)erroff);
    }
    /* JIT is an optimisation only: without it pcre2_match interprets. */
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    tk_regex *re = malloc(sizeof *re);
    if (!re) {
        pcre2_code_free(code);
        return xl_err(XL_ERR_NOMEM, "out of memory");
    }
    re->code = code;
    *out = re;
    return XL_OK;
}

xl_status tk_regex_compile(const char *pattern, size_t len, const char *what, tk_regex **out) {
    *out = NULL;
    xl_buf b = {0};
    xl_status st = translate(pattern, len, &b);
    if (!st) st = xl_buf_append(&b, "", 0);
    if (!st) st = compile(b.s, b.n, 0, what, pattern, out);
    xl_buf_free(&b);
    return st;
}

xl_status tk_regex_literal(const char *lit, size_t len, const char *what, tk_regex **out) {
    *out = NULL;
    return compile(lit, len, PCRE2_LITERAL, what, lit, out);
}

xl_status tk_parse_pattern(const json_t *j, const char *what, tk_regex **out) {
    json_t *p = json_object_get(j, "pattern");
    json_t *s = json_is_object(p) ? json_object_get(p, "String") : NULL;
    json_t *r = json_is_object(p) ? json_object_get(p, "Regex") : NULL;
    if (json_is_string(s)) return tk_regex_literal(json_string_value(s), json_string_length(s), what, out);
    if (json_is_string(r)) return tk_regex_compile(json_string_value(r), json_string_length(r), what, out);
    return xl_err(XL_ERR_FORMAT, "%s: \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}", what);
}

void tk_regex_free(tk_regex *re) {
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}

xl_status tk_regex_find_all(const tk_regex *re, const char *s, size_t len, tk_spans *out) {
    out->n = 0;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (!md) return xl_err(XL_ERR_NOMEM, "out of memory (regex match data)");
    xl_status st = XL_OK;
    size_t pos = 0, last_match_end = SIZE_MAX;
    /* Subjects are valid UTF-8 (checked once by the pipeline): no per-call check,
     * which would make the scan quadratic. */
    uint32_t opts = PCRE2_NO_UTF_CHECK;
    while (pos <= len) {
        int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, pos, opts, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, pos, opts | PCRE2_NO_JIT, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            st = xl_err(XL_ERR_INPUT, "regex match failed: %s", (const char *)msg);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me < ms) me = ms; /* \K could report a start after the end */
        if (ms == me && last_match_end == me) {
            /* no empty match right after the previous match: step one character */
            if (pos >= len) break;
            pos += tk_cplen((unsigned char)s[pos]);
            continue;
        }
        if ((st = tk_spans_push(out, ms, me))) break;
        last_match_end = me;
        pos = me;
    }
    pcre2_match_data_free(md);
    return st;
}
