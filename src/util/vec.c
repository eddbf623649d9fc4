#include "util/vec.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

int xl_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

xl_status xl_ivec_reserve(xl_ivec *a, size_t cap) {
    if (cap <= a->cap) return XL_OK;
    size_t nc = a->cap ? a->cap : 16, bytes;
    while (nc < cap) nc *= 2;
    if (!xl_mul_ok(nc, sizeof *a->v, &bytes)) return xl_err(XL_ERR_NOMEM, "array too large");
    int32_t *p = realloc(a->v, bytes);
    if (!p) return xl_err(XL_ERR_NOMEM, "out of memory (%zu bytes)", bytes);
    a->v = p;
    a->cap = nc;
    return XL_OK;
}

xl_status xl_ivec_push(xl_ivec *a, int32_t x) {
    if (a->n == a->cap) {
        xl_status st = xl_ivec_reserve(a, a->n + 1);
        if (st) return st;
    }
    a->v[a->n++] = x;
    return XL_OK;
}

void xl_ivec_free(xl_ivec *a) {
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

xl_status xl_buf_reserve(xl_buf *b, size_t cap) {
    if (cap + 1 <= b->cap) return XL_OK;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < cap + 1) {
        if (nc > SIZE_MAX / 2) return xl_err(XL_ERR_NOMEM, "buffer too large");
        nc *= 2;
    }
    char *p = realloc(b->s, nc);
    if (!p) return xl_err(XL_ERR_NOMEM, "out of memory (%zu bytes)", nc);
    b->s = p;
    b->cap = nc;
    return XL_OK;
}

xl_status xl_buf_append(xl_buf *b, const void *data, size_t len) {
    xl_status st = xl_buf_reserve(b, b->n + len);
    if (st) return st;
    if (len) memcpy(b->s + b->n, data, len);
    b->n += len;
    b->s[b->n] = '\0';
    return XL_OK;
}

void xl_buf_free(xl_buf *b) {
    free(b->s);
    b->s = NULL;
    b->n = b->cap = 0;
}
