/* Writing embeddings: JSONL ({"embedding":[...]} per input, %.9g round-trip floats),
 * .npy (float32 [n, dim]) or headerless little-endian float32 rows. Rows arrive in
 * chunks, in input order. Layer outputs (embed --layers) are rows of shape
 * [2][L+1][H]: JSONL {"mean":[[...],...],"last":[[...],...]}, .npy [n, 2, L+1, H]. */
#ifndef XL_CLI_OUTPUT_H
#define XL_CLI_OUTPUT_H
#include <stdio.h>
#include "xling.h"

typedef enum { OUT_AUTO = 0, OUT_JSONL, OUT_NPY, OUT_F32 } out_format;

typedef struct {
    FILE *f;
    int owned;
    const char *name;
    out_format fmt;
    size_t dim, rows;   /* dim: floats per row (product of inner) */
    size_t inner[3];
    int inner_ndim;     /* 1: embeddings [dim]; 3: layers [2][L+1][H] */
    int seekable;       /* npy: header patched in place at the end */
    float *held;        /* npy to a pipe: rows kept until the count is known */
    size_t held_cap;
} out_writer;

int out_parse_format(const char *s, out_format *out);
/* Opens path (NULL or "-" = stdout); OUT_AUTO picks npy for *.npy, else JSONL. */
xl_status out_open(out_writer *w, const char *path, out_format fmt, const size_t *inner, int inner_ndim);
xl_status out_write_rows(out_writer *w, const float *rows, size_t n);
/* Finishes the file (npy header) and closes it. */
xl_status out_close(out_writer *w);

#endif
