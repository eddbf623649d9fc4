/* Response text: a growable buffer and the JSON pieces the routes write by hand (vectors
 * are most of every response; jansson would build one node per float). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

void jb_free(jbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

static int grow(jbuf *b, size_t extra) {
    if (b->oom) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void jb_put(jbuf *b, const char *s, size_t n) {
    if (grow(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void jb_puts(jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }

void jb_printf(jbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || grow(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void jb_string(jbuf *b, const char *s, size_t len) {
    char *fixed = NULL;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80) { /* only text with non-ASCII bytes can be invalid */
            size_t fl;
            if ((fixed = xl_utf8_repair(s, len, &fl, NULL))) {
                s = fixed;
                len = fl;
            }
            break;
        }
    jb_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        jb_put(b, s + run, i - run);
        run = i + 1;
        if (c == '"') jb_put(b, "\\\"", 2);
        else if (c == '\\') jb_put(b, "\\\\", 2);
        else if (c == '\n') jb_put(b, "\\n", 2);
        else if (c == '\t') jb_put(b, "\\t", 2);
        else if (c == '\r') jb_put(b, "\\r", 2);
        else jb_printf(b, "\\u%04x", c);
    }
    jb_put(b, s + run, len - run);
    jb_put(b, "\"", 1);
    free(fixed);
}

void jb_float(jbuf *b, float v) {
    char tmp[32];
    /* JSON has no NaN / inf; a model that makes them is broken, but the reply stays JSON */
    if (v != v || v - v != 0) {
        jb_put(b, "null", 4);
        return;
    }
    /* Shortest text that reads back as the same float32: short vectors of the common
     * values cost less to send and parse than 9 digits each. */
    int n = snprintf(tmp, sizeof tmp, "%.6g", (double)v);
    if (strtof(tmp, NULL) != v) n = snprintf(tmp, sizeof tmp, "%.9g", (double)v);
    jb_put(b, tmp, (size_t)n);
}

void jb_floats(jbuf *b, const float *v, size_t n) {
    jb_put(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) jb_put(b, ",", 1);
        jb_float(b, v[i]);
    }
    jb_put(b, "]", 1);
}

void jb_base64_floats(jbuf *b, const float *v, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t bytes = n * 4;
    if (grow(b, (bytes + 2) / 3 * 4 + 2)) return;
    unsigned char *src = malloc(bytes ? bytes : 1);
    if (!src) {
        b->oom = 1;
        return;
    }
    /* little-endian float32, whatever this machine's order */
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int k = 0; k < 4; k++) src[i * 4 + k] = (unsigned char)(u >> (8 * k));
    }
    char *o = b->p + b->len;
    *o++ = '"';
    size_t i = 0;
    for (; i + 3 <= bytes; i += 3) {
        uint32_t w = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        *o++ = tab[w >> 18];
        *o++ = tab[(w >> 12) & 63];
        *o++ = tab[(w >> 6) & 63];
        *o++ = tab[w & 63];
    }
    if (i < bytes) {
        uint32_t w = (uint32_t)src[i] << 16 | (i + 1 < bytes ? (uint32_t)src[i + 1] << 8 : 0);
        *o++ = tab[w >> 18];
        *o++ = tab[(w >> 12) & 63];
        *o++ = i + 1 < bytes ? tab[(w >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = 0;
    free(src);
}
