#include "tokenizer/tok_charsmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_unicode.h"
#include "util/error.h"
#include "util/utf8.h"

struct tk_charsmap {
    uint32_t *units;   /* the double array */
    size_t n_units;
    char *norm;        /* replacement strings, each ended by NUL */
    size_t norm_len;
    int32_t ascii[128];        /* replacement of each single ASCII character, or -1 */
    uint8_t ascii_final[128];  /* no key extends that character */
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

/* Value of the longest key that is a prefix of key[0..len) and its length in *mlen,
 * or -1. A NUL byte ends the key (as in the crate and in sentencepiece). */
static int32_t longest_prefix(const tk_charsmap *m, const unsigned char *key, size_t len, size_t *mlen) {
    const uint32_t *a = m->units;
    size_t n = m->n_units;
    int32_t best = -1;
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
        if (u_has_leaf(unit)) {
            best = u_value(a[pos]);
            *mlen = i + 1;
        }
    }
    return best;
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
    /* An ASCII byte whose key has no longer extension is decided by one table read. */
    for (int c = 0; c < 128; c++) {
        unsigned char k = (unsigned char)c;
        size_t ml = 0;
        m->ascii[c] = longest_prefix(m, &k, 1, &ml);
        m->ascii_final[c] = 1;
        /* the node reached through c: does any longer key go on from it? */
        size_t pos = m->n_units ? u_offset(m->units[0]) ^ (size_t)c : SIZE_MAX;
        if (!c || pos >= m->n_units || u_label(m->units[pos]) != (uint32_t)c) continue;
        pos ^= u_offset(m->units[pos]);
        for (size_t d = 1; d < 256; d++) {
            size_t q = pos ^ d;
            if (q < m->n_units && u_label(m->units[q]) == d) m->ascii_final[c] = 0;
        }
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

xl_status tk_charsmap_normalize(const tk_charsmap *m, const char *s, size_t len, xl_buf *out) {
    xl_status st = xl_buf_reserve(out, out->n + len);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len && !st) {
        if (u[i] < 0x80 && m->ascii_final[u[i]]) {
            if (!put_replacement(m, m->ascii[u[i]], out, &st)) st = xl_buf_append(out, s + i, 1);
            i++;
            continue;
        }
        size_t ml = 0;
        if (put_replacement(m, longest_prefix(m, u + i, len - i, &ml), out, &st)) {
            i += ml;
            continue;
        }
        size_t cl = tk_cplen(u[i]);
        if (!st) st = xl_buf_append(out, s + i, cl);
        i += cl;
    }
    return st;
}
