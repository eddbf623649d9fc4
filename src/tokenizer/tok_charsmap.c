#include "tokenizer/tok_charsmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "tokenizer/tok_unicode.h"
#include "util/error.h"
#include "util/utf8.h"

struct tk_charsmap {
    uint32_t *units;   /* the double array */
    size_t n_units;
    char *norm;        /* replacement strings, each ended by NUL */
    size_t norm_len;
    int32_t ascii[128];        /* replacement of each single ASCII character, or -1 */
};

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with optional '=' padding; returns the decoded length or -1. */
static long long b64_decode(const char *s, size_t len, unsigned char *out) {
    while (len && s[len - 1] == '=') len--;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits >= 6) return -1; /* a dangling 6-bit group cannot come from whole bytes */
    return (long long)o;
}

/* darts-clone unit accessors */
static inline uint32_t u_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static inline uint32_t u_label(uint32_t u) { return u & ((1u << 31) | 0xFFu); }
static inline int u_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline int32_t u_value(uint32_t u) { return (int32_t)(u & ((1u << 31) - 1)); }

/* The crate's transform(): the value of the SHORTEST key that is a prefix of
 * key[0..len) (the first hit of darts' common prefix search), or -1. A NUL byte ends
 * the key (as in the crate and in sentencepiece). */
static int32_t shortest_prefix(const tk_charsmap *m, const unsigned char *key, size_t len) {
    const uint32_t *a = m->units;
    size_t n = m->n_units;
    if (!n) return -1;
    size_t pos = u_offset(a[0]);
    for (size_t i = 0; i < len; i++) {
        unsigned c = key[i];
        if (c == 0) break;
        pos ^= c;
        if (pos >= n) break;
        uint32_t unit = a[pos];
        if (u_label(unit) != c) break;
        pos ^= u_offset(unit);
        if (pos >= n) break;
        if (u_has_leaf(unit)) return u_value(a[pos]);
    }
    return -1;
}

xl_status tk_charsmap_load(const char *b64, size_t len, const char *what, tk_charsmap **out) {
    *out = NULL;
    tk_charsmap *m = calloc(1, sizeof *m);
    unsigned char *raw = malloc(len / 4 * 3 + 4);
    if (!m || !raw) {
        free(m); free(raw);
        return xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
    }
    long long n = b64_decode(b64, len, raw);
    xl_status st = XL_OK;
    if (n < 0) {
        st = xl_err(XL_ERR_FORMAT, "%s: precompiled_charsmap is not valid base64", what);
    } else if (n > 0) {
        if (n < 4) {
            st = xl_err(XL_ERR_FORMAT, "%s: precompiled_charsmap is truncated (%lld bytes)", what, n);
        } else {
            uint32_t trie_size = (uint32_t)raw[0] | (uint32_t)raw[1] << 8 | (uint32_t)raw[2] << 16 | (uint32_t)raw[3] << 24;
            size_t units = trie_size / 4;
            if ((unsigned long long)units * 4 > (unsigned long long)n - 4) {
                st = xl_err(XL_ERR_FORMAT, "%s: precompiled_charsmap trie size %u exceeds the blob (%lld bytes)", what,
                            trie_size, n);
            } else {
                m->n_units = units;
                m->units = malloc((units ? units : 1) * sizeof *m->units);
                size_t rest = (size_t)n - 4 - units * 4;
                m->norm = malloc(rest + 1);
                if (!m->units || !m->norm) {
                    st = xl_err(XL_ERR_NOMEM, "%s: out of memory", what);
                } else {
                    const unsigned char *p = raw + 4;
                    for (size_t i = 0; i < units; i++, p += 4)
                        m->units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
                    memcpy(m->norm, p, rest);
                    m->norm[rest] = '\0';
                    m->norm_len = rest;
                    if (!xl_utf8_is_valid(m->norm, rest))
                        st = xl_err(XL_ERR_FORMAT, "%s: precompiled_charsmap replacement strings are not valid UTF-8", what);
                }
            }
        }
    }
    free(raw);
    if (st) {
        tk_charsmap_free(m);
        return st;
    }
    /* A lone ASCII character is decided by one table read. */
    for (int c = 0; c < 128; c++) {
        unsigned char k = (unsigned char)c;
        m->ascii[c] = shortest_prefix(m, &k, 1);
    }
    *out = m;
    return XL_OK;
}

void tk_charsmap_free(tk_charsmap *m) {
    if (!m) return;
    free(m->units);
    free(m->norm);
    free(m);
}

/* Appends the replacement string at index v; 0 if v is outside the blob (the lookup
 * then counts as no match). */
static int put_replacement(const tk_charsmap *m, int32_t v, xl_buf *out, xl_status *st) {
    if (v < 0 || (size_t)v > m->norm_len) return 0;
    const char *r = m->norm + v;
    *st = xl_buf_append(out, r, strlen(r));
    return 1;
}

/* Byte length of the extended grapheme cluster starting at s[0] (valid UTF-8). */
static size_t grapheme_len(const unsigned char *s, size_t len) {
    utf8proc_int32_t prev, next;
    utf8proc_ssize_t n = utf8proc_iterate(s, (utf8proc_ssize_t)len, &prev);
    if (n <= 0) return 1;
    size_t i = (size_t)n;
    utf8proc_int32_t state = 0;
    while (i < len) {
        n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &next);
        if (n <= 0 || utf8proc_grapheme_break_stateful(prev, next, &state)) break;
        prev = next;
        i += (size_t)n;
    }
    return i;
}

/* As the Hugging Face crate's Precompiled normalizer (the reference sentence-transformers
 * runs): the text is walked grapheme by grapheme; a grapheme of under 6 bytes that has
 * a key as a prefix is replaced WHOLE by that key's string (shortest key, as the crate
 * takes the first hit); otherwise each character is replaced by its own key's string
 * or copied. This is not sentencepiece's longest match (NFD Hangul, halfwidth kana with
 * voiced marks, stacked combining marks come out differently) but it is what the crate,
 * and so every HF pipeline, produces. */
xl_status tk_charsmap_normalize(const tk_charsmap *m, const char *s, size_t len, xl_buf *out) {
    xl_status st = xl_buf_reserve(out, out->n + len);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len && !st) {
        /* ASCII followed by ASCII (not CR LF) is a one-character grapheme */
        if (u[i] < 0x80 && (i + 1 == len || (u[i + 1] < 0x80 && !(u[i] == '\r' && u[i + 1] == '\n')))) {
            if (!put_replacement(m, m->ascii[u[i]], out, &st)) st = xl_buf_append(out, s + i, 1);
            i++;
            continue;
        }
        size_t g = grapheme_len(u + i, len - i);
        if (g < 6 && put_replacement(m, shortest_prefix(m, u + i, g), out, &st)) {
            i += g;
            continue;
        }
        for (size_t end = i + g; i < end && !st;) {
            size_t cl = tk_cplen(u[i]);
            if (cl > end - i) cl = end - i;
            if (!put_replacement(m, shortest_prefix(m, u + i, cl), out, &st)) st = xl_buf_append(out, s + i, cl);
            i += cl;
        }
    }
    return st;
}

/* The crate's replace(): the new part's characters replace the old part's; extra
 * new characters are insertions (+1), missing ones are removed by the last item —
 * which, for an empty new part, is the item before it (whatever it was), as in the
 * crate. */
static xl_status replace_part(tk_changes *out, const char *old, size_t old_len, const char *rep) {
    long old_count = (long)tk_count_chars(old, old_len), new_count = 0;
    size_t mark = out->n;
    xl_status st = XL_OK;
    for (size_t i = 0; rep[i] && !st; new_count++) st = tk_changes_push(out, tk_decode(rep, &i), 0);
    if (st) return st;
    long diff = new_count - old_count;
    if (diff > 0) {
        for (long k = 0; k < diff; k++) out->v[out->n - 1 - (size_t)k].change = 1;
    } else if (diff < 0 && out->n) {
        out->v[out->n - 1].change += (int32_t)diff;
    }
    (void)mark;
    return XL_OK;
}

/* The replacement string at index v, or NULL when v is outside the blob. */
static const char *replacement(const tk_charsmap *m, int32_t v) {
    return v < 0 || (size_t)v > m->norm_len ? NULL : m->norm + v;
}

xl_status tk_charsmap_changes(const tk_charsmap *m, const char *s, size_t len, tk_changes *out, int *modified) {
    const unsigned char *u = (const unsigned char *)s;
    xl_status st = XL_OK;
    size_t i = 0;
    *modified = 0;
    while (i < len && !st) {
        size_t g = grapheme_len(u + i, len - i);
        const char *r = g < 6 ? replacement(m, shortest_prefix(m, u + i, g)) : NULL;
        if (r) {
            *modified = 1;
            st = replace_part(out, s + i, g, r);
            i += g;
            continue;
        }
        for (size_t end = i + g; i < end && !st;) {
            size_t cl = tk_cplen(u[i]);
            if (cl > end - i) cl = end - i;
            r = replacement(m, shortest_prefix(m, u + i, cl));
            if (r) {
                *modified = 1;
                st = replace_part(out, s + i, cl, r);
            } else {
                size_t j = i;
                st = tk_changes_push(out, tk_decode(s, &j), 0);
            }
            i += cl;
        }
    }
    return st;
}
