/* Writing embeddings: JSONL ({"embedding":[...]} per input, %.9g round-trip floats),
 * .npy (float32 [n, dim]) or headerless little-endian float32 rows. Rows arrive in
 * chunks, in input order. */
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
    size_t dim, rows;
    int seekable;       /* npy: header patched in place at the end */
    float *held;        /* npy to a pipe: rows kept until the count is known */
    size_t held_cap;
} out_writer;

int out_parse_format(const char *s, out_format *out);
/* Opens path (NULL or "-" = stdout); OUT_AUTO picks npy for *.npy, else JSONL. */
xl_status out_open(out_writer *w, const char *path, out_format fmt, size_t dim);
xl_status out_write_rows(out_writer *w, const float *rows, size_t n);
/* Finishes the file (npy header) and closes it. */
xl_status out_close(out_writer *w);

#endif
