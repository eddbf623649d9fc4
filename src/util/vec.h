/* Growable arrays used across the library. */
#ifndef XL_VEC_H
#define XL_VEC_H
#include <stddef.h>
#include <stdint.h>
#include "xling.h"

typedef struct {
    int32_t *v;
    size_t n, cap;
} xl_ivec;

/* Appends x; returns XL_ERR_NOMEM (with a message) on failure. */
xl_status xl_ivec_push(xl_ivec *a, int32_t x);
xl_status xl_ivec_reserve(xl_ivec *a, size_t cap);
void xl_ivec_free(xl_ivec *a);

/* A growable byte buffer, always NUL-terminated when non-empty. */
typedef struct {
    char *s;
    size_t n, cap;
} xl_buf;

xl_status xl_buf_append(xl_buf *b, const void *data, size_t len);
xl_status xl_buf_reserve(xl_buf *b, size_t cap);
void xl_buf_free(xl_buf *b);

/* Overflow-checked size multiplication: 0 on overflow (and *out untouched). */
int xl_mul_ok(size_t a, size_t b, size_t *out);

#endif
