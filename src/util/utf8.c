#include "util/utf8.h"
#include "xling.h"

#include <stdlib.h>
#include <string.h>

/* The well-formed byte sequences of Unicode Table 3-7. Returns how many leading bytes
 * form a valid prefix when the sequence is ill-formed (through *prefix), which is the
 * "maximal subpart" Python replaces by a single U+FFFD. */
static size_t seq_check(const unsigned char *s, size_t avail, size_t *prefix) {
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    *prefix = 0;
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) need = 2;
    else if (c < 0xF0) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        else if (c == 0xED) hi = 0x9F;
    } else if (c < 0xF5) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        else if (c == 0xF4) hi = 0x8F;
    } else return 0;
    size_t i = 1;
    for (; i < need; i++) {
        if (i >= avail) break;
        unsigned char b = s[i];
        unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h) break;
    }
    if (i == need) return need;
    *prefix = i;
    return 0;
}

size_t xl_utf8_valid_len(const unsigned char *s, size_t avail) {
    size_t prefix;
    if (avail == 0) return 0;
    return seq_check(s, avail, &prefix);
}

size_t xl_utf8_unit_len(const unsigned char *s, size_t avail) {
    size_t prefix;
    size_t k = seq_check(s, avail, &prefix);
    return k ? k : prefix ? prefix : 1;
}

int32_t xl_utf8_decode(const unsigned char *s, size_t *len) {
    unsigned char c = s[0];
    if (c < 0x80) { *len = 1; return c; }
    if (c < 0xE0) { *len = 2; return ((c & 0x1F) << 6) | (s[1] & 0x3F); }
    if (c < 0xF0) { *len = 3; return ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F); }
    *len = 4;
    return ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

size_t xl_utf8_encode(int32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = 0xC0 | (cp >> 6); o[1] = 0x80 | (cp & 0x3F); return 2; }
    if (cp < 0x10000) {
        o[0] = 0xE0 | (cp >> 12); o[1] = 0x80 | ((cp >> 6) & 0x3F); o[2] = 0x80 | (cp & 0x3F);
        return 3;
    }
    o[0] = 0xF0 | (cp >> 18); o[1] = 0x80 | ((cp >> 12) & 0x3F);
    o[2] = 0x80 | ((cp >> 6) & 0x3F); o[3] = 0x80 | (cp & 0x3F);
    return 4;
}

int xl_utf8_is_valid(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (u[i] < 0x80) { i++; continue; }
        size_t k = xl_utf8_valid_len(u + i, len - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

char *xl_utf8_repair(const char *s, size_t len, size_t *out_len, size_t *n_bad) {
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = 0;
    /* Worst case: every byte becomes a 3-byte U+FFFD. */
    if (len > (SIZE_MAX - 1) / 3) return NULL;
    char *out = malloc(len * 3 + 1);
    if (!out) return NULL;
    size_t o = 0, i = 0;
    while (i < len) {
        if (u[i] < 0x80) { out[o++] = (char)u[i++]; continue; }
        size_t prefix;
        size_t k = seq_check(u + i, len - i, &prefix);
        if (k) {
            memcpy(out + o, u + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += prefix ? prefix : 1;
            bad++;
        }
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    if (n_bad) *n_bad = bad;
    return out;
}
